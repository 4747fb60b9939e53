#include "harness.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "stubborn/load_config.hpp"

namespace stubborn::testing {

namespace {

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

}  // namespace

running_server::running_server(const std::string& toml, const std::string& base_dir)
    : running_server(load_config_text(toml, "test.toml", base_dir)) {}

running_server::running_server(config cfg)
    : running_server(std::move(cfg), listen_address{"127.0.0.1", 0}) {}

namespace {

// The HTTPS ports of the running servers of the suite's TLS run, with what a client trusts.
struct tls_ports {
  std::mutex mutex;
  std::map<std::uint16_t, tls_client_options> options;
};

tls_ports& suite_tls_ports() {
  static tls_ports ports;
  return ports;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

bool suite_over_tls() {
  // "generic": over HTTPS through Beast's ssl_stream, which the servers' STUBBORN_TRANSPORT
  // selects (set here, once, before any of them starts: ctest passes one variable per group).
  static const bool over_tls = [] {
    const char* value = std::getenv("STUBBORN_TEST_TLS");
    const std::string_view mode = value ? value : "";
    if (mode == "generic") ::setenv("STUBBORN_TRANSPORT", "generic", 1);
    return mode == "1" || mode == "generic";
  }();
  return over_tls;
}

std::optional<tls_client_options> suite_tls(std::uint16_t port) {
  tls_ports& ports = suite_tls_ports();
  std::lock_guard lock(ports.mutex);
  auto found = ports.options.find(port);
  if (found == ports.options.end()) return std::nullopt;
  return found->second;
}

running_server::running_server(config cfg, const listen_address& listen) {
  const bool over_tls = suite_over_tls() && !cfg.server.tls;
  std::optional<temp_file> ca;
  if (over_tls) {
    // The same routes over HTTPS only, with certificates made at start. The listen address is
    // an override, as --tls-listen is, so that a reload from a file without [server.tls] keeps
    // the listener (and the CA made at start) without writing ca_out again.
    ca.emplace("");
    tls_config tls;
    tls.listen = listen;
    tls.ca_out = ca->path.string();
    cfg.server.tls = tls;
    cfg.server.plain_listener = false;
    cfg.overrides.tls_listen = listen;
  } else {
    cfg.overrides.listen = listen;
  }
  if (cfg.server.threads == 0) cfg.overrides.threads = 2;
  server_ = std::make_unique<stubborn::server>(std::move(cfg));
  server_->start();
  over_tls_ = over_tls;
  if (over_tls) {
    tls_client_options options;
    options.ca_pem = read_text(ca->path);
    tls_ports& ports = suite_tls_ports();
    std::lock_guard lock(ports.mutex);
    ports.options[server_->tls_port()] = std::move(options);
  }
}

std::uint16_t running_server::port() const {
  return over_tls_ ? server_->tls_port() : server_->port();
}

running_server::~running_server() {
  server_->stop(std::chrono::milliseconds(2000));
  if (over_tls_) {
    tls_ports& ports = suite_tls_ports();
    std::lock_guard lock(ports.mutex);
    ports.options.erase(server_->tls_port());
  }
}

std::string http_response::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequal(n, name)) return v;
  }
  return {};
}

bool http_response::has_header(std::string_view name) const {
  for (const auto& h : headers) {
    if (iequal(h.first, name)) return true;
  }
  return false;
}

raw_client::raw_client(std::uint16_t port, std::chrono::milliseconds timeout) : timeout_(timeout) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  connect_to(port);
}

raw_client::raw_client(loopback address, std::uint16_t port, std::chrono::milliseconds timeout)
    : timeout_(timeout) {
  fd_ = ::socket(address == loopback::ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  connect_to(port, address);
}

raw_client::raw_client(open_socket socket, std::uint16_t port, std::chrono::milliseconds timeout)
    : fd_(socket.fd), timeout_(timeout) {
  if (fd_ < 0) throw std::runtime_error("raw_client: no socket");
  connect_to(port);
}

namespace {

// OpenSSL's error queue as one line (and emptied).
std::string openssl_errors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char line[256];
    ERR_error_string_n(code, line, sizeof line);
    if (!text.empty()) text += "; ";
    text += line;
  }
  return text;
}

template <class T, void (*Free)(T*)>
struct openssl_deleter {
  void operator()(T* p) const { Free(p); }
};
using ctx_ptr = std::unique_ptr<SSL_CTX, openssl_deleter<SSL_CTX, SSL_CTX_free>>;
using bio_ptr = std::unique_ptr<BIO, openssl_deleter<BIO, BIO_free_all>>;
using x509_ptr = std::unique_ptr<X509, openssl_deleter<X509, X509_free>>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_deleter<EVP_PKEY, EVP_PKEY_free>>;

bio_ptr memory_bio(const std::string& pem) {
  return bio_ptr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// A client context for `options`; throws when a PEM cannot be read.
ctx_ptr client_context(const tls_client_options& options) {
  ctx_ptr ctx(SSL_CTX_new(TLS_client_method()));
  // A FIN without close_notify reads as the end of the stream, as over plain TCP; whether the
  // server sent close_notify is checked where it matters.
  SSL_CTX_set_options(ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (!options.ca_pem.empty()) {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
    bio_ptr bio = memory_bio(options.ca_pem);
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(store, cert);
      X509_free(cert);
    }
    ERR_clear_error();  // the end of the PEM text
  }
  if (!options.cert_pem.empty()) {
    x509_ptr cert(PEM_read_bio_X509(memory_bio(options.cert_pem).get(), nullptr, nullptr, nullptr));
    pkey_ptr key(
        PEM_read_bio_PrivateKey(memory_bio(options.key_pem).get(), nullptr, nullptr, nullptr));
    if (!cert || !key || SSL_CTX_use_certificate(ctx.get(), cert.get()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1) {
      throw std::runtime_error("client certificate: " + openssl_errors());
    }
  }
  if (options.min_version) SSL_CTX_set_min_proto_version(ctx.get(), options.min_version);
  if (options.max_version) SSL_CTX_set_max_proto_version(ctx.get(), options.max_version);
  if (options.min_version && options.min_version < TLS1_2_VERSION) {
    SSL_CTX_set_security_level(ctx.get(), 0);
  }
  if (!options.ciphers.empty()) SSL_CTX_set_cipher_list(ctx.get(), options.ciphers.c_str());
  // Tickets arrive after the handshake (TLS 1.3): the client keeps the session each brings, for
  // session() to hand over.
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_CLIENT);
  return ctx;
}

}  // namespace

tls_client_result raw_client::start_tls(const tls_client_options& options) {
  tls_client_result result = begin_tls(options);
  // A caller of its own sees the handshake end as it ended, with reads over plain TCP after.
  handshaking_.reset();
  reset_error_ = 0;
  return result;
}

tls_client_result raw_client::begin_tls(const tls_client_options& options) {
  ERR_clear_error();
  ctx_ptr ctx = client_context(options);
  SSL* ssl = SSL_new(ctx.get());
  std::shared_ptr<void> owned(ssl, [](void* p) { SSL_free(static_cast<SSL*>(p)); });
  SSL_set_fd(ssl, fd_);
  if (!options.server_name.empty()) SSL_set_tlsext_host_name(ssl, options.server_name.c_str());
  if (!options.ca_pem.empty()) {
    SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
    const std::string& name =
        options.verify_name.empty() ? options.server_name : options.verify_name;
    if (!name.empty()) {
      in6_addr ip6;
      in_addr ip4;
      if (inet_pton(AF_INET, name.c_str(), &ip4) == 1 ||
          inet_pton(AF_INET6, name.c_str(), &ip6) == 1) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
      } else {
        SSL_set1_host(ssl, name.c_str());
      }
    }
  }
  if (!options.alpn.empty()) {
    std::string wire;
    for (const auto& protocol : options.alpn) {
      wire += static_cast<char>(protocol.size());
      wire += protocol;
    }
    SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()),
                        static_cast<unsigned>(wire.size()));
  }
  if (options.session) SSL_set_session(ssl, static_cast<SSL_SESSION*>(options.session.get()));
  // The socket's own timeout bounds each blocking step of the handshake.
  timeval limit{static_cast<time_t>(timeout_.count() / 1000),
                static_cast<suseconds_t>((timeout_.count() % 1000) * 1000)};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  tls_client_result result;
  errno = 0;
  const int done = SSL_connect(ssl);
  const int connect_errno = errno;
  result.verify_result = SSL_get_verify_result(ssl);
  if (done != 1) {
    const int error = SSL_get_error(ssl, done);
    result.error = openssl_errors();
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      result.timed_out = true;
      result.error = "no answer within " + std::to_string(timeout_.count()) + " ms";
      handshaking_ = std::move(owned);
    } else if (result.error.empty()) {
      result.closed = true;
      result.error = error == SSL_ERROR_SYSCALL && connect_errno
                         ? std::strerror(connect_errno)
                         : "connection closed in the handshake";
      if (connect_errno == ECONNRESET) reset_error_ = connect_errno;
    }
    return result;
  }
  result.ok = true;
  result.version = SSL_get_version(ssl);
  const unsigned char* chosen = nullptr;
  unsigned chosen_size = 0;
  SSL_get0_alpn_selected(ssl, &chosen, &chosen_size);
  result.alpn.assign(reinterpret_cast<const char*>(chosen), chosen_size);
  result.resumed = SSL_session_reused(ssl) == 1;
  if (X509* peer = SSL_get1_peer_certificate(ssl)) {
    BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(peer), nullptr);
    char* hex = BN_bn2hex(serial);
    result.peer_serial = hex;
    OPENSSL_free(hex);
    BN_free(serial);
    X509_free(peer);
  }
  ssl_ = std::move(owned);
  return result;
}

std::shared_ptr<void> raw_client::session() const {
  if (!ssl_) return nullptr;
  // A copy: OpenSSL marks a connection's own session not resumable when the connection is
  // freed without close_notify, and this one outlives it.
  SSL_SESSION* session = SSL_SESSION_dup(SSL_get0_session(static_cast<SSL*>(ssl_.get())));
  if (!session) return nullptr;
  return std::shared_ptr<void>(session,
                               [](void* p) { SSL_SESSION_free(static_cast<SSL_SESSION*>(p)); });
}

bool raw_client::finish_handshake(std::chrono::milliseconds timeout) {
  SSL* ssl = static_cast<SSL*>(handshaking_.get());
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
  ERR_clear_error();
  errno = 0;
  const int done = SSL_connect(ssl);
  const int connect_errno = errno;
  if (done == 1) {
    ssl_ = std::move(handshaking_);
    handshaking_.reset();
    std::string waiting = std::move(unsent_);
    unsent_.clear();
    send(waiting);
    return true;
  }
  const int error = SSL_get_error(ssl, done);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return false;
  handshaking_.reset();
  unsent_.clear();
  const std::string text = openssl_errors();
  if (!text.empty()) throw std::runtime_error("TLS handshake: " + text);
  if (connect_errno == ECONNRESET) reset_error_ = connect_errno;
  return true;
}

long raw_client::receive_some(char* into, std::size_t size, std::chrono::milliseconds timeout) {
  if (handshaking_ && !finish_handshake(timeout)) return -2;
  if (reset_error_) {
    errno = std::exchange(reset_error_, 0);
    return -1;
  }
  SSL* ssl = static_cast<SSL*>(ssl_.get());
  if (!ssl || SSL_pending(ssl) == 0) {
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (ready <= 0) return -2;
  }
  if (!ssl) return static_cast<long>(::recv(fd_, into, size, 0));
  for (;;) {
    errno = 0;
    const int n = SSL_read(ssl, into, static_cast<int>(size));
    if (n > 0) return n;
    const int error = SSL_get_error(ssl, n);
    ERR_clear_error();
    if (error == SSL_ERROR_ZERO_RETURN) return 0;
    if (error == SSL_ERROR_WANT_READ) {
      // A record that carried no data (a session ticket, say): wait for more.
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return -2;
      continue;
    }
    if (error == SSL_ERROR_SYSCALL && errno == 0) return 0;  // a FIN without close_notify
    if (error == SSL_ERROR_SSL && errno == 0) errno = EPROTO;
    return -1;
  }
}

void raw_client::connect_to(std::uint16_t port, loopback address) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sockaddr_in6 addr6{};
  addr6.sin6_family = AF_INET6;
  addr6.sin6_port = htons(port);
  addr6.sin6_addr = in6addr_loopback;
  const bool v6 = address == loopback::ipv6;
  const int connected = v6 ? ::connect(fd_, reinterpret_cast<sockaddr*>(&addr6), sizeof addr6)
                           : ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (connected != 0) {
    int error = errno;
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error(std::string("connect: ") + std::strerror(error));
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (std::optional<tls_client_options> options = suite_tls(port)) {
    const tls_client_result handshake = begin_tls(*options);
    // A server that closes, resets or has not accepted yet is met as over plain TCP: the reads
    // that follow see the end, or go on with the handshake once it answers.
    if (!handshake.ok && !handshake.closed && !handshake.timed_out) {
      throw std::runtime_error("TLS handshake: " + handshake.error);
    }
  }
}

bool has_ipv6_loopback() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

raw_client::~raw_client() {
  if (fd_ >= 0) ::close(fd_);
}

void raw_client::send(std::string_view bytes) {
  if (handshaking_ && !finish_handshake(std::chrono::milliseconds(0))) {
    unsent_.append(bytes);
    return;
  }
  while (!bytes.empty()) {
    ssize_t n = ssl_ ? SSL_write(static_cast<SSL*>(ssl_.get()), bytes.data(),
                                 static_cast<int>(bytes.size()))
                     : ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) throw std::runtime_error(std::string("send failed: ") + std::strerror(errno));
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void raw_client::shutdown_send() {
  if (handshaking_) finish_handshake(timeout_);
  if (ssl_) SSL_shutdown(static_cast<SSL*>(ssl_.get()));
  ::shutdown(fd_, SHUT_WR);
}

bool raw_client::fill(std::chrono::milliseconds timeout) {
  char chunk[16384];
  const long n = receive_some(chunk, sizeof chunk, timeout);
  if (n <= 0) return false;
  buffer_.append(chunk, static_cast<std::size_t>(n));
  return true;
}

http_response raw_client::read_response(bool no_body) {
  http_response r;
  std::size_t end;
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!fill(timeout_)) throw std::runtime_error("no complete response head; got: " + buffer_);
  }
  r.head = buffer_.substr(0, end + 4);
  std::string_view head(r.head);
  std::size_t line_end = head.find("\r\n");
  std::string_view status_line = head.substr(0, line_end);
  auto sp1 = status_line.find(' ');
  auto sp2 = status_line.find(' ', sp1 + 1);
  r.version = std::string(status_line.substr(0, sp1));
  r.status = std::stoi(std::string(status_line.substr(sp1 + 1, sp2 - sp1 - 1)));
  r.reason = sp2 == std::string_view::npos ? "" : std::string(status_line.substr(sp2 + 1));
  std::size_t pos = line_end + 2;
  while (pos < end) {
    std::size_t eol = head.find("\r\n", pos);
    std::string_view line = head.substr(pos, eol - pos);
    auto colon = line.find(':');
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    r.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
    pos = eol + 2;
  }
  buffer_.erase(0, end + 4);
  bool bodyless = no_body || r.status / 100 == 1 || r.status == 204 || r.status == 304;
  if (!bodyless) {
    if (r.has_header("Content-Length")) {
      std::size_t length = std::stoul(r.header("Content-Length"));
      while (buffer_.size() < length) {
        if (!fill(timeout_)) throw std::runtime_error("body shorter than Content-Length");
      }
      r.body = buffer_.substr(0, length);
      buffer_.erase(0, length);
    } else if (iequal(r.header("Transfer-Encoding"), "chunked")) {
      for (;;) {
        std::size_t eol;
        while ((eol = buffer_.find("\r\n")) == std::string::npos) {
          if (!fill(timeout_)) throw std::runtime_error("chunked body cut short");
        }
        std::size_t size = std::stoul(buffer_.substr(0, eol), nullptr, 16);
        while (buffer_.size() < eol + 2 + size + 2) {
          if (!fill(timeout_)) throw std::runtime_error("chunk cut short");
        }
        r.body += buffer_.substr(eol + 2, size);
        buffer_.erase(0, eol + 2 + size + 2);
        if (size == 0) break;
      }
    } else {
      while (fill(timeout_)) {
      }
      r.body = std::move(buffer_);
      buffer_.clear();
    }
  }
  return r;
}

std::string raw_client::read_bytes(std::size_t count) {
  while (buffer_.size() < count) {
    if (!fill(timeout_)) throw std::runtime_error("fewer bytes than expected; got: " + buffer_);
  }
  std::string bytes = buffer_.substr(0, count);
  buffer_.erase(0, count);
  return bytes;
}

std::pair<std::string, connection_end> raw_client::read_until_close(
    std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string data = std::move(buffer_);
  buffer_.clear();
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return {data, connection_end::timeout};
    char chunk[16384];
    const long n = receive_some(chunk, sizeof chunk, left);
    if (n == -2) return {data, connection_end::timeout};
    if (n == 0) return {data, connection_end::clean_close};
    if (n < 0) return {data, errno == ECONNRESET ? connection_end::reset : connection_end::timeout};
    data.append(chunk, static_cast<std::size_t>(n));
  }
}

http_response exchange(std::uint16_t port, std::string_view request, bool no_body) {
  raw_client client(port);
  client.send(request);
  return client.read_response(no_body);
}

std::string get(std::string_view target, std::string_view extra_headers) {
  std::string r = "GET ";
  r.append(target).append(" HTTP/1.1\r\nHost: test\r\n").append(extra_headers).append("\r\n");
  return r;
}

temp_file::temp_file(const std::string& text) {
  static std::atomic<int> n{0};
  path = std::filesystem::temp_directory_path() /
         ("stubborn-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".toml");
  write(text);
}

void temp_file::write(const std::string& text) const {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

temp_file::~temp_file() {
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
}

}  // namespace stubborn::testing

#include "tls_session_driver.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "protocols/tls/tls_context.hpp"
#include "routing/route_table.hpp"
#include "session_driver.hpp"
#include "stubborn/load_config.hpp"
#include "wire/session.hpp"

namespace stubborn::fuzz {

namespace net = boost::asio;

namespace {

// Far above what a healthy run needs (a handshake and a few records: about a millisecond).
constexpr auto hang_limit = std::chrono::seconds(5);

// The fuzz routes behind an HTTPS listener whose certificates are made at start.
constexpr std::string_view tls_section = R"(
[server.tls]
listen = "127.0.0.1:0"
)";

struct ssl_ctx_free {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct ssl_free {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

std::string openssl_errors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char line[256];
    ERR_error_string_n(code, line, sizeof line);
    text += line;
    text += "\n";
  }
  return text;
}

// What every session shares, made once per process: the routes with [server.tls], the
// listener's OpenSSL state (a CA and a leaf for localhost), and a client context trusting it.
struct tls_listener {
  tls_listener()
      : cfg(load_config_text(std::string(fuzz_routes()) + std::string(tls_section),
                             "fuzz-routes-tls.toml")),
        state(route_table::compile(cfg)),
        client(SSL_CTX_new(TLS_client_method())) {
    std::shared_ptr<const tls_context> context = tls_context::build(*cfg.server.tls);
    state.replace_tls_context(context);
    const std::string& pem = context->ca_pem();
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (!ca || X509_STORE_add_cert(SSL_CTX_get_cert_store(client.get()), ca) != 1) {
      fail("the made CA cannot be trusted", openssl_errors());
    }
    X509_free(ca);
    SSL_CTX_set_verify(client.get(), SSL_VERIFY_PEER, nullptr);
    // Every session a full handshake: a resumed one would leave the certificate path unfuzzed.
    SSL_CTX_set_session_cache_mode(client.get(), SSL_SESS_CACHE_OFF);
  }

  config cfg;
  server_state state;
  std::unique_ptr<SSL_CTX, ssl_ctx_free> client;
};

tls_listener& listener() {
  static tls_listener made;
  return made;
}

// The client's end: an SSL on memory BIOs, and the socket its records go through.
class client_end {
 public:
  client_end(int socket, SSL_CTX* ctx) : socket_(socket), ssl_(SSL_new(ctx)) {
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl_.get(), in_, out_);  // the SSL owns both from here on
    SSL_set_connect_state(ssl_.get());
    SSL_set_tlsext_host_name(ssl_.get(), "localhost");
    SSL_set1_host(ssl_.get(), "localhost");
  }

  // One step of the handshake; true when it made progress.
  bool advance_handshake() {
    if (SSL_is_init_finished(ssl_.get())) return false;
    ERR_clear_error();
    const int done = SSL_do_handshake(ssl_.get());
    if (done == 1) return true;
    if (SSL_get_error(ssl_.get(), done) == SSL_ERROR_WANT_READ) return false;
    fail("the TLS handshake failed", openssl_errors());
  }
  bool handshake_done() const { return SSL_is_init_finished(ssl_.get()) == 1; }

  // Moves records both ways between the BIOs and the socket, as far as it takes them, and
  // decrypts what arrived; true when anything moved.
  bool pump(std::string& received) {
    bool moved = false;
    char buf[16384];
    for (int n; (n = BIO_read(out_, buf, sizeof buf)) > 0;) sending_.append(buf, n);
    while (!sending_.empty() && !peer_gone_) {
      const ssize_t n = ::send(socket_, sending_.data(), sending_.size(), MSG_NOSIGNAL);
      if (n > 0) {
        sending_.erase(0, static_cast<std::size_t>(n));
        moved = true;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      } else {
        peer_gone_ = true;  // the server closed (after a rejection): the rest is never read
        sending_.clear();
      }
    }
    for (;;) {
      const ssize_t n = ::recv(socket_, buf, sizeof buf, 0);
      if (n <= 0) {
        if (n == 0) eof_ = true;
        break;
      }
      BIO_write(in_, buf, static_cast<int>(n));
      moved = true;
    }
    if (!handshake_done()) return moved;
    for (;;) {
      std::size_t n = 0;
      ERR_clear_error();
      const int ok = SSL_read_ex(ssl_.get(), buf, sizeof buf, &n);
      if (ok == 1) {
        received.append(buf, n);
        moved = true;
        continue;
      }
      const int error = SSL_get_error(ssl_.get(), ok);
      if (error == SSL_ERROR_ZERO_RETURN) {
        close_notify_ = true;
      } else if (error != SSL_ERROR_WANT_READ) {
        fail("a record from the server could not be read", openssl_errors() + received);
      }
      break;
    }
    return moved;
  }

  // Encrypts `piece` as one record (the fuzzer's pieces are far below 16 KiB).
  void write(std::string_view piece) {
    if (piece.empty()) return;
    std::size_t written = 0;
    ERR_clear_error();
    if (SSL_write_ex(ssl_.get(), piece.data(), piece.size(), &written) != 1 ||
        written != piece.size()) {
      fail("SSL_write failed", openssl_errors());
    }
  }
  // True while records wait to be sent.
  bool sending() const { return !peer_gone_ && (!sending_.empty() || BIO_ctrl_pending(out_)); }

  // Queues close_notify.
  void notify_close() {
    ERR_clear_error();
    SSL_shutdown(ssl_.get());
    ERR_clear_error();
  }

  bool peer_gone() const { return peer_gone_; }
  bool eof() const { return eof_; }
  bool close_notify() const { return close_notify_; }

 private:
  int socket_;
  std::unique_ptr<SSL, ssl_free> ssl_;
  BIO* in_ = nullptr;   // records from the server
  BIO* out_ = nullptr;  // records to the server
  std::string sending_;
  bool peer_gone_ = false;
  bool eof_ = false;
  bool close_notify_ = false;
};

}  // namespace

std::string run_tls_session(std::span<const std::string_view> pieces) {
  tls_listener& tls = listener();
  connection_registry registry;  // outlives the io_context, whose handlers may refer to it
  net::io_context io(1);
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
    std::perror("socketpair");
    std::abort();
  }
  const int socket = fds[1];
  connection_socket server_end(io, net::generic::stream_protocol(AF_UNIX, 0), fds[0]);
  net::co_spawn(io,
                serve_connection(std::move(server_end), &tls.state, &registry,
                                 listener_role{nullptr, transport_kind::tls}),
                net::detached);

  client_end client(socket, tls.client.get());
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + hang_limit;
  // Runs ready handlers and moves records until neither side can move.
  auto settle = [&] {
    for (;;) {
      const std::size_t ran = io.poll();
      const bool stepped = client.advance_handshake();
      const bool moved = client.pump(out);
      if (ran == 0 && !stepped && !moved) return;
      if (std::chrono::steady_clock::now() > deadline) fail("session made no end (hang)", out);
    }
  };
  // Nothing ready right now: waits briefly for the reactor instead of spinning.
  auto wait_briefly = [&] {
    io.restart();
    io.run_one_for(std::chrono::milliseconds(1));
  };

  settle();
  while (!client.handshake_done()) {
    if (client.eof() || client.peer_gone()) fail("the server closed in the handshake", out);
    wait_briefly();
    settle();
    if (std::chrono::steady_clock::now() > deadline) fail("the handshake made no end", out);
  }
  for (std::string_view piece : pieces) {
    if (client.peer_gone() || client.eof()) break;
    client.write(piece);
    for (;;) {
      client.pump(out);
      if (!client.sending() || client.eof()) break;
      settle();
      if (std::chrono::steady_clock::now() > deadline) fail("session stopped reading", out);
    }
    settle();
  }
  if (!client.peer_gone() && !client.eof()) {
    client.notify_close();
    client.pump(out);
  }
  ::shutdown(socket, SHUT_WR);
  while (!client.eof()) {
    settle();
    if (client.eof()) break;
    wait_briefly();
    if (std::chrono::steady_clock::now() > deadline) fail("session did not close", out);
  }
  // The coroutine ends after closing its socket; let it finish so nothing is left behind.
  io.restart();
  io.run_for(std::chrono::milliseconds(100));
  if (!io.stopped()) fail("session still running after its socket closed", out);
  client.pump(out);
  if (!client.close_notify()) fail("the server closed without close_notify", out);
  ::close(socket);
  return out;
}

}  // namespace stubborn::fuzz

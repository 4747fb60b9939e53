#include "harness.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>

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

running_server::running_server(config cfg, const listen_address& listen) {
  cfg.overrides.listen = listen;
  if (cfg.server.threads == 0) cfg.overrides.threads = 2;
  server_ = std::make_unique<stubborn::server>(std::move(cfg));
  server_->start();
}

running_server::~running_server() {
  server_->stop(std::chrono::milliseconds(2000));
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
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) throw std::runtime_error(std::string("send failed: ") + std::strerror(errno));
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void raw_client::shutdown_send() {
  ::shutdown(fd_, SHUT_WR);
}

bool raw_client::fill(std::chrono::milliseconds timeout) {
  pollfd p{fd_, POLLIN, 0};
  int ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
  if (ready <= 0) return false;
  char chunk[16384];
  ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
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
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready <= 0) return {data, connection_end::timeout};
    char chunk[16384];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
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

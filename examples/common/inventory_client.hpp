#pragma once
// The code under test in the examples: a small client of an inventory service, the kind of
// thing a service calls its upstreams with. It speaks HTTP/1.1 over a plain socket so that the
// examples need nothing but stubborn and the test framework.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace inventory {

struct http_reply {
  int status = 0;
  std::string body;
};

class client {
 public:
  /// `base_url` as stubborn::test_server::url() gives it: "http://127.0.0.1:PORT".
  explicit client(const std::string& base_url) {
    const std::string::size_type colon = base_url.rfind(':');
    if (base_url.rfind("http://", 0) != 0 || colon == std::string::npos) {
      throw std::invalid_argument("not an http:// URL: " + base_url);
    }
    port_ = static_cast<std::uint16_t>(std::stoi(base_url.substr(colon + 1)));
  }

  /// Units in stock of `sku`, or nothing when the service does not know it. A 503 is retried
  /// up to twice: the service sheds load that way.
  std::optional<int> stock(const std::string& sku) const {
    http_reply reply;
    for (int attempt = 0; attempt < 3; ++attempt) {
      reply = exchange("GET /items/" + sku +
                       " HTTP/1.1\r\nHost: inventory\r\n"
                       "Accept: application/json\r\nConnection: close\r\n\r\n");
      if (reply.status != 503) break;
    }
    if (reply.status == 404) return std::nullopt;
    if (reply.status != 200)
      throw std::runtime_error("inventory: status " + std::to_string(reply.status));
    const std::string::size_type at = reply.body.find("\"stock\":");
    if (at == std::string::npos) throw std::runtime_error("inventory: no stock in " + reply.body);
    return std::stoi(reply.body.substr(at + 8));
  }

  /// Reserves `quantity` units of `sku`; returns the reservation's id.
  std::string reserve(const std::string& sku, int quantity) const {
    const std::string body =
        R"({"sku":")" + sku + R"(","quantity":)" + std::to_string(quantity) + "}";
    const http_reply reply = exchange(
        "POST /reservations HTTP/1.1\r\nHost: inventory\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
    if (reply.status != 201)
      throw std::runtime_error("inventory: status " + std::to_string(reply.status));
    const std::string::size_type at = reply.body.find("\"id\":\"");
    if (at == std::string::npos) throw std::runtime_error("inventory: no id in " + reply.body);
    return reply.body.substr(at + 6, reply.body.find('"', at + 6) - (at + 6));
  }

 private:
  // One request on its own connection; the reply is read to the end (Connection: close).
  http_reply exchange(const std::string& request) const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error("inventory: no socket");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port_);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string raw;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
        ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;) raw.append(buffer, n);
    }
    ::close(fd);
    http_reply reply;
    if (raw.rfind("HTTP/1.1 ", 0) != 0) throw std::runtime_error("inventory: no reply");
    reply.status = std::stoi(raw.substr(9, 3));
    const std::string::size_type head_end = raw.find("\r\n\r\n");
    if (head_end != std::string::npos) reply.body = raw.substr(head_end + 4);
    return reply;
  }

  std::uint16_t port_ = 0;
};

}  // namespace inventory

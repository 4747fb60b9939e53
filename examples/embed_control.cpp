// Embedding stubborn in a test program: serve routes from TOML text, take a route down at
// runtime, send a request, and check what the stub received, without the admin HTTP API.
// Built and run by ctest ("example: embed_control"), so it stays in step with the API.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <iostream>
#include <string>

#include "stubborn/control.hpp"
#include "stubborn/load_config.hpp"
#include "stubborn/server.hpp"

namespace {

// The service under test would send this request; a bare socket stands in for it here.
std::string http_get(std::uint16_t port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    if (::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;) reply.append(buffer, n);
    }
  }
  ::close(fd);
  return reply;
}

}  // namespace

int main() {
  stubborn::server server(stubborn::load_config_text(R"(
[server]
listen = "127.0.0.1:0"
threads = 1

[[route]]
name = "user"
path = "/users/{id}"
[route.reply]
body = "user {{path.id}}"
)",
                                                     "embedded.toml"));
  server.start();
  stubborn::server_control& control = server.control();

  // The upstream goes down: a runtime route ranks before the file's routes.
  const stubborn::route_change down = control.add_routes(R"(
[[route]]
name = "users-down"
path = "/users/{id}"
[route.reply]
status = 503
headers = { Retry-After = "5" }
)");
  if (!down.ok()) {
    for (const auto& problem : down.problems) std::cerr << problem << "\n";
    return 1;
  }
  const std::string reply = http_get(server.port(), "/users/7");

  // What the stub received, as a test would assert it.
  stubborn::journal_query query;
  query.route = "users-down";
  query.method = "GET";
  const std::size_t received = control.count(query);
  const std::vector<stubborn::journal_entry> entries = control.journal(query);

  control.remove_route("users-down");
  const std::string back = http_get(server.port(), "/users/7");
  server.stop();

  const bool ok = reply.rfind("HTTP/1.1 503", 0) == 0 && received == 1 && entries.size() == 1 &&
                  entries[0].path == "/users/7" && back.rfind("HTTP/1.1 200", 0) == 0;
  std::cout << (ok ? "ok" : "FAIL") << ": " << received << " request(s) to users-down\n";
  return ok ? 0 : 1;
}

#include "session_driver.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "routing/route_table.hpp"
#include "stubborn/load_config.hpp"
#include "wire/session.hpp"

namespace stubborn::fuzz {

namespace net = boost::asio;

namespace {

// A few routes of each kind the session treats differently: static, templated (echoing the
// method, so the checker knows which replies answer HEAD), a 204, a 304, a regex route, a body
// matcher and a catch-all. No delays or faults: the session must not need timers here.
constexpr std::string_view routes = R"(
[server]
max_header_bytes = 1024
max_uri_bytes = 256
max_headers = 16
max_body_bytes = 2048
server_header = "stubborn-fuzz"

[[route]]
name = "hello"
method = "GET"
path = "/hello"
[route.reply]
headers = { "X-Method" = "{{method}}" }
body = "hello"

[[route]]
name = "user"
method = ["GET", "DELETE"]
path = "/users/{id}"
[route.reply]
headers = { "Content-Type" = "application/json", "X-Method" = "{{method}}", "X-User" = "{{path.id}}" }
body = '{"id": "{{path.id}}", "q": "{{query.q}}", "agent": "{{header.user-agent}}"}'

[[route]]
name = "empty"
path = "/empty"
[route.reply]
status = 204
headers = { "X-Method" = "{{method}}" }

[[route]]
name = "cached"
path = "/cached"
[route.reply]
status = 304
headers = { "X-Method" = "{{method}}", "ETag" = '"v1"' }

[[route]]
name = "regex"
path_regex = '^/v(?P<ver>[0-9]+)/items$'
[route.reply]
headers = { "X-Method" = "{{method}}" }
body = "version {{path.ver}}"

[[route]]
name = "body"
method = "POST"
path = "/match"
body = { contains = "needle" }
[route.reply]
status = 201
headers = { "X-Method" = "{{method}}" }
body = "found {{uri}}"

[[route]]
name = "catch-all"
method = ["POST", "PUT", "OPTIONS", "PATCH"]
path = "/any/*"
priority = -1
[route.reply]
headers = { "X-Method" = "{{method}}" }
body = "any {{method}} {{uri}}"
)";

// Wall-clock bound on one session: far above what a healthy run needs (well under 1 ms).
constexpr auto hang_limit = std::chrono::seconds(5);

}  // namespace

[[noreturn]] void fail(std::string_view what, std::string_view context) {
  std::string shown;
  for (char c : context.substr(0, 2000)) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\r')
      shown += "\\r";
    else if (c == '\n')
      shown += "\\n\n";
    else if (u < 0x20 || u >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      shown += buf;
    } else {
      shown.push_back(c);
    }
  }
  std::fprintf(stderr, "\n=== fuzz violation: %.*s\n%s\n===\n", static_cast<int>(what.size()),
               what.data(), shown.c_str());
  std::abort();
}

std::string_view fuzz_routes() {
  return routes;
}

std::shared_ptr<const route_table> fuzz_table() {
  static const std::shared_ptr<const route_table> table =
      route_table::compile(load_config_text(routes, "fuzz-routes.toml"));
  return table;
}

std::string run_session(std::span<const std::string_view> pieces) {
  static server_state state(fuzz_table());
  return run_session_on(state, pieces);
}

std::string run_session_on(server_state& state, std::span<const std::string_view> pieces) {
  connection_registry registry;  // outlives the io_context, whose handlers may refer to it
  net::io_context io(1);
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
    std::perror("socketpair");
    std::abort();
  }
  const int client = fds[1];
  connection_socket server_end(io, net::generic::stream_protocol(AF_UNIX, 0), fds[0]);
  net::co_spawn(io, serve_connection(std::move(server_end), &state, &registry), net::detached);

  std::string out;
  bool eof = false;
  auto deadline = std::chrono::steady_clock::now() + hang_limit;
  // Runs ready handlers and collects output until neither side can move.
  auto settle = [&] {
    for (;;) {
      std::size_t ran = io.poll();
      bool read_any = false;
      char buf[16384];
      for (;;) {
        ssize_t n = ::recv(client, buf, sizeof buf, 0);
        if (n > 0) {
          out.append(buf, static_cast<std::size_t>(n));
          read_any = true;
        } else {
          if (n == 0) eof = true;
          break;
        }
      }
      if (ran == 0 && !read_any) return;
      if (std::chrono::steady_clock::now() > deadline) fail("session made no end (hang)", out);
    }
  };

  bool peer_gone = false;
  for (std::string_view piece : pieces) {
    while (!piece.empty() && !peer_gone && !eof) {
      ssize_t n = ::send(client, piece.data(), piece.size(), MSG_NOSIGNAL);
      if (n > 0) {
        piece.remove_prefix(static_cast<std::size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        settle();
        if (std::chrono::steady_clock::now() > deadline) fail("session stopped reading", out);
      } else {
        peer_gone = true;  // the server closed (after a rejection): the rest is never read
      }
    }
    settle();
  }
  ::shutdown(client, SHUT_WR);
  while (!eof) {
    settle();
    if (eof) break;
    // Nothing ready right now: wait briefly for the reactor instead of spinning.
    io.restart();
    io.run_one_for(std::chrono::milliseconds(1));
    if (std::chrono::steady_clock::now() > deadline) fail("session did not close", out);
  }
  // The coroutine ends after closing its socket; let it finish so nothing is left behind.
  io.restart();
  io.run_for(std::chrono::milliseconds(100));
  if (!io.stopped()) fail("session still running after its socket closed", out);
  ::close(client);
  return out;
}

}  // namespace stubborn::fuzz

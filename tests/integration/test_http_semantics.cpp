// What the server gets right by itself: 404 with the nearest route, 405 with Allow, HEAD, bodyless
// statuses, reason phrases, Date and Server.

#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace stubborn::testing;
using namespace std::chrono_literals;

namespace {

const char* routes = R"(
[server]
server_header = "stubborn-test"

[[route]]
name = "get-user"
method = ["GET", "DELETE"]
path = "/users/{id}"
[route.reply]
body = "user {{path.id}}"

[[route]]
name = "create"
method = "POST"
path = "/users"
headers = { "X-Api-Key" = "k1" }
[route.reply]
status = 201

[[route]]
name = "no-content"
path = "/empty"
[route.reply]
status = 204
headers = { "X-Why" = "nothing" }

[[route]]
name = "not-modified"
path = "/cached"
[route.reply]
status = 304
headers = { "ETag" = '"v1"' }

[[route]]
name = "teapot"
path = "/teapot"
[route.reply]
status = 418
body = "short and stout"

[[route]]
name = "custom"
path = "/custom"
[route.reply]
status = 799
reason = "Flux Capacitor Overload"

[[route]]
name = "unregistered"
path = "/unregistered"
[route.reply]
status = 299

[[route]]
name = "own-server"
path = "/own"
[route.reply]
headers = { Server = "nginx/1.0", Date = "Sun, 06 Nov 1994 08:49:37 GMT" }
body = "x"
)";

}  // namespace

TEST_CASE("no matching route: 404 naming the nearest route", "[semantics]") {
  running_server s(routes);
  auto r = exchange(s.port(), get("/user/1"));
  CHECK(r.status == 404);
  CHECK(r.reason == "Not Found");
  CHECK(r.header("Content-Type") == "text/plain; charset=utf-8");
  CHECK(r.body ==
        "No route matched GET /user/1\n"
        "Nearest route: \"get-user\" (GET|DELETE /users/{id}): path differs\n");
}

TEST_CASE("a 404 explains which matcher failed", "[semantics]") {
  running_server s(routes);
  auto r = exchange(s.port(), "POST /users HTTP/1.1\r\nHost: t\r\nX-Api-Key: nope\r\n\r\n");
  CHECK(r.status == 404);
  CHECK(r.body.find("header 'X-Api-Key' is 'nope', wanted 'k1'") != std::string::npos);
}

TEST_CASE("path known, method not: 405 with Allow", "[semantics]") {
  running_server s(routes);
  auto r = exchange(s.port(), "PUT /users/7 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  CHECK(r.status == 405);
  CHECK(r.reason == "Method Not Allowed");
  CHECK(r.header("Allow") == "GET, HEAD, DELETE");
}

TEST_CASE("HEAD on a GET route: same head, no body", "[semantics]") {
  running_server s(routes);
  raw_client c(s.port());
  c.send("HEAD /users/12345 HTTP/1.1\r\nHost: t\r\n\r\n");
  auto head = c.read_response(true);
  CHECK(head.status == 200);
  CHECK(head.header("Content-Length") == "10");  // "user 12345"
  c.send(get("/users/12345"));
  auto r = c.read_response();
  CHECK(r.body == "user 12345");  // the next reply starts right after the HEAD's head
  c.send("HEAD /nope HTTP/1.1\r\nHost: t\r\n\r\n");
  auto missing = c.read_response(true);
  CHECK(missing.status == 404);
  c.send(get("/teapot", "Connection: close\r\n"));
  CHECK(c.read_response().body == "short and stout");
  CHECK(c.read_until_close(2s).first.empty());
}

TEST_CASE("204 and 304 carry no body; 204 no Content-Length", "[semantics]") {
  running_server s(routes);
  raw_client c(s.port());
  c.send(get("/empty"));
  auto r204 = c.read_response();
  CHECK(r204.status == 204);
  CHECK_FALSE(r204.has_header("Content-Length"));
  CHECK_FALSE(r204.has_header("Content-Type"));
  CHECK(r204.header("X-Why") == "nothing");
  c.send(get("/cached"));
  auto r304 = c.read_response();
  CHECK(r304.status == 304);
  CHECK(r304.header("ETag") == "\"v1\"");
  CHECK_FALSE(r304.has_header("Content-Length"));
  c.send(get("/teapot", "Connection: close\r\n"));
  auto teapot = c.read_response();
  CHECK(teapot.status == 418);
  CHECK(teapot.reason == "I'm a teapot");
  CHECK(c.read_until_close(2s).first.empty());  // nothing stray after the bodyless replies
}

TEST_CASE("statuses up to 999 with their own reason; unregistered ones without", "[semantics]") {
  running_server s(routes);
  auto custom = exchange(s.port(), get("/custom"));
  CHECK(custom.status == 799);
  CHECK(custom.reason == "Flux Capacitor Overload");
  CHECK(custom.header("Content-Length") == "0");
  auto unregistered = exchange(s.port(), get("/unregistered"));
  CHECK(unregistered.status == 299);
  CHECK(unregistered.head.starts_with("HTTP/1.1 299 \r\n"));  // RFC 9112 §4: SP, empty reason
}

TEST_CASE("Server and Date come from the config or the route", "[semantics]") {
  running_server s(routes);
  auto r = exchange(s.port(), get("/teapot"));
  CHECK(r.header("Server") == "stubborn-test");
  auto own = exchange(s.port(), get("/own"));
  CHECK(own.header("Server") == "nginx/1.0");
  CHECK(own.header("Date") == "Sun, 06 Nov 1994 08:49:37 GMT");
  int servers = 0;
  for (const auto& [name, value] : own.headers) servers += name == "Server";
  CHECK(servers == 1);
}

// Route matching over real sockets: query, priority, path_regex with named groups, body
// contains/regex, headers; and the listener side: the drain on stop and an IPv6 listener.

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "harness.hpp"
#include "stubborn/load_config.hpp"

using namespace stubborn::testing;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

std::string post(std::string_view target, std::string_view body,
                 std::string_view extra_headers = {}) {
  std::string r = "POST " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n";
  r.append(extra_headers);
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  return r.append(body);
}

// Qualified: with std::string arguments, unqualified exchange() would find std::exchange.
http_response call(std::uint16_t port, std::string_view bytes) {
  return stubborn::testing::exchange(port, bytes);
}

long elapsed_ms(clock_type::time_point since) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - since).count());
}

}  // namespace

TEST_CASE("query: each parameter present with its percent-decoded value", "[matching]") {
  running_server s(R"(
[[route]]
name = "page-two"
path = "/items"
query = { page = 2, q = "red shoes" }
[route.reply]
body = "page two"

[[route]]
name = "items"
path = "/items"
[route.reply]
body = "all items"

[[route]]
name = "tokened"
path = "/only"
query = { token = "a/b" }
[route.reply]
body = "in"
)");
  const auto port = s.port();
  CHECK(call(port, get("/items?page=2&q=red+shoes")).body == "page two");
  // Any order, other parameters allowed, either encoding of the space.
  CHECK(call(port, get("/items?x=1&q=red%20shoes&page=2")).body == "page two");
  CHECK(call(port, get("/items?%70age=2&q=red+shoes")).body == "page two");
  CHECK(call(port, get("/items?page=3&q=red+shoes")).body == "all items");
  CHECK(call(port, get("/items?page=2")).body == "all items");
  CHECK(call(port, get("/items?page=2&q=red")).body == "all items");
  CHECK(call(port, get("/items")).body == "all items");

  CHECK(call(port, get("/only?token=a%2Fb")).body == "in");
  CHECK(call(port, get("/only?token=a/b")).body == "in");
  http_response wrong = call(port, get("/only?token=a%2Fc"));
  CHECK(wrong.status == 404);
  CHECK(wrong.body.find("query parameter 'token' is 'a%2Fc', wanted 'a/b'") != std::string::npos);
  http_response missing = call(port, get("/only"));
  CHECK(missing.status == 404);
  CHECK(missing.body.find("query parameter 'token' is missing") != std::string::npos);
}

TEST_CASE("priority: the highest wins, then the route written first", "[matching]") {
  running_server s(R"(
[[route]]
name = "first"
path = "/a/{x}"
[route.reply]
body = "first"

[[route]]
name = "second"
path = "/a/{x}"
[route.reply]
body = "second"

[[route]]
name = "low"
path = "/b/{x}"
[route.reply]
body = "low"

[[route]]
name = "high"
path = "/b/{x}"
priority = 5
[route.reply]
body = "high"

[[route]]
name = "literal"
path = "/c/literal"
[route.reply]
body = "literal"

[[route]]
name = "param"
path = "/c/{x}"
priority = 1
[route.reply]
body = "param {{path.x}}"

[[route]]
name = "fallback"
path = "/d"
priority = -1
[route.reply]
body = "fallback"

[[route]]
name = "v1"
path = "/d"
query = { v = "1" }
[route.reply]
body = "v1"
)");
  const auto port = s.port();
  CHECK(call(port, get("/a/1")).body == "first");
  CHECK(call(port, get("/b/1")).body == "high");
  // A priority beats a more specific path.
  CHECK(call(port, get("/c/literal")).body == "param literal");
  CHECK(call(port, get("/c/other")).body == "param other");
  // A negative priority makes a catch-all that more specific routes written after it beat.
  CHECK(call(port, get("/d?v=1")).body == "v1");
  CHECK(call(port, get("/d?v=2")).body == "fallback");
  CHECK(call(port, get("/d")).body == "fallback");
}

TEST_CASE("path_regex: named groups become path parameters for templates", "[matching]") {
  running_server s(R"(
[[route]]
name = "versioned"
path_regex = '^/v(?P<ver>[0-9]+)/items/(?P<id>[a-z%0-9]+)$'
[route.reply]
headers = { "X-Version" = "{{path.ver}}" }
body = "v{{path.ver}} item {{path.id}}"

[[route]]
name = "anywhere"
path_regex = 'report'
[route.reply]
body = "a report"
)");
  const auto port = s.port();
  http_response r = call(port, get("/v12/items/abc"));
  CHECK(r.status == 200);
  CHECK(r.header("X-Version") == "12");
  CHECK(r.body == "v12 item abc");
  // Captures are percent-decoded for templates (the regex sees the raw path).
  CHECK(call(port, get("/v2/items/a%20b")).body == "v2 item a b");
  CHECK(call(port, get("/v2/items/ABC")).status == 404);
  CHECK(call(port, get("/vx/items/abc")).status == 404);
  CHECK(call(port, get("/v2/items/abc/more")).status == 404);
  // Unanchored, a regex matches anywhere in the path.
  CHECK(call(port, get("/x/monthly-report/7")).body == "a report");
}

TEST_CASE("body matchers: contains and regex, on plain and chunked bodies", "[matching]") {
  running_server s(R"(
[[route]]
name = "errors"
method = "POST"
path = "/log"
body = { contains = "ERROR" }
[route.reply]
status = 202
body = "error noted"

[[route]]
name = "signup"
method = "POST"
path = "/signup"
body = { regex = '"email"\s*:\s*"[^"@]+@[^"]+"' }
[route.reply]
status = 201
body = "welcome"
)");
  const auto port = s.port();
  http_response noted = call(port, post("/log", "12:00 ERROR disk full"));
  CHECK(noted.status == 202);
  CHECK(noted.body == "error noted");
  http_response fine = call(port, post("/log", "12:00 all is well (error in lower case)"));
  CHECK(fine.status == 404);
  CHECK(fine.body.find("the body does not contain ERROR") != std::string::npos);
  // The whole body is matched, however its chunks cut the text.
  CHECK(call(port,
             "POST /log HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nx ERR\r\n4\r\nOR y\r\n0\r\n\r\n")
            .status == 202);

  CHECK(call(port, post("/signup", R"({"name": "a", "email" : "a@example.com"})")).status == 201);
  http_response bad = call(port, post("/signup", R"({"email": "not-an-address"})"));
  CHECK(bad.status == 404);
  CHECK(bad.body.find("the body does not match the regex") != std::string::npos);
  CHECK(call(port, post("/signup", "")).status == 404);
}

TEST_CASE("headers: a route needs each header with its exact value", "[matching]") {
  running_server s(R"(
[[route]]
name = "keyed"
path = "/secure"
headers = { "X-Api-Key" = "k1", Accept = "application/json" }
[route.reply]
body = "granted"
)");
  const auto port = s.port();
  // Header names are case-insensitive (RFC 9110 §5.1); other headers do not matter.
  http_response r =
      call(port, get("/secure", "x-api-key: k1\r\nX-Other: 1\r\nACCEPT: application/json\r\n"));
  CHECK(r.status == 200);
  CHECK(r.body == "granted");

  http_response wrong = call(port, get("/secure", "X-Api-Key: k2\r\nAccept: application/json\r\n"));
  CHECK(wrong.status == 404);
  CHECK(wrong.body.find("header 'X-Api-Key' is 'k2', wanted 'k1'") != std::string::npos);
  http_response missing = call(port, get("/secure", "X-Api-Key: k1\r\n"));
  CHECK(missing.status == 404);
  CHECK(missing.body.find("header 'Accept' is missing") != std::string::npos);
  CHECK(call(port, get("/secure", "X-Api-Key: K1\r\nAccept: application/json\r\n")).status == 404);
}

TEST_CASE("drain_timeout: a delayed reply within it finishes, a longer one is cut",
          "[matching][drain]") {
  stubborn::config cfg = stubborn::load_config_text(R"(
[server]
drain_timeout = "1500ms"

[[route]]
path = "/soon"
[route.reply]
delay = "400ms"
interim = [ { status = 103, headers = { Link = "</a.css>; rel=preload" } } ]
body = "in time"

[[route]]
path = "/late"
[route.reply]
delay = "20s"
interim = [ { status = 103, headers = { Link = "</b.css>; rel=preload" } } ]
body = "too late"
)",
                                                    "drain.toml", ".");
  const auto drain = cfg.server.drain_timeout;
  REQUIRE(drain == 1500ms);
  running_server s(std::move(cfg));
  raw_client soon(s.port(), 10s);
  raw_client late(s.port(), 10s);
  // A 103 proves the server has read the request and is waiting out its delay.
  soon.send(get("/soon"));
  late.send(get("/late"));
  REQUIRE(soon.read_response().status == 103);
  REQUIRE(late.read_response().status == 103);

  const auto stop_started = clock_type::now();
  long stop_took = 0;
  std::thread stopper([&] {
    s.get().stop(drain);  // as SIGTERM does with [server] drain_timeout
    stop_took = elapsed_ms(stop_started);
  });
  http_response r = soon.read_response();
  CHECK(r.status == 200);
  CHECK(r.body == "in time");
  CHECK(r.header("Connection") == "close");
  CHECK(soon.read_until_close(3s).second == connection_end::clean_close);
  CHECK(elapsed_ms(stop_started) < 1400);  // did not wait for the drain to run out

  auto [bytes, end] = late.read_until_close(10s);
  const long cut_after = elapsed_ms(stop_started);
  CHECK(end != connection_end::timeout);
  CHECK(bytes.find("too late") == std::string::npos);
  CHECK(cut_after >= 1400);
  CHECK(cut_after < 8000);
  stopper.join();
  CHECK(stop_took >= 1400);
  CHECK(stop_took < 8000);
}

TEST_CASE("an IPv6 listener on [::1] serves requests", "[matching][ipv6]") {
  if (!has_ipv6_loopback()) {
    WARN(
        "SKIPPED: this machine has no IPv6 loopback address (::1); the [::1] listener is not "
        "tested here");
    return;
  }
  stubborn::config cfg = stubborn::load_config_text(R"(
[server]
listen = "[::1]:0"

[[route]]
path = "/users/{id}"
[route.reply]
body = "user {{path.id}}"
)",
                                                    "ipv6.toml", ".");
  REQUIRE(cfg.server.listen.host == "::1");
  running_server s(cfg, cfg.server.listen);
  if (s.over_tls()) {
    CHECK(s.get().tls_url() == "https://[::1]:" + std::to_string(s.port()));
  } else {
    CHECK(s.get().url() == "http://[::1]:" + std::to_string(s.port()));
  }
  raw_client c(loopback::ipv6, s.port());
  c.send(get("/users/7"));
  http_response r = c.read_response();
  CHECK(r.status == 200);
  CHECK(r.body == "user 7");
  c.send(get("/users/8"));  // and keep-alive works as on IPv4
  CHECK(c.read_response().body == "user 8");
  // The journal shows the IPv6 peer.
  http_response journal = [&] {
    raw_client admin(loopback::ipv6, s.port());
    admin.send(get("/__admin/requests"));
    return admin.read_response();
  }();
  CHECK(journal.status == 200);
  CHECK(journal.body.find("\"client\":\"[::1]:") != std::string::npos);
}

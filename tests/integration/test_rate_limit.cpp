// Rate limits over real sockets: 429 with Retry-After and the RateLimit fields, keys, the
// overridable reply, the server-wide limit, and the order against the route's other checks.

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "harness.hpp"

using namespace stubborn::testing;

namespace {

const char* const limits_config = R"(
[[route]]
path = "/global"
[route.reply]
body = "ok"
[route.rate_limit]
requests = 2
per = "1m"

[[route]]
path = "/by-key"
[route.reply]
body = "ok"
[route.rate_limit]
requests = 1
per = "1m"
key = "header:X-Api-Key"
headers = "x-ratelimit"

[[route]]
path = "/by-query"
[route.reply]
body = "ok"
[route.rate_limit]
requests = 1
per = "1m"
key = "query:api_key"
headers = "none"

[[route]]
path = "/by-ip"
[route.reply]
body = "ok"
[route.rate_limit]
requests = 1
per = "1m"
key = "ip"

[[route]]
path = "/custom"
[[route.replies]]
body = "first"
[[route.replies]]
body = "second"
[route.rate_limit]
requests = 1
per = "1m"
[route.rate_limit.reply]
status = 503
headers = { X-Reason = "quota" }
json = { error = "slow down" }

[[route]]
path = "/window"
[route.reply]
body = "ok"
[route.rate_limit]
requests = 2
per = "1h"
algorithm = "fixed-window"

[[route]]
path = "/private"
auth = { bearer = "t0ken" }
[route.reply]
body = "in"
[route.rate_limit]
requests = 1
per = "1m"
)";

}  // namespace

TEST_CASE("over the limit: 429 with Retry-After and the IETF RateLimit fields", "[rate]") {
  running_server server(limits_config);
  http_response first = exchange(server.port(), get("/global"));
  CHECK(first.status == 200);
  CHECK(first.header("RateLimit-Policy") == "\"default\";q=2;w=60");
  CHECK(first.header("RateLimit") == "\"default\";r=1;t=30");
  CHECK_FALSE(first.has_header("Retry-After"));
  CHECK(exchange(server.port(), get("/global")).status == 200);
  http_response limited = exchange(server.port(), get("/global"));
  CHECK(limited.status == 429);
  CHECK(limited.reason == "Too Many Requests");
  CHECK(limited.header("Retry-After") == "30");
  CHECK(limited.header("RateLimit") == "\"default\";r=0;t=30");
  CHECK(limited.body.find("Too Many Requests") != std::string::npos);
}

TEST_CASE("a 429 keeps the connection, and HEAD gets the same head without a body", "[rate]") {
  running_server server(limits_config);
  raw_client client(server.port());
  client.send(get("/by-ip") + get("/by-ip") + "HEAD /by-ip HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(client.read_response().status == 200);
  http_response second = client.read_response();
  CHECK(second.status == 429);
  http_response head = client.read_response(true);
  CHECK(head.status == 429);
  CHECK(head.header("Content-Length") == second.header("Content-Length"));
  CHECK(head.body.empty());
}

TEST_CASE("keys: each API key, query parameter and client address has its own bucket", "[rate]") {
  running_server server(limits_config);
  http_response a = exchange(server.port(), get("/by-key", "X-Api-Key: a\r\n"));
  CHECK(a.status == 200);
  CHECK(a.header("X-RateLimit-Limit") == "1");
  CHECK(a.header("X-RateLimit-Remaining") == "0");
  CHECK(a.header("X-RateLimit-Reset") == "60");
  CHECK(exchange(server.port(), get("/by-key", "X-Api-Key: a\r\n")).status == 429);
  CHECK(exchange(server.port(), get("/by-key", "X-Api-Key: b\r\n")).status == 200);
  // Without the header a client shares the one bucket of clients without it.
  CHECK(exchange(server.port(), get("/by-key")).status == 200);
  CHECK(exchange(server.port(), get("/by-key")).status == 429);

  http_response q = exchange(server.port(), get("/by-query?api_key=1"));
  CHECK(q.status == 200);
  CHECK_FALSE(q.has_header("RateLimit"));
  CHECK_FALSE(q.has_header("X-RateLimit-Limit"));
  http_response q_limited = exchange(server.port(), get("/by-query?x=y&api_key=1"));
  CHECK(q_limited.status == 429);
  CHECK(q_limited.header("Retry-After") == "60");  // always sent, whatever `headers` says
  CHECK(exchange(server.port(), get("/by-query?api_key=2")).status == 200);

  // Every test client is 127.0.0.1: one bucket.
  CHECK(exchange(server.port(), get("/by-ip")).status == 200);
  CHECK(exchange(server.port(), get("/by-ip")).status == 429);
}

TEST_CASE("the 429 reply can be overridden; limited requests use no sequence step", "[rate]") {
  running_server server(limits_config);
  CHECK(exchange(server.port(), get("/custom")).body == "first");
  http_response limited = exchange(server.port(), get("/custom"));
  CHECK(limited.status == 503);
  CHECK(limited.header("X-Reason") == "quota");
  CHECK(limited.header("Content-Type") == "application/json");
  CHECK(limited.body == R"({"error":"slow down"})");
  CHECK(limited.has_header("Retry-After"));
}

TEST_CASE("fixed window: the count starts again only in the next window", "[rate]") {
  running_server server(limits_config);
  CHECK(exchange(server.port(), get("/window")).status == 200);
  CHECK(exchange(server.port(), get("/window")).status == 200);
  http_response limited = exchange(server.port(), get("/window"));
  CHECK(limited.status == 429);
  // The window is an hour long and started when the server did.
  int retry = std::stoi(limited.header("Retry-After"));
  CHECK(retry > 3500);
  CHECK(retry <= 3600);
}

TEST_CASE("the rate limit comes before auth: a refused client still spends quota", "[rate]") {
  running_server server(limits_config);
  CHECK(exchange(server.port(), get("/private")).status == 401);
  CHECK(exchange(server.port(), get("/private", "Authorization: Bearer t0ken\r\n")).status == 429);
}

TEST_CASE("[server.rate_limit] counts every request; a route's own limit speaks for its reply",
          "[rate]") {
  running_server server(R"(
[server.rate_limit]
requests = 3
per = "1m"
headers = "x-ratelimit"

[[route]]
path = "/plain"
[route.reply]
body = "ok"

[[route]]
path = "/own"
[route.reply]
body = "ok"
[route.rate_limit]
requests = 10
per = "1m"
)");
  http_response own = exchange(server.port(), get("/own"));
  CHECK(own.status == 200);
  CHECK(own.header("RateLimit-Policy") == "\"default\";q=10;w=60");
  CHECK_FALSE(own.has_header("X-RateLimit-Limit"));
  http_response plain = exchange(server.port(), get("/plain"));
  CHECK(plain.header("X-RateLimit-Remaining") == "1");
  CHECK(exchange(server.port(), get("/missing")).status == 404);  // counted too
  http_response limited = exchange(server.port(), get("/plain"));
  CHECK(limited.status == 429);
  CHECK(limited.header("X-RateLimit-Remaining") == "0");
  CHECK(exchange(server.port(), get("/own")).status == 429);
}

TEST_CASE("exact across threads: 8 clients racing admit exactly the burst", "[rate]") {
  running_server server(R"(
[[route]]
path = "/race"
[route.reply]
body = "ok"
[route.rate_limit]
requests = 1
per = "1h"
burst = 50
)");
  std::atomic<int> admitted{0};
  std::atomic<int> limited{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&] {
      try {
        raw_client client(server.port());
        for (int i = 0; i < 25; ++i) {
          client.send(get("/race"));
          int status = client.read_response().status;
          (status == 200 ? admitted : status == 429 ? limited : failed).fetch_add(1);
        }
      } catch (const std::exception&) {
        failed.fetch_add(1);
      }
    });
  }
  for (auto& t : clients) t.join();
  CHECK(failed.load() == 0);
  CHECK(admitted.load() == 50);
  CHECK(limited.load() == 150);
}

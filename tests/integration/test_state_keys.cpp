// Keyed scenarios over real sockets: parallel tests, each with its own sequence and rate-limit
// bucket by a header, one key reset through the admin API, and the eviction metric.

#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

using namespace stubborn::testing;
namespace json = boost::json;

namespace {

const char* const keyed_routes = R"(
[[route]]
path = "/payments"
method = "POST"
state_key = "header:X-Test-Id"
replies = [{ status = 503, repeat = 2 }, { status = 201 }]

[[route]]
path = "/quota"
state_key = "header:X-Test-Id"
[route.reply]
status = 200
[route.rate_limit]
requests = 2
per = "1m"
burst = 2

[[route]]
path = "/users/{id}"
state_key = "path:id"
max_state_keys = 2
replies = [{ status = 200, body = "first {{counter}}" }, { status = 200, body = "again {{counter}}" }]
)";

int post_payment(std::uint16_t port, const std::string& test_id) {
  return stubborn::testing::exchange(port, "POST /payments HTTP/1.1\r\nHost: t\r\nX-Test-Id: " +
                                               test_id + "\r\nContent-Length: 0\r\n\r\n")
      .status;
}

}  // namespace

TEST_CASE("state keys: tests running in parallel each see their own 503, 503, 201", "[state_key]") {
  running_server server(keyed_routes);
  constexpr int tests = 8;
  std::vector<std::vector<int>> seen(tests);
  std::vector<std::thread> threads;
  for (int t = 0; t < tests; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3; ++i)
        seen[t].push_back(post_payment(server.port(), "test-" + std::to_string(t)));
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& statuses : seen) CHECK(statuses == std::vector<int>{503, 503, 201});
}

TEST_CASE("state keys: a rate limit's bucket per key, and POST /__admin/reset?key=V",
          "[state_key][admin]") {
  running_server server(keyed_routes);
  auto quota = [&](const std::string& id) {
    return stubborn::testing::exchange(server.port(), get("/quota", "X-Test-Id: " + id + "\r\n"))
        .status;
  };
  CHECK(quota("a") == 200);
  CHECK(quota("a") == 200);
  CHECK(quota("a") == 429);
  CHECK(quota("b") == 200);
  CHECK(post_payment(server.port(), "a") == 503);

  const http_response reset =
      stubborn::testing::exchange(server.port(),
                                  "POST /__admin/reset?key=a HTTP/1.1\r\nHost: t\r\n"
                                  "Content-Length: 0\r\n\r\n");
  REQUIRE(reset.status == 200);
  const json::value body = json::parse(reset.body);
  CHECK(body.at("key").as_string() == "a");
  CHECK(body.at("routes").as_int64() == 2);  // /payments and /quota held "a"

  CHECK(quota("a") == 200);                        // a full bucket again
  CHECK(post_payment(server.port(), "a") == 503);  // the sequence from its start
  CHECK(post_payment(server.port(), "a") == 503);
  CHECK(post_payment(server.port(), "a") == 201);
  CHECK(quota("b") == 200);
  CHECK(quota("b") == 429);  // b was not reset

  const http_response empty = stubborn::testing::exchange(
      server.port(), "POST /__admin/reset?key= HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  CHECK(empty.status == 400);
}

TEST_CASE("state keys: max_state_keys drops the least recently used key, counted in metrics",
          "[state_key][admin]") {
  running_server server(keyed_routes);
  auto user = [&](const std::string& id) {
    return stubborn::testing::exchange(server.port(), get("/users/" + id)).body;
  };
  CHECK(user("1") == "first 1");
  CHECK(user("2") == "first 1");
  CHECK(user("1") == "again 2");
  CHECK(user("3") == "first 1");  // drops 2
  CHECK(user("2") == "first 1");  // 2 starts over (and drops 1)
  CHECK(user("3") == "again 2");

  const http_response metrics = stubborn::testing::exchange(server.port(), get("/__admin/metrics"));
  REQUIRE(metrics.status == 200);
  CHECK(metrics.body.find("stubborn_state_keys_evicted_total{route=\"ANY /users/{id}\"} 2") !=
        std::string::npos);
  const http_response routes = stubborn::testing::exchange(server.port(), get("/__admin/routes"));
  REQUIRE(routes.status == 200);
  CHECK(routes.body.find("\"state_key\":\"path:id\"") != std::string::npos);
  CHECK(routes.body.find("\"state_keys\":{\"keys\":2,\"max\":2,\"evictions\":2}") !=
        std::string::npos);
}

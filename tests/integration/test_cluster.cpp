// [cluster] over real sockets: several servers in this process share one redis-server the test
// starts on a free port. Each shared item (rate limit, sequence, outage window, runtime routes,
// reset, journal), Redis restarted in the middle of traffic, and Redis never reachable.

#include <catch2/catch.hpp>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "redis_process.hpp"

using namespace stubborn::testing;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

std::atomic<int> namespaces{0};

// A fresh namespace per test: tests never see each other's state in the one redis-server.
std::string cluster_table(const std::string& url, const std::string& extra = {}) {
  return "[cluster]\nredis = \"" + url + "\"\nnamespace = \"test-" + std::to_string(::getpid()) +
         "-" + std::to_string(namespaces.fetch_add(1)) + "\"\n" + extra + "\n";
}

const char* const shared_routes = R"(
[[route]]
path = "/flaky"
replies = [{ status = 503, repeat = 2 }, { status = 200 }]
then = "cycle"

[[route]]
path = "/limited"
[route.reply]
status = 200
[route.rate_limit]
requests = 3
per = "1m"
burst = 3

[[route]]
path = "/maintenance"
outage = { every = "1h", duration = "1s", status = 503 }
[route.reply]
status = 200

[[route]]
path = "/proxied"
outage = { every = "1h", duration = "1s", status = 503 }
[route.proxy]
to = "http://127.0.0.1:9"

[[route]]
path = "/per-test"
state_key = "header:X-Test-Id"
replies = [{ status = 503 }, { status = 201 }]
)";

int status_of(std::uint16_t port, const std::string& target, const std::string& extra = {}) {
  return stubborn::testing::exchange(port, get(target, extra)).status;
}

json::object admin_json(std::uint16_t port, const std::string& target) {
  const http_response r = stubborn::testing::exchange(port, get(target));
  INFO(target << " -> " << r.status << " " << r.body);
  REQUIRE(r.status == 200);
  return json::parse(r.body).as_object();
}

std::string redis_state(std::uint16_t port) {
  const json::object status = admin_json(port, "/__admin/status");
  if (!status.contains("cluster")) return "none";
  return std::string(status.at("cluster").at("redis").as_string());
}

// Polls `check` every 20 ms until it holds or `limit` passes.
template <typename Check>
bool eventually(Check check, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (check()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return check();
}

// Every server in `ports` reports Redis up (its connections are made in the background).
bool all_up(std::initializer_list<std::uint16_t> ports) {
  return eventually(
      [&] {
        for (const std::uint16_t port : ports) {
          if (redis_state(port) != "up") return false;
        }
        return true;
      },
      5s);
}

http_response post_reset(std::uint16_t port, const std::string& query = {}) {
  return stubborn::testing::exchange(
      port, "POST /__admin/reset" + query + " HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
}

std::string post(std::string_view target, std::string_view body) {
  return "POST " + std::string(target) +
         " HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

}  // namespace

TEST_CASE("cluster: a sequence goes on in order across instances", "[cluster][redis]") {
  redis_process redis;
  const std::string config = cluster_table(redis.url()) + shared_routes;
  running_server a(config), b(config), c(config);
  REQUIRE(all_up({a.port(), b.port(), c.port()}));
  std::vector<int> seen;
  const std::uint16_t ports[] = {a.port(), b.port(), c.port()};
  for (int i = 0; i < 9; ++i) seen.push_back(status_of(ports[i % 3], "/flaky"));
  CHECK(seen == std::vector<int>{503, 503, 200, 503, 503, 200, 503, 503, 200});
  // A state key's sequence is shared too, separately for each key.
  CHECK(status_of(a.port(), "/per-test", "X-Test-Id: one\r\n") == 503);
  CHECK(status_of(b.port(), "/per-test", "X-Test-Id: two\r\n") == 503);
  CHECK(status_of(c.port(), "/per-test", "X-Test-Id: one\r\n") == 201);
}

TEST_CASE("cluster: a rate limit admits its quota once for all instances, with Retry-After",
          "[cluster][redis]") {
  redis_process redis;
  const std::string config = cluster_table(redis.url()) + shared_routes;
  running_server a(config), b(config);
  REQUIRE(all_up({a.port(), b.port()}));
  int admitted = 0;
  std::string retry_after;
  for (int i = 0; i < 8; ++i) {
    const http_response r =
        stubborn::testing::exchange(i % 2 ? a.port() : b.port(), get("/limited"));
    if (r.status == 200) ++admitted;
    if (r.status == 429) retry_after = r.header("Retry-After");
  }
  CHECK(admitted == 3);
  // 3 per minute, a bucket of 3 spent: the next request is admitted in 20 s, cluster-wide.
  REQUIRE_FALSE(retry_after.empty());
  CHECK(std::stoi(retry_after) >= 19);
  CHECK(std::stoi(retry_after) <= 20);
}

TEST_CASE("cluster: the outage window starts once for every instance", "[cluster][redis]") {
  redis_process redis;
  const std::string config = cluster_table(redis.url()) + shared_routes;
  running_server a(config);
  REQUIRE(all_up({a.port()}));
  CHECK(status_of(a.port(), "/maintenance") == 503);  // the first request starts the window
  std::this_thread::sleep_for(1200ms);
  // A new instance, alone, would be in its own first second; the shared window is over.
  running_server late(config);
  REQUIRE(all_up({late.port()}));
  CHECK(status_of(late.port(), "/maintenance") == 200);
  CHECK(status_of(a.port(), "/maintenance") == 200);
  // A proxy route's window too (its upstream refuses: 502 once the window is over).
  CHECK(status_of(late.port(), "/proxied") == 502);
}

TEST_CASE("cluster: runtime routes and resets reach every instance, and late starters",
          "[cluster][redis]") {
  redis_process redis;
  const std::string config = cluster_table(redis.url()) + shared_routes;
  running_server a(config), b(config);
  REQUIRE(all_up({a.port(), b.port()}));
  const http_response added = stubborn::testing::exchange(
      a.port(),
      post("/__admin/routes", R"({"name": "new", "path": "/new", "reply": {"status": 202}})"));
  REQUIRE(added.status == 201);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(eventually([&] { return status_of(b.port(), "/new") == 202; }, 1s));
  INFO("applied after " << std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now() - t0)
                               .count()
                        << " ms");
  // Stored: an instance that starts now gets it at once.
  running_server late(config);
  CHECK(eventually([&] { return status_of(late.port(), "/new") == 202; }, 2s));

  // A reset on one instance resets the shared sequence and every instance's journal.
  CHECK(status_of(a.port(), "/flaky") == 503);
  CHECK(status_of(b.port(), "/flaky") == 503);
  const http_response reset = post_reset(b.port());
  REQUIRE(reset.status == 200);
  CHECK(eventually(
      [&] { return admin_json(a.port(), "/__admin/requests/count").at("count").as_int64() == 0; },
      1s));
  CHECK(status_of(a.port(), "/flaky") == 503);
  CHECK(status_of(b.port(), "/flaky") == 503);
  CHECK(status_of(a.port(), "/flaky") == 200);

  // A key's reset drops its shared state at once: its sequence starts over on every instance.
  CHECK(status_of(a.port(), "/per-test", "X-Test-Id: k\r\n") == 503);
  CHECK(status_of(b.port(), "/per-test", "X-Test-Id: k\r\n") == 201);
  REQUIRE(post_reset(b.port(), "?key=k").status == 200);
  CHECK(status_of(a.port(), "/per-test", "X-Test-Id: k\r\n") == 503);
  CHECK(status_of(late.port(), "/per-test", "X-Test-Id: k\r\n") == 201);

  // Removing it on the late instance removes it everywhere.
  const http_response removed = stubborn::testing::exchange(
      late.port(), "DELETE /__admin/routes/new HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(removed.status == 200);
  CHECK(eventually([&] { return status_of(a.port(), "/new") == 404; }, 1s));
}

TEST_CASE("cluster: the journal with scope=cluster counts every instance's requests",
          "[cluster][redis]") {
  redis_process redis;
  const std::string config = cluster_table(redis.url()) + shared_routes;
  running_server a(config), b(config);
  REQUIRE(all_up({a.port(), b.port()}));
  for (int i = 0; i < 5; ++i) status_of(a.port(), "/flaky");
  for (int i = 0; i < 4; ++i) status_of(b.port(), "/nothing-here");
  CHECK(admin_json(a.port(), "/__admin/requests/count").at("count").as_int64() == 5);
  // Appends are not awaited by the request: they land within a moment.
  CHECK(eventually(
      [&] {
        return admin_json(b.port(), "/__admin/requests/count?scope=cluster")
                   .at("count")
                   .as_int64() == 9;
      },
      1s));
  CHECK(admin_json(b.port(), "/__admin/requests/count?scope=cluster&route=none")
            .at("count")
            .as_int64() == 4);
  const json::object listed =
      admin_json(a.port(), "/__admin/requests?scope=cluster&path=/flaky&limit=2");
  CHECK(listed.at("requests").as_array().size() == 2);
  const http_response bad =
      stubborn::testing::exchange(a.port(), get("/__admin/requests?scope=everywhere"));
  CHECK(bad.status == 400);
}

TEST_CASE("cluster: Redis restarted in the middle of traffic", "[cluster][redis]") {
  redis_process redis;
  const std::string config = cluster_table(redis.url(), "timeout = \"50ms\"") + shared_routes;
  running_server a(config), b(config);
  REQUIRE(all_up({a.port(), b.port()}));
  const http_response added = stubborn::testing::exchange(
      a.port(),
      post("/__admin/routes", R"({"name": "kept", "path": "/kept", "reply": {"status": 202}})"));
  REQUIRE(added.status == 201);
  REQUIRE(eventually([&] { return status_of(b.port(), "/kept") == 202; }, 1s));

  std::atomic<bool> running{true};
  std::atomic<int> answered{0};
  std::atomic<int> failed{0};
  std::thread traffic([&] {
    while (running) {
      const int status = status_of(answered % 2 ? a.port() : b.port(), "/flaky");
      (status == 503 || status == 200 ? answered : failed).fetch_add(1);
    }
  });
  std::this_thread::sleep_for(200ms);
  redis.stop();
  CHECK(eventually([&] { return redis_state(a.port()) == "down"; }, 3s));
  const http_response metrics = stubborn::testing::exchange(a.port(), get("/__admin/metrics"));
  CHECK(metrics.body.find("stubborn_cluster_redis_up 0") != std::string::npos);
  const int during = answered.load();
  std::this_thread::sleep_for(300ms);
  CHECK(answered.load() > during);  // on_unavailable = "local": still answering
  redis.restart();                  // empty: no scripts, no routes
  CHECK(eventually([&] { return redis_state(a.port()) == "up" && redis_state(b.port()) == "up"; },
                   10s));
  running = false;
  traffic.join();
  CHECK(failed == 0);
  // The routes were written back by the instances that hold them: a new instance gets them.
  running_server late(config);
  CHECK(eventually([&] { return status_of(late.port(), "/kept") == 202; }, 3s));
  // The script is loaded again: the sequence is shared once more.
  const std::uint16_t ports[] = {a.port(), b.port(), late.port()};
  const http_response reset = post_reset(a.port());
  REQUIRE(reset.status == 200);
  std::this_thread::sleep_for(100ms);
  std::vector<int> seen;
  for (int i = 0; i < 3; ++i) seen.push_back(status_of(ports[i], "/flaky"));
  CHECK(seen == std::vector<int>{503, 503, 200});
}

TEST_CASE("cluster: Redis never reachable: local, allow and deny", "[cluster][redis]") {
  // A port nothing listens on: a redis-server started and stopped at once.
  std::string url;
  {
    redis_process gone;
    url = gone.url();
  }
  SECTION("local: per-instance state, and the status says down") {
    running_server a(cluster_table(url) + shared_routes);
    CHECK(status_of(a.port(), "/flaky") == 503);
    CHECK(status_of(a.port(), "/flaky") == 503);
    CHECK(status_of(a.port(), "/flaky") == 200);
    CHECK(redis_state(a.port()) == "down");
    const http_response metrics = stubborn::testing::exchange(a.port(), get("/__admin/metrics"));
    CHECK(metrics.body.find("stubborn_cluster_redis_up 0") != std::string::npos);
  }
  SECTION("allow: the rate limit admits everything") {
    running_server a(cluster_table(url, "on_unavailable = \"allow\"") + shared_routes);
    for (int i = 0; i < 5; ++i) CHECK(status_of(a.port(), "/limited") == 200);
  }
  SECTION("deny: 503 with Retry-After for routes whose state is shared") {
    running_server a(cluster_table(url, "on_unavailable = \"deny\"") + shared_routes);
    const http_response r = stubborn::testing::exchange(a.port(), get("/limited"));
    CHECK(r.status == 503);
    CHECK(r.header("Retry-After") == "1");
    CHECK(status_of(a.port(), "/nothing") == 404);  // no shared state asked
  }
}

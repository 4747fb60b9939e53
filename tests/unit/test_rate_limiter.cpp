// The rate limiter's arithmetic with an injected clock: no sleeping, exact counts.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "respond/rate_limiter.hpp"
#include "stubborn/config_error.hpp"
#include "stubborn/load_config.hpp"

using namespace stubborn;
using namespace std::chrono_literals;

namespace {

rate_limit_spec limit(std::uint64_t requests, std::chrono::milliseconds per,
                      std::uint64_t burst = 0,
                      rate_limit_algorithm algorithm = rate_limit_algorithm::token_bucket) {
  rate_limit_spec spec;
  spec.requests = requests;
  spec.per = per;
  spec.burst = burst;
  spec.algorithm = algorithm;
  return spec;
}

}  // namespace

TEST_CASE("token bucket: the burst at once, then one request per interval", "[rate]") {
  rate_arithmetic bucket(limit(10, 1s, 5));
  std::int64_t state = 0;
  for (int i = 0; i < 5; ++i) {
    rate_decision d = bucket.decide(state, 0);
    REQUIRE(d.admitted);
    CHECK(d.remaining == static_cast<std::uint64_t>(4 - i));
  }
  rate_decision denied = bucket.decide(state, 0);
  CHECK_FALSE(denied.admitted);
  CHECK(denied.remaining == 0);
  CHECK(denied.retry_ms == 100);  // one interval of 1s / 10
  CHECK(denied.retry_after_seconds() == 1);
  const std::int64_t ms = 1'000'000;
  CHECK_FALSE(bucket.decide(state, 99 * ms).admitted);
  CHECK(bucket.decide(state, 100 * ms).admitted);
  CHECK_FALSE(bucket.decide(state, 100 * ms).admitted);
  // After a long pause the bucket is full again, never fuller.
  int admitted = 0;
  while (bucket.decide(state, 10'000 * ms).admitted) ++admitted;
  CHECK(admitted == 5);
}

TEST_CASE("token bucket: offered 20,000/s for 10 s at 100/s burst 100 admits 1,100", "[rate]") {
  rate_arithmetic bucket(limit(100, 1s, 100));
  std::int64_t state = 0;
  int admitted = 0;
  const std::int64_t step = 1'000'000'000 / 20'000;  // 50 us between requests
  for (std::int64_t i = 0; i < 200'000; ++i) {
    if (bucket.decide(state, i * step).admitted) ++admitted;
  }
  // 100 at once, then 100/s over the 10 s less one step: the 1,000th refill lands at 10 s.
  CHECK(admitted == 1'099);
}

TEST_CASE("Retry-After is whole seconds, rounded up, never 0", "[rate]") {
  rate_decision d;
  d.admitted = false;
  d.retry_ms = 1;
  CHECK(d.retry_after_seconds() == 1);
  d.retry_ms = 1000;
  CHECK(d.retry_after_seconds() == 1);
  d.retry_ms = 1001;
  CHECK(d.retry_after_seconds() == 2);
  d.retry_ms = 0;
  CHECK(d.retry_after_seconds() == 1);

  rate_arithmetic slow(limit(1, 1min));
  std::int64_t state = 0;
  REQUIRE(slow.decide(state, 0).admitted);
  rate_decision denied = slow.decide(state, 0);
  CHECK(denied.retry_after_seconds() == 60);
}

TEST_CASE("fixed window: requests per window, counted afresh in the next", "[rate]") {
  rate_arithmetic window(limit(3, 1s, 0, rate_limit_algorithm::fixed_window));
  std::int64_t state = 0;
  const std::int64_t ms = 1'000'000;
  for (int i = 0; i < 3; ++i) REQUIRE(window.decide(state, 900 * ms).admitted);
  rate_decision denied = window.decide(state, 900 * ms);
  CHECK_FALSE(denied.admitted);
  CHECK(denied.retry_ms == 100);  // the window ends at 1 s
  CHECK(window.decide(state, 1000 * ms).admitted);
  CHECK(window.decide(state, 1000 * ms).remaining == 1);
  CHECK_FALSE(window.idle(state, 1999 * ms));
  CHECK(window.idle(state, 2000 * ms));
}

TEST_CASE("a drained bucket is idle: forgetting it changes nothing", "[rate]") {
  rate_arithmetic bucket(limit(10, 1s));
  std::int64_t state = 0;
  REQUIRE(bucket.decide(state, 0).admitted);
  CHECK_FALSE(bucket.idle(state, 50'000'000));
  CHECK(bucket.idle(state, 100'000'000));
}

TEST_CASE("keys are counted apart, and memory stays bounded however many keys", "[rate]") {
  rate_limit_spec spec = limit(1, 1h);
  spec.key = rate_limit_key::header;
  spec.key_name = "X-Api-Key";
  spec.max_keys = 160;
  rate_limiter limiter(spec);
  const auto t0 = rate_limiter::clock::now();
  CHECK(limiter.admit_at("a", t0).admitted);
  CHECK_FALSE(limiter.admit_at("a", t0).admitted);
  CHECK(limiter.admit_at("b", t0).admitted);
  for (int i = 0; i < 10'000; ++i) limiter.admit_at("client-" + std::to_string(i), t0);
  CHECK(limiter.key_count() <= 160);
  CHECK(limiter.evictions() > 0);  // all were busy (1 per hour): some were forgiven

  // Idle keys go first and lose nothing: after the hour every old key is idle.
  rate_limiter idle_first(spec);
  for (int i = 0; i < 400; ++i) idle_first.admit_at("old-" + std::to_string(i), t0);
  const std::uint64_t before = idle_first.evictions();
  CHECK(idle_first.admit_at("fresh", t0 + 2h).admitted);
  CHECK(idle_first.evictions() == before);  // its shard was full of idle keys: those went
  CHECK_FALSE(idle_first.admit_at("fresh", t0 + 2h).admitted);
  CHECK(idle_first.key_count() <= 160);
}

TEST_CASE("the global key is exact across threads", "[rate]") {
  rate_limiter limiter(limit(100, 1s, 1000));
  const auto t0 = rate_limiter::clock::now();
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) {
        if (limiter.admit_at({}, t0).admitted) admitted.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(admitted.load() == 1000);
  limiter.reset();
  CHECK(limiter.admit_at({}, t0).admitted);
}

TEST_CASE("headers: IETF fields, X-RateLimit fields, Retry-After when denied", "[rate]") {
  rate_limit_spec spec = limit(2, 1min);
  rate_limiter ietf(spec);
  const auto t0 = rate_limiter::clock::now();
  std::string out;
  ietf.append_headers(ietf.admit_at({}, t0), out);
  CHECK(out == "RateLimit-Policy: \"default\";q=2;w=60\r\nRateLimit: \"default\";r=1;t=30\r\n");
  ietf.admit_at({}, t0);
  out.clear();
  ietf.append_headers(ietf.admit_at({}, t0), out);
  CHECK(out ==
        "Retry-After: 30\r\nRateLimit-Policy: \"default\";q=2;w=60\r\n"
        "RateLimit: \"default\";r=0;t=30\r\n");

  spec.headers = rate_limit_headers::x_ratelimit;
  rate_limiter x(spec);
  out.clear();
  x.append_headers(x.admit_at({}, t0), out);
  CHECK(out == "X-RateLimit-Limit: 2\r\nX-RateLimit-Remaining: 1\r\nX-RateLimit-Reset: 30\r\n");

  spec.headers = rate_limit_headers::none;
  rate_limiter none(spec);
  out.clear();
  none.append_headers(none.admit_at({}, t0), out);
  CHECK(out.empty());
}

// ---- [route.rate_limit] and [server.rate_limit] in the config ----

namespace {

std::vector<std::string> problems_of(const std::string& text) {
  try {
    load_config_text(text, "t.toml");
  } catch (const config_error& e) {
    std::vector<std::string> out;
    for (const auto& p : e.problems()) out.push_back(p.to_string());
    return out;
  }
  return {};
}

}  // namespace

TEST_CASE("rate_limit tables are read into rate_limit_spec", "[rate][config]") {
  config cfg = load_config_text(R"(
[server.rate_limit]
requests = 1000
per = "1m"
key = "ip"
algorithm = "fixed-window"
headers = "none"

[[route]]
path = "/a"
[route.rate_limit]
requests = 10
per = "1s"
burst = 20
key = "header:X-Api-Key"
headers = "x-ratelimit"
max_keys = 500
[route.rate_limit.reply]
status = 503
body = "busy"

[[route]]
path = "/b"
rate_limit = { requests = 5, key = "query:api_key" }
)",
                                "t.toml");
  REQUIRE(cfg.server.rate_limit);
  CHECK(cfg.server.rate_limit->requests == 1000);
  CHECK(cfg.server.rate_limit->per == 60s);
  CHECK(cfg.server.rate_limit->key == rate_limit_key::ip);
  CHECK(cfg.server.rate_limit->algorithm == rate_limit_algorithm::fixed_window);
  CHECK(cfg.server.rate_limit->headers == rate_limit_headers::none);
  const rate_limit_spec& a = *cfg.routes.at(0).rate_limit;
  CHECK(a.requests == 10);
  CHECK(a.bucket_size() == 20);
  CHECK(a.key == rate_limit_key::header);
  CHECK(a.key_name == "X-Api-Key");
  CHECK(a.headers == rate_limit_headers::x_ratelimit);
  CHECK(a.max_keys == 500);
  REQUIRE(a.reply);
  CHECK(a.reply->status == 503);
  CHECK(a.reply->body == "busy");
  const rate_limit_spec& b = *cfg.routes.at(1).rate_limit;
  CHECK(b.per == 1s);
  CHECK(b.bucket_size() == 5);
  CHECK(b.key == rate_limit_key::query);
  CHECK(b.key_name == "api_key");
  CHECK(b.algorithm == rate_limit_algorithm::token_bucket);
  CHECK_FALSE(b.reply);
}

TEST_CASE("bad rate_limit tables are reported with positions", "[rate][config]") {
  CHECK(problems_of("[[route]]\npath = \"/\"\n[route.rate_limit]\nper = \"1s\"\n") ==
        std::vector<std::string>{
            "t.toml:3:1: [route.rate_limit] needs 'requests', e.g. requests = 10 (per \"1s\")"});
  CHECK(problems_of("[[route]]\npath = \"/\"\nrate_limit = { requests = 0 }\n") ==
        std::vector<std::string>{"t.toml:3:27: 'requests' must be 1..1000000000, not 0"});
  CHECK(problems_of("[[route]]\npath = \"/\"\nrate_limit = { requests = 1, key = \"cookie\" }\n") ==
        std::vector<std::string>{"t.toml:3:36: 'key' must be \"global\", \"ip\", "
                                 "\"header:NAME\" or \"query:NAME\", not \"cookie\""});
  CHECK(
      problems_of("[[route]]\npath = \"/\"\nrate_limit = { requests = 1, key = \"header:\" }\n") ==
      std::vector<std::string>{"t.toml:3:36: 'key' needs a header name after \"header:\", "
                               "e.g. \"header:X-Api-Key\""});
  CHECK(problems_of("[[route]]\npath = \"/\"\nrate_limit = { requests = 1, burst = 2, algorithm = "
                    "\"fixed-window\" }\n") ==
        std::vector<std::string>{"t.toml:3:38: 'burst' is for the token bucket; a fixed window "
                                 "admits 'requests' per window"});
  CHECK(problems_of("[[route]]\npath = \"/\"\nrate_limit = { requests = 1, algoritm = \"x\" }\n") ==
        std::vector<std::string>{"t.toml:3:30: unknown key 'algoritm' in [route.rate_limit] "
                                 "(did you mean 'algorithm'?)"});
  CHECK(problems_of("[server.rate_limit]\nrequests = 1\nper = \"0s\"\n") ==
        std::vector<std::string>{"t.toml:3:7: 'per' must be more than 0s"});
  CHECK(problems_of("[[route]]\npath = \"/\"\n[route.rate_limit]\nrequests = 1\n"
                    "[route.rate_limit.reply]\nbody = \"{{path.id}}\"\n")
            .size() == 1);
}

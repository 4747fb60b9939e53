#include <catch2/catch.hpp>

#include "respond/reply_plan.hpp"

using namespace stubborn;
using namespace std::chrono_literals;

namespace {

reply_spec reply_with_status(int status, unsigned repeat = 1) {
  reply_spec r;
  r.status = status;
  r.repeat = repeat;
  return r;
}

reply_script script_of(std::vector<reply_spec> replies, sequence_end then) {
  reply_script script;
  std::uint64_t end = 0;
  for (const auto& r : replies) {
    script.replies.push_back(compiled_reply::compile(r, {}, "stubborn"));
    end += r.repeat;
    script.ends.push_back(end);
  }
  script.then = then;
  script.stateful = true;
  return script;
}

std::vector<int> statuses(const reply_script& script, int n) {
  std::vector<int> out;
  for (int i = 0; i < n; ++i) out.push_back(plan_reply(script, {}).reply->status());
  return out;
}

}  // namespace

TEST_CASE("a sequence steps through its replies, then repeats the last", "[plan]") {
  auto script =
      script_of({reply_with_status(503, 2), reply_with_status(200)}, sequence_end::repeat_last);
  CHECK(statuses(script, 5) == std::vector<int>{503, 503, 200, 200, 200});
  script.state->reset();
  CHECK(statuses(script, 3) == std::vector<int>{503, 503, 200});
}

TEST_CASE("a cycling sequence starts over", "[plan]") {
  auto script = script_of({reply_with_status(200), reply_with_status(500, 2)}, sequence_end::cycle);
  CHECK(statuses(script, 7) == std::vector<int>{200, 500, 500, 200, 500, 500, 200});
}

TEST_CASE("an outage window counts Retry-After to its end, rounded up", "[plan]") {
  compiled_outage outage;
  outage.spec.every = 60s;
  outage.spec.duration = 10s;
  std::uint32_t retry_after = 0;
  plan_clock clock;
  clock.since_start = 0s;
  CHECK(outage_applies(outage, clock, 0, retry_after));
  CHECK(retry_after == 10);
  clock.since_start = 9500ms;
  CHECK(outage_applies(outage, clock, 0, retry_after));
  CHECK(retry_after == 1);  // never 0
  clock.since_start = 9001ms;
  CHECK(outage_applies(outage, clock, 0, retry_after));
  CHECK(retry_after == 1);
  clock.since_start = 8999ms;
  CHECK(outage_applies(outage, clock, 0, retry_after));
  CHECK(retry_after == 2);
  clock.since_start = 10s;
  CHECK_FALSE(outage_applies(outage, clock, 0, retry_after));
  clock.since_start = 125s;  // the third window, 5 s in
  CHECK(outage_applies(outage, clock, 0, retry_after));
  CHECK(retry_after == 5);
}

TEST_CASE("an outage rate fails about that fraction, reproducibly", "[plan]") {
  compiled_outage outage;
  outage.spec.rate = 0.2;
  plan_clock clock;
  clock.seed = 1234;
  std::uint32_t ignored = 0;
  int failed = 0;
  for (std::uint64_t n = 0; n < 10000; ++n) failed += outage_applies(outage, clock, n, ignored);
  CHECK(failed > 1800);
  CHECK(failed < 2200);
  int again = 0;
  for (std::uint64_t n = 0; n < 10000; ++n) again += outage_applies(outage, clock, n, ignored);
  CHECK(again == failed);
}

TEST_CASE("delays are sampled within their shape", "[plan]") {
  delay_spec fixed;
  fixed.type = delay_spec::kind::fixed;
  fixed.fixed = 250ms;
  CHECK(sample_delay(fixed, 0.3, 0.7) == 250ms);

  delay_spec uniform;
  uniform.type = delay_spec::kind::uniform;
  uniform.min = 100ms;
  uniform.max = 400ms;
  CHECK(sample_delay(uniform, 0.0, 0.0) == 100ms);
  CHECK(sample_delay(uniform, 0.999999, 0.0) == 400ms);

  delay_spec lognormal;
  lognormal.type = delay_spec::kind::lognormal;
  lognormal.median = 200ms;
  lognormal.sigma = 0.4;
  std::vector<long> samples;
  for (std::uint64_t n = 0; n < 2001; ++n) {
    samples.push_back(static_cast<long>(
        sample_delay(lognormal, uniform_random(9, 1, n), uniform_random(9, 2, n)).count()));
  }
  std::sort(samples.begin(), samples.end());
  long median = samples[1000];
  CHECK(median > 180);
  CHECK(median < 220);
  CHECK(samples.front() > 0);
}

TEST_CASE("the random stream depends only on seed, stream and index", "[plan]") {
  CHECK(uniform_random(1, 2, 3) == uniform_random(1, 2, 3));
  CHECK(uniform_random(1, 2, 3) != uniform_random(1, 2, 4));
  CHECK(uniform_random(1, 2, 3) != uniform_random(2, 2, 3));
  for (std::uint64_t n = 0; n < 1000; ++n) {
    double u = uniform_random(5, 5, n);
    CHECK(u >= 0.0);
    CHECK(u < 1.0);
  }
}

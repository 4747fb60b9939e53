// Micro-benchmarks of the pure parts (Google Benchmark): route matching against 10 / 1,000 /
// 10,000 routes, matching 1,000 routes that each carry two json_path conditions against a 1 KiB
// JSON body, reply rendering, and loading + compiling a 1,000-route config.
//
// Built by the normal build (target stubborn_micro_bench), never run by the test suite:
//   build-bench/benchmarks/stubborn_micro_bench --benchmark_repetitions=3
//
// The route tables are generated with the same shapes as benchmarks/run.py's routes-1000 config:
// filler routes cycle through exact, {param} at the end, RE2 regex and {param} in the middle,
// all sharing the "/api/v1/" prefix; the request matches only the last route, which comes last in
// file order, so every regex route ranks before it and must be considered.
//
// This binary replaces the global operator new to count heap allocations: each benchmark
// reports `allocs/iter` (allocations per iteration of the timed loop).

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "respond/reply_plan.hpp"
#include "routing/request.hpp"
#include "routing/route_table.hpp"
#include "stubborn/config.hpp"
#include "stubborn/load_config.hpp"

// ---- allocation counting -------------------------------------------------------------------

// g++ 12 flags free() in a replaced operator delete as mismatched with operator new, although
// both sides of this replacement use malloc/free.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {
std::atomic<std::uint64_t> allocation_count{0};
}  // namespace

void* operator new(std::size_t size) {
  allocation_count.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  return ::operator new(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  allocation_count.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept {
  return ::operator new(size, tag);
}
void* operator new(std::size_t size, std::align_val_t align) {
  allocation_count.fetch_add(1, std::memory_order_relaxed);
  std::size_t a = static_cast<std::size_t>(align);
  if (void* p = std::aligned_alloc(a, (size + a - 1) / a * a)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return ::operator new(size, align);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}

namespace {

// Counts allocations made while the benchmark's timed loop runs.
class allocation_meter {
 public:
  explicit allocation_meter(benchmark::State& state)
      : state_(state), start_(allocation_count.load(std::memory_order_relaxed)) {}
  ~allocation_meter() {
    auto used = allocation_count.load(std::memory_order_relaxed) - start_;
    state_.counters["allocs/iter"] = benchmark::Counter(
        static_cast<double>(used) /
        static_cast<double>(std::max<benchmark::IterationCount>(state_.iterations(), 1)));
  }
  allocation_meter(const allocation_meter&) = delete;
  allocation_meter& operator=(const allocation_meter&) = delete;

 private:
  benchmark::State& state_;
  std::uint64_t start_;
};

// ---- generated route tables ----------------------------------------------------------------

enum class last_kind { exact, param, regex };

struct generated {
  std::string toml;
  std::string path;  // the request path matching the last route
};

std::string filler_route(std::size_t i) {
  std::string n = std::to_string(i);
  std::string head = "[[route]]\nname = \"r" + n + "\"\nmethod = \"GET\"\n";
  switch (i % 4) {
    case 0:
      return head + "path = \"/api/v1/things-" + n + "/items\"\n[route.reply]\nbody = \"exact " +
             n + "\"\n";
    case 1:
      return head + "path = \"/api/v1/things-" + n +
             "/{id}\"\n[route.reply]\nbody = \"item {{path.id}}\"\n";
    case 2:
      return head + "path_regex = '^/api/v1/regex-" + n +
             "/(?P<id>[0-9]+)$'\n[route.reply]\nbody = \"regex {{path.id}}\"\n";
    default:
      return head + "path = \"/api/v1/{tenant}/things-" + n +
             "\"\n[route.reply]\nbody = \"tenant {{path.tenant}}\"\n";
  }
}

// `count` routes: count - 1 fillers, then the one the request matches.
generated make_routes(std::size_t count, last_kind kind) {
  generated g;
  g.toml = "[server]\nlisten = \"127.0.0.1:0\"\n\n";
  for (std::size_t i = 0; i + 1 < count; ++i) g.toml += filler_route(i) + "\n";
  g.toml += "[[route]]\nname = \"last\"\nmethod = \"GET\"\n";
  switch (kind) {
    case last_kind::exact:
      g.toml += "path = \"/api/v1/last/items\"\n[route.reply]\nbody = \"hello\"\n";
      g.path = "/api/v1/last/items";
      break;
    case last_kind::param:
      g.toml += "path = \"/api/v1/last/{id}\"\n[route.reply]\nbody = \"{{path.id}}\"\n";
      g.path = "/api/v1/last/12345";
      break;
    case last_kind::regex:
      g.toml +=
          "path_regex = '^/api/v1/last-regex/(?P<id>[0-9]+)$'\n[route.reply]\n"
          "body = \"{{path.id}}\"\n";
      g.path = "/api/v1/last-regex/12345";
      break;
  }
  return g;
}

// The headers wrk sends, plus two a browser would.
const stubborn::header_field request_headers[] = {
    {"Host", "127.0.0.1:8080"},
    {"User-Agent", "bench/1.0"},
    {"Accept", "*/*"},
};

stubborn::request_view make_request(std::string_view path, std::string_view query = {},
                                    std::string_view target = {}) {
  stubborn::request_view rv;
  rv.method = "GET";
  rv.path = path;
  rv.query = query;
  rv.target = target.empty() ? path : target;
  rv.headers = std::span<const stubborn::header_field>(request_headers);
  return rv;
}

// ---- matching --------------------------------------------------------------------------------

void bm_match(benchmark::State& state, last_kind kind) {
  auto count = static_cast<std::size_t>(state.range(0));
  generated g = make_routes(count, kind);
  auto cfg = stubborn::load_config_text(g.toml, "bench.toml");
  auto table = stubborn::route_table::compile(cfg);
  stubborn::match_scratch scratch;
  stubborn::request_view rv = make_request(g.path);
  auto check = table->match(rv, scratch);
  if (!check.route || check.route->name != "last") {
    state.SkipWithError("the request did not match the last route");
    return;
  }
  {
    allocation_meter meter(state);
    for (auto _ : state) {
      scratch.reset();
      auto m = table->match(rv, scratch);
      benchmark::DoNotOptimize(m);
    }
  }
  state.counters["routes"] = static_cast<double>(table->size());
}

void bm_match_exact(benchmark::State& state) {
  bm_match(state, last_kind::exact);
}
void bm_match_param(benchmark::State& state) {
  bm_match(state, last_kind::param);
}
void bm_match_regex(benchmark::State& state) {
  bm_match(state, last_kind::regex);
}

BENCHMARK(bm_match_exact)->Arg(10)->Arg(1000)->Arg(10000);
BENCHMARK(bm_match_param)->Arg(10)->Arg(1000)->Arg(10000);
BENCHMARK(bm_match_regex)->Arg(10)->Arg(1000)->Arg(10000);

// ---- matching on the body: [route.when] conditions ---------------------------------------------

// The shape of benchmarks/run.py's `conditions` scenario: `count` routes on POST /orders, route i
// with two json_path conditions, `$.order.total gt i` (which every route's request passes) and
// `$.customer.id equals "c<i>"` (which only the last one's does), so every route ranks before
// the last, evaluates both conditions and fails on the second.
std::string condition_routes(std::size_t count) {
  std::string toml = "[server]\nlisten = \"127.0.0.1:0\"\n\n";
  for (std::size_t i = 0; i < count; ++i) {
    std::string n = std::to_string(i);
    toml += "[[route]]\nname = \"order-" + n + "\"\nmethod = \"POST\"\npath = \"/orders\"\n" +
            "[route.when]\nall = [ { json_path = \"$.order.total\", gt = " + n +
            " },\n        { json_path = \"$.customer.id\", equals = \"c" + n + "\" } ]\n" +
            "[route.reply]\nbody = \"hello\"\n\n";
  }
  return toml;
}

// A JSON order of about 1 KiB (at most 1,024 bytes) that the last of `count` routes takes: the
// customer is c<count - 1> and the total count + 500. The same text as run.py's
// conditions_body().
std::string condition_body(std::size_t count) {
  std::string n = std::to_string(count - 1);
  std::string head =
      "{\"customer\":{\"id\":\"c" + n + "\",\"name\":\"Customer " + n + "\",\"email\":\"c" + n +
      "@example.com\"},\"order\":{\"id\":\"o-1\",\"total\":" + std::to_string(count + 500) +
      ",\"currency\":\"EUR\"},\"items\":[";
  std::string items;
  for (std::size_t k = 0;; ++k) {
    char item[96];
    std::snprintf(item, sizeof item, "%s{\"sku\":\"SKU-%04zu\",\"qty\":%zu,\"price\":%zu.%02zu}",
                  k == 0 ? "" : ",", k, k % 5 + 1, 10 + k, (k * 37) % 100);
    if (head.size() + items.size() + std::strlen(item) + 2 > 1024) break;
    items += item;
  }
  return head + items + "]}";
}

const stubborn::header_field post_headers[] = {
    {"Host", "127.0.0.1:8080"},
    {"User-Agent", "bench/1.0"},
    {"Accept", "*/*"},
    {"Content-Type", "application/json"},
};

// The per-request cost of choosing among routes that read the body: the scratch is reset every
// iteration, so the body is parsed (once) in every one, as for each new request.
void bm_conditions_match(benchmark::State& state) {
  auto count = static_cast<std::size_t>(state.range(0));
  std::shared_ptr<const stubborn::route_table> table;
  try {
    table = stubborn::route_table::compile(
        stubborn::load_config_text(condition_routes(count), "bench.toml"));
  } catch (const std::exception& e) {
    // The first problem is enough: the other 999 routes repeat it.
    std::string first = e.what();
    first = first.substr(0, first.find('\n'));
    state.SkipWithError(("the conditions config does not load: " + first).c_str());
    return;
  }
  std::string body = condition_body(count);
  stubborn::match_scratch scratch;
  stubborn::request_view rv;
  rv.method = "POST";
  rv.path = "/orders";
  rv.target = "/orders";
  rv.headers = std::span<const stubborn::header_field>(post_headers);
  rv.body = body;
  auto check = table->match(rv, scratch);
  std::string last = "order-" + std::to_string(count - 1);
  if (!check.route || check.route->name != last) {
    state.SkipWithError("the request did not match the last route");
    return;
  }
  {
    allocation_meter meter(state);
    for (auto _ : state) {
      scratch.reset();
      auto m = table->match(rv, scratch);
      benchmark::DoNotOptimize(m);
    }
  }
  state.counters["routes"] = static_cast<double>(table->size());
  state.counters["body_bytes"] = static_cast<double>(body.size());
}

// Named apart from bm_match_*: those are held to the 1 us target for routes without conditions,
// this one to its own (5 us) in benchmarks/run.py.
BENCHMARK(bm_conditions_match)->Arg(1000);

// ---- reply rendering -------------------------------------------------------------------------

constexpr std::string_view render_config = R"([server]
listen = "127.0.0.1:0"

[[route]]
name = "static"
path = "/hello"
[route.reply]
headers = { Content-Type = "text/plain" }
body = "hello"

[[route]]
name = "templated"
path = "/users/{id}"
[route.reply]
headers = { Content-Type = "application/json", X-User-Id = "{{path.id}}" }
body = '{"id": "{{path.id}}", "q": "{{query.q}}", "agent": "{{header.User-Agent}}", "method": "{{method}}", "uri": "{{uri}}"}'
)";

void bm_render(benchmark::State& state, std::string_view path, std::string_view query,
               std::string_view target) {
  auto cfg = stubborn::load_config_text(render_config, "bench.toml");
  auto table = stubborn::route_table::compile(cfg);
  stubborn::match_scratch scratch;
  stubborn::request_view rv = make_request(path, query, target);
  auto m = table->match(rv, scratch);
  if (!m.route) {
    state.SkipWithError("no route matched");
    return;
  }
  // The route's first (here: only) scripted reply.
  const stubborn::compiled_reply& reply = m.route->script.replies.front();
  std::string out;
  std::string body_scratch;
  out.reserve(4096);
  body_scratch.reserve(4096);
  std::size_t bytes = 0;
  {
    allocation_meter meter(state);
    for (auto _ : state) {
      out.clear();
      auto body = reply.render(rv, std::span(m.params.data(), m.param_count), false,
                               stubborn::connection_header::none, out, body_scratch);
      bytes = out.size() + body.size();
      benchmark::DoNotOptimize(body);
      benchmark::ClobberMemory();
    }
  }
  state.counters["reply_bytes"] = static_cast<double>(bytes);
}

void bm_render_static(benchmark::State& state) {
  bm_render(state, "/hello", {}, "/hello");
}
void bm_render_template(benchmark::State& state) {
  bm_render(state, "/users/12345", "q=bench&page=2", "/users/12345?q=bench&page=2");
}

BENCHMARK(bm_render_static);
BENCHMARK(bm_render_template);

// ---- config loading --------------------------------------------------------------------------

void bm_load_config(benchmark::State& state) {
  generated g = make_routes(static_cast<std::size_t>(state.range(0)), last_kind::param);
  allocation_meter meter(state);
  for (auto _ : state) {
    auto cfg = stubborn::load_config_text(g.toml, "bench.toml");
    benchmark::DoNotOptimize(cfg);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * g.toml.size()));
}

void bm_compile_table(benchmark::State& state) {
  generated g = make_routes(static_cast<std::size_t>(state.range(0)), last_kind::param);
  auto cfg = stubborn::load_config_text(g.toml, "bench.toml");
  allocation_meter meter(state);
  for (auto _ : state) {
    auto table = stubborn::route_table::compile(cfg);
    benchmark::DoNotOptimize(table);
  }
}

void bm_load_and_compile(benchmark::State& state) {
  generated g = make_routes(static_cast<std::size_t>(state.range(0)), last_kind::param);
  allocation_meter meter(state);
  for (auto _ : state) {
    auto table = stubborn::route_table::compile(stubborn::load_config_text(g.toml, "bench.toml"));
    benchmark::DoNotOptimize(table);
  }
}

BENCHMARK(bm_load_config)->Arg(1000)->Unit(benchmark::kMillisecond);
BENCHMARK(bm_compile_table)->Arg(1000)->Unit(benchmark::kMillisecond);
BENCHMARK(bm_load_and_compile)->Arg(1000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

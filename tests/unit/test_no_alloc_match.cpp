// Matching is on the hot path: after warm-up it must not touch the heap. This file replaces the
// global operator new for the unit-test binary to count allocations made by this thread.

#include <catch2/catch.hpp>
#include <cstdlib>
#include <new>

#include "respond/respond.hpp"
#include "route_fixture.hpp"
#include "routing/route_table.hpp"
#include "stubborn/load_config.hpp"

namespace {
thread_local bool counting = false;
thread_local std::size_t allocations = 0;
}  // namespace

// g++ 12 inlines these replacements into their callers and then reports free() on memory from
// "operator new" (-Wmismatched-new-delete): a false positive, since every replacement here
// allocates with malloc and releases with free.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  if (counting) ++allocations;
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  return ::operator new(size);
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
// The nothrow forms too, or a sanitizer's own would pair with our delete.
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  if (counting) ++allocations;
  return std::malloc(size ? size : 1);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept {
  return ::operator new(size, tag);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
#pragma GCC diagnostic pop

namespace {

std::string thousand_routes() {
  std::string toml;
  for (int i = 0; i < 1000; ++i) {
    std::string n = std::to_string(i);
    switch (i % 3) {
      case 0:
        toml += "[[route]]\nmethod = \"GET\"\npath = \"/exact/" + n + "/list\"\n";
        break;
      case 1:
        toml += "[[route]]\nmethod = \"GET\"\npath = \"/users/" + n +
                "/{id}\"\n"
                "[route.reply]\nbody = \"{{path.id}}\"\n";
        break;
      case 2:
        toml += "[[route]]\nmethod = \"GET\"\npath_regex = \"^/rx/" + n + "/[a-z]+$\"\n";
        break;
    }
  }
  // The request below matches only the last route.
  toml +=
      "[[route]]\nname = \"last\"\nmethod = \"GET\"\npath = \"/users/{id}/orders/{order}\"\n"
      "query = { verbose = \"true\" }\nheaders = { \"X-Api-Key\" = \"k1\" }\n";
  return toml;
}

template <class F>
std::size_t allocations_during(F&& f) {
  allocations = 0;
  counting = true;
  f();
  counting = false;
  return allocations;
}

}  // namespace

TEST_CASE("matching against 1,000 routes allocates nothing", "[routing][alloc]") {
  auto table =
      stubborn::route_table::compile(stubborn::load_config_text(thousand_routes(), "t.toml"));
  REQUIRE(table->size() == 1001);
  stubborn::testing::fake_request hit("GET", "/users/42/orders/7?verbose=true",
                                      {{"Host", "x"}, {"x-api-key", "k1"}});
  stubborn::testing::fake_request miss("GET", "/nothing/here", {{"Host", "x"}});
  stubborn::testing::fake_request regex("GET", "/rx/998/abc", {{"Host", "x"}});
  stubborn::match_scratch scratch;
  // Warm-up: RE2 builds its DFA states lazily on first use.
  table->match(hit.view, scratch);
  table->match(miss.view, scratch);
  table->match(regex.view, scratch);

  stubborn::route_match m;
  CHECK(allocations_during([&] {
          for (int i = 0; i < 1000; ++i) m = table->match(hit.view, scratch);
        }) == 0);
  REQUIRE(m.route);
  CHECK(m.route->name == "last");
  CHECK(m.params[0] == "42");
  CHECK(m.params[1] == "7");

  CHECK(allocations_during([&] {
          for (int i = 0; i < 1000; ++i) m = table->match(miss.view, scratch);
        }) == 0);
  CHECK_FALSE(m.route);

  CHECK(allocations_during([&] {
          for (int i = 0; i < 1000; ++i) m = table->match(regex.view, scratch);
        }) == 0);
  REQUIRE(m.route);
  CHECK(m.route->spec.path_regex == "^/rx/998/[a-z]+$");
}

TEST_CASE("planning a static plain GET allocates nothing", "[respond][alloc]") {
  auto table = stubborn::route_table::compile(stubborn::load_config_text(R"(
[[route]]
path = "/hello"
[route.reply]
body = "hello"
)",
                                                                         "t.toml"));
  stubborn::testing::fake_request hello("GET", "/hello", {{"Host", "x"}});
  stubborn::connection_facts facts;
  stubborn::respond_scratch scratch;
  stubborn::response plan;
  std::string out;
  out.reserve(4096);
  CHECK(allocations_during([&] {
          for (int i = 0; i < 1000; ++i) {
            stubborn::respond(hello.view, *table, facts, scratch, plan);
            out.clear();
            stubborn::append_head(plan.head, "Sun, 06 Nov 1994 08:49:37 GMT", out);
          }
        }) == 0);
  CHECK(plan.status == 200);
  CHECK(plan.is_plain());
  CHECK(plan.body == "hello");
}

TEST_CASE("matching on the scheme and the client certificate allocates nothing",
          "[routing][alloc][tls]") {
  auto table = stubborn::route_table::compile(stubborn::load_config_text(R"(
[[route]]
name = "plain"
path = "/x"
scheme = "http"
[[route]]
name = "wrong-cert"
path = "/x"
client_cert = { subject = "CN=orders" }
[[route]]
name = "billing"
path = "/x"
scheme = "https"
client_cert = { subject = "CN=billing,O=Acme", san = "billing.internal" }
)",
                                                                         "t.toml"));
  stubborn::tls_facts tls;
  tls.client_subject = "CN=billing,O=Acme";
  tls.client_sans = {"10.0.0.7", "billing.internal"};
  tls.client_verified = true;
  stubborn::testing::fake_request request("GET", "/x", {{"Host", "x"}});
  request.view.tls = &tls;
  stubborn::match_scratch scratch;
  stubborn::route_match m;
  CHECK(allocations_during([&] {
          for (int i = 0; i < 1000; ++i) m = table->match(request.view, scratch);
        }) == 0);
  REQUIRE(m.route);
  CHECK(m.route->name == "billing");
}

TEST_CASE("the allocation counter sees allocations", "[alloc]") {
  // Guards the test above against a counter that never counts.
  CHECK(allocations_during([] {
          auto* p = new std::string(100, 'x');
          delete p;
        }) > 0);
}

// Routes on one path told apart by a JSON value (`{ json_path = "$.id", equals = "..." }`) are
// looked up by that value; the lookup must choose exactly as trying every route in rank order
// would, whatever the mix of keyed and other routes, priorities, numbers and bodies.

#include <catch2/catch.hpp>

#include <string>

#include "route_fixture.hpp"
#include "routing/route_table.hpp"
#include "stubborn/load_config.hpp"

using namespace stubborn;
using stubborn::testing::fake_request;

namespace {

std::shared_ptr<const route_table> table_of(const std::string& toml) {
  return route_table::compile(load_config_text(toml, "keyed.toml", "."));
}

std::string keyed_route(const std::string& name, const std::string& operand, int priority = 0,
                        const std::string& extra = {}) {
  return "[[route]]\nname = \"" + name +
         "\"\nmethod = \"POST\"\npath = \"/orders\"\npriority = " + std::to_string(priority) +
         "\nwhen = { all = [ { json_path = \"$.customer.id\", equals = " + operand + " }" + extra +
         " ] }\n[route.reply]\nbody = \"" + name + "\"\n\n";
}

std::string matched(const route_table& table, const std::string& body, bool head_only = false) {
  fake_request request("POST", "/orders", {{"Content-Type", "application/json"}}, body);
  match_scratch scratch;
  const route_match m = table.match(request.view, scratch, head_only);
  return m.route ? m.route->name : "";
}

}  // namespace

TEST_CASE("keyed routes: the lookup picks what trying each route in rank order picks", "[keyed]") {
  std::string toml;
  for (int i = 0; i < 40; ++i)
    toml += keyed_route("c" + std::to_string(i), "\"c" + std::to_string(i) + "\"");
  // Same key twice: the earlier wins. A second condition can still refuse.
  toml += keyed_route("c7-again", "\"c7\"");
  toml += keyed_route("big", "\"big\"", 0, ", { json_path = \"$.total\", gt = 100 }");
  // Numbers by value; a number never equals a string.
  toml += keyed_route("n100", "100");
  toml += keyed_route("s100", "\"100\"");
  // A higher priority route that is keyed, and an unkeyed one below everything.
  toml += keyed_route("vip", "\"c3\"", 5);
  toml +=
      "[[route]]\nname = \"fallback\"\nmethod = \"POST\"\npath = \"/orders\"\n"
      "when = { all = [ { header = \"Content-Type\", contains = \"json\" } ] }\n"
      "[route.reply]\nbody = \"fallback\"\n\n";
  toml +=
      "[[route]]\nname = \"list\"\nmethod = \"POST\"\npath = \"/orders\"\npriority = -1\n"
      "[route.reply]\nbody = \"list\"\n";
  const auto table = table_of(toml);

  CHECK(matched(*table, R"({"customer":{"id":"c0"}})") == "c0");
  CHECK(matched(*table, R"({"customer":{"id":"c39"}})") == "c39");
  CHECK(matched(*table, R"({"customer":{"id":"c7"}})") == "c7");
  CHECK(matched(*table, R"({"customer":{"id":"big"},"total":5})") == "fallback");
  CHECK(matched(*table, R"({"customer":{"id":"big"},"total":500})") == "big");
  CHECK(matched(*table, R"({"customer":{"id":"c3"}})") == "vip");
  CHECK(matched(*table, R"({"customer":{"id":100}})") == "n100");
  CHECK(matched(*table, R"({"customer":{"id":100.0}})") == "n100");
  CHECK(matched(*table, R"({"customer":{"id":1e2}})") == "n100");
  CHECK(matched(*table, R"({"customer":{"id":"100"}})") == "s100");
  CHECK(matched(*table, R"({"customer":{"id":"c40"}})") == "fallback");
  CHECK(matched(*table, R"({"customer":{"id":["c1"]}})") == "fallback");
  CHECK(matched(*table, R"({"customer":{}})") == "fallback");
  CHECK(matched(*table, "not json") == "fallback");
  // Decided on the head: body conditions may hold, so the best-ranked route of all.
  CHECK(matched(*table, "", true) == "vip");
}

TEST_CASE("keyed routes: ignore_case and wildcard paths are not keys", "[keyed]") {
  std::string toml;
  for (int i = 0; i < 10; ++i) {
    toml += "[[route]]\nname = \"w" + std::to_string(i) +
            "\"\npath = \"/orders\"\nwhen = { all = [ { json_path = \"$.items[*].sku\", equals = "
            "\"s" +
            std::to_string(i) + "\" } ] }\n[route.reply]\nbody = \"x\"\n\n";
    toml += "[[route]]\nname = \"i" + std::to_string(i) +
            "\"\npath = \"/orders\"\nwhen = { all = [ { json_path = \"$.id\", equals = \"ID" +
            std::to_string(i) + "\", ignore_case = true } ] }\n[route.reply]\nbody = \"x\"\n\n";
  }
  const auto table = table_of(toml);
  fake_request wild("POST", "/orders", {}, R"({"items":[{"sku":"s9"},{"sku":"s4"}]})");
  match_scratch scratch;
  CHECK(table->match(wild.view, scratch).route->name == "w4");
  fake_request folded("POST", "/orders", {}, R"({"id":"id6"})");
  scratch.reset();
  CHECK(table->match(folded.view, scratch).route->name == "i6");
}

TEST_CASE("a connection's parsed bodies: request after request in the same memory", "[keyed]") {
  // Thousands of JSON bodies through one scratch, as on one keep-alive connection; the memory
  // they are parsed into must not grow from one request to the next.
  const auto table = table_of(keyed_route("only", "\"c1\""));
  match_scratch scratch;
  for (int i = 0; i < 5000; ++i) {
    const std::string id = i % 2 ? "c1" : "c2";
    fake_request request("POST", "/orders", {},
                         R"({"customer":{"id":")" + id + R"("},"n":[1,2,3]})");
    scratch.reset();
    const route_match m = table->match(request.view, scratch);
    REQUIRE((m.route != nullptr) == (i % 2 == 1));
  }
}

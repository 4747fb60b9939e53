// Each operator of [route.when] against each kind of value, without sockets: a table of
// (condition, body or request, holds?) through the compiled route table.

#include <catch2/catch.hpp>

#include <string>

#include "route_fixture.hpp"
#include "routing/route_table.hpp"
#include "stubborn/load_config.hpp"

using namespace stubborn;
using stubborn::testing::fake_request;

namespace {

// Whether a route with this one condition takes a POST /t with `body` and `headers`.
bool holds(const std::string& condition, const std::string& body,
           std::vector<std::pair<std::string, std::string>> headers = {},
           const std::string& target = "/t") {
  const std::string toml = "[[route]]\npath = \"/t\"\nwhen = { all = [ " + condition +
                           " ] }\n[route.reply]\nbody = \"x\"\n";
  const auto table = route_table::compile(load_config_text(toml, "c.toml", "."));
  fake_request request("POST", target, std::move(headers), body);
  match_scratch scratch;
  return table->match(request.view, scratch).route != nullptr;
}

}  // namespace

TEST_CASE("operators on JSON values", "[conditions]") {
  struct row {
    const char* condition;
    const char* body;
    bool expected;
  };
  const row rows[] = {
      {R"({ json_path = "$.a", equals = 1 })", R"({"a":1})", true},
      {R"({ json_path = "$.a", equals = 1 })", R"({"a":1.0})", true},
      {R"({ json_path = "$.a", equals = 1.0 })", R"({"a":1})", true},
      {R"({ json_path = "$.a", equals = 1 })", R"({"a":"1"})", false},
      {R"({ json_path = "$.a", equals = "1" })", R"({"a":1})", false},
      {R"({ json_path = "$.a", equals = true })", R"({"a":true})", true},
      {R"({ json_path = "$.a", equals = true })", R"({"a":"true"})", false},
      {R"({ json_path = "$.a", equals = [1, "x"] })", R"({"a":[1.0,"x"]})", true},
      {R"({ json_path = "$.a", equals = [1, "x"] })", R"({"a":["x",1]})", false},
      {R"({ json_path = "$.a", equals = { b = 1 } })", R"({"a":{"b":1,"c":2}})", false},
      {R"({ json_path = "$.a", json = { b = 1 } })", R"({"a":{"b":1,"c":2}})", true},
      {R"({ json_path = "$.a", json = [2] })", R"({"a":[1,2,3]})", true},
      {R"({ json_path = "$.a", json = [4] })", R"({"a":[1,2,3]})", false},
      {R"({ json_path = "$.a", contains = "ell" })", R"({"a":"hello"})", true},
      {R"({ json_path = "$.a", contains = "ELL", ignore_case = true })", R"({"a":"hello"})", true},
      {R"({ json_path = "$.a", contains = "ELL" })", R"({"a":"hello"})", false},
      {R"({ json_path = "$.a", contains = "23" })", R"({"a":1234})", true},
      {R"({ json_path = "$.a", regex = "^h.*o$" })", R"({"a":"hello"})", true},
      {R"({ json_path = "$.a", regex = "^h.*o$" })", R"({"a":"hello!"})", false},
      {R"({ json_path = "$.a", regex = "ll" })", R"({"a":"hello"})", true},
      {R"({ json_path = "$.a", one_of = ["x", 2, true] })", R"({"a":2.0})", true},
      {R"({ json_path = "$.a", one_of = ["x", 2, true] })", R"({"a":"X"})", false},
      {R"({ json_path = "$.a", one_of = ["x", "y"], ignore_case = true })", R"({"a":"X"})", true},
      {R"({ json_path = "$.a", gt = 10 })", R"({"a":10.5})", true},
      {R"({ json_path = "$.a", gt = 10 })", R"({"a":10})", false},
      {R"({ json_path = "$.a", ge = 10 })", R"({"a":10})", true},
      {R"({ json_path = "$.a", lt = 10 })", R"({"a":-3})", true},
      {R"({ json_path = "$.a", le = -3.5 })", R"({"a":-3})", false},
      {R"({ json_path = "$.a", gt = 10 })", R"({"a":"11"})", false},
      {R"({ json_path = "$.a", gt = "b" })", R"({"a":"c"})", true},
      {R"({ json_path = "$.a", gt = "b" })", R"({"a":3})", false},
      {R"({ json_path = "$.a", gt = 9007199254740992 })", R"({"a":9007199254740993})", true},
      {R"({ json_path = "$.a", present = true })", R"({"a":null})", true},
      {R"({ json_path = "$.a", present = false })", R"({"b":1})", true},
      {R"({ json_path = "$.a", present = false })", "not json", true},
      {R"({ json_path = "$.a", equals = "x" })", "not json", false},
      {R"({ json_path = "$[*].a", equals = 2 })", R"([{"a":1},{"a":2}])", true},
      {R"({ json_path = "$..a", equals = 3 })", R"({"x":{"y":[{"a":3}]}})", true},
      {R"({ json_path = "$.a[-1]", equals = 3 })", R"({"a":[1,2,3]})", true},
      {R"({ json_path = "$['a b']", equals = 1 })", R"({"a b":1})", true},
      {R"({ json_path = "$", json = { a = 1 } })", R"({"a":1,"b":2})", true},
  };
  // A document nested 100 deep is still JSON.
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "{\"x\":";
  deep += "{\"a\":7}";
  for (int i = 0; i < 100; ++i) deep += "}";
  CHECK(holds(R"({ json_path = "$..a", equals = 7 })", deep));
  for (const row& r : rows) {
    INFO(r.condition << " on " << r.body);
    CHECK(holds(r.condition, r.body) == r.expected);
  }
}

TEST_CASE("operators on texts: headers, query, body, XPath", "[conditions]") {
  CHECK(holds(R"({ header = "X-N", equals = 3 })", "", {{"X-N", "3.0"}}));
  CHECK_FALSE(holds(R"({ header = "X-N", equals = 3 })", "", {{"X-N", "three"}}));
  CHECK(holds(R"({ header = "X-N", ge = 3 })", "", {{"X-N", " 4 "}}));
  CHECK(holds(R"({ header = "x-n", equals = "a" })", "", {{"X-N", "b"}, {"X-N", "a"}}));
  CHECK_FALSE(holds(R"({ header = "X-N", present = true })", ""));
  CHECK(holds(R"({ query = "q", equals = "a b" })", "", {}, "/t?q=a+b"));
  CHECK(holds(R"({ query = "q", equals = "2" })", "", {}, "/t?q=1&q=2"));
  CHECK(holds(R"({ query = "q", present = true })", "", {}, "/t?q"));
  CHECK(holds(R"({ query = "q", equals = "" })", "", {}, "/t?q"));
  CHECK(holds(R"({ body = true, equals = "exact" })", "exact"));
  CHECK(holds(R"({ body = true, json = { a = [1] } })", R"({"a":[2,1]})"));
  CHECK_FALSE(holds(R"({ body = true, json = { a = [1] } })", "{oops"));
  CHECK(holds(R"({ xpath = "/r/n", gt = 9 })", "<r><n>10</n></r>"));
  CHECK(holds("{ xpath = \"count(//i)\", equals = 2 }", "<r><i/><i/></r>"));
  CHECK(holds(R"({ xpath = "//i/@k", equals = "v2" })", R"(<r><i k="v1"/><i k="v2"/></r>)"));
  CHECK(holds(R"({ xpath = "//i", present = false })", "<r>"));
  CHECK_FALSE(holds(R"({ xpath = "//i", present = true })", "<r><j/></r>"));
}

// [route.when], cookies and form as the loader reads them: what is accepted, and every refusal
// with its line and column.

#include <catch2/catch.hpp>

#include "stubborn/config_error.hpp"
#include "stubborn/load_config.hpp"

using stubborn::condition_operator;
using stubborn::condition_subject;
using stubborn::config_error;
using stubborn::load_config_text;

namespace {

std::string route_with(const std::string& keys) {
  return "[[route]]\npath = \"/o/{id}\"\n" + keys + "\n[route.reply]\nbody = \"x\"\n";
}

// The first problem reported, as "t.toml:line:col: message"; "" when the text loads.
std::string problem_of(const std::string& text) {
  try {
    load_config_text(text, "t.toml", ".");
  } catch (const config_error& e) {
    return e.problems().front().to_string();
  }
  return {};
}

}  // namespace

TEST_CASE("when: conditions are read with their subject, operator and operand", "[when]") {
  const auto cfg = load_config_text(route_with(R"(cookies = { session = "s1" }
form = { grant_type = "client_credentials", n = 2 }
[route.when]
all = [ { json_path = "$.order.total", gt = 100 },
        { json_path = "$.items[*].sku", equals = "A1" } ]
any = [ { header = "X-Tier", equals = "gold", ignore_case = true }, { query = "vip", present = true } ]
not = [ { xpath = "//coupon/@code", regex = "^FREE" }, { path = "id", one_of = ["0", 1] },
        { body = true, json = { a = [1] } }, { cookie = "c", le = "m" }, { form = "f", contains = "x" } ])"),
                                    "t.toml", ".");
  const auto& route = cfg.routes.at(0);
  REQUIRE(route.cookies.size() == 1);
  CHECK(route.cookies[0].value == "s1");
  REQUIRE(route.form.size() == 2);
  CHECK(route.form[1].value == "2");
  REQUIRE(route.when);
  REQUIRE(route.when->all.size() == 2);
  CHECK(route.when->all[0].subject == condition_subject::json_path);
  CHECK(route.when->all[0].selector == "$.order.total");
  CHECK(route.when->all[0].op == condition_operator::gt);
  CHECK(route.when->all[0].operand == "100");
  CHECK(route.when->all[1].operand == "\"A1\"");
  REQUIRE(route.when->any.size() == 2);
  CHECK(route.when->any[0].ignore_case);
  CHECK(route.when->any[1].op == condition_operator::present);
  CHECK(route.when->any[1].operand == "true");
  REQUIRE(route.when->none.size() == 5);
  CHECK(route.when->none[1].operand == "[\"0\",1]");
  CHECK(route.when->none[2].subject == condition_subject::body);
  CHECK(route.when->none[2].operand == "{\"a\":[1]}");
  CHECK(route.when->none[3].position.line == 10);
}

TEST_CASE("when: bad conditions fail at load with line and column", "[when]") {
  struct bad {
    const char* keys;
    const char* problem;
  };
  const bad cases[] = {
      {"when = { all = [ { json_path = \"order.total\", gt = 1 } ] }",
       "t.toml:3:33: bad json_path: "},
      {"when = { all = [ { json_path = \"$.a[\", gt = 1 } ] }", "t.toml:3:"},
      {"when = { all = [ { xpath = \"//a[\", equals = \"x\" } ] }", "t.toml:3:28: bad xpath"},
      {"when = { all = [ { header = \"X-A\", query = \"q\", equals = \"x\" } ] }",
       "t.toml:3:44: a condition has one subject, not both 'header' and 'query'"},
      {"when = { all = [ { header = \"X-A\", equals = \"x\", contains = \"y\" } ] }",
       "t.toml:3:61: a condition has one operator, not both 'equals' and 'contains'"},
      {"when = { all = [ { equals = \"x\" } ] }",
       "t.toml:3:18: a condition needs a subject: json_path, xpath, header, query, cookie, "
       "form, path or body"},
      {"when = { all = [ { header = \"X-A\" } ] }",
       "t.toml:3:18: a condition needs an operator: equals, contains, regex, one_of, gt, ge, "
       "lt, le, present or json"},
      {"when = { all = [ { header = \"X-A\", equal = \"x\" } ] }",
       "t.toml:3:36: unknown key 'equal' in a condition"},
      {"when = { all = [ { heder = \"X-A\", equals = \"x\" } ] }",
       "t.toml:3:20: unknown key 'heder' in a condition"},
      {"when = { all = [ { header = \"X A\", equals = \"x\" } ] }",
       "t.toml:3:29: header name 'X A' is not an HTTP token"},
      {"when = { all = [ { query = \"q\", regex = \"(\" } ] }", "t.toml:3:41: bad 'regex': "},
      {"when = { all = [ { query = \"q\", gt = true } ] }", "t.toml:3:38: 'gt' must be a number"},
      {"when = { all = [ { query = \"q\", present = \"yes\" } ] }",
       "t.toml:3:43: 'present' must be true or false"},
      {"when = { all = [ { query = \"q\", one_of = [] } ] }",
       "t.toml:3:42: 'one_of' must not be empty"},
      {"when = { all = [ { query = \"q\", one_of = [[1]] } ] }",
       "t.toml:3:43: each 'one_of' value must be a string, number or boolean"},
      {"when = { all = [ { query = \"q\", gt = 1, ignore_case = true } ] }",
       "t.toml:3:55: 'ignore_case' goes only with 'equals', 'contains' or 'one_of'"},
      {"when = { all = [ { query = \"q\", equals = 1, ignore_case = true } ] }",
       "t.toml:3:59: 'ignore_case' goes only with"},
      {"when = { all = [ { body = false, equals = \"x\" } ] }",
       "t.toml:3:27: the body as a subject is written 'body = true'"},
      {"when = { all = [ { path = \"nope\", equals = \"x\" } ] }",
       "t.toml:3:27: the path has no parameter 'nope' (it has: id)"},
      {"when = { any = [] }", "t.toml:3:16: 'when.any' must not be empty"},
      {"when = { all = \"x\" }", "t.toml:3:16: 'when.all' must be an array of conditions"},
      {"when = { every = [] }", "t.toml:3:10: unknown key 'every' in [route.when]"},
      {"when = { all = [ \"x\" ] }", "t.toml:3:18: each condition in 'all' must be a table"},
      {"cookies = { \"\" = \"x\" }", "t.toml:3:13: a cookie name must not be empty"},
      {"form = { f = [1] }", "t.toml:3:"},
  };
  for (const auto& c : cases) {
    INFO(c.keys);
    const std::string got = problem_of(route_with(c.keys));
    INFO(got);
    CHECK(got.rfind(c.problem, 0) == 0);
  }
}

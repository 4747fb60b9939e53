// The JSONPath subset: each step form, the order of what wildcards and descendants select, and
// the compile errors with their offsets.

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "text/json_path.hpp"

using namespace stubborn;
namespace json = boost::json;

namespace {

// What `path` selects from `document`, each value as compact JSON text.
std::vector<std::string> select_text(const json::value& document, const json_path& path) {
  std::vector<const json::value*> selected;
  path.select(document, selected);
  std::vector<std::string> out;
  for (const json::value* value : selected) out.push_back(json::serialize(*value));
  return out;
}

std::vector<std::string> select_text(std::string_view document, std::string_view path) {
  return select_text(json::parse(document), json_path::compile(path));
}

using texts = std::vector<std::string>;

const char* const order = R"({
  "order": {"id": "o-17", "total": 120.5, "coupon": null,
            "items": [{"sku": "A1", "qty": 2}, {"sku": "B2", "qty": 1}, {"sku": "C3"}]},
  "customer": {"name": "Ada", "address": {"city": "Paris", "name": "home"}},
  "a b": 1, "it's": 2, "quote\"d": 3
})";

}  // namespace

TEST_CASE("JSONPath: $ is the whole document", "[unit][json_path]") {
  CHECK(select_text("[1,2]", "$") == texts{"[1,2]"});
  CHECK(select_text("\"text\"", "$") == texts{"\"text\""});
}

TEST_CASE("JSONPath: .name and ['name'] select a member", "[unit][json_path]") {
  CHECK(select_text(order, "$.order.id") == texts{"\"o-17\""});
  CHECK(select_text(order, "$.order.total") == texts{"1.205E2"});
  CHECK(select_text(order, "$['order']['id']") == texts{"\"o-17\""});
  CHECK(select_text(order, "$[\"order\"].id") == texts{"\"o-17\""});
  CHECK(select_text(order, "$['a b']") == texts{"1"});
  CHECK(select_text(order, R"($['it\'s'])") == texts{"2"});
  CHECK(select_text(order, R"($["quote\"d"])") == texts{"3"});
  CHECK(select_text(order, "$[ 'order' ].id") == texts{"\"o-17\""});
  CHECK(select_text(order, "$.order.coupon") == texts{"null"});  // present, and null
  CHECK(select_text(order, "$.order").size() == 1);
}

TEST_CASE("JSONPath: absent members and steps on the wrong kind select nothing",
          "[unit][json_path]") {
  CHECK(select_text(order, "$.order.missing").empty());
  CHECK(select_text(order, "$.missing.id").empty());
  CHECK(select_text(order, "$.order.id.length").empty());  // a member of a string
  CHECK(select_text(order, "$.order[0]").empty());         // an index on an object
  CHECK(select_text(order, "$.order.items.sku").empty());  // a member of an array
  CHECK(select_text(order, "$.order.total[*]").empty());   // a wildcard on a number
  CHECK(select_text("[1,2]", "$.a").empty());
  CHECK(select_text("7", "$[0]").empty());
}

TEST_CASE("JSONPath: [n] counts from 0, a negative n from the end", "[unit][json_path]") {
  CHECK(select_text(order, "$.order.items[0].sku") == texts{"\"A1\""});
  CHECK(select_text(order, "$.order.items[2].sku") == texts{"\"C3\""});
  CHECK(select_text(order, "$.order.items[-1].sku") == texts{"\"C3\""});
  CHECK(select_text(order, "$.order.items[-3].sku") == texts{"\"A1\""});
  CHECK(select_text(order, "$.order.items[3]").empty());
  CHECK(select_text(order, "$.order.items[-4]").empty());
  CHECK(select_text(order, "$.order.items[2].qty").empty());
  CHECK(select_text("[[1,2],[3,4]]", "$[1][0]") == texts{"3"});
  CHECK(select_text("[]", "$[0]").empty());
  CHECK(select_text("[]", "$[-1]").empty());
}

TEST_CASE("JSONPath: [*] and .* select array elements and member values in order",
          "[unit][json_path]") {
  CHECK(select_text(order, "$.order.items[*].sku") == texts{"\"A1\"", "\"B2\"", "\"C3\""});
  CHECK(select_text(order, "$.order.items.*.qty") == texts{"2", "1"});
  CHECK(select_text(order, "$.customer.*") ==
        texts{"\"Ada\"", R"({"city":"Paris","name":"home"})"});
  CHECK(select_text(order, "$.customer[*].city") == texts{"\"Paris\""});
  CHECK(select_text("[[1,2],[3,4]]", "$[*][0]") == texts{"1", "3"});
  CHECK(select_text("[[1,2],[3,4]]", "$[*][*]") == texts{"1", "2", "3", "4"});
  CHECK(select_text("[]", "$[*]").empty());
  CHECK(select_text("{}", "$.*").empty());
}

TEST_CASE("JSONPath: ..name selects every member of that name at any depth, in document order",
          "[unit][json_path]") {
  CHECK(select_text(order, "$..sku") == texts{"\"A1\"", "\"B2\"", "\"C3\""});
  CHECK(select_text(order, "$..name") == texts{"\"Ada\"", "\"home\""});
  CHECK(select_text(order, "$..['name']") == texts{"\"Ada\"", "\"home\""});
  CHECK(select_text(order, "$.customer..city") == texts{"\"Paris\""});
  CHECK(select_text(order, "$..items[1].sku") == texts{"\"B2\""});
  CHECK(select_text(order, "$..nothing").empty());
  // An outer member comes before the members inside its value.
  CHECK(select_text(R"({"a":{"a":{"a":1}},"b":[{"a":2}]})", "$..a") ==
        texts{R"({"a":{"a":1}})", R"({"a":1})", "1", "2"});
  // The root itself is not a member: `$..x` on a scalar finds nothing.
  CHECK(select_text("5", "$..x").empty());
}

TEST_CASE("JSONPath: ..* selects every value below, in document order", "[unit][json_path]") {
  CHECK(select_text(R"({"a":[1,{"b":2}],"c":3})", "$..*") ==
        texts{R"([1,{"b":2}])", "1", R"({"b":2})", "2", "3"});
  CHECK(select_text(R"({"a":[1,{"b":2}],"c":3})", "$..[*]") ==
        texts{R"([1,{"b":2}])", "1", R"({"b":2})", "2", "3"});
  CHECK(select_text("7", "$..*").empty());
}

TEST_CASE("JSONPath: is_single is false only with a wildcard or a descendant step",
          "[unit][json_path]") {
  CHECK(json_path::compile("$").is_single());
  CHECK(json_path::compile("$.a['b'][-1]").is_single());
  CHECK_FALSE(json_path::compile("$.a[*]").is_single());
  CHECK_FALSE(json_path::compile("$.a.*").is_single());
  CHECK_FALSE(json_path::compile("$..a").is_single());
  CHECK_FALSE(json_path::compile("$..*").is_single());
}

TEST_CASE("JSONPath: text() is the path as written", "[unit][json_path]") {
  CHECK(json_path::compile("$.a[ 0 ]").text() == "$.a[ 0 ]");
  CHECK(json_path::compile_relative("order.id").text() == "order.id");
}

TEST_CASE("JSONPath: compile_relative reads a template's text after 'json.'",
          "[unit][json_path]") {
  const json::value document = json::parse(order);
  CHECK(select_text(document, json_path::compile_relative("order.id")) == texts{"\"o-17\""});
  CHECK(select_text(document, json_path::compile_relative("order.items[0].sku")) ==
        texts{"\"A1\""});
  CHECK(select_text(document, json_path::compile_relative("['a b']")) == texts{"1"});
  CHECK(select_text(document, json_path::compile_relative("order.items[*].sku")).size() == 3);
  CHECK_FALSE(json_path::compile_relative("order.items[*].sku").is_single());
}

TEST_CASE("JSONPath: bad paths are errors with the offset of the damage", "[unit][json_path]") {
  struct bad_path {
    const char* text;
    std::size_t offset;
    const char* message;
  };
  const bad_path table[] = {
      {"", 0, "path must start with '$'"},
      {"order.id", 0, "path must start with '$'"},
      {" $.a", 0, "path must start with '$'"},
      {"$.", 2, "expected a name after '.'"},
      {"$.a.", 4, "expected a name after '.'"},
      {"$.a..", 5, "expected a name after '..'"},
      {"$.[0]", 2, "expected a name after '.'"},
      {"$a", 1, "unexpected 'a': a step starts with '.' or '['"},
      {"$.a b", 3, "unexpected ' ' in a name"},
      {"$.a'b'", 3, "unexpected ''' in a name"},
      {"$[", 1, "unclosed '['"},
      {"$.a[0", 3, "unclosed '['"},
      {"$['a'", 1, "unclosed '['"},
      {"$[*", 1, "unclosed '['"},
      {"$['a", 2, "unclosed quote '"},
      {"$[\"a]", 2, "unclosed quote \""},
      {"$[]", 2, "empty '[]'"},
      {"$[a]", 2, "expected an index, '*' or a quoted name after '['"},
      {"$[1x]", 3, "expected ']' but found 'x'"},
      {"$['a' 'b']", 6, "expected ']' but found '''"},
      {"$[-]", 2, "expected digits after '-'"},
      {"$[99999999999999999999999]", 2, "index out of range"},
      {"$..[0]", 3, "'..' takes a name or '*', not an index"},
      {"$.*a", 3, "unexpected 'a'"},
      {"$.a]", 3, "unexpected ']' in a name"},
  };
  for (const bad_path& bad : table) {
    INFO("path: " << bad.text);
    try {
      json_path::compile(bad.text);
      FAIL("compiled");
    } catch (const json_path_error& error) {
      CHECK(error.offset == bad.offset);
      CHECK_THAT(error.what(), Catch::Contains(bad.message));
    }
  }
}

TEST_CASE("JSONPath: compile_relative's errors point into the text as written",
          "[unit][json_path]") {
  try {
    json_path::compile_relative("order..");
    FAIL("compiled");
  } catch (const json_path_error& error) {
    CHECK(error.offset == 7);
    CHECK_THAT(error.what(), Catch::Contains("expected a name after '..'"));
  }
  try {
    json_path::compile_relative("items[0");
    FAIL("compiled");
  } catch (const json_path_error& error) {
    CHECK(error.offset == 5);
    CHECK_THAT(error.what(), Catch::Contains("unclosed '['"));
  }
  CHECK_THROWS_AS(json_path::compile_relative(""), json_path_error);
}

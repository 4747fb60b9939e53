// The JSON Schema generator (config_schema): what each row of a key table becomes.
#include <catch2/catch.hpp>

#include <array>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "config/config_schema.hpp"
#include "config/key_table.hpp"
#include "config/reply_section.hpp"
#include "config/route_reading.hpp"
#include "config/server_section.hpp"

namespace json = boost::json;
using namespace stubborn;

namespace {

key_doc key_of(unsigned accepts, key_shape shape = {}, std::string_view default_text = "") {
  return {"k", accepts, "a type", default_text, "a doc", shape};
}

json::value type_of(unsigned accepts) {
  const json::object o = key_schema(key_of(accepts));
  const auto* type = o.if_contains("type");
  return type ? *type : json::value(nullptr);
}

table_doc inner_table() {
  return {{key_of(string_kind)}};
}

constexpr std::array<std::string_view, 2> colours = {"red", "green"};

// Every object schema below `v` with properties refuses other keys.
int check_closed(const json::value& v) {
  int tables = 0;
  if (const auto* o = v.if_object()) {
    if (o->contains("properties")) {
      CHECK(o->at("additionalProperties") == json::value(false));
      ++tables;
    }
    for (const auto& [name, value] : *o) tables += check_closed(value);
  } else if (const auto* a = v.if_array()) {
    for (const auto& value : *a) tables += check_closed(value);
  }
  return tables;
}

}  // namespace

TEST_CASE("schema: each kind of key becomes its JSON type", "[schema]") {
  CHECK(type_of(string_kind) == json::value("string"));
  CHECK(type_of(integer_kind) == json::value("integer"));
  CHECK(type_of(float_kind) == json::value("number"));
  CHECK(type_of(float_kind | integer_kind) == json::value("number"));
  CHECK(type_of(boolean_kind) == json::value("boolean"));
  CHECK(type_of(table_kind) == json::value("object"));
  CHECK(type_of(array_kind) == json::value("array"));
  CHECK(type_of(integer_kind | string_kind) == json::parse(R"(["string", "integer"])"));
  // Any kind: no type at all, the loader checks the value itself.
  CHECK(type_of(any_kind) == json::value(nullptr));
  // A row that accepts any kind and checks later says what it takes.
  CHECK(key_schema(key_of(any_kind, {.kinds = string_kind})).at("type") == "string");
}

TEST_CASE("schema: a key's description, default, choices, items and nested table", "[schema]") {
  const json::object plain = key_schema(key_of(string_kind, {}, "\"10s\""));
  CHECK(plain.at("description") == "a doc (a type)");
  CHECK(plain.at("default") == "10s");
  CHECK(key_schema(key_of(integer_kind, {}, "0")).at("default") == 0);
  CHECK(key_schema(key_of(table_kind, {}, "{ status = 429 }")).at("default") ==
        json::parse(R"({"status": 429})"));
  // A default that is a word, not a TOML value, is left out.
  CHECK_FALSE(key_schema(key_of(integer_kind, {}, "'requests'")).contains("default"));

  CHECK(key_schema(key_of(string_kind, {.choices = colours})).at("enum") ==
        json::parse(R"(["red", "green"])"));
  CHECK(key_schema(key_of(array_kind, {.items = string_kind})).at("items") ==
        json::parse(R"({"type": "string"})"));

  // A table with its own keys: those keys and no other.
  const json::object table = key_schema(key_of(table_kind, {.table = inner_table}));
  CHECK(table.at("type") == "object");
  CHECK(table.at("properties").as_object().contains("k"));
  CHECK(table.at("additionalProperties") == json::value(false));
  // An array of such tables.
  const json::object tables = key_schema(key_of(array_kind, {.table = inner_table}));
  CHECK(tables.at("items").at("additionalProperties") == json::value(false));
  // A table without a key table of its own holds free names (headers, query, ...), with values
  // of the kinds its row says.
  CHECK_FALSE(key_schema(key_of(table_kind)).contains("additionalProperties"));
  CHECK(key_schema(key_of(table_kind, {.values = integer_kind})).at("additionalProperties") ==
        json::parse(R"({"type": "integer"})"));
  // A string from a set, or a table: either one.
  const json::object either =
      key_schema(key_of(string_kind | table_kind, {.table = inner_table, .choices = colours}));
  const json::array& any_of = either.at("anyOf").as_array();
  REQUIRE(any_of.size() == 2);
  CHECK(any_of[0] == json::parse(R"({"type": "string", "enum": ["red", "green"]})"));
  CHECK(any_of[1].at("type") == "object");
  CHECK(any_of[1].at("additionalProperties") == json::value(false));
}

TEST_CASE("schema: the config's schema follows the loader's key tables", "[schema]") {
  const json::object schema = config_schema();
  CHECK(schema.at("$schema") == "http://json-schema.org/draft-07/schema#");
  CHECK(schema.at("additionalProperties") == json::value(false));
  const json::object& top = schema.at("properties").as_object();
  for (const char* name : {"server", "route", "outage", "admin", "recording"}) {
    CHECK(top.contains(name));
  }

  const json::object& server = top.at("server").at("properties").as_object();
  CHECK(server.size() == server_keys().size());
  for (const auto& row : server_keys()) CHECK(server.contains(row.name));

  const json::object& route = top.at("route").at("items").at("properties").as_object();
  CHECK(route.size() == route_keys().size());
  for (const auto& row : route_keys()) CHECK(route.contains(row.name));

  // [route.reply] has every reply key but 'repeat', which only [[route.replies]] takes.
  const json::object& reply = route.at("reply").at("properties").as_object();
  const json::object& replies = route.at("replies").at("items").at("properties").as_object();
  CHECK(replies.size() == reply_keys().size());
  CHECK(replies.contains("repeat"));
  CHECK_FALSE(reply.contains("repeat"));
  CHECK(reply.size() == reply_keys().size() - 1);

  // Tables read by hand have key tables too: [route.when] and its conditions.
  const json::object& when = route.at("when").at("properties").as_object();
  CHECK(when.at("all").at("items").at("properties").as_object().contains("json_path"));
  CHECK(when.at("any").at("items").at("properties").at("one_of").at("type") == "array");

  // Every table with known keys refuses the others; there are many of them.
  CHECK(check_closed(schema) > 30);
}

TEST_CASE("schema: the text is indented JSON that parses back to the schema", "[schema]") {
  const std::string text = config_schema_text();
  CHECK(text.substr(0, 2) == "{\n");
  CHECK(text.back() == '\n');
  CHECK(json::parse(text) == json::value(config_schema()));
}

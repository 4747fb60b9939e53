// The JSON Schema of a config, walked from the top-level key table down through every row whose
// value is a table (or an array of tables) with its own keys. Nothing here names a key: a key
// added to a table is in the schema, and the drift test (tests/CMakeLists.txt) asks for the
// committed docs/stubborn.schema.json to be regenerated.
#include "config/config_schema.hpp"

#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include <boost/json.hpp>

#include "config/key_table.hpp"

namespace stubborn {
namespace {

namespace json = boost::json;

// The key tables nest a few levels ([[route]] -> websocket -> on_message -> reply -> close);
// deeper means a table that contains itself, which a schema written out in full cannot hold.
constexpr int max_depth = 16;

json::value type_of(unsigned kinds) {
  json::array types;
  if (kinds & string_kind || kinds & date_time_kind) types.emplace_back("string");
  if (kinds & float_kind) {
    types.emplace_back("number");  // integers are numbers too
  } else if (kinds & integer_kind) {
    types.emplace_back("integer");
  }
  if (kinds & boolean_kind) types.emplace_back("boolean");
  if (kinds & table_kind) types.emplace_back("object");
  if (kinds & array_kind) types.emplace_back("array");
  if (types.size() == 1) return types.front();
  return types;
}

// A TOML value as JSON (dates as their TOML text, as taplo gives them to the schema).
json::value to_json(const toml::node& node) {
  if (const auto* s = node.as_string()) return json::value(s->get());
  if (const auto* i = node.as_integer()) return json::value(i->get());
  if (const auto* d = node.as_floating_point()) return json::value(d->get());
  if (const auto* b = node.as_boolean()) return json::value(b->get());
  if (const auto* a = node.as_array()) {
    json::array out;
    for (const toml::node& item : *a) out.push_back(to_json(item));
    return out;
  }
  if (const auto* t = node.as_table()) {
    json::object out;
    for (auto&& [key, value] : *t) out[key.str()] = to_json(value);
    return out;
  }
  std::string text;
  node.visit([&](const auto& v) {
    if constexpr (toml::is_date<decltype(v)> || toml::is_time<decltype(v)> ||
                  toml::is_date_time<decltype(v)>) {
      text = (std::ostringstream() << v).str();
    }
  });
  return json::value(text);
}

// The default as a JSON value when default_text is a TOML value of a kind the key takes
// ("\"10s\"", "0", "{}"); some say it in words instead (burst's "'requests'"), and have none.
std::optional<json::value> default_value(std::string_view text, unsigned kinds) {
  if (text.empty()) return std::nullopt;
  try {
    const toml::table parsed = toml::parse(std::string("v = ") + std::string(text));
    const toml::node* v = parsed.get("v");
    if (v && (kind_of(*v) & kinds)) return to_json(*v);
  } catch (const toml::parse_error&) {
  }
  return std::nullopt;
}

json::object table_schema_at(const table_doc& table, int depth);

// The value's kinds, and what its table (or its array's elements) hold.
json::object value_schema(unsigned kinds, const key_shape& shape, int depth) {
  json::object o;
  if (kinds != any_kind) o["type"] = type_of(kinds);
  if (shape.table && (kinds & table_kind)) {
    for (auto&& [name, value] : table_schema_at(shape.table(), depth + 1)) {
      if (name != "type") o[name] = value;
    }
  } else if (shape.values && (kinds & table_kind)) {
    o["additionalProperties"] = json::object{{"type", type_of(shape.values)}};
  }
  if (kinds & array_kind) {
    if (shape.table) {
      o["items"] = table_schema_at(shape.table(), depth + 1);
    } else if (shape.items) {
      o["items"] = json::object{{"type", type_of(shape.items)}};
    }
  }
  return o;
}

json::object key_schema_at(const key_doc& key, int depth) {
  const unsigned kinds = key.shape.kinds ? key.shape.kinds : key.accepts;
  json::object o;
  o["description"] = std::string(key.doc) + " (" + std::string(key.type) + ")";
  if (key.shape.choices.empty()) {
    for (auto&& [name, value] : value_schema(kinds, key.shape, depth)) o[name] = value;
  } else {
    json::array choices;
    for (const std::string_view choice : key.shape.choices) choices.emplace_back(choice);
    json::object strings{{"type", "string"}, {"enum", std::move(choices)}};
    if (kinds == string_kind) {
      for (auto&& [name, value] : strings) o[name] = value;
    } else {
      // One of the strings, or a value of the other kinds ("stall", or { delay = "5s" }).
      o["anyOf"] =
          json::array{std::move(strings), value_schema(kinds & ~string_kind, key.shape, depth)};
    }
  }
  if (auto value = default_value(key.default_text, kinds)) o["default"] = std::move(*value);
  return o;
}

json::object table_schema_at(const table_doc& table, int depth) {
  if (depth > max_depth) throw std::logic_error("key tables nested too deep for a JSON Schema");
  json::object properties;
  for (const key_doc& key : table.keys) {
    properties[key.name] = key_schema_at(key, depth);
  }
  json::object o;
  o["type"] = "object";
  o["properties"] = std::move(properties);
  o["additionalProperties"] = false;
  return o;
}

void write_indented(const json::value& v, int indent, std::string& out) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  const std::string inner(static_cast<std::size_t>(indent + 2), ' ');
  if (const auto* o = v.if_object(); o && !o->empty()) {
    out += "{\n";
    bool first = true;
    for (auto&& [name, value] : *o) {
      if (!first) out += ",\n";
      first = false;
      out += inner + json::serialize(json::string(name)) + ": ";
      write_indented(value, indent + 2, out);
    }
    out += "\n" + pad + "}";
  } else if (const auto* a = v.if_array(); a && !a->empty()) {
    out += "[\n";
    bool first = true;
    for (const json::value& item : *a) {
      if (!first) out += ",\n";
      first = false;
      out += inner;
      write_indented(item, indent + 2, out);
    }
    out += "\n" + pad + "]";
  } else {
    out += json::serialize(v);
  }
}

}  // namespace

json::object key_schema(const key_doc& key) {
  return key_schema_at(key, 0);
}

json::object table_schema(const table_doc& table) {
  return table_schema_at(table, 0);
}

json::object config_schema() {
  json::object o;
  o["$schema"] = "http://json-schema.org/draft-07/schema#";
  o["title"] = "stubborn configuration";
  o["description"] =
      "A stubborn config file (docs/config.md). Generated from the loader's key tables by "
      "`stubborn --print-schema`.";
  for (auto&& [name, value] : table_schema(top_level_doc())) o[name] = value;
  return o;
}

std::string config_schema_text() {
  std::string out;
  write_indented(config_schema(), 0, out);
  out += "\n";
  return out;
}

}  // namespace stubborn

#pragma once
// Key tables: each config section lists its keys once, with the type the loader checks, the
// default, a one-line description, how to read the key and how to write it back as JSON. The
// loader's "unknown key ... (did you mean ...)" and type errors, the JSON of GET /__admin/routes
// and the JSON-to-TOML adapter (which feeds these same readers) all follow the tables.

#include <array>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "config/toml_reader.hpp"
#include "config/toml_reading.hpp"

namespace boost::json {
class object;
}

namespace stubborn {

/// How a route is written as JSON: secrets (auth credentials) only when asked for.
struct json_writing {
  bool secrets = false;
};

/// The TOML node types a key accepts (a bit set); any other is a type error.
enum kind : unsigned {
  string_kind = 1U << 0,
  integer_kind = 1U << 1,
  float_kind = 1U << 2,
  boolean_kind = 1U << 3,
  table_kind = 1U << 4,
  array_kind = 1U << 5,
  date_time_kind = 1U << 6,
  /// Any type: the section checks the value itself, after reading the other keys.
  any_kind = (1U << 7) - 1,
};

/// The kinds toml_reader::scalar_text takes: header, query, cookie and form values.
inline constexpr unsigned scalar_text_kinds = string_kind | integer_kind | boolean_kind;

/// The node type of `node` as a kind bit.
inline unsigned kind_of(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return string_kind;
    case toml::node_type::integer:
      return integer_kind;
    case toml::node_type::floating_point:
      return float_kind;
    case toml::node_type::boolean:
      return boolean_kind;
    case toml::node_type::table:
      return table_kind;
    case toml::node_type::array:
      return array_kind;
    default:
      return date_time_kind;
  }
}

struct table_doc;

/// What the JSON Schema (config_schema) says about a key's value beyond `accepts`. Every field is
/// optional: a row says only what is true of its key.
struct key_shape {
  /// The kinds the value takes when the row accepts any and its section checks the type later
  /// (0: the row's `accepts`).
  unsigned kinds = 0;
  /// The keys of its table (or of each table of its array); null: free names, or no table.
  table_doc (*table)() = nullptr;
  /// The kinds of each element of its array (0: not said).
  unsigned items = 0;
  /// The kinds of each value of its table of free names (headers, query, ...; 0: not said).
  unsigned values = 0;
  /// The strings it takes, when they are a fixed set (the list its reader checks against).
  std::span<const std::string_view> choices = {};
};

/// One key of a section. `Reading` is what the section's reader fills, `Spec` what is written.
template <typename Reading, typename Spec>
struct key_row {
  std::string_view name;
  unsigned accepts;               ///< kind bits; another type: "'name' must be <type>, not ..."
  std::string_view type;          ///< the accepted types as messages (and docs) say them
  std::string_view default_text;  ///< the default, as it would be written ("" = none)
  std::string_view doc;           ///< one line for the reference docs and the schema
  /// Reads a value of an accepted type; false when it is not valid. Null when the section
  /// reads the key after the others, because it depends on them (the table still checks it).
  bool (*read)(toml_reader&, const toml::node&, Reading&);
  /// Writes the key of `Spec` into a JSON object (nothing when it holds the default).
  void (*write)(const Spec&, boost::json::object&, const json_writing&);
  /// Its value's shape beyond `accepts`, for the JSON Schema.
  key_shape shape = {};
};

/// A key as the JSON Schema and the reference docs see it: a row without its reader and writer.
struct key_doc {
  std::string_view name;
  unsigned accepts = 0;
  std::string_view type;
  std::string_view default_text;
  std::string_view doc;
  key_shape shape;
};

/// The keys of one table, in their table's order.
struct table_doc {
  std::vector<key_doc> keys;

  /// The same keys without `name`: a key the reader refuses in this place (e.g. 'repeat' in
  /// [route.reply], which shares the rows of [[route.replies]]).
  table_doc without(std::string_view name) const {
    table_doc out;
    for (const key_doc& key : keys) {
      if (key.name != name) out.keys.push_back(key);
    }
    return out;
  }
};

/// The documentation of a key table.
template <typename Reading, typename Spec>
table_doc describe(std::span<const key_row<Reading, Spec>> rows) {
  table_doc out;
  for (const auto& row : rows) {
    out.keys.push_back({row.name, row.accepts, row.type, row.default_text, row.doc, row.shape});
  }
  return out;
}

template <typename Reading, typename Spec, std::size_t N>
table_doc describe(const std::array<key_row<Reading, Spec>, N>& rows) {
  return describe(std::span<const key_row<Reading, Spec>>(rows));
}

/// A key found in a table: its row, where it was written, and whether it was read without a
/// problem (keys whose row has no reader count as read).
struct key_hit {
  std::string_view name;
  const toml::key* key = nullptr;
  const toml::node* value = nullptr;
  bool ok = false;
};

/// The keys of one table, as read_keys found them (in the table's order, which toml++ sorts).
struct key_hits {
  std::vector<key_hit> found;
  bool unknown = false;  ///< an unknown or misplaced key was reported
  bool all_ok = true;    ///< every key found was read without a problem

  /// The value of `name`, or null when it was not written.
  const toml::node* value(std::string_view name) const {
    for (const key_hit& hit : found) {
      if (hit.name == name) return hit.value;
    }
    return nullptr;
  }
  /// The hit of `name`, or null.
  const key_hit* find(std::string_view name) const {
    for (const key_hit& hit : found) {
      if (hit.name == name) return &hit;
    }
    return nullptr;
  }
};

/// Where a table is and what is special about it, for read_keys.
struct table_place {
  std::string_view where;   ///< "in [server]": ends "unknown key 'x' ..." messages
  std::string_view prefix;  ///< type errors name keys 'PREFIXname', e.g. "delay." for 'delay.min'
  /// A key of the table that does not belong here (e.g. 'repeat' in [route.reply]): it is not
  /// suggested, and `misplaced_message` is reported where it is written.
  std::string_view misplaced;
  std::string_view misplaced_message;
  /// [server] and [admin]: each key set once across all files; `table` names it in messages.
  std::map<std::string, source_position>* set_once = nullptr;
  std::string_view table;
};

/// Reads every key of `table` through `rows`: unknown keys (with a suggestion from the rows),
/// keys set twice, type errors from the row's `accepts`, then the row's reader.
template <typename Reading, typename Spec>
key_hits read_keys(toml_reader& reader, const toml::table& table,
                   std::span<const key_row<Reading, Spec>> rows, const table_place& place,
                   Reading& reading) {
  key_hits hits;
  for (auto&& [key, value] : table) {
    const key_row<Reading, Spec>* row = nullptr;
    for (const auto& candidate : rows) {
      if (candidate.name == key.str()) row = &candidate;
    }
    if (row && row->name == place.misplaced) {
      reader.add(reader.at(key), std::string(place.misplaced_message));
      hits.unknown = true;
      continue;
    }
    if (!row) {
      std::vector<std::string_view> known;
      for (const auto& candidate : rows) {
        if (candidate.name != place.misplaced) known.push_back(candidate.name);
      }
      reader.unknown_key(key, place.where, known);
      hits.unknown = true;
      continue;
    }
    if (place.set_once) {
      auto [first, inserted] = place.set_once->emplace(std::string(key.str()), reader.at(key));
      if (!inserted) {
        reader.add(reader.at(key), concat(in_quotes(key.str()), " in ", place.table,
                                          " is already set at ", position_text(first->second)));
        continue;
      }
    }
    key_hit hit{row->name, &key, &value, true};
    if ((kind_of(value) & row->accepts) == 0) {
      reader.type_error(value, in_quotes(concat(place.prefix, row->name)), row->type);
      hit.ok = false;
    } else if (row->read) {
      hit.ok = row->read(reader, value, reading);
    }
    hits.all_ok = hits.all_ok && hit.ok;
    hits.found.push_back(hit);
  }
  return hits;
}

/// Calls every row's writer: a key listed in a table cannot be left out of the JSON.
template <typename Reading, typename Spec>
void write_keys(std::span<const key_row<Reading, Spec>> rows, const Spec& spec,
                boost::json::object& out, const json_writing& how) {
  for (const auto& row : rows) row.write(spec, out, how);
}

/// True when every row has a writer (checked at compile time for the route's tables).
template <typename Reading, typename Spec, std::size_t N>
constexpr bool all_written(const std::array<key_row<Reading, Spec>, N>& rows) {
  for (const auto& row : rows) {
    if (!row.write) return false;
  }
  return true;
}

}  // namespace stubborn

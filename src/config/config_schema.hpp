#pragma once
// The JSON Schema of a config file, made from the key tables the loader reads with: editors that
// use taplo (VS Code's Even Better TOML, Helix, Neovim) complete and check keys with it.
// docs/stubborn.schema.json is its output (`stubborn --print-schema`).

#include <string>

#include <boost/json/object.hpp>

// Light on purpose: src/main.cpp includes it for --print-schema.
namespace stubborn {

struct key_doc;
struct table_doc;

/// The top-level keys of a file: server, route, outage, admin, recording (with the loader).
table_doc top_level_doc();

/// The schema of one key's value (its kinds, nested table, choices, default and description).
boost::json::object key_schema(const key_doc& key);

/// The schema of a table whose keys are all known: every key, and no other.
boost::json::object table_schema(const table_doc& table);

/// The JSON Schema (draft-07) of a whole config file.
boost::json::object config_schema();

/// config_schema() as indented JSON text, ending in a newline.
std::string config_schema_text();

}  // namespace stubborn

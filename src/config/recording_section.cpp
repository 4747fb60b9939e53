// The [recording] table. Adding a key: a field in recording_config
// (include/stubborn/config.hpp), what the recorder does with it, and one row below.
#include "config/recording_section.hpp"

#include <array>
#include <filesystem>

#include "config/tls_section.hpp"
#include "config/toml_reading.hpp"

namespace stubborn {
namespace {

namespace fs = std::filesystem;

using row = key_row<recording_config, recording_config>;

// The file is written at a snapshot and at exit: a folder that is not there would only be
// found out then, with the recording lost.
bool read_out(toml_reader& r, const toml::node& v, std::string& out) {
  std::string path;
  if (!read_path(r, v, "out", false, path)) return false;
  const std::string& written = v.as_string()->get();
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    r.add(r.at(v), concat("'out' \"", written,
                          "\" is a folder: name the TOML file to write, e.g. \"recorded.toml\""));
    return false;
  }
  const fs::path folder = fs::path(path).parent_path();
  if (!folder.empty() && !fs::is_directory(folder, ec)) {
    r.add(r.at(v), concat("cannot write 'out' \"", written, "\": its folder \"", folder.string(),
                          "\" does not exist"));
    return false;
  }
  out = path;
  return true;
}

bool read_redact(toml_reader& r, const toml::node& v, std::vector<std::string>& out) {
  bool ok = true;
  std::vector<std::string> names;
  for (const toml::node& item : *v.as_array()) {
    const std::string* name = item.is_string() ? &item.as_string()->get() : nullptr;
    if (!name) {
      r.type_error(item, "each 'redact'", "a string");
      ok = false;
    } else if (!is_token(*name)) {
      r.add(r.at(item), concat("header name ", in_quotes(*name),
                               " is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)"));
      ok = false;
    } else {
      names.push_back(*name);
    }
  }
  if (ok) out = std::move(names);
  return ok;
}

constexpr std::array<row, 2> rows = {{
    {"out", string_kind, "a string", "",
     "the TOML file the routes are written to (bodies over 4 KiB or not UTF-8 beside it)",
     [](toml_reader& r, const toml::node& v, recording_config& c) { return read_out(r, v, c.out); },
     nullptr},
    {"redact", array_kind, "an array of header names, e.g. [\"Authorization\"]",
     "[\"Authorization\", \"Cookie\", \"Set-Cookie\"]",
     "headers whose values are written as \"<redacted>\" (replaces the default list)",
     [](toml_reader& r, const toml::node& v, recording_config& c) {
       return read_redact(r, v, c.redact);
     },
     nullptr, key_shape{.items = string_kind}},
}};

}  // namespace

std::span<const key_row<recording_config, recording_config>> recording_keys() {
  return rows;
}

void read_recording(toml_reader& reader, const toml::node& node,
                    std::optional<recording_config>& recording,
                    std::map<std::string, source_position>& set_once) {
  const toml::table* table = node.as_table();
  if (!table) {
    reader.type_error(node, "'recording'", "a table, written [recording]");
    return;
  }
  if (!recording) {
    recording.emplace();
    recording->position = reader.at(*table);
  }
  table_place place;
  place.where = "in [recording]";
  place.set_once = &set_once;
  place.table = "[recording]";
  read_keys<recording_config, recording_config>(reader, *table, rows, place, *recording);
}

}  // namespace stubborn

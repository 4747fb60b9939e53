#pragma once
// What every section reader shares while loading: the problems found so far, where each node
// was written (in a file, or in JSON text), and the checks of single values (types, durations,
// sizes, statuses, templates, body files).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <toml++/toml.h>

#include "stubborn/config_error.hpp"

namespace stubborn {

/// A problem and the file it belongs to (problems are sorted by file, then position).
struct indexed_problem {
  std::size_t file_index;
  config_problem problem;
};

/// The loading state shared by the section readers, and their checks of single values.
class toml_reader {
 public:
  /// Starts reading a file (or JSON text) named `name`; body_file is resolved in `base_dir`.
  void begin_file(const std::string& name, const std::filesystem::path& base_dir);
  /// Where nodes built from JSON were written; empty for TOML files.
  void set_json_regions(std::unordered_map<const toml::node*, toml::source_region> regions);
  /// Gives a node built in code (from JSON) the place it stands for.
  void set_region(const toml::node& node, const toml::source_region& region);

  /// Records a problem in the current file.
  void add(source_position where, std::string message);
  /// Records a problem that belongs to another file (checks across files).
  void add_in(std::size_t file_index, source_position where, std::string message);
  /// The problems found so far.
  std::vector<indexed_problem>& problems() { return problems_; }
  /// The name of the current file (or JSON source).
  const std::string& file() const { return file_; }
  /// The current file's index in load order.
  std::size_t file_index() const { return file_index_; }
  /// The folder body_file is resolved in.
  const std::filesystem::path& base_dir() const { return base_dir_; }

  /// The start of `region` in the current file.
  source_position at(const toml::source_region& region) const;
  /// Where `node` was written in the current file.
  source_position at(const toml::node& node) const;
  /// Where `key` was written in the current file.
  source_position at(const toml::key& key) const;
  /// Where a node was written (its JSON place for nodes built from JSON).
  const toml::source_region& region(const toml::node& node) const;
  /// True when `a` was written before `b`: conflicts are reported at the later one.
  bool before(const toml::node& a, const toml::node& b) const;
  /// Inside a string value at `offset` when its source is exactly the quoted value.
  source_position at_offset(const toml::node& node, std::string_view value,
                            std::size_t offset) const;

  /// "WHAT must be EXPECTED, not a TYPE".
  void type_error(const toml::node& node, std::string_view what, std::string_view expected);
  /// "unknown key 'x' WHERE (did you mean ...)".
  void unknown_key(const toml::key& key, std::string_view where,
                   std::span<const std::string_view> known);

  /// The string, or a type error naming `key` (and null).
  const std::string* get_string(const toml::node& node, std::string_view key);
  /// The integer, or a type error naming `key`.
  std::optional<std::int64_t> get_integer(const toml::node& node, std::string_view key);
  /// The boolean, or a type error naming `key`.
  std::optional<bool> get_bool(const toml::node& node, std::string_view key);
  /// A float, or an integer taken as one (`rate = 1`).
  std::optional<double> get_number(const toml::node& node, std::string_view key);
  /// One of a few fixed strings: its index in `choices`, with a suggestion when it is not one.
  std::optional<std::size_t> get_choice(const toml::node& node, std::string_view key,
                                        std::span<const std::string_view> choices);
  /// Query and header values: strings, or integers and booleans taken as their TOML text.
  std::optional<std::string> scalar_text(const toml::node& node, std::string_view what);

  /// A duration string ("250ms"), at most a week; 0 only when `zero_allowed`.
  bool read_duration(const toml::node& node, std::string_view key, bool zero_allowed,
                     std::chrono::milliseconds& out);
  /// Bytes: an integer or a size string ("16KiB"), in [min, max].
  void read_size(const toml::node& node, std::string_view key, std::size_t min, std::size_t max,
                 std::size_t& out);
  /// A final status, 200..999.
  bool read_status(const toml::node& node, int& out);
  /// Compiles a template against the path parameters; reports a bad one inside the string.
  /// With `message`, {{message}} is known too (WebSocket steps).
  bool check_template(const toml::node& node, const std::string& text,
                      const std::vector<std::string>& params, const std::string& what,
                      bool message = false);
  /// A body file relative to the config file's folder (never outside it).
  bool read_body_file(const toml::node& node, const std::string& written, std::string& out);
  /// A TOML value as compact JSON text; dates, times, infinity and NaN are problems.
  std::optional<std::string> to_json_text(const toml::node& node);

 private:
  std::vector<indexed_problem> problems_;
  std::string file_;
  std::size_t file_index_ = 0;
  std::size_t file_count_ = 0;
  std::filesystem::path base_dir_;
  std::unordered_map<const toml::node*, toml::source_region> json_regions_;
};

}  // namespace stubborn

#pragma once
// Routes posted as JSON are turned into the toml++ nodes a file would have given, so the same
// readers (and key tables) check them; each node keeps its place in the JSON text.

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <toml++/toml.h>

namespace stubborn {

/// What json_to_toml built: the root (null on any problem), where each node was written, and
/// what TOML cannot hold (null, integers above 2^63 - 1, a key written twice) or invalid JSON.
struct toml_from_json {
  std::unique_ptr<toml::node> root;
  std::unordered_map<const toml::node*, toml::source_region> regions;
  std::vector<std::pair<toml::source_region, std::string>> problems;
};

/// Parses JSON `text` (named `name` in messages) into toml++ nodes, at most `max_depth` deep.
toml_from_json json_to_toml(std::string_view text, const std::string& name, int max_depth);

}  // namespace stubborn

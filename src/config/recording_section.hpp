#pragma once
// The [recording] table: the TOML file that what proxy routes relay is written to as routes, and
// the headers whose values are hidden in it.

#include <map>
#include <optional>
#include <span>
#include <string>

#include <toml++/toml.h>

#include "config/key_table.hpp"
#include "config/toml_reader.hpp"
#include "stubborn/config.hpp"

namespace stubborn {

/// The keys of [recording], in the order "did you mean" tries them.
std::span<const key_row<recording_config, recording_config>> recording_keys();

/// Reads a [recording] table into `recording` (made on the first one); `set_once` holds the
/// keys set by earlier files. The path in 'out' is resolved against the config file's folder.
void read_recording(toml_reader& reader, const toml::node& node,
                    std::optional<recording_config>& recording,
                    std::map<std::string, source_position>& set_once);

}  // namespace stubborn

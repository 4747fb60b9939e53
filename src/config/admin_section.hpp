#pragma once
// The [admin] table: the runtime API's prefix, listener and token, and the request journal.

#include <map>
#include <span>
#include <string>

#include <toml++/toml.h>

#include "config/key_table.hpp"
#include "config/toml_reader.hpp"
#include "stubborn/config.hpp"

namespace stubborn {

/// The keys of [admin], in the order "did you mean" tries them.
std::span<const key_row<admin_config, admin_config>> admin_keys();

/// Reads an [admin] table into `admin`; `set_once` holds the keys set by earlier files.
void read_admin(toml_reader& reader, const toml::node& node, admin_config& admin,
                std::map<std::string, source_position>& set_once);

}  // namespace stubborn

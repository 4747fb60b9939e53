#pragma once
// The [server] table: listener, threads, timeouts, limits, seed, [server.rate_limit], access log,
// offline.

#include <map>
#include <span>
#include <string>

#include <toml++/toml.h>

#include "config/key_table.hpp"
#include "config/toml_reader.hpp"
#include "stubborn/config.hpp"

namespace stubborn {

/// The keys of [server], in the order "did you mean" tries them.
std::span<const key_row<server_config, server_config>> server_keys();

/// Reads a [server] table into `server`; `set_once` holds the keys set by earlier files.
void read_server(toml_reader& reader, const toml::node& node, server_config& server,
                 std::map<std::string, source_position>& set_once);

}  // namespace stubborn

#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "stubborn/config.hpp"

namespace stubborn {

/// Reads TOML files, or folders of *.toml taken in name order, merges and validates them.
/// Throws config_error listing every problem found, each with file:line:col.
config load_config(const std::vector<std::string>& paths);

/// Same for TOML text; `name` is used in messages, `base_dir` resolves body_file.
config load_config_text(std::string_view text, const std::string& name,
                        const std::string& base_dir = ".");

}  // namespace stubborn

namespace stubborn {

/// Parses "host:port" or "[v6]:port" (port 0..65535) into `out`; returns "" or what is wrong,
/// naming the value as `subject` (e.g. "'listen'" or "--listen").
std::string parse_listen_address(std::string_view text, listen_address& out,
                                 std::string_view subject);

}  // namespace stubborn

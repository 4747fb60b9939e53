#pragma once
// [route.rate_limit] and [server.rate_limit]: requests per period, by key; 429 beyond.

#include <optional>
#include <span>
#include <string_view>

#include <toml++/toml.h>
#include <boost/json/object.hpp>

#include "config/key_table.hpp"
#include "config/toml_reader.hpp"
#include "stubborn/config.hpp"

namespace stubborn {

/// One key of a rate limit table.
using rate_limit_row = key_row<rate_limit_spec, rate_limit_spec>;

/// The keys of a rate limit table.
std::span<const rate_limit_row> rate_limit_keys();

/// Reads a rate limit table written as `where` ("[route.rate_limit]" or "[server.rate_limit]").
std::optional<rate_limit_spec> read_rate_limit(toml_reader& reader, const toml::node& node,
                                               std::string_view where);

/// A rate limit as JSON, with the keys of its table.
boost::json::object rate_limit_to_json(const rate_limit_spec& spec, const json_writing& how);

}  // namespace stubborn

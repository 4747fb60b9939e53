#pragma once
// Outages on purpose: [route.outage] for one route, top-level [[outage]] for a path pattern.

#include <optional>
#include <span>
#include <vector>

#include <toml++/toml.h>
#include <boost/json/object.hpp>

#include "config/key_table.hpp"
#include "config/toml_reader.hpp"
#include "stubborn/config.hpp"

namespace stubborn {

/// One key of an outage table.
using outage_row = key_row<outage_spec, outage_spec>;

/// The keys of [[outage]]; [route.outage] has all but 'path'.
std::span<const outage_row> outage_keys();

/// Reads [route.outage], or a top-level [[outage]] (which also has a path) when `server_wide`.
std::optional<outage_spec> read_outage(toml_reader& reader, const toml::node& node,
                                       bool server_wide);

/// Reads the top-level `outage` array of tables into `out`.
void read_server_outages(toml_reader& reader, const toml::node& node,
                         std::vector<outage_spec>& out);

}  // namespace stubborn

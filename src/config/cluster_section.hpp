#pragma once
// The [cluster] table: instances with the same namespace share rate limits, sequences, outages,
// runtime routes and the journal in Redis.

#include <map>
#include <optional>
#include <span>
#include <string>

#include <toml++/toml.h>

#include "config/key_table.hpp"
#include "config/toml_reader.hpp"
#include "stubborn/config.hpp"

namespace stubborn {

/// The keys of [cluster], in the order "did you mean" tries them.
std::span<const key_row<cluster_config, cluster_config>> cluster_keys();

/// Reads a [cluster] table into `cluster`; `set_once` holds the keys set by earlier files.
void read_cluster(toml_reader& reader, const toml::node& node,
                  std::optional<cluster_config>& cluster,
                  std::map<std::string, source_position>& set_once);

/// The names `share` takes, in the order of cluster_config's share flags.
std::span<const std::string_view> cluster_share_names();

}  // namespace stubborn

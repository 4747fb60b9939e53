#pragma once
// The [server.tls] table (an HTTPS listener: certificates, versions, client certificates) and
// its [[server.tls.names]] entries (what a client meets for one SNI name).

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <toml++/toml.h>
#include <boost/json/object.hpp>

#include "config/key_table.hpp"
#include "config/toml_reader.hpp"
#include "stubborn/config.hpp"

namespace stubborn {

/// The keys of [server.tls], in the order "did you mean" tries them.
std::span<const key_row<tls_config, tls_config>> tls_keys();

/// The keys of a [[server.tls.names]] entry.
std::span<const key_row<tls_name_spec, tls_name_spec>> tls_name_keys();

/// Reads [server.tls]; paths are resolved against the config file's folder. Nullopt when the
/// table has problems (they are recorded in `reader`).
std::optional<tls_config> read_tls(toml_reader& reader, const toml::node& node);

/// A file path from `v`, resolved against the config file's folder (absolute ones as written);
/// with `must_exist`, a file that cannot be read is a problem at `v`, naming `key`.
bool read_path(toml_reader& reader, const toml::node& v, std::string_view key, bool must_exist,
               std::string& out);

/// "1.0" .. "1.3" as the config writes a version; "" for unset.
std::string_view tls_version_name(tls_version version);

/// The settings as JSON, with the keys of [server.tls] (paths, never what the files hold).
boost::json::object tls_to_json(const tls_config& tls);

/// True when `host` is a DNS name (optionally "*." and a name when `wildcard`) or an IP address.
bool is_tls_host(std::string_view host, bool wildcard);

}  // namespace stubborn

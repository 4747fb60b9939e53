#pragma once
// A [[route]] table's keys come from several sections (matching, reply and timing, outage,
// derived statuses, rate limit, proxy); each section lists its rows, and the route reader joins
// them.

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include <boost/json/object.hpp>

#include "config/key_table.hpp"
#include "config/toml_reader.hpp"
#include "stubborn/config.hpp"

namespace stubborn {

/// A route being read, with what matters only while loading.
struct route_reading {
  route_spec route;
  bool explicit_name = false;     ///< 'name' was written (else it is made from method and path)
  source_position name_position;  ///< where it was written
  source_position state_key_position;  ///< where state_key was written
};

/// One key of [[route]].
using route_row = key_row<route_reading, route_spec>;

/// The matching keys: name, method, path, path_regex, query, headers, body, scheme,
/// client_cert, priority.
std::span<const route_row> match_keys();
/// The reply and timing keys: reply, replies, then, continue_delay, expect.
std::span<const route_row> reply_route_keys();
/// The route's outage key.
std::span<const route_row> outage_route_keys();
/// The derived-status keys: auth, etag, last_modified, ranges, produces, consumes, require_length.
std::span<const route_row> derived_keys();
/// The route's rate_limit key.
std::span<const route_row> rate_limit_route_keys();
/// The route's proxy key.
std::span<const route_row> proxy_route_keys();

/// The route's websocket key.
std::span<const route_row> websocket_route_keys();

/// The keys that split the route's state: state_key, max_state_keys.
std::span<const route_row> state_route_keys();
/// Checks state_key against the path's parameters, and max_state_keys against state_key.
void check_state_key(toml_reader& reader, const key_hits& hits,
                     const std::optional<std::vector<std::string>>& params, route_reading& reading);

/// A body matcher table (`body = { contains = "x" }`, a WebSocket answer's `match`): exactly
/// one of contains, equals, regex or json. `name` is the key as messages say it ("body"),
/// `where` ends unknown-key messages ("in [route.body]"). False when it has problems.
bool read_body_matcher(toml_reader& reader, const toml::node& node, std::string_view name,
                       std::string_view where, std::optional<body_matcher_spec>& out);
/// The keys of a body matcher table.
table_doc body_matcher_doc();
/// A body matcher as its JSON table.
boost::json::object body_matcher_json(const body_matcher_spec& matcher);

/// Every key of [[route]], the sections above in that order (the order "did you mean" tries).
std::span<const route_row> route_keys();

/// Path parameters of the route's path or path_regex, for checking templates; nullopt when the
/// path itself is bad. Reports a route without either, or with both.
std::optional<std::vector<std::string>> read_route_path(toml_reader& reader, const key_hits& hits,
                                                        route_reading& reading);

/// Reads [route.reply] / [[route.replies]] and checks 'then' and 'continue_delay' against them.
void read_route_replies(toml_reader& reader, const key_hits& hits,
                        const std::optional<std::vector<std::string>>& params,
                        route_reading& reading);

/// Reads [route.websocket] (its templates checked against `params` when known) and reports the
/// route keys a WebSocket route cannot have ([route.reply], [[route.replies]], then, proxy).
void read_route_websocket(toml_reader& reader, const key_hits& hits,
                          const std::optional<std::vector<std::string>>& params,
                          route_reading& reading);

/// Reads a [[route]] table.
route_reading read_route(toml_reader& reader, const toml::table& table);

}  // namespace stubborn

// A [[route]] table: the rows of the matching, reply and timing, outage, derived-status,
// rate-limit, proxy and websocket sections, joined in that order. A new route key is a row in its
// section's file.
#include <vector>

#include "config/proxy_section.hpp"
#include "config/route_reading.hpp"
#include "config/when_section.hpp"

namespace stubborn {

std::span<const route_row> route_keys() {
  static const std::vector<route_row> rows = [] {
    std::vector<route_row> all;
    for (const auto section : {match_keys(), reply_route_keys(), outage_route_keys(),
                               derived_keys(), rate_limit_route_keys(), proxy_route_keys(),
                               websocket_route_keys(), state_route_keys()}) {
      all.insert(all.end(), section.begin(), section.end());
    }
    return all;
  }();
  return rows;
}

route_reading read_route(toml_reader& reader, const toml::table& table) {
  route_reading reading;
  reading.route.position = reader.at(table);
  table_place place;
  place.where = "in [[route]]";
  const key_hits hits =
      read_keys<route_reading, route_spec>(reader, table, route_keys(), place, reading);
  const std::optional<std::vector<std::string>> params = read_route_path(reader, hits, reading);
  read_route_replies(reader, hits, params, reading);
  if (params && reading.route.when) check_when_params(reader, *reading.route.when, *params);
  check_proxy_route(reader, hits, reading);
  check_state_key(reader, hits, params, reading);
  read_route_websocket(reader, hits, params, reading);
  return reading;
}

}  // namespace stubborn

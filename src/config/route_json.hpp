#pragma once
// Routes written as JSON with the keys of [[route]] (GET /__admin/routes), from the same key
// tables the loader reads them with, so that the JSON can be edited and posted back.

#include <chrono>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "config/key_table.hpp"
#include "stubborn/config.hpp"

namespace stubborn {

/// "250ms", "2s", "5m", "1h": the largest unit that divides the duration exactly.
std::string duration_text(std::chrono::milliseconds d);

/// Headers or query parameters as one JSON object.
boost::json::object pairs_json(const std::vector<name_value>& pairs);

/// A reply with the keys of [route.reply] (and 'repeat' when it is not 1).
boost::json::object reply_to_json(const reply_spec& reply, const json_writing& how = {});

/// A route with the keys of [[route]]; auth secrets only when `how.secrets`.
boost::json::object route_to_json(const route_spec& route, const json_writing& how = {});

}  // namespace stubborn

#include "config/route_json.hpp"

#include <boost/json.hpp>

#include "config/reply_section.hpp"
#include "config/route_reading.hpp"

namespace stubborn {

namespace json = boost::json;

std::string duration_text(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms % 3'600'000 == 0 && ms) return concat(std::to_string(ms / 3'600'000), "h");
  if (ms % 60'000 == 0 && ms) return concat(std::to_string(ms / 60'000), "m");
  if (ms % 1000 == 0 && ms) return concat(std::to_string(ms / 1000), "s");
  return concat(std::to_string(ms), "ms");
}

json::object pairs_json(const std::vector<name_value>& pairs) {
  json::object o;
  for (const name_value& p : pairs) o[p.name] = p.value;
  return o;
}

json::object reply_to_json(const reply_spec& reply, const json_writing& how) {
  json::object o;
  write_keys<reply_reading, reply_spec>(reply_keys(), reply, o, how);
  return o;
}

json::object route_to_json(const route_spec& route, const json_writing& how) {
  json::object o;
  write_keys<route_reading, route_spec>(route_keys(), route, o, how);
  return o;
}

}  // namespace stubborn

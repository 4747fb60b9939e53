// The route keys that split a route's state by a value of each request: state_key and
// max_state_keys.
#include <array>
#include <limits>

#include <boost/json/object.hpp>

#include "config/route_reading.hpp"
#include "stubborn/load_config.hpp"

namespace stubborn {
namespace {

namespace json = boost::json;

using source = state_key_spec::source;

constexpr std::array<std::pair<std::string_view, source>, 4> prefixes = {{
    {"header:", source::header},
    {"query:", source::query},
    {"cookie:", source::cookie},
    {"path:", source::path},
}};

std::string state_key_text(const state_key_spec& key) {
  for (const auto& [prefix, from] : prefixes) {
    if (from == key.from) return concat(prefix, key.name);
  }
  return {};
}

constexpr std::array<route_row, 2> rows = {{
    {"state_key", string_kind, "a string", "",
     "split sequences, outages and rate limits by \"header:NAME\", \"query:NAME\", "
     "\"cookie:NAME\" or \"path:PARAM\"",
     [](toml_reader& r, const toml::node& v, route_reading& reading) {
       const std::string_view s = v.as_string()->get();
       for (const auto& [prefix, from] : prefixes) {
         if (!s.starts_with(prefix)) continue;
         const std::string_view name = s.substr(prefix.size());
         const bool token_needed = from == source::header || from == source::cookie;
         if (name.empty() || (token_needed && !is_token(name)) || has_control(name)) {
           r.add(r.at(v), concat("'state_key' needs a name after \"", prefix, "\", e.g. \"", prefix,
                                 from == source::path ? "id" : "X-Test-Id", "\""));
           return false;
         }
         reading.route.state_key = state_key_spec{from, std::string(name)};
         reading.state_key_position = r.at(v);
         return true;
       }
       r.add(r.at(v), concat("'state_key' must be \"header:NAME\", \"query:NAME\", "
                             "\"cookie:NAME\" or \"path:PARAM\", not \"",
                             s, "\""));
       return false;
     },
     [](const route_spec& route, json::object& o, const json_writing&) {
       if (route.state_key) o["state_key"] = state_key_text(*route.state_key);
     }},
    {"max_state_keys", integer_kind, "an integer", "10000",
     "state keys kept per route, 1..10000000; the least recently used one starts over",
     [](toml_reader& r, const toml::node& v, route_reading& reading) {
       const std::int64_t n = v.as_integer()->get();
       if (n < 1 || n > 10'000'000) {
         r.add(r.at(v), concat("'max_state_keys' must be 1..10000000, not ", std::to_string(n)));
         return false;
       }
       reading.route.max_state_keys = static_cast<std::size_t>(n);
       return true;
     },
     [](const route_spec& route, json::object& o, const json_writing&) {
       if (route.max_state_keys != route_spec{}.max_state_keys) {
         o["max_state_keys"] = route.max_state_keys;
       }
     }},
}};
static_assert(all_written(rows), "every route key is written to JSON");

}  // namespace

std::span<const route_row> state_route_keys() {
  return rows;
}

void check_state_key(toml_reader& reader, const key_hits& hits,
                     const std::optional<std::vector<std::string>>& params,
                     route_reading& reading) {
  const std::optional<state_key_spec>& key = reading.route.state_key;
  if (key && !key->name.empty() && key->from == source::path && params &&
      std::find(params->begin(), params->end(), key->name) == params->end()) {
    std::string known;
    for (const auto& name : *params) known += (known.empty() ? "" : ", ") + name;
    reader.add(
        reading.state_key_position,
        concat("'state_key' names the path parameter ", in_quotes(key->name),
               ", which the path does not have",
               known.empty() ? std::string(" (it has none)") : concat(" (it has: ", known, ")")));
  }
  if (const toml::node* max = hits.value("max_state_keys"); max && !key) {
    reader.add(reader.at(*max),
               "'max_state_keys' bounds the keys of 'state_key', which this "
               "route does not have");
  }
}

}  // namespace stubborn

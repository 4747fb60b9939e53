// Rate limits. Adding a key: a field in rate_limit_spec (include/stubborn/config.hpp; compared
// in its operator==) and one row in `rows`, e.g.
//   {"shared", boolean_kind, "a boolean (true or false)", "false", "one bucket for all routes",
//    [](toml_reader&, const toml::node& v, rate_limit_spec& s) {
//      s.shared = v.as_boolean()->get();
//      return true;
//    },
//    [](const rate_limit_spec& s, json::object& o, const json_writing&) {
//      if (s.shared) o["shared"] = true;
//    }},
#include "config/rate_limit_section.hpp"

#include <array>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "config/reply_section.hpp"
#include "config/route_json.hpp"
#include "config/route_reading.hpp"
#include "config/toml_reading.hpp"

namespace stubborn {
namespace {

namespace json = boost::json;

constexpr std::array<std::string_view, 2> algorithm_names = {"token-bucket", "fixed-window"};
constexpr std::array<std::string_view, 3> header_names = {"ietf", "x-ratelimit", "none"};

// An integer in 1..max.
bool read_positive(toml_reader& r, const toml::node& v, std::string_view key, std::int64_t max,
                   std::uint64_t& out) {
  const std::int64_t n = v.as_integer()->get();
  if (n < 1 || n > max) {
    r.add(r.at(v),
          concat(in_quotes(key), " must be 1..", std::to_string(max), ", not ", std::to_string(n)));
    return false;
  }
  out = static_cast<std::uint64_t>(n);
  return true;
}

// key = "global" | "ip" | "header:NAME" | "query:NAME".
bool read_limit_key(toml_reader& r, const toml::node& node, rate_limit_spec& spec) {
  const std::string& text = node.as_string()->get();
  const std::string_view s = text;
  if (s == "global") {
    spec.key = rate_limit_key::global;
    return true;
  }
  if (s == "ip") {
    spec.key = rate_limit_key::ip;
    return true;
  }
  for (const auto& [prefix, kind] :
       {std::pair{std::string_view("header:"), rate_limit_key::header},
        std::pair{std::string_view("query:"), rate_limit_key::query}}) {
    if (s.substr(0, prefix.size()) != prefix) continue;
    const std::string_view name = s.substr(prefix.size());
    const bool header = kind == rate_limit_key::header;
    if (name.empty() || (header && !is_token(name)) || has_control(name)) {
      r.add(r.at(node),
            concat("'key' needs a ", header ? "header" : "parameter", " name after \"", prefix,
                   "\", e.g. \"", prefix, header ? "X-Api-Key" : "api_key", "\""));
      return false;
    }
    spec.key = kind;
    spec.key_name = std::string(name);
    return true;
  }
  r.add(r.at(node),
        concat("'key' must be \"global\", \"ip\", \"header:NAME\" or \"query:NAME\", not \"", text,
               "\""));
  return false;
}

std::string key_text(const rate_limit_spec& spec) {
  switch (spec.key) {
    case rate_limit_key::global:
      return "global";
    case rate_limit_key::ip:
      return "ip";
    case rate_limit_key::header:
      return concat("header:", spec.key_name);
    case rate_limit_key::query:
      return concat("query:", spec.key_name);
  }
  return {};
}

constexpr std::array<rate_limit_row, 8> rows = {{
    {"requests", integer_kind, "an integer", "", "admitted per 'per' (required), 1..1000000000",
     [](toml_reader& r, const toml::node& v, rate_limit_spec& s) {
       return read_positive(r, v, "requests", 1'000'000'000, s.requests);
     },
     [](const rate_limit_spec& s, json::object& o, const json_writing&) {
       o["requests"] = s.requests;
     }},
    {"per", string_kind, "a duration string with a unit, e.g. \"10s\"", "\"1s\"",
     "the period 'requests' are counted over",
     [](toml_reader& r, const toml::node& v, rate_limit_spec& s) {
       return r.read_duration(v, "per", false, s.per);
     },
     [](const rate_limit_spec& s, json::object& o, const json_writing&) {
       o["per"] = duration_text(s.per);
     }},
    {"burst", integer_kind, "an integer", "'requests'",
     "token bucket: this many at once; fixed windows have none",
     [](toml_reader& r, const toml::node& v, rate_limit_spec& s) {
       return read_positive(r, v, "burst", 1'000'000'000, s.burst);
     },
     [](const rate_limit_spec& s, json::object& o, const json_writing&) {
       // Only as written: a fixed window refuses 'burst', and 0 means 'requests'.
       if (s.burst) o["burst"] = s.burst;
     }},
    {"key", string_kind, "a string", "\"global\"",
     "what requests are counted by: \"global\", \"ip\", \"header:NAME\" or \"query:NAME\"",
     [](toml_reader& r, const toml::node& v, rate_limit_spec& s) {
       return read_limit_key(r, v, s);
     },
     [](const rate_limit_spec& s, json::object& o, const json_writing&) {
       o["key"] = key_text(s);
     }},
    {"algorithm", string_kind, "\"token-bucket\" or \"fixed-window\"", "\"token-bucket\"",
     "a smooth token bucket (GCRA), or fixed windows counted from the server's start",
     [](toml_reader& r, const toml::node& v, rate_limit_spec& s) {
       const auto index = r.get_choice(v, "algorithm", algorithm_names);
       if (index) {
         s.algorithm =
             *index == 0 ? rate_limit_algorithm::token_bucket : rate_limit_algorithm::fixed_window;
       }
       return index.has_value();
     },
     [](const rate_limit_spec& s, json::object& o, const json_writing&) {
       o["algorithm"] = algorithm_names[s.algorithm == rate_limit_algorithm::token_bucket ? 0 : 1];
     },
     key_shape{.choices = algorithm_names}},
    {"headers", string_kind, "one of \"ietf\", \"x-ratelimit\" or \"none\"", "\"ietf\"",
     "which headers tell clients about the limit",
     [](toml_reader& r, const toml::node& v, rate_limit_spec& s) {
       const auto index = r.get_choice(v, "headers", header_names);
       if (index) s.headers = static_cast<rate_limit_headers>(*index);
       return index.has_value();
     },
     [](const rate_limit_spec& s, json::object& o, const json_writing&) {
       o["headers"] = header_names[static_cast<std::size_t>(s.headers)];
     },
     key_shape{.choices = header_names}},
    {"max_keys", integer_kind, "an integer", "10000",
     "keys tracked at once, 1..10000000; idle ones are evicted first",
     [](toml_reader& r, const toml::node& v, rate_limit_spec& s) {
       std::uint64_t n = 0;
       const bool ok = read_positive(r, v, "max_keys", 10'000'000, n);
       s.max_keys = static_cast<std::size_t>(n);
       return ok;
     },
     [](const rate_limit_spec& s, json::object& o, const json_writing&) {
       o["max_keys"] = s.max_keys;
     }},
    {"reply", any_kind, "a table, written [route.reply]", "{ status = 429 }",
     "the reply over the limit (templates see the request only)",
     [](toml_reader& r, const toml::node& v, rate_limit_spec& s) {
       auto reply = std::make_shared<reply_spec>();
       reply->status = 429;
       const std::size_t before = r.problems().size();
       // No path parameters: the limit may be server-wide, and templates see the request only.
       read_reply(r, v, std::vector<std::string>{}, false, *reply);
       s.reply = std::move(reply);
       return r.problems().size() == before;
     },
     [](const rate_limit_spec& s, json::object& o, const json_writing& how) {
       if (s.reply) o["reply"] = reply_to_json(*s.reply, how);
     },
     key_shape{.kinds = table_kind,
               .table = [] { return describe(reply_keys()).without("repeat"); }}},
}};
static_assert(all_written(rows), "every rate limit key is written to JSON");

constexpr std::array<route_row, 1> route_rows = {{
    {"rate_limit", table_kind, "a table, written [route.rate_limit]", "",
     "over this many requests per period: 429 with Retry-After",
     [](toml_reader& r, const toml::node& v, route_reading& reading) {
       reading.route.rate_limit = read_rate_limit(r, v, "[route.rate_limit]");
       return reading.route.rate_limit.has_value();
     },
     [](const route_spec& r, json::object& o, const json_writing& how) {
       if (r.rate_limit) o["rate_limit"] = rate_limit_to_json(*r.rate_limit, how);
     },
     key_shape{.table = [] { return describe(rate_limit_keys()); }}},
}};

}  // namespace

std::span<const rate_limit_row> rate_limit_keys() {
  return rows;
}

std::span<const route_row> rate_limit_route_keys() {
  return route_rows;
}

std::optional<rate_limit_spec> read_rate_limit(toml_reader& r, const toml::node& node,
                                               std::string_view where) {
  const toml::table* table = node.as_table();
  if (!table) {
    r.type_error(node, "'rate_limit'", concat("a table, written ", where));
    return std::nullopt;
  }
  rate_limit_spec spec;
  spec.position = r.at(node);
  table_place place;
  const std::string in_where = concat("in ", where);
  place.where = in_where;
  const key_hits hits = read_keys<rate_limit_spec, rate_limit_spec>(r, *table, rows, place, spec);
  bool ok = hits.all_ok && !hits.unknown;
  if (!hits.value("requests") && ok) {
    r.add(r.at(node), concat(where, " needs 'requests', e.g. requests = 10 (per \"1s\")"));
    ok = false;
  }
  if (const toml::node* burst = hits.value("burst");
      burst && spec.algorithm == rate_limit_algorithm::fixed_window) {
    r.add(r.at(*burst),
          "'burst' is for the token bucket; a fixed window admits 'requests' per window");
    ok = false;
  }
  return ok ? std::optional(std::move(spec)) : std::nullopt;
}

json::object rate_limit_to_json(const rate_limit_spec& spec, const json_writing& how) {
  json::object o;
  write_keys<rate_limit_spec, rate_limit_spec>(rows, spec, o, how);
  return o;
}

}  // namespace stubborn

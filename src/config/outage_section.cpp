// Outages. Adding a key: a field in outage_spec (include/stubborn/config.hpp) and one row in
// `rows`, e.g.
//   {"jitter", string_kind, duration_type, "\"0s\"", "windows start up to this much late",
//    [](toml_reader& r, const toml::node& v, outage_spec& o) {
//      return r.read_duration(v, "jitter", true, o.jitter);
//    },
//    [](const outage_spec& o, json::object& out, const json_writing&) {
//      if (o.jitter.count()) out["jitter"] = duration_text(o.jitter);
//    }},
#include "config/outage_section.hpp"

#include <array>

#include <boost/json.hpp>

#include "config/reply_section.hpp"
#include "config/route_json.hpp"
#include "config/route_reading.hpp"
#include "config/toml_reading.hpp"
#include "respond/reply_plan.hpp"
#include "routing/path_pattern.hpp"

namespace stubborn {
namespace {

namespace json = boost::json;

constexpr std::string_view duration_type = "a duration string with a unit, e.g. \"10s\"";

constexpr std::array<outage_row, 6> rows = {{
    {"path", any_kind, "a string", "", "[[outage]] only: the path pattern it covers", nullptr,
     [](const outage_spec& o, json::object& out, const json_writing&) {
       if (!o.path.empty()) out["path"] = o.path;
     },
     key_shape{.kinds = string_kind}},
    {"rate", float_kind | integer_kind, "a number (a float or an integer)", "0",
     "the fraction of requests that fail, 0..1",
     [](toml_reader& r, const toml::node& v, outage_spec& o) {
       const double rate = v.is_integer() ? static_cast<double>(v.as_integer()->get())
                                          : v.as_floating_point()->get();
       if (rate >= 0 && rate <= 1) {
         o.rate = rate;
         return true;
       }
       r.add(r.at(v),
             concat("'rate' must be 0..1 (a fraction of requests), not ", number_text(rate)));
       return false;
     },
     [](const outage_spec& o, json::object& out, const json_writing&) {
       if (o.rate > 0) out["rate"] = o.rate;
     }},
    {"every", string_kind, duration_type, "", "a window of 'duration' starts this often",
     [](toml_reader& r, const toml::node& v, outage_spec& o) {
       return r.read_duration(v, "every", false, o.every);
     },
     [](const outage_spec& o, json::object& out, const json_writing&) {
       if (o.every.count()) out["every"] = duration_text(o.every);
     }},
    {"duration", string_kind, duration_type, "", "how long each window lasts",
     [](toml_reader& r, const toml::node& v, outage_spec& o) {
       return r.read_duration(v, "duration", false, o.duration);
     },
     [](const outage_spec& o, json::object& out, const json_writing&) {
       if (o.every.count()) out["duration"] = duration_text(o.duration);
     }},
    {"status", integer_kind, "an integer", "503", "the reply's status during the outage",
     [](toml_reader& r, const toml::node& v, outage_spec& o) { return r.read_status(v, o.status); },
     [](const outage_spec& o, json::object& out, const json_writing&) {
       out["status"] = o.status;
     }},
    {"fault", string_kind,
     "one of \"reset\", \"close\", \"empty\", \"truncate\", \"garbage\" or \"malformed-chunk\"", "",
     "a broken reply instead of the status",
     [](toml_reader& r, const toml::node& v, outage_spec& o) {
       const auto index = r.get_choice(v, "fault", fault_names());
       if (index) o.fault = fault_at(*index);
       return index.has_value();
     },
     [](const outage_spec& o, json::object& out, const json_writing&) {
       if (o.fault != fault_kind::none) out["fault"] = fault_name(o.fault);
     },
     key_shape{.choices = fault_texts}},
}};
static_assert(all_written(rows), "every outage key is written to JSON");

constexpr std::array<route_row, 1> route_rows = {{
    {"outage", table_kind, "a table, written [route.outage]", "",
     "the route goes down on purpose: a fraction of requests, or a recurring window",
     [](toml_reader& r, const toml::node& v, route_reading& reading) {
       reading.route.outage = read_outage(r, v, false);
       return reading.route.outage.has_value();
     },
     [](const route_spec& r, json::object& o, const json_writing& how) {
       if (!r.outage) return;
       json::object outage;
       write_keys<outage_spec, outage_spec>(rows, *r.outage, outage, how);
       o["outage"] = std::move(outage);
     },
     key_shape{.table = [] { return describe(outage_keys()).without("path"); }}},
}};

}  // namespace

std::span<const outage_row> outage_keys() {
  return rows;
}

std::span<const route_row> outage_route_keys() {
  return route_rows;
}

std::optional<outage_spec> read_outage(toml_reader& r, const toml::node& node, bool server_wide) {
  outage_spec outage;
  outage.position = r.at(node);
  table_place place;
  place.where = server_wide ? "in [[outage]]" : "in [route.outage]";
  if (!server_wide) {
    place.misplaced = "path";
    place.misplaced_message =
        "'path' belongs in a top-level [[outage]]: [route.outage] covers its own route";
  }
  const key_hits hits =
      read_keys<outage_spec, outage_spec>(r, *node.as_table(), rows, place, outage);
  const key_hit* every = hits.find("every");
  const key_hit* duration = hits.find("duration");
  const bool window_ok = (!every || every->ok) && (!duration || duration->ok);
  bool ok = hits.all_ok;
  const bool unknown = hits.unknown;
  if (every && !duration) {
    r.add(r.at(*every->value),
          "'every' needs a 'duration': the outage lasts 'duration' once per 'every'");
    ok = false;
  } else if (duration && !every) {
    r.add(r.at(*duration->value),
          "'duration' needs an 'every': the outage lasts 'duration' once per 'every'");
    ok = false;
  } else if (every && duration && window_ok && outage.duration > outage.every) {
    r.add(r.at(*duration->value), concat("'duration' (\"", duration->value->as_string()->get(),
                                         "\") must not be longer than 'every' (\"",
                                         every->value->as_string()->get(), "\")"));
    ok = false;
  } else if (!hits.value("rate") && !every && !unknown) {
    r.add(r.at(node), "an outage needs a 'rate', or 'every' and 'duration'");
    ok = false;
  }
  const toml::node* path = hits.value("path");
  if (server_wide && !path) {
    // A misspelt 'path' has been reported as such already.
    if (!unknown) {
      r.add(r.at(node),
            "an [[outage]] needs a 'path': the path pattern it covers, e.g. \"/api/*\"");
    }
    ok = false;
  } else if (server_wide) {
    const std::string* s = r.get_string(*path, "path");
    try {
      if (s) path_pattern::compile(*s);
    } catch (const path_pattern_error& e) {
      r.add(r.at_offset(*path, *s, e.offset), concat("bad 'path': ", e.what()));
      s = nullptr;
    }
    if (s) {
      outage.path = *s;
    } else {
      ok = false;
    }
  }
  if (!ok || !window_ok || unknown) return std::nullopt;
  return outage;
}

void read_server_outages(toml_reader& r, const toml::node& node, std::vector<outage_spec>& out) {
  const toml::array* array = node.as_array();
  if (!array) {
    r.type_error(node, "'outage'", "an array of tables, written [[outage]]");
    return;
  }
  for (const toml::node& element : *array) {
    if (!element.is_table()) {
      r.type_error(element, "each 'outage'", "a table");
      continue;
    }
    if (auto outage = read_outage(r, element, true)) out.push_back(std::move(*outage));
  }
}

}  // namespace stubborn

// The timing keys of a reply. Each small table lists its keys once; a new one is a row (with a
// field in the spec) and, where it combines with the others, a line in its reader.
#include "config/reply_timing.hpp"

#include <array>
#include <limits>
#include <string>

#include <boost/json.hpp>

#include "config/duration.hpp"
#include "config/key_table.hpp"
#include "config/reply_section.hpp"
#include "config/route_json.hpp"
#include "config/toml_reading.hpp"

namespace stubborn {
namespace {

namespace json = boost::json;

constexpr std::int64_t max_chunk_count = 10'000;
constexpr double max_sigma = 5;

// Which keys make which delay is decided once all are known.
using delay_row = key_row<delay_spec, delay_spec>;
constexpr std::array<delay_row, 4> delay_rows = {{
    {"min", any_kind, "a duration string", "", "uniform delay: the shortest", nullptr, nullptr,
     key_shape{.kinds = string_kind}},
    {"max", any_kind, "a duration string", "", "uniform delay: the longest", nullptr, nullptr,
     key_shape{.kinds = string_kind}},
    {"median", any_kind, "a duration string", "", "log-normal delay: the median", nullptr, nullptr,
     key_shape{.kinds = string_kind}},
    {"sigma", any_kind, "a number (a float or an integer)", "",
     "log-normal delay: the standard deviation of ln(delay), 0..5", nullptr, nullptr,
     key_shape{.kinds = integer_kind | float_kind}},
}};

struct interim_reading {
  interim_spec& interim;
};
using interim_row = key_row<interim_reading, interim_spec>;
constexpr std::array<interim_row, 2> interim_rows = {{
    {"status", integer_kind, "an integer", "103", "100..199, not 101",
     [](toml_reader& r, const toml::node& v, interim_reading& reading) {
       const std::int64_t n = v.as_integer()->get();
       if (n == 101) {
         r.add(r.at(v), "status 101: 101 Switching Protocols is reserved for protocol upgrades");
         return false;
       }
       if (n < 100 || n > 199) {
         r.add(r.at(v), concat("status ", std::to_string(n),
                               " is out of range: an interim status must be 100..199"));
         return false;
       }
       reading.interim.status = static_cast<int>(n);
       return true;
     },
     [](const interim_spec& s, json::object& o, const json_writing&) { o["status"] = s.status; }},
    {"headers", table_kind, "a table, e.g. { \"Content-Type\" = \"text/plain\" }", "",
     "headers of the interim response, sent as written",
     [](toml_reader& r, const toml::node& v, interim_reading& reading) {
       // Sent as written: an interim response is not rendered per request.
       read_reply_headers(r, v, std::nullopt, reading.interim.headers);
       return true;
     },
     [](const interim_spec& s, json::object& o, const json_writing&) {
       o["headers"] = pairs_json(s.headers);
     },
     key_shape{.values = scalar_text_kinds}},
}};

// Both are needed; they are read once both are known.
using chunks_row = key_row<chunks_spec, chunks_spec>;
constexpr std::array<chunks_row, 2> chunks_rows = {{
    {"count", any_kind, "an integer", "", "how many chunks, 1..10000", nullptr, nullptr,
     key_shape{.kinds = integer_kind}},
    {"over", any_kind, "a duration string", "", "the time the chunks are spread over", nullptr,
     nullptr, key_shape{.kinds = string_kind}},
}};

}  // namespace

bool read_delay(toml_reader& r, const toml::node& node, delay_spec& out, std::string_view key) {
  if (node.is_string()) {
    std::chrono::milliseconds fixed{0};
    if (!r.read_duration(node, key, true, fixed)) return false;
    out.type = delay_spec::kind::fixed;
    out.fixed = fixed;
    return true;
  }
  const toml::table* table = node.as_table();
  if (!table) {
    r.type_error(node, in_quotes(key), delay_forms);
    return false;
  }
  delay_spec ignored;
  const std::string where = concat("in ", in_quotes(key));
  table_place place;
  place.where = where;
  const key_hits parts = read_keys<delay_spec, delay_spec>(r, *table, delay_rows, place, ignored);
  if (parts.unknown) return false;
  const auto has = [&](std::string_view name) { return parts.value(name) != nullptr; };
  if (parts.found.size() == 2 && has("min") && has("max")) {
    const toml::node& min = *parts.value("min");
    const toml::node& max = *parts.value("max");
    delay_spec uniform;
    uniform.type = delay_spec::kind::uniform;
    const bool min_ok = r.read_duration(min, concat(key, ".min"), true, uniform.min);
    const bool max_ok = r.read_duration(max, concat(key, ".max"), true, uniform.max);
    if (!min_ok || !max_ok) return false;
    if (uniform.max < uniform.min) {
      r.add(r.at(max), concat(in_quotes(concat(key, ".max")), " (\"", max.as_string()->get(),
                              "\") must not be less than ", in_quotes(concat(key, ".min")), " (\"",
                              min.as_string()->get(), "\")"));
      return false;
    }
    out = uniform;
    return true;
  }
  if (parts.found.size() == 2 && has("median") && has("sigma")) {
    const toml::node& sigma_node = *parts.value("sigma");
    delay_spec lognormal;
    lognormal.type = delay_spec::kind::lognormal;
    const bool median_ok =
        r.read_duration(*parts.value("median"), concat(key, ".median"), false, lognormal.median);
    const auto sigma = r.get_number(sigma_node, concat(key, ".sigma"));
    if (sigma && !(*sigma >= 0 && *sigma <= max_sigma)) {
      r.add(r.at(sigma_node),
            concat(in_quotes(concat(key, ".sigma")), " must be 0..5, not ", number_text(*sigma)));
      return false;
    }
    if (!median_ok || !sigma) return false;
    lognormal.sigma = *sigma;
    out = lognormal;
    return true;
  }
  std::string found;
  for (std::size_t i = 0; i < parts.found.size(); ++i) {
    if (i > 0) found += i + 1 == parts.found.size() ? " and " : ", ";
    found += in_quotes(parts.found[i].name);
  }
  r.add(r.at(node),
        concat(in_quotes(key), " must be ", delay_forms, ", not ",
               found.empty() ? std::string("an empty table") : concat("a table with ", found)));
  return false;
}

bool read_interims(toml_reader& r, const toml::node& node, std::vector<interim_spec>& out) {
  const toml::array* array = node.as_array();
  if (!array) {
    r.type_error(node, "'interim'", "an array of tables, e.g. [ { status = 103 } ]");
    return false;
  }
  bool all_ok = true;
  for (const toml::node& element : *array) {
    const toml::table* table = element.as_table();
    if (!table) {
      r.type_error(element, "each 'interim'", "a table, e.g. { status = 103 }");
      all_ok = false;
      continue;
    }
    interim_spec interim;
    interim.position = r.at(element);
    interim_reading reading{interim};
    table_place place;
    place.where = "in 'interim'";
    const key_hits hits =
        read_keys<interim_reading, interim_spec>(r, *table, interim_rows, place, reading);
    if (hits.unknown) {
      all_ok = false;
      continue;
    }
    const key_hit* status = hits.find("status");
    if (!status) {
      r.add(r.at(element),
            "an interim response needs a 'status' (100..199), e.g. { status = 103 }");
      all_ok = false;
      continue;
    }
    if (status->ok) {
      out.push_back(std::move(interim));
    } else {
      all_ok = false;
    }
  }
  return all_ok;
}

bool read_chunks(toml_reader& r, const toml::node& node, chunks_spec& out) {
  const toml::table* table = node.as_table();
  if (!table) {
    r.type_error(node, "'chunks'", "a table, e.g. { count = 10, over = \"2s\" }");
    return false;
  }
  chunks_spec chunks;
  table_place place;
  place.where = "in 'chunks'";
  const key_hits hits = read_keys<chunks_spec, chunks_spec>(r, *table, chunks_rows, place, chunks);
  if (hits.unknown) return false;
  const toml::node* count = hits.value("count");
  const toml::node* over = hits.value("over");
  if (!count || !over) {
    r.add(r.at(node), "'chunks' needs both 'count' and 'over', e.g. { count = 10, over = \"2s\" }");
    return false;
  }
  bool ok = r.read_duration(*over, "chunks.over", true, chunks.over);
  if (auto n = r.get_integer(*count, "chunks.count")) {
    if (*n < 1 || *n > max_chunk_count) {
      r.add(r.at(*count), concat("'chunks.count' must be 1..10000, not ", std::to_string(*n)));
      ok = false;
    } else {
      chunks.count = static_cast<unsigned>(*n);
    }
  } else {
    ok = false;
  }
  if (ok) out = chunks;
  return ok;
}

// Bytes per second: an integer, or a size as parse_size reads it followed by "/s".
bool read_bandwidth(toml_reader& r, const toml::node& node, std::uint64_t& out) {
  std::uint64_t bytes = 0;
  if (const auto* i = node.as_integer()) {
    if (i->get() <= 0) {
      r.add(r.at(node), concat("'bandwidth' must be more than 0 bytes per second, not ",
                               std::to_string(i->get())));
      return false;
    }
    bytes = static_cast<std::uint64_t>(i->get());
  } else if (const auto* s = node.as_string()) {
    const std::string_view text = s->get();
    std::optional<std::size_t> parsed;
    if (text.size() > 2 && text.substr(text.size() - 2) == "/s") {
      parsed = parse_size(text.substr(0, text.size() - 2));
    }
    if (!parsed) {
      r.add(r.at(node),
            concat("'bandwidth' must be a number of bytes, optionally with a unit (KB, KiB, MB, "
                   "MiB, GB, GiB), followed by \"/s\", e.g. \"64KiB/s\", not \"",
                   text, "\""));
      return false;
    }
    if (*parsed == 0) {
      r.add(r.at(node),
            concat("'bandwidth' must be more than 0 bytes per second, not \"", text, "\""));
      return false;
    }
    bytes = *parsed;
  } else {
    r.type_error(node, "'bandwidth'",
                 "a size per second, e.g. \"64KiB/s\", or an integer (bytes per second)");
    return false;
  }
  out = bytes;
  return true;
}

bool read_repeat(toml_reader& r, const toml::node& node, unsigned& out) {
  auto n = r.get_integer(node, "repeat");
  if (!n) return false;
  if (*n < 1 || *n > std::numeric_limits<unsigned>::max()) {
    r.add(r.at(node),
          concat("'repeat' must be 1..", std::to_string(std::numeric_limits<unsigned>::max()),
                 ", not ", std::to_string(*n)));
    return false;
  }
  out = static_cast<unsigned>(*n);
  return true;
}

json::value delay_json(const delay_spec& delay) {
  switch (delay.type) {
    case delay_spec::kind::fixed:
      return json::value(duration_text(delay.fixed));
    case delay_spec::kind::uniform:
      return json::object{{"min", duration_text(delay.min)}, {"max", duration_text(delay.max)}};
    case delay_spec::kind::lognormal:
      return json::object{{"median", duration_text(delay.median)}, {"sigma", delay.sigma}};
    case delay_spec::kind::none:
      break;
  }
  return nullptr;
}

json::value interims_json(const std::vector<interim_spec>& interims) {
  json::array array;
  for (const interim_spec& interim : interims) {
    json::object o;
    write_keys<interim_reading, interim_spec>(interim_rows, interim, o, json_writing{});
    array.push_back(std::move(o));
  }
  return array;
}

json::value chunks_json(const chunks_spec& chunks) {
  return json::object{{"count", chunks.count}, {"over", duration_text(chunks.over)}};
}

table_doc delay_doc() {
  return describe(delay_rows);
}

table_doc interim_doc() {
  return describe(interim_rows);
}

table_doc chunks_doc() {
  return describe(chunks_rows);
}

}  // namespace stubborn

// Server-Sent Events of a reply (the text/event-stream format of the HTML standard, section
// 9.2 "Server-sent events"). Each event writes only the fields it sets; the checks here keep a
// field from breaking the stream's lines: an event stream ends a line at CR, LF or CRLF.
#include "config/events_section.hpp"

#include <array>
#include <string_view>

#include <boost/json.hpp>

#include "config/route_json.hpp"
#include "config/toml_reading.hpp"

namespace stubborn {
namespace {

namespace json = boost::json;

// A CR not followed by LF: the stream format would end the line there, where the author meant
// none (CRLF is read as one line break, like LF).
bool has_lone_cr(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n')) return true;
  }
  return false;
}

// event and id are single lines: no CR, LF or NUL (a NUL makes a client ignore an id).
bool read_line_field(toml_reader& r, const toml::node& v, event_reading& reading,
                     std::string_view key, std::optional<std::string>& out) {
  const std::string& s = v.as_string()->get();
  if (s.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
    r.add(r.at(v), concat(in_quotes(key),
                          " must be one line without CR, LF or NUL: the event stream format "
                          "ends a field at CR or LF, and a client ignores an id with a NUL"));
    return false;
  }
  if (reading.params && !r.check_template(v, s, *reading.params, concat("event ", in_quotes(key))))
    return false;
  out = s;
  return true;
}

constexpr std::array<event_row, 5> rows = {{
    {"data", string_kind, "a string", "", "the event's data, a template; each line a 'data:' line",
     [](toml_reader& r, const toml::node& v, event_reading& reading) {
       const std::string& s = v.as_string()->get();
       if (has_lone_cr(s) || s.find('\0') != std::string::npos) {
         r.add(r.at(v),
               "'data' must not contain NUL or a CR without LF: lines are split at LF (or CRLF) "
               "into 'data:' lines, and the event stream format would end a line at a lone CR");
         return false;
       }
       if (reading.params && !r.check_template(v, s, *reading.params, "event 'data'")) return false;
       reading.event.data = s;
       return true;
     },
     [](const sse_event_spec& s, json::object& o, const json_writing&) {
       if (s.data) o["data"] = *s.data;
     }},
    {"event", string_kind, "a string", "", "the event type, a template ('message' when unset)",
     [](toml_reader& r, const toml::node& v, event_reading& reading) {
       return read_line_field(r, v, reading, "event", reading.event.event);
     },
     [](const sse_event_spec& s, json::object& o, const json_writing&) {
       if (s.event) o["event"] = *s.event;
     }},
    {"id", string_kind, "a string", "", "the event ID, a template; Last-Event-ID resumes after it",
     [](toml_reader& r, const toml::node& v, event_reading& reading) {
       return read_line_field(r, v, reading, "id", reading.event.id);
     },
     [](const sse_event_spec& s, json::object& o, const json_writing&) {
       if (s.id) o["id"] = *s.id;
     }},
    {"retry", string_kind, "a duration string with a unit, e.g. \"10s\"", "",
     "the client's reconnection time, written in milliseconds",
     [](toml_reader& r, const toml::node& v, event_reading& reading) {
       std::chrono::milliseconds retry{0};
       if (!r.read_duration(v, "retry", true, retry)) return false;
       reading.event.retry = retry;
       return true;
     },
     [](const sse_event_spec& s, json::object& o, const json_writing&) {
       if (s.retry) o["retry"] = duration_text(*s.retry);
     }},
    {"delay", string_kind, "a duration string with a unit, e.g. \"10s\"", "\"0s\"",
     "wait this long after the previous event (the first: after the head)",
     [](toml_reader& r, const toml::node& v, event_reading& reading) {
       return r.read_duration(v, "delay", true, reading.event.delay);
     },
     [](const sse_event_spec& s, json::object& o, const json_writing&) {
       if (s.delay.count()) o["delay"] = duration_text(s.delay);
     }},
}};
static_assert(all_written(rows), "every event key is written to JSON");

}  // namespace

std::span<const event_row> event_keys() {
  return rows;
}

std::span<const std::string_view> stream_end_names() {
  return stream_end_texts;
}

bool read_events(toml_reader& r, const toml::node& node,
                 const std::optional<std::vector<std::string>>& params,
                 std::vector<sse_event_spec>& out) {
  const toml::array* array = node.as_array();
  if (!array) {
    r.type_error(node, "'events'", "an array of tables, e.g. [ { data = \"hello\" } ]");
    return false;
  }
  if (array->empty()) {
    r.add(r.at(node), "'events' must not be empty: write at least one { data = \"...\" }");
    return false;
  }
  bool all_ok = true;
  for (const toml::node& element : *array) {
    const toml::table* table = element.as_table();
    if (!table) {
      r.type_error(element, "each 'events'", "a table, e.g. { data = \"hello\" }");
      all_ok = false;
      continue;
    }
    sse_event_spec event;
    event.position = r.at(element);
    event_reading reading{event, params};
    table_place place;
    place.where = "in an event";
    const key_hits hits = read_keys<event_reading, sse_event_spec>(r, *table, rows, place, reading);
    if (hits.unknown || !hits.all_ok) {
      all_ok = false;
      continue;
    }
    if (!event.data && !event.event && !event.id && !event.retry) {
      r.add(r.at(element),
            "an event needs at least one of 'data', 'event', 'id' or 'retry', e.g. "
            "{ data = \"hello\" }");
      all_ok = false;
      continue;
    }
    out.push_back(std::move(event));
  }
  return all_ok;
}

json::value events_json(const std::vector<sse_event_spec>& events) {
  json::array array;
  for (const sse_event_spec& event : events) {
    json::object o;
    write_keys<event_reading, sse_event_spec>(rows, event, o, {});
    array.push_back(std::move(o));
  }
  return array;
}

}  // namespace stubborn

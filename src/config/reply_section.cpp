// A reply ([route.reply], [[route.replies]]) and the route keys that choose replies and their
// timing (reply, replies, then, continue_delay, expect). Adding a reply key: a field in
// reply_spec (include/stubborn/config.hpp) and one row in `rows`, e.g.
//   {"trailer", table_kind, "a table", "", "trailer fields after a chunked body",
//    [](toml_reader& r, const toml::node& v, reply_reading& reading) {
//      return read_reply_headers(r, v, reading.params, reading.reply.trailer);
//    },
//    [](const reply_spec& s, json::object& o, const json_writing&) {
//      if (!s.trailer.empty()) o["trailer"] = pairs_json(s.trailer);
//    }},
#include "config/reply_section.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include <boost/json.hpp>

#include "config/events_section.hpp"
#include "config/reply_timing.hpp"
#include "config/route_json.hpp"
#include "config/route_reading.hpp"
#include "config/toml_reading.hpp"
#include "respond/reply_plan.hpp"

namespace stubborn {
namespace {

namespace json = boost::json;

constexpr std::array<fault_kind, 6> fault_kinds = {
    fault_kind::reset,    fault_kind::close,   fault_kind::empty,
    fault_kind::truncate, fault_kind::garbage, fault_kind::malformed_chunk};
constexpr std::array<std::string_view, 2> then_names = {"repeat-last", "cycle"};
constexpr std::array<std::string_view, 2> expect_names = {"continue", "reject"};
// The server frames every message and manages connections itself; a route must not interfere.
constexpr std::array<std::string_view, 3> server_owned_headers = {
    "Content-Length", "Transfer-Encoding", "Connection"};

// RFC 9110 §15.3.5, §15.3.6, §15.4.5: these statuses never carry content.
const char* no_content_section(int status) {
  return status == 204 ? "15.3.5" : status == 205 ? "15.3.6" : status == 304 ? "15.4.5" : nullptr;
}

// redirect = { to = "/new/{{path.id}}", status = 308 }
struct redirect_reading {
  redirect_spec& redirect;
  const std::optional<std::vector<std::string>>& params;
};
using redirect_row = key_row<redirect_reading, redirect_spec>;

constexpr std::array<redirect_row, 2> redirect_rows = {{
    {"to", string_kind, "a string", "", "the Location, a template like header values",
     [](toml_reader& r, const toml::node& v, redirect_reading& reading) {
       const std::string& s = v.as_string()->get();
       if (s.empty() || has_control(s)) {
         r.add(r.at(v), "'to' must be a non-empty string without control characters");
         return false;
       }
       if (reading.params && !r.check_template(v, s, *reading.params, "'to'")) return false;
       reading.redirect.to = s;
       return true;
     },
     [](const redirect_spec& s, json::object& o, const json_writing&) { o["to"] = s.to; }},
    {"status", integer_kind, "an integer", "302", "301, 302, 303, 307 or 308",
     [](toml_reader& r, const toml::node& v, redirect_reading& reading) {
       const std::int64_t n = v.as_integer()->get();
       if (n != 301 && n != 302 && n != 303 && n != 307 && n != 308) {
         r.add(r.at(v), concat("a redirect status must be 301, 302, 303, 307 or 308, not ",
                               std::to_string(n)));
         return false;
       }
       reading.redirect.status = static_cast<int>(n);
       return true;
     },
     [](const redirect_spec& s, json::object& o, const json_writing&) { o["status"] = s.status; }},
}};

std::optional<redirect_spec> read_redirect(toml_reader& r, const toml::node& node,
                                           const std::optional<std::vector<std::string>>& params) {
  redirect_spec redirect;
  redirect.position = r.at(node);
  redirect_reading reading{redirect, params};
  table_place place;
  place.where = "in 'redirect'";
  const key_hits hits = read_keys<redirect_reading, redirect_spec>(r, *node.as_table(),
                                                                   redirect_rows, place, reading);
  bool ok = hits.all_ok && !hits.unknown;
  if (!hits.value("to")) {
    r.add(r.at(node), "a redirect needs 'to': the Location, e.g. { to = \"/new\" }");
    ok = false;
  }
  if (!ok) return std::nullopt;
  return redirect;
}

// A redirect owns the status and the Location; any other 3xx must bring its own Location.
void check_redirect(toml_reader& r, const toml::table& table, const toml::node* status,
                    const toml::node* redirect, bool status_ok, const reply_spec& reply) {
  const bool has_location =
      std::any_of(reply.headers.begin(), reply.headers.end(),
                  [](const name_value& h) { return iequal(h.name, "Location"); });
  if (redirect) {
    if (status) {
      r.add(r.at(*status),
            "a reply with 'redirect' takes its status from 'redirect.status'; leave 'status' out");
    }
    if (has_location) {
      r.add(r.at(*redirect), "a reply has 'redirect' or a 'Location' header, not both");
    }
    return;
  }
  // RFC 9110 §15.4: a redirect names its target in Location (304 is not a redirect).
  if (status_ok && reply.status >= 300 && reply.status <= 399 && reply.status != 304 &&
      !has_location) {
    r.add(status ? r.at(*status) : r.at(table),
          concat("a ", std::to_string(reply.status),
                 " reply needs a Location: add headers = { Location = \"...\" } or redirect = "
                 "{ to = \"...\" }"));
  }
}

// The strings of a `json` reply are templates: each is checked where it is written (object keys
// stay literal).
void check_json_templates(toml_reader& r, const toml::node& node,
                          const std::vector<std::string>& params) {
  if (const auto* s = node.as_string()) {
    if (s->get().find("{{") != std::string::npos) {
      r.check_template(node, s->get(), params, "a 'json' string");
    }
  } else if (const auto* table = node.as_table()) {
    for (const auto& [key, value] : *table) check_json_templates(r, value, params);
  } else if (const auto* array = node.as_array()) {
    for (const auto& element : *array) check_json_templates(r, element, params);
  }
}

// body, body_file or json: the first one written (the others are reported by the caller).
void read_body(toml_reader& r, std::string_view kind, const toml::node& value,
               const std::optional<std::vector<std::string>>& params, reply_spec& reply) {
  if (kind == "body") {
    const std::string* s = r.get_string(value, "body");
    if (!s) return;
    if (params) r.check_template(value, *s, *params, "'body'");
    reply.body = *s;
    reply.source = body_source::inline_text;
  } else if (kind == "body_file") {
    const std::string* s = r.get_string(value, "body_file");
    if (!s) return;
    reply.body_file = *s;
    if (r.read_body_file(value, *s, reply.body)) reply.source = body_source::file;
  } else {
    auto text = r.to_json_text(value);
    if (!text) return;
    if (params) check_json_templates(r, value, *params);
    reply.body = std::move(*text);
    reply.source = body_source::json;
  }
}

// events: the body is the stream, so no other body, no chunks (each event is its own chunk) and
// no hang; then and heartbeat say what follows the last event.
void check_events(toml_reader& r, const key_hits& hits,
                  const std::vector<std::pair<std::string_view, const toml::node*>>& bodies,
                  const char* no_content, const reply_spec& reply) {
  const toml::node* events = hits.value("events");
  const toml::node* then = hits.value("then");
  const toml::node* heartbeat = hits.value("heartbeat");
  if (!events) {
    if (then) {
      r.add(r.at(*then),
            "'then' in a reply is for 'events': it says whether the stream ends or is held "
            "after the last event");
    }
    if (heartbeat) {
      r.add(r.at(*heartbeat), "'heartbeat' is for 'events' with then = \"hold\"");
    }
    return;
  }
  for (const auto& [what, value] : bodies) {
    r.add(r.at(*value), concat("a reply has 'events' or ", in_quotes(what),
                               ", not both: the events are the body"));
  }
  if (const toml::node* chunks = hits.value("chunks")) {
    r.add(r.at(*chunks),
          "'chunks' does not apply to 'events': each event is sent as it is due, in a chunk of "
          "its own (pace the bytes with 'bandwidth', the events with their 'delay')");
  }
  if (const toml::node* hang = hits.value("hang"); hang && reply.hang) {
    r.add(r.at(*hang), "a reply has 'hang' or 'events', not both");
  }
  if (no_content) {
    r.add(r.at(*events),
          concat("a ", std::to_string(reply.status),
                 " reply cannot have a body, so no 'events' (RFC 9110 §", no_content, ")"));
  }
  if (heartbeat && reply.then != stream_end::hold && (!then || hits.find("then")->ok)) {
    r.add(r.at(*heartbeat),
          "'heartbeat' is sent only while a stream is held: add then = \"hold\" (the stream "
          "ends after its last event with then = \"close\", the default)");
  }
}

constexpr std::string_view duration_type = "a duration string with a unit, e.g. \"10s\"";

constexpr std::array<reply_row, 18> rows = {{
    {"status", integer_kind, "an integer", "200", "the final status, 200..999",
     [](toml_reader& r, const toml::node& v, reply_reading& reading) {
       return r.read_status(v, reading.reply.status);
     },
     [](const reply_spec& s, json::object& o, const json_writing&) {
       // A redirect's status is its own 'status'; the reply's may not be written beside it.
       if (!s.redirect) o["status"] = s.status;
     }},
    {"reason", string_kind, "a string", "\"\"", "the reason phrase; \"\" = the registered one",
     [](toml_reader& r, const toml::node& v, reply_reading& reading) {
       const std::string& s = v.as_string()->get();
       if (has_control(s)) {
         r.add(r.at(v), "'reason' must not contain CR, LF, NUL or other control characters");
         return false;
       }
       reading.reply.reason = s;
       return true;
     },
     [](const reply_spec& s, json::object& o, const json_writing&) {
       if (!s.reason.empty()) o["reason"] = s.reason;
     }},
    {"headers", table_kind, "a table, e.g. { \"Content-Type\" = \"text/plain\" }", "",
     "reply headers; values are templates",
     [](toml_reader& r, const toml::node& v, reply_reading& reading) {
       return read_reply_headers(r, v, reading.params, reading.reply.headers);
     },
     [](const reply_spec& s, json::object& o, const json_writing&) {
       if (!s.headers.empty()) o["headers"] = pairs_json(s.headers);
     },
     key_shape{.values = scalar_text_kinds}},
    {"body", any_kind, "a string", "", "the body, a template", nullptr,
     [](const reply_spec& s, json::object& o, const json_writing&) {
       if (s.source == body_source::inline_text) o["body"] = s.body;
     },
     key_shape{.kinds = string_kind}},
    {"body_file", any_kind, "a string", "", "the body from a file beside the config", nullptr,
     [](const reply_spec& s, json::object& o, const json_writing&) {
       if (s.source == body_source::file) o["body_file"] = s.body_file;
     },
     key_shape{.kinds = string_kind}},
    {"json", any_kind, "any TOML value", "", "the body as JSON (Content-Type application/json)",
     nullptr,
     [](const reply_spec& s, json::object& o, const json_writing&) {
       if (s.source != body_source::json) return;
       json::error_code ec;
       json::value parsed = json::parse(s.body, ec);
       o["json"] = ec ? json::value(s.body) : parsed;
     }},
    {"delay", string_kind | table_kind, delay_forms, "", "wait before replying",
     [](toml_reader& r, const toml::node& v, reply_reading& reading) {
       return read_delay(r, v, reading.reply.delay);
     },
     [](const reply_spec& s, json::object& o, const json_writing&) {
       if (s.delay.type != delay_spec::kind::none) o["delay"] = delay_json(s.delay);
     },
     key_shape{.table = delay_doc}},
    {"hang", boolean_kind, "a boolean (true or false)", "false",
     "never reply (until [server] max_hang)",
     [](toml_reader&, const toml::node& v, reply_reading& reading) {
       reading.reply.hang = v.as_boolean()->get();
       return true;
     },
     [](const reply_spec& s, json::object& o, const json_writing&) {
       if (s.hang) o["hang"] = true;
     }},
    {"interim", array_kind, "an array of tables, e.g. [ { status = 103 } ]", "",
     "1xx responses sent before the final one",
     [](toml_reader& r, const toml::node& v, reply_reading& reading) {
       return read_interims(r, v, reading.reply.interim);
     },
     [](const reply_spec& s, json::object& o, const json_writing&) {
       if (!s.interim.empty()) o["interim"] = interims_json(s.interim);
     },
     key_shape{.table = interim_doc}},
    {"processing_every", string_kind, duration_type, "",
     "send 102 Processing this often while the reply is delayed",
     [](toml_reader& r, const toml::node& v, reply_reading& reading) {
       return r.read_duration(v, "processing_every", false, reading.reply.processing_every);
     },
     [](const reply_spec& s, json::object& o, const json_writing&) {
       if (s.processing_every.count()) o["processing_every"] = duration_text(s.processing_every);
     }},
    {"fault", string_kind,
     "one of \"reset\", \"close\", \"empty\", \"truncate\", \"garbage\" or \"malformed-chunk\"", "",
     "a broken reply instead of this one",
     [](toml_reader& r, const toml::node& v, reply_reading& reading) {
       const auto index = r.get_choice(v, "fault", fault_texts);
       if (index) reading.reply.fault = fault_kinds[*index];
       return index.has_value();
     },
     [](const reply_spec& s, json::object& o, const json_writing&) {
       if (s.fault != fault_kind::none) o["fault"] = fault_name(s.fault);
     },
     key_shape{.choices = fault_texts}},
    {"chunks", table_kind, "a table, e.g. { count = 10, over = \"2s\" }", "",
     "send the body chunked, in `count` chunks spread over `over`",
     [](toml_reader& r, const toml::node& v, reply_reading& reading) {
       return read_chunks(r, v, reading.reply.chunks);
     },
     [](const reply_spec& s, json::object& o, const json_writing&) {
       if (s.chunks.count) o["chunks"] = chunks_json(s.chunks);
     },
     key_shape{.table = chunks_doc}},
    {"bandwidth", integer_kind | string_kind,
     "a size per second, e.g. \"64KiB/s\", or an integer (bytes per second)", "",
     "send the body at this many bytes per second",
     [](toml_reader& r, const toml::node& v, reply_reading& reading) {
       return read_bandwidth(r, v, reading.reply.bandwidth);
     },
     [](const reply_spec& s, json::object& o, const json_writing&) {
       if (s.bandwidth) o["bandwidth"] = s.bandwidth;
     }},
    {"repeat", integer_kind, "an integer", "1",
     "in [[route.replies]]: this reply answers this many requests in a row",
     [](toml_reader& r, const toml::node& v, reply_reading& reading) {
       return read_repeat(r, v, reading.reply.repeat);
     },
     [](const reply_spec& s, json::object& o, const json_writing&) {
       if (s.repeat != 1) o["repeat"] = s.repeat;
     }},
    {"redirect", table_kind, "a table, e.g. { to = \"/new\", status = 308 }", "",
     "a redirect: sets the status and the Location header",
     [](toml_reader& r, const toml::node& v, reply_reading& reading) {
       reading.reply.redirect = read_redirect(r, v, reading.params);
       return reading.reply.redirect.has_value();
     },
     [](const reply_spec& s, json::object& o, const json_writing& how) {
       if (!s.redirect) return;
       json::object redirect;
       write_keys<redirect_reading, redirect_spec>(redirect_rows, *s.redirect, redirect, how);
       o["redirect"] = std::move(redirect);
     },
     key_shape{.table = [] { return describe(redirect_rows); }}},
    {"events", array_kind, "an array of tables, e.g. [ { data = \"hello\" } ]", "",
     "Server-Sent Events: the body is a text/event-stream of these, each sent when due",
     [](toml_reader& r, const toml::node& v, reply_reading& reading) {
       return read_events(r, v, reading.params, reading.reply.events);
     },
     [](const reply_spec& s, json::object& o, const json_writing&) {
       if (!s.events.empty()) o["events"] = events_json(s.events);
     },
     key_shape{.table = [] { return describe(event_keys()); }}},
    {"then", string_kind, "\"close\" or \"hold\"", "\"close\"",
     "after the last event: end the stream, or hold it open (with heartbeats)",
     [](toml_reader& r, const toml::node& v, reply_reading& reading) {
       const auto index = r.get_choice(v, "then", stream_end_names());
       if (index) reading.reply.then = *index == 0 ? stream_end::close : stream_end::hold;
       return index.has_value();
     },
     [](const reply_spec& s, json::object& o, const json_writing&) {
       if (s.then == stream_end::hold) o["then"] = stream_end_names()[1];
     },
     key_shape{.choices = stream_end_texts}},
    {"heartbeat", string_kind, duration_type, "\"0s\"",
     "while holding an event stream: a ': keep-alive' comment this often (0s = none)",
     [](toml_reader& r, const toml::node& v, reply_reading& reading) {
       return r.read_duration(v, "heartbeat", true, reading.reply.heartbeat);
     },
     [](const reply_spec& s, json::object& o, const json_writing&) {
       if (s.heartbeat.count()) o["heartbeat"] = duration_text(s.heartbeat);
     }},
}};
static_assert(all_written(rows), "every reply key is written to JSON");

// RFC 9110 §10.1.1: with expect = "reject" no 100 Continue is sent, so none can be delayed.
constexpr std::array<route_row, 5> route_rows = {{
    {"reply", any_kind, "a table, written [route.reply]", "{ status = 200 }",
     "the reply, the same for every request", nullptr,
     [](const route_spec& r, json::object& o, const json_writing& how) {
       // A proxy route relays its upstream's reply and has none of its own.
       if (r.replies.empty() && !r.proxy && !r.websocket) o["reply"] = reply_to_json(r.reply, how);
     },
     key_shape{.kinds = table_kind,
               .table = [] { return describe(reply_keys()).without("repeat"); }}},
    {"replies", any_kind, "an array of tables, written [[route.replies]]", "",
     "a sequence of replies, one per request", nullptr,
     [](const route_spec& r, json::object& o, const json_writing& how) {
       if (r.replies.empty()) return;
       json::array replies;
       for (const reply_spec& reply : r.replies) replies.push_back(reply_to_json(reply, how));
       o["replies"] = std::move(replies);
     },
     key_shape{.kinds = array_kind, .table = [] { return describe(reply_keys()); }}},
    {"then", string_kind, "\"repeat-last\" or \"cycle\"", "\"repeat-last\"",
     "after the last of [[route.replies]]: repeat it, or start again",
     [](toml_reader& r, const toml::node& v, route_reading& reading) {
       const auto index = r.get_choice(v, "then", then_names);
       if (!index) return false;
       reading.route.then = *index == 0 ? sequence_end::repeat_last : sequence_end::cycle;
       return true;
     },
     [](const route_spec& r, json::object& o, const json_writing&) {
       if (!r.replies.empty()) o["then"] = then_names[r.then == sequence_end::cycle ? 1 : 0];
     },
     key_shape{.choices = then_names}},
    {"continue_delay", string_kind, duration_type, "\"0s\"", "hold the 100 Continue back this long",
     [](toml_reader& r, const toml::node& v, route_reading& reading) {
       return r.read_duration(v, "continue_delay", true, reading.route.continue_delay);
     },
     [](const route_spec& r, json::object& o, const json_writing&) {
       if (r.continue_delay.count()) o["continue_delay"] = duration_text(r.continue_delay);
     }},
    {"expect", string_kind, "\"continue\" or \"reject\"", "\"continue\"",
     "Expect: 100-continue is answered with 100 Continue, or refused with 417",
     [](toml_reader& r, const toml::node& v, route_reading& reading) {
       const auto index = r.get_choice(v, "expect", expect_names);
       if (index) {
         reading.route.expect = *index == 0 ? expect_mode::send_continue : expect_mode::reject;
       }
       return index.has_value();
     },
     [](const route_spec& r, json::object& o, const json_writing&) {
       if (r.expect == expect_mode::reject) o["expect"] = expect_names[1];
     },
     key_shape{.choices = expect_names}},
}};
static_assert(all_written(route_rows), "every route key is written to JSON");

void read_replies(toml_reader& r, const toml::node& node,
                  const std::optional<std::vector<std::string>>& params,
                  std::vector<reply_spec>& out) {
  const toml::array* array = node.as_array();
  if (!array) {
    r.type_error(node, "'replies'", "an array of tables, written [[route.replies]]");
    return;
  }
  if (array->empty()) {
    r.add(r.at(node), "'replies' must not be empty: write one [[route.replies]] table per reply");
    return;
  }
  for (const toml::node& element : *array) {
    reply_spec reply;
    reply.position = r.at(element);
    read_reply(r, element, params, true, reply);
    out.push_back(std::move(reply));
  }
}

}  // namespace

std::span<const reply_row> reply_keys() {
  return rows;
}

std::span<const route_row> reply_route_keys() {
  return route_rows;
}

std::span<const std::string_view> fault_names() {
  return fault_texts;
}

fault_kind fault_at(std::size_t index) {
  return fault_kinds[index];
}

void read_reply(toml_reader& r, const toml::node& node,
                const std::optional<std::vector<std::string>>& params, bool in_sequence,
                reply_spec& reply) {
  const toml::table* table = node.as_table();
  if (!table) {
    if (in_sequence) {
      r.type_error(node, "each 'replies'", "a table");
    } else {
      r.type_error(node, "'reply'", "a table, written [route.reply]");
    }
    return;
  }
  reply.position = r.at(node);
  reply_reading reading{reply, params, in_sequence};
  table_place place;
  place.where = in_sequence ? "in [[route.replies]]" : "in [route.reply]";
  if (!in_sequence) {
    place.misplaced = "repeat";
    place.misplaced_message =
        "'repeat' belongs in [[route.replies]], a sequence of replies; [route.reply] is used for "
        "every request";
  }
  const key_hits hits = read_keys<reply_reading, reply_spec>(r, *table, rows, place, reading);

  const key_hit* status = hits.find("status");
  const bool status_ok = !status || status->ok;
  const toml::node* processing_every = hits.value("processing_every");
  if (processing_every && !hits.value("delay")) {
    r.add(r.at(*processing_every),
          "'processing_every' needs a 'delay': 102 Processing is sent only while a reply is "
          "delayed");
  }
  check_redirect(r, *table, status ? status->value : nullptr, hits.value("redirect"), status_ok,
                 reply);
  std::vector<std::pair<std::string_view, const toml::node*>> pacing;
  std::vector<std::pair<std::string_view, const toml::node*>> bodies;
  for (const key_hit& hit : hits.found) {
    if (hit.name == "chunks" || hit.name == "bandwidth") pacing.emplace_back(hit.name, hit.value);
    if (hit.name == "body" || hit.name == "body_file" || hit.name == "json") {
      bodies.emplace_back(hit.name, hit.value);
    }
  }
  if (pacing.size() == 2) {
    // The body goes out as timed chunks or as a throttled stream; the server does not mix them.
    const std::size_t later = r.before(*pacing[0].second, *pacing[1].second) ? 1 : 0;
    r.add(r.at(*pacing[later].second), "a reply has 'chunks' or 'bandwidth', not both");
  }
  const char* no_content = status_ok ? no_content_section(reply.status) : nullptr;
  check_events(r, hits, bodies, no_content, reply);
  if (hits.value("events")) return;  // a body beside them was reported: it is not read
  if (no_content) {
    for (const auto& [what, value] : pacing) {
      r.add(r.at(*value),
            concat(in_quotes(what), " paces a body, and a ", std::to_string(reply.status),
                   " reply cannot have one (RFC 9110 §", no_content, ")"));
    }
  }
  if (bodies.empty()) return;

  std::sort(bodies.begin(), bodies.end(),
            [&](const auto& a, const auto& b) { return r.before(*a.second, *b.second); });
  for (std::size_t i = 1; i < bodies.size(); ++i) {
    r.add(r.at(*bodies[i].second),
          concat("a reply has at most one of 'body', 'body_file' and 'json', not both '",
                 bodies[0].first, "' and '", bodies[i].first, "'"));
  }
  const auto& [kind, value] = bodies[0];
  reply.body_position = r.at(*value);
  if (no_content) {
    r.add(r.at(*value), concat("a ", std::to_string(reply.status),
                               " reply cannot have a body (RFC 9110 §", no_content, ")"));
    return;
  }
  if (bodies.size() > 1) return;
  read_body(r, kind, *value, params, reply);
}

bool read_reply_headers(toml_reader& r, const toml::node& node,
                        const std::optional<std::vector<std::string>>& params,
                        std::vector<name_value>& out) {
  const toml::table* table = node.as_table();
  if (!table) {
    r.type_error(node, "'headers'", "a table, e.g. { \"Content-Type\" = \"text/plain\" }");
    return false;
  }
  bool ok = true;
  for (auto&& [key, value] : *table) {
    const std::string name(key.str());
    if (!is_token(name)) {
      r.add(r.at(key), concat("header name ", in_quotes(name),
                              " is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)"));
      ok = false;
      continue;
    }
    const auto owned = std::find_if(server_owned_headers.begin(), server_owned_headers.end(),
                                    [&](std::string_view h) { return iequal(h, name); });
    if (owned != server_owned_headers.end()) {
      r.add(r.at(key),
            concat("header ", in_quotes(name), " is set by the server and cannot be configured"));
      ok = false;
      continue;
    }
    auto text = r.scalar_text(value, concat("header ", in_quotes(name)));
    if (!text) {
      ok = false;
      continue;
    }
    if (has_control(*text)) {
      r.add(r.at(value), concat("header ", in_quotes(name),
                                " must not contain CR, LF, NUL or other control characters"));
      ok = false;
      continue;
    }
    if (params && !r.check_template(value, *text, *params, concat("header ", in_quotes(name)))) {
      ok = false;
      continue;
    }
    out.push_back({name, std::move(*text), r.at(key)});
  }
  return ok;
}

void read_route_replies(toml_reader& r, const key_hits& hits,
                        const std::optional<std::vector<std::string>>& params,
                        route_reading& reading) {
  route_spec& route = reading.route;
  const toml::node* reply = hits.value("reply");
  const toml::node* replies = hits.value("replies");
  route.reply.position = route.position;
  if (reply && replies) {
    const toml::node& later = r.before(*reply, *replies) ? *replies : *reply;
    r.add(r.at(later), "a route has [route.reply] or [[route.replies]], not both");
  }
  if (reply) read_reply(r, *reply, params, false, route.reply);
  if (replies) read_replies(r, *replies, params, route.replies);
  if (const toml::node* then = hits.value("then"); then && !replies) {
    r.add(r.at(*then),
          "'then' is only for [[route.replies]]: it says what comes after the last reply");
  }
  // RFC 9110 §10.1.1: a refusal is the final reply, so there is no 100 Continue to hold back.
  const key_hit* continue_delay = hits.find("continue_delay");
  if (continue_delay && continue_delay->ok && route.expect == expect_mode::reject) {
    r.add(r.at(*continue_delay->value),
          "'continue_delay' does nothing with expect = \"reject\": no 100 Continue is sent");
  }
}

}  // namespace stubborn

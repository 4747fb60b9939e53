// [route.websocket]: the script a route plays after accepting a WebSocket upgrade (RFC 6455):
// its steps (send, send_binary, ping, close or only a fault, each with a delay), the periodic
// step, the close that ends it, the answers to the client's messages, and the limits. Adding a
// key: a field in websocket_spec (include/stubborn/config.hpp), what the handler does with it
// (src/protocols/websocket), and one row below.
#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include <boost/json.hpp>

#include "config/reply_timing.hpp"
#include "config/route_json.hpp"
#include "config/route_reading.hpp"
#include "config/toml_reading.hpp"
#include "text/base64.hpp"
#include "text/utf8.hpp"

namespace stubborn {
namespace {

namespace json = boost::json;

constexpr std::string_view duration_type = "a duration string with a unit, e.g. \"10s\"";
constexpr std::string_view steps_type = "an array of step tables, e.g. [ { send = \"hi\" } ]";
constexpr std::array<std::string_view, 4> fault_choices = {"drop", "reset", "garbage",
                                                           "no-close-reply"};
// RFC 6455 §5.5: a control frame carries at most 125 bytes; a close frame's first two are its
// code.
constexpr std::size_t max_ping_bytes = 125;
constexpr std::size_t max_close_reason_bytes = 123;

websocket_fault fault_of(std::size_t index) {
  return static_cast<websocket_fault>(index + 1);
}

std::string_view fault_text(websocket_fault fault) {
  return fault_choices[static_cast<std::size_t>(fault) - 1];
}

// RFC 6455 §7.4: the codes an endpoint may send in a close frame (1004-1006 and 1015 are
// reserved for reports that no close frame came; 1012-1014 are registered with IANA).
bool sendable_close_code(std::int64_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

bool read_close_code(toml_reader& r, const toml::node& node, std::string_view key, int& out) {
  const auto code = r.get_integer(node, key);
  if (!code) return false;
  if (!sendable_close_code(*code)) {
    r.add(r.at(node), concat(in_quotes(key),
                             " must be a close code an endpoint may send (RFC 6455 §7.4): "
                             "1000-1003, 1007-1014 or 3000-4999, not ",
                             std::to_string(*code)));
    return false;
  }
  out = static_cast<int>(*code);
  return true;
}

bool read_close_reason(toml_reader& r, const toml::node& node, std::string_view key,
                       std::string& out) {
  const std::string& text = node.as_string()->get();
  if (text.size() > max_close_reason_bytes) {
    r.add(r.at(node), concat(in_quotes(key),
                             " is at most 123 bytes (a close frame's payload, RFC 6455 §5.5), "
                             "not ",
                             std::to_string(text.size())));
    return false;
  }
  if (!is_valid_utf8(text)) {
    r.add(r.at(node), concat(in_quotes(key), " must be UTF-8 (RFC 6455 §5.5.1)"));
    return false;
  }
  out = text;
  return true;
}

// ---- close = { code, reason } ----

using close_row = key_row<websocket_step, websocket_step>;
constexpr std::array<close_row, 2> close_rows = {{
    {"code", integer_kind, "an integer", "1000", "the close code (RFC 6455 §7.4)",
     [](toml_reader& r, const toml::node& v, websocket_step& s) {
       return read_close_code(r, v, "close.code", s.close_code);
     },
     [](const websocket_step& s, json::object& o, const json_writing&) {
       o["code"] = s.close_code;
     }},
    {"reason", string_kind, "a string", "\"\"", "the close reason, at most 123 bytes of UTF-8",
     [](toml_reader& r, const toml::node& v, websocket_step& s) {
       return read_close_reason(r, v, "close.reason", s.close_reason);
     },
     [](const websocket_step& s, json::object& o, const json_writing&) {
       if (!s.close_reason.empty()) o["reason"] = s.close_reason;
     }},
}};

// ---- one step ----

struct step_reading {
  websocket_step& step;
  const std::optional<std::vector<std::string>>& params;
  std::chrono::milliseconds* interval = nullptr;  // `every`: its interval
};

using step_row = key_row<step_reading, websocket_step>;
constexpr std::array<step_row, 7> step_rows = {{
    {"send", string_kind, "a string", "",
     "a text message (a template: {{message}}, {{path.X}}, {{query.X}}...)",
     [](toml_reader& r, const toml::node& v, step_reading& s) {
       const std::string& text = v.as_string()->get();
       if (s.params && !r.check_template(v, text, *s.params, "'send'", true)) return false;
       s.step.type = websocket_step::kind::send;
       s.step.payload = text;
       return true;
     },
     [](const websocket_step& s, json::object& o, const json_writing&) {
       if (s.type == websocket_step::kind::send) o["send"] = s.payload;
     }},
    {"send_binary", string_kind, "a string", "", "a binary message, written in base64",
     [](toml_reader& r, const toml::node& v, step_reading& s) {
       std::string bytes;
       if (!base64_decode(v.as_string()->get(), bytes)) {
         r.add(r.at(v), "'send_binary' must be base64 (RFC 4648, with padding), e.g. \"AAEC\"");
         return false;
       }
       s.step.type = websocket_step::kind::send_binary;
       s.step.payload = std::move(bytes);
       return true;
     },
     [](const websocket_step& s, json::object& o, const json_writing&) {
       if (s.type == websocket_step::kind::send_binary) o["send_binary"] = base64_encode(s.payload);
     }},
    {"ping", string_kind, "a string", "", "a ping with this payload (at most 125 bytes)",
     [](toml_reader& r, const toml::node& v, step_reading& s) {
       const std::string& text = v.as_string()->get();
       if (text.size() > max_ping_bytes) {
         r.add(r.at(v), concat("'ping' is at most 125 bytes (a control frame's payload, RFC 6455 "
                               "§5.5), not ",
                               std::to_string(text.size())));
         return false;
       }
       s.step.type = websocket_step::kind::ping;
       s.step.payload = text;
       return true;
     },
     [](const websocket_step& s, json::object& o, const json_writing&) {
       if (s.type == websocket_step::kind::ping) o["ping"] = s.payload;
     }},
    {"close", table_kind, "a table, e.g. { code = 1000, reason = \"bye\" }", "",
     "a close frame with this code and reason",
     [](toml_reader& r, const toml::node& v, step_reading& s) {
       table_place place;
       place.where = "in 'close'";
       place.prefix = "close.";
       const key_hits hits =
           read_keys<websocket_step, websocket_step>(r, *v.as_table(), close_rows, place, s.step);
       s.step.type = websocket_step::kind::close;
       return !hits.unknown && hits.all_ok;
     },
     [](const websocket_step& s, json::object& o, const json_writing& how) {
       if (s.type != websocket_step::kind::close) return;
       json::object close;
       write_keys<websocket_step, websocket_step>(close_rows, s, close, how);
       o["close"] = std::move(close);
     },
     key_shape{.table = [] { return describe(close_rows); }}},
    {"fault", string_kind, "one of \"drop\", \"reset\", \"garbage\" or \"no-close-reply\"", "",
     "after the step's message: FIN without a close frame, RST, bytes that are no frame, or "
     "never answer the client's close",
     [](toml_reader& r, const toml::node& v, step_reading& s) {
       const auto index = r.get_choice(v, "fault", fault_choices);
       if (index) s.step.fault = fault_of(*index);
       return index.has_value();
     },
     [](const websocket_step& s, json::object& o, const json_writing&) {
       if (s.fault != websocket_fault::none) o["fault"] = fault_text(s.fault);
     },
     key_shape{.choices = fault_choices}},
    {"delay", string_kind, duration_type, "\"0s\"", "wait this long after the previous step",
     [](toml_reader& r, const toml::node& v, step_reading& s) {
       return r.read_duration(v, "delay", true, s.step.delay);
     },
     [](const websocket_step& s, json::object& o, const json_writing&) {
       if (s.delay.count()) o["delay"] = duration_text(s.delay);
     }},
    {"interval", string_kind, duration_type, "", "`every` only: how often the step is played",
     [](toml_reader& r, const toml::node& v, step_reading& s) {
       return s.interval && r.read_duration(v, "interval", false, *s.interval);
     },
     // Written by `every`, which holds the interval.
     [](const websocket_step&, json::object&, const json_writing&) {}},
}};

constexpr std::array<std::string_view, 4> message_keys = {"send", "send_binary", "ping", "close"};

// One step table; false when it has problems.
bool read_step(toml_reader& r, const toml::node& node, std::string_view where,
               const std::optional<std::vector<std::string>>& params, websocket_step& step,
               std::chrono::milliseconds* interval = nullptr) {
  step.position = r.at(node);
  step_reading reading{step, params, interval};
  table_place place;
  place.where = where;
  if (!interval) {
    place.misplaced = "interval";
    place.misplaced_message = "'interval' is only for 'every', the step played periodically";
  }
  const std::size_t problems = r.problems().size();
  const key_hits hits =
      read_keys<step_reading, websocket_step>(r, *node.as_table(), step_rows, place, reading);
  const toml::node* message = nullptr;
  std::string_view message_key;
  for (const std::string_view key : message_keys) {
    const toml::node* value = hits.value(key);
    if (!value) continue;
    if (message) {
      const bool later = r.before(*message, *value);
      r.add(r.at(later ? *value : *message),
            concat("a step has one of 'send', 'send_binary', 'ping' or 'close', not both ",
                   in_quotes(later ? message_key : key), " and ",
                   in_quotes(later ? key : message_key)));
      break;
    }
    message = value;
    message_key = key;
  }
  if (!message) {
    if (hits.value("fault")) {
      step.type = websocket_step::kind::fault;
    } else if (!hits.unknown) {
      r.add(r.at(node), "a step needs one of 'send', 'send_binary', 'ping', 'close' or 'fault'");
    }
  }
  if (interval && !hits.value("interval")) {
    r.add(r.at(node),
          "'every' needs an 'interval', e.g. every = { send = \"tick\", interval = "
          "\"1s\" }");
  }
  return r.problems().size() == problems;
}

json::object step_json(const websocket_step& step, const json_writing& how) {
  json::object o;
  write_keys<step_reading, websocket_step>(step_rows, step, o, how);
  return o;
}

// on_open = [ ... ], reply = [ ... ]
bool read_steps(toml_reader& r, const toml::node& node, std::string_view key,
                const std::optional<std::vector<std::string>>& params,
                std::vector<websocket_step>& out) {
  bool ok = true;
  const std::string where = concat("in a step of ", in_quotes(key));
  for (const toml::node& item : *node.as_array()) {
    if (!item.is_table()) {
      r.type_error(item, concat("each step of ", in_quotes(key)),
                   "a table, e.g. { send = \"hi\" }");
      ok = false;
      continue;
    }
    websocket_step step;
    if (read_step(r, item, where, params, step)) {
      out.push_back(std::move(step));
    } else {
      ok = false;
    }
  }
  return ok;
}

json::array steps_json(const std::vector<websocket_step>& steps, const json_writing& how) {
  json::array out;
  for (const websocket_step& step : steps) out.push_back(step_json(step, how));
  return out;
}

// ---- [[route.websocket.on_message]] ----

struct answer_reading {
  websocket_answer_spec& answer;
  const std::optional<std::vector<std::string>>& params;
};

using answer_row = key_row<answer_reading, websocket_answer_spec>;
constexpr std::array<answer_row, 4> answer_rows = {{
    {"match", table_kind, "a table, e.g. { equals = \"ping\" }, or {} for any message", "{}",
     "the message contains, equals, matches (regex) or holds (json) this",
     [](toml_reader& r, const toml::node& v, answer_reading& a) {
       if (v.as_table()->empty()) return true;  // {}: any message
       return read_body_matcher(r, v, "match", "in 'match'", a.answer.match);
     },
     [](const websocket_answer_spec& a, json::object& o, const json_writing&) {
       o["match"] = a.match ? body_matcher_json(*a.match) : json::object();
     },
     key_shape{.table = body_matcher_doc}},
    {"reply", array_kind, steps_type, "", "the steps that answer a matching message",
     [](toml_reader& r, const toml::node& v, answer_reading& a) {
       return read_steps(r, v, "reply", a.params, a.answer.reply);
     },
     [](const websocket_answer_spec& a, json::object& o, const json_writing& how) {
       if (!a.echo) o["reply"] = steps_json(a.reply, how);
     },
     key_shape{.table = [] { return describe(step_rows).without("interval"); }}},
    {"echo", boolean_kind, "a boolean (true or false)", "false",
     "send the message back as it came (text or binary)",
     [](toml_reader&, const toml::node& v, answer_reading& a) {
       a.answer.echo = v.as_boolean()->get();
       return true;
     },
     [](const websocket_answer_spec& a, json::object& o, const json_writing&) {
       if (a.echo) o["echo"] = true;
     }},
    {"repeat", integer_kind, "an integer", "", "answer only this many matching messages",
     [](toml_reader& r, const toml::node& v, answer_reading& a) {
       return read_repeat(r, v, a.answer.repeat);
     },
     [](const websocket_answer_spec& a, json::object& o, const json_writing&) {
       if (a.repeat) o["repeat"] = a.repeat;
     }},
}};

static_assert(all_written(close_rows) && all_written(step_rows) && all_written(answer_rows),
              "every WebSocket key is written to JSON");

bool read_answers(toml_reader& r, const toml::node& node,
                  const std::optional<std::vector<std::string>>& params,
                  std::vector<websocket_answer_spec>& out) {
  const std::size_t problems = r.problems().size();
  for (const toml::node& item : *node.as_array()) {
    if (!item.is_table()) {
      r.type_error(item, "each 'on_message'", "a table, written [[route.websocket.on_message]]");
      continue;
    }
    websocket_answer_spec answer;
    answer.position = r.at(item);
    answer_reading reading{answer, params};
    table_place place;
    place.where = "in [[route.websocket.on_message]]";
    const key_hits hits = read_keys<answer_reading, websocket_answer_spec>(
        r, *item.as_table(), answer_rows, place, reading);
    const toml::node* reply = hits.value("reply");
    const toml::node* echo = hits.value("echo");
    if (reply && echo && answer.echo) {
      r.add(r.at(r.before(*reply, *echo) ? *echo : *reply),
            "an on_message entry has 'reply' or echo = true, not both");
    } else if (!reply && !answer.echo && !hits.unknown) {
      r.add(r.at(item), "an on_message entry needs 'reply' (steps; [] for none) or echo = true");
    }
    out.push_back(std::move(answer));
  }
  return r.problems().size() == problems;
}

// ---- [route.websocket] ----

struct websocket_reading {
  websocket_spec& spec;
  const std::optional<std::vector<std::string>>& params;
};

using websocket_row = key_row<websocket_reading, websocket_spec>;
constexpr std::array<websocket_row, 10> rows = {{
    {"subprotocols", array_kind, "an array of strings, e.g. [\"chat.v1\"]", "",
     "the subprotocols offered; the first one the client also offers is chosen",
     [](toml_reader& r, const toml::node& v, websocket_reading& w) {
       bool ok = true;
       for (const toml::node& item : *v.as_array()) {
         const std::string* name = item.is_string() ? &item.as_string()->get() : nullptr;
         if (!name) {
           r.type_error(item, "each 'subprotocols'", "a string");
           ok = false;
         } else if (!is_token(*name)) {
           // RFC 6455 §4.3: a subprotocol is a token.
           r.add(r.at(item), concat("subprotocol ", in_quotes(*name),
                                    " is not an HTTP token (letters, digits and "
                                    "!#$%&'*+-.^_`|~)"));
           ok = false;
         } else if (std::find(w.spec.subprotocols.begin(), w.spec.subprotocols.end(), *name) !=
                    w.spec.subprotocols.end()) {
           r.add(r.at(item), concat("subprotocol ", in_quotes(*name), " is listed twice"));
           ok = false;
         } else {
           w.spec.subprotocols.push_back(*name);
         }
       }
       return ok;
     },
     [](const websocket_spec& w, json::object& o, const json_writing&) {
       if (!w.subprotocols.empty()) o["subprotocols"] = strings_json(w.subprotocols);
     },
     key_shape{.items = string_kind}},
    {"on_open", array_kind, steps_type, "", "the steps played once the upgrade is accepted",
     [](toml_reader& r, const toml::node& v, websocket_reading& w) {
       return read_steps(r, v, "on_open", w.params, w.spec.on_open);
     },
     [](const websocket_spec& w, json::object& o, const json_writing& how) {
       if (!w.on_open.empty()) o["on_open"] = steps_json(w.on_open, how);
     },
     key_shape{.table = [] { return describe(step_rows).without("interval"); }}},
    {"every", table_kind, "a table, e.g. { send = \"tick\", interval = \"1s\" }", "",
     "a step played every `interval` while the connection lasts",
     [](toml_reader& r, const toml::node& v, websocket_reading& w) {
       websocket_step step;
       if (!read_step(r, v, "in 'every'", w.params, step, &w.spec.every_interval)) return false;
       w.spec.every = std::move(step);
       return true;
     },
     [](const websocket_spec& w, json::object& o, const json_writing& how) {
       if (!w.every) return;
       json::object every = step_json(*w.every, how);
       every["interval"] = duration_text(w.every_interval);
       o["every"] = std::move(every);
     },
     key_shape{.table = [] { return describe(step_rows); }}},
    {"close_after", string_kind, duration_type, "",
     "close the connection this long after the "
     "upgrade, with close_code and close_reason",
     [](toml_reader& r, const toml::node& v, websocket_reading& w) {
       return r.read_duration(v, "close_after", false, w.spec.close_after);
     },
     [](const websocket_spec& w, json::object& o, const json_writing&) {
       if (w.close_after.count()) o["close_after"] = duration_text(w.close_after);
     }},
    {"close_code", integer_kind, "an integer", "1000",
     "the code of the close after close_after (RFC 6455 §7.4)",
     [](toml_reader& r, const toml::node& v, websocket_reading& w) {
       return read_close_code(r, v, "close_code", w.spec.close_code);
     },
     [](const websocket_spec& w, json::object& o, const json_writing&) {
       if (w.close_code != 1000) o["close_code"] = w.close_code;
     }},
    {"close_reason", string_kind, "a string", "\"\"",
     "the reason of the close after close_after (at most 123 bytes)",
     [](toml_reader& r, const toml::node& v, websocket_reading& w) {
       return read_close_reason(r, v, "close_reason", w.spec.close_reason);
     },
     [](const websocket_spec& w, json::object& o, const json_writing&) {
       if (!w.close_reason.empty()) o["close_reason"] = w.close_reason;
     }},
    {"on_message", array_kind, "an array of tables, written [[route.websocket.on_message]]", "",
     "how the client's messages are answered: the first entry that matches",
     [](toml_reader& r, const toml::node& v, websocket_reading& w) {
       return read_answers(r, v, w.params, w.spec.on_message);
     },
     [](const websocket_spec& w, json::object& o, const json_writing& how) {
       if (w.on_message.empty()) return;
       json::array answers;
       for (const websocket_answer_spec& a : w.on_message) {
         json::object answer;
         write_keys<answer_reading, websocket_answer_spec>(answer_rows, a, answer, how);
         answers.push_back(std::move(answer));
       }
       o["on_message"] = std::move(answers);
     },
     key_shape{.table = [] { return describe(answer_rows); }}},
    {"max_message_bytes", integer_kind | string_kind, "an integer or a size string, e.g. \"64KiB\"",
     "\"1MiB\"", "a longer message from the client closes the connection with 1009",
     [](toml_reader& r, const toml::node& v, websocket_reading& w) {
       const std::size_t problems = r.problems().size();
       r.read_size(v, "max_message_bytes", 1, std::size_t{64} * 1024 * 1024,
                   w.spec.max_message_bytes);
       return r.problems().size() == problems;
     },
     [](const websocket_spec& w, json::object& o, const json_writing&) {
       if (w.max_message_bytes != websocket_spec{}.max_message_bytes) {
         o["max_message_bytes"] = w.max_message_bytes;
       }
     }},
    {"idle_timeout", string_kind, duration_type, "",
     "no frame from the client this long: close with 1001",
     [](toml_reader& r, const toml::node& v, websocket_reading& w) {
       return r.read_duration(v, "idle_timeout", false, w.spec.idle_timeout);
     },
     [](const websocket_spec& w, json::object& o, const json_writing&) {
       if (w.idle_timeout.count()) o["idle_timeout"] = duration_text(w.idle_timeout);
     }},
    {"ping_every", string_kind, duration_type, "",
     "ping the client this often; no pong before the next ping: close with 1001",
     [](toml_reader& r, const toml::node& v, websocket_reading& w) {
       return r.read_duration(v, "ping_every", false, w.spec.ping_every);
     },
     [](const websocket_spec& w, json::object& o, const json_writing&) {
       if (w.ping_every.count()) o["ping_every"] = duration_text(w.ping_every);
     }},
}};

static_assert(all_written(rows), "every [route.websocket] key is written to JSON");

std::optional<websocket_spec> read_websocket(
    toml_reader& r, const toml::node& node, const std::optional<std::vector<std::string>>& params) {
  const std::size_t problems = r.problems().size();
  websocket_spec spec;
  spec.position = r.at(node);
  websocket_reading reading{spec, params};
  table_place place;
  place.where = "in [route.websocket]";
  const key_hits hits =
      read_keys<websocket_reading, websocket_spec>(r, *node.as_table(), rows, place, reading);
  if (!hits.value("close_after")) {
    for (const std::string_view key : {"close_code", "close_reason"}) {
      if (const toml::node* value = hits.value(key)) {
        r.add(r.at(*value), concat(in_quotes(key),
                                   " needs 'close_after': it is said by the close that ends the "
                                   "script"));
      }
    }
  }
  if (r.problems().size() != problems) return std::nullopt;
  return spec;
}

constexpr std::array<route_row, 1> route_rows = {{
    {"websocket", table_kind, "a table, written [route.websocket]", "",
     "accept WebSocket upgrades (RFC 6455) and play this script; plain requests get 426", nullptr,
     [](const route_spec& r, json::object& o, const json_writing& how) {
       if (!r.websocket) return;
       json::object websocket;
       write_keys<websocket_reading, websocket_spec>(rows, *r.websocket, websocket, how);
       o["websocket"] = std::move(websocket);
     },
     key_shape{.table = [] { return describe(rows); }}},
}};

// What a WebSocket route cannot have, as messages name it.
struct reply_key {
  std::string_view key;
  std::string_view named;
};
constexpr std::array<reply_key, 4> reply_keys_of_route = {{
    {"reply", "[route.reply]"},
    {"replies", "[[route.replies]]"},
    {"then", "'then'"},
    {"proxy", "[route.proxy]"},
}};

}  // namespace

std::span<const route_row> websocket_route_keys() {
  return route_rows;
}

void read_route_websocket(toml_reader& r, const key_hits& hits,
                          const std::optional<std::vector<std::string>>& params,
                          route_reading& reading) {
  const toml::node* node = hits.value("websocket");
  if (!node || !node->is_table()) return;
  reading.route.websocket = read_websocket(r, *node, params);
  for (const reply_key& conflict : reply_keys_of_route) {
    if (const toml::node* value = hits.value(conflict.key)) {
      r.add(r.at(*value), concat("a WebSocket route plays its script after the upgrade; ",
                                 conflict.named, " cannot be used with [route.websocket]"));
    }
  }
}

}  // namespace stubborn

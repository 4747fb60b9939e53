// Server-Sent Events in a reply: events, then and heartbeat, read and checked at load.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "stubborn/config_error.hpp"
#include "stubborn/load_config.hpp"

using namespace std::chrono_literals;

namespace {

using lines = std::vector<std::string>;

lines problems_of(const std::string& text) {
  try {
    stubborn::load_config_text(text, "t.toml", ".");
  } catch (const stubborn::config_error& e) {
    lines out;
    for (const auto& p : e.problems()) out.push_back(p.to_string());
    return out;
  }
  return {};
}

struct error_case {
  std::string text;
  lines expected;
};

void check_cases(const std::vector<error_case>& cases) {
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK(problems_of(c.text) == c.expected);
  }
}

const std::string reply_table = "[[route]]\npath = \"/s/{room}\"\n[route.reply]\n";
const std::string sequence_entry = "[[route]]\npath = \"/s/{room}\"\n[[route.replies]]\n";

}  // namespace

TEST_CASE("events are read with their fields, then and heartbeat", "[config][sse]") {
  const stubborn::config cfg = stubborn::load_config_text(
      reply_table +
          "events = [ { data = \"a\\nb\", delay = \"50ms\" },\n"
          "           { event = \"done\", id = \"{{path.room}}-2\", retry = \"3s\" } ]\n"
          "then = \"hold\"\nheartbeat = \"15s\"\n",
      "t.toml", ".");
  const stubborn::reply_spec& reply = cfg.routes.at(0).reply;
  REQUIRE(reply.events.size() == 2);
  CHECK(reply.events[0].data == "a\nb");
  CHECK(reply.events[0].delay == 50ms);
  CHECK_FALSE(reply.events[0].event);
  CHECK_FALSE(reply.events[0].id);
  CHECK_FALSE(reply.events[0].retry);
  CHECK(reply.events[1].event == "done");
  CHECK(reply.events[1].id == "{{path.room}}-2");
  CHECK(reply.events[1].retry == 3000ms);
  CHECK(reply.events[1].delay == 0ms);
  CHECK(reply.then == stubborn::stream_end::hold);
  CHECK(reply.heartbeat == 15s);

  const stubborn::config defaults =
      stubborn::load_config_text(sequence_entry + "events = [ { data = \"x\" } ]\n", "t.toml", ".");
  CHECK(defaults.routes.at(0).replies.at(0).then == stubborn::stream_end::close);
  CHECK(defaults.routes.at(0).replies.at(0).heartbeat == 0ms);
}

TEST_CASE("events are checked where they are written", "[config][sse]") {
  check_cases({
      {reply_table + "events = [ { data = \"x\" } ]\nbody = \"y\"\n",
       {"t.toml:5:8: a reply has 'events' or 'body', not both: the events are the body"}},
      {reply_table + "json = { a = 1 }\nevents = [ { data = \"x\" } ]\n",
       {"t.toml:4:8: a reply has 'events' or 'json', not both: the events are the body"}},
      {reply_table + "body_file = \"x.txt\"\nevents = [ { data = \"x\" } ]\n",
       {"t.toml:4:13: a reply has 'events' or 'body_file', not both: the events are the body"}},
      {reply_table + "events = [ { data = \"x\", dleay = \"1s\" } ]\n",
       {"t.toml:4:26: unknown key 'dleay' in an event (did you mean 'delay'?)"}},
      {reply_table + "events = [ { data = \"x\", comment = \"c\" } ]\n",
       {"t.toml:4:26: unknown key 'comment' in an event"}},
      {reply_table + "events = [ { data = \"x\", delay = \"soon\" } ]\n",
       {"t.toml:4:34: 'delay' must be a number with a unit (ms, s, m or h), e.g. \"10s\", not "
        "\"soon\""}},
      {reply_table + "events = [ { data = \"x\", retry = 3000 } ]\n",
       {"t.toml:4:34: 'retry' must be a duration string with a unit, e.g. \"10s\", not an "
        "integer"}},
      {reply_table + "events = [ { data = \"x\", retry = \"3\" } ]\n",
       {"t.toml:4:34: 'retry' must be a number with a unit (ms, s, m or h), e.g. \"10s\", not "
        "\"3\""}},
      {reply_table + "events = [ { data = \"{{path.rom}}\" } ]\n",
       {"t.toml:4:22: bad template in event 'data': {{path.rom}}: the path has no parameter "
        "'rom' (it has: room)"}},
      {reply_table + "events = [ { data = \"x\", id = \"{{nope}}\" } ]\n",
       {"t.toml:4:32: bad template in event 'id': unknown placeholder {{nope}}: use path.NAME, "
        "query.NAME, header.NAME, cookie.NAME, form.NAME, json.PATH, xpath.PATH, body, method, "
        "uri, now, now.epoch, now.epoch_ms, now.http, uuid or counter"}},
      {reply_table + "events = [ { event = \"{{query.a\" } ]\n",
       {"t.toml:4:23: bad template in event 'event': '{{' is not closed by '}}'"}},
      {reply_table + "events = [ { data = \"x\", id = \"a\\nb\" } ]\n",
       {"t.toml:4:31: 'id' must be one line without CR, LF or NUL: the event stream format "
        "ends a field at CR or LF, and a client ignores an id with a NUL"}},
      {reply_table + "events = [ { data = \"x\", id = \"a\\u0000b\" } ]\n",
       {"t.toml:4:31: 'id' must be one line without CR, LF or NUL: the event stream format "
        "ends a field at CR or LF, and a client ignores an id with a NUL"}},
      {reply_table + "events = [ { event = \"a\\rb\" } ]\n",
       {"t.toml:4:22: 'event' must be one line without CR, LF or NUL: the event stream format "
        "ends a field at CR or LF, and a client ignores an id with a NUL"}},
      {reply_table + "events = [ { data = \"a\\rb\" } ]\n",
       {"t.toml:4:21: 'data' must not contain NUL or a CR without LF: lines are split at LF (or "
        "CRLF) into 'data:' lines, and the event stream format would end a line at a lone CR"}},
      {reply_table + "events = [ { data = \"a\\r\\nb\\nc\" } ]\n", {}},
      {reply_table + "events = [ { delay = \"1s\" } ]\n",
       {"t.toml:4:12: an event needs at least one of 'data', 'event', 'id' or 'retry', e.g. "
        "{ data = \"hello\" }"}},
      {reply_table + "events = [ {} ]\n",
       {"t.toml:4:12: an event needs at least one of 'data', 'event', 'id' or 'retry', e.g. "
        "{ data = \"hello\" }"}},
      {reply_table + "events = []\n",
       {"t.toml:4:10: 'events' must not be empty: write at least one { data = \"...\" }"}},
      {reply_table + "events = [ \"x\" ]\n",
       {"t.toml:4:12: each 'events' must be a table, e.g. { data = \"hello\" }, not a string"}},
      {reply_table + "events = { data = \"x\" }\n",
       {"t.toml:4:10: 'events' must be an array of tables, e.g. [ { data = \"hello\" } ], not a "
        "table"}},
      {reply_table + "events = [ { retry = \"0s\" }, { id = \"\" } ]\n", {}},
  });
}

TEST_CASE("then and heartbeat belong to events, and heartbeats to held streams", "[config][sse]") {
  check_cases({
      {reply_table + "then = \"hold\"\n",
       {"t.toml:4:8: 'then' in a reply is for 'events': it says whether the stream ends or is "
        "held after the last event"}},
      {sequence_entry + "heartbeat = \"1s\"\n",
       {"t.toml:4:13: 'heartbeat' is for 'events' with then = \"hold\""}},
      {reply_table + "events = [ { data = \"x\" } ]\nheartbeat = \"1s\"\n",
       {"t.toml:5:13: 'heartbeat' is sent only while a stream is held: add then = \"hold\" (the "
        "stream ends after its last event with then = \"close\", the default)"}},
      {reply_table + "events = [ { data = \"x\" } ]\nthen = \"close\"\nheartbeat = \"1s\"\n",
       {"t.toml:6:13: 'heartbeat' is sent only while a stream is held: add then = \"hold\" (the "
        "stream ends after its last event with then = \"close\", the default)"}},
      {reply_table + "events = [ { data = \"x\" } ]\nthen = \"cycle\"\n",
       {"t.toml:5:8: 'then' must be \"close\" or \"hold\", not \"cycle\""}},
      {reply_table + "events = [ { data = \"x\" } ]\nthen = \"hold\"\nheartbeat = \"often\"\n",
       {"t.toml:6:13: 'heartbeat' must be a number with a unit (ms, s, m or h), e.g. \"10s\", "
        "not \"often\""}},
      {reply_table + "events = [ { data = \"x\" } ]\nthen = \"hold\"\nheartbeat = \"0s\"\n", {}},
      {reply_table + "events = [ { data = \"x\" } ]\nchunks = { count = 2, over = \"1s\" }\n",
       {"t.toml:5:10: 'chunks' does not apply to 'events': each event is sent as it is due, in a "
        "chunk of its own (pace the bytes with 'bandwidth', the events with their 'delay')"}},
      {reply_table + "events = [ { data = \"x\" } ]\nhang = true\n",
       {"t.toml:5:8: a reply has 'hang' or 'events', not both"}},
      {reply_table + "status = 204\nevents = [ { data = \"x\" } ]\n",
       {"t.toml:5:10: a 204 reply cannot have a body, so no 'events' (RFC 9110 §15.3.5)"}},
      {reply_table +
           "events = [ { data = \"x\" } ]\nbandwidth = \"1KiB/s\"\nfault = \"truncate\"\n" +
           "delay = \"10ms\"\n",
       {}},
  });
}

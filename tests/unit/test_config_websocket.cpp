#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "stubborn/config_error.hpp"
#include "stubborn/load_config.hpp"

using namespace std::chrono_literals;
using stubborn::config;
using stubborn::config_error;
using stubborn::load_config_text;
using stubborn::websocket_fault;
using stubborn::websocket_spec;
using stubborn::websocket_step;

namespace {

using lines = std::vector<std::string>;

lines problems_of(const std::string& text) {
  try {
    load_config_text(text, "t.toml", ".");
  } catch (const config_error& e) {
    lines out;
    for (const auto& p : e.problems()) out.push_back(p.to_string());
    return out;
  }
  return {};
}

// A route on /ws/{room} whose [route.websocket] table holds `keys` (starting on line 4).
std::string websocket_route(const std::string& keys) {
  return "[[route]]\npath = \"/ws/{room}\"\n[route.websocket]\n" + keys;
}

websocket_spec read_one(const std::string& keys) {
  const config cfg = load_config_text(websocket_route(keys), "t.toml", ".");
  REQUIRE(cfg.routes.size() == 1);
  REQUIRE(cfg.routes[0].websocket.has_value());
  return *cfg.routes[0].websocket;
}

}  // namespace

TEST_CASE("[route.websocket] reads its script", "[config][websocket]") {
  const websocket_spec ws = read_one(
      "subprotocols = [\"quotes.v1\", \"quotes.v2\"]\n"
      "on_open = [ { send = '{\"hello\":\"{{path.room}}\"}' },\n"
      "            { send_binary = \"AAEC/w==\", delay = \"100ms\" },\n"
      "            { ping = \"are you there\" },\n"
      "            { close = { code = 4001, reason = \"done\" } },\n"
      "            { fault = \"reset\", delay = \"1s\" } ]\n"
      "every = { send = \"tick\", interval = \"1s\" }\n"
      "close_after = \"30s\"\n"
      "close_code = 1001\n"
      "close_reason = \"bye\"\n"
      "max_message_bytes = \"4KiB\"\n"
      "idle_timeout = \"10s\"\n"
      "ping_every = \"2s\"\n"
      "[[route.websocket.on_message]]\n"
      "match = { equals = \"ping\" }\n"
      "reply = [ { send = \"pong {{message}}\", fault = \"no-close-reply\" } ]\n"
      "repeat = 2\n"
      "[[route.websocket.on_message]]\n"
      "match = {}\n"
      "echo = true\n");
  CHECK(ws.subprotocols == std::vector<std::string>{"quotes.v1", "quotes.v2"});
  REQUIRE(ws.on_open.size() == 5);
  CHECK(ws.on_open[0].type == websocket_step::kind::send);
  CHECK(ws.on_open[0].payload == "{\"hello\":\"{{path.room}}\"}");
  CHECK(ws.on_open[1].type == websocket_step::kind::send_binary);
  CHECK(ws.on_open[1].payload == std::string("\x00\x01\x02\xff", 4));
  CHECK(ws.on_open[1].delay == 100ms);
  CHECK(ws.on_open[2].type == websocket_step::kind::ping);
  CHECK(ws.on_open[2].payload == "are you there");
  CHECK(ws.on_open[3].type == websocket_step::kind::close);
  CHECK(ws.on_open[3].close_code == 4001);
  CHECK(ws.on_open[3].close_reason == "done");
  CHECK(ws.on_open[4].type == websocket_step::kind::fault);
  CHECK(ws.on_open[4].fault == websocket_fault::reset);
  REQUIRE(ws.every.has_value());
  CHECK(ws.every->payload == "tick");
  CHECK(ws.every_interval == 1s);
  CHECK(ws.close_after == 30s);
  CHECK(ws.close_code == 1001);
  CHECK(ws.close_reason == "bye");
  CHECK(ws.max_message_bytes == 4096);
  CHECK(ws.idle_timeout == 10s);
  CHECK(ws.ping_every == 2s);
  REQUIRE(ws.on_message.size() == 2);
  REQUIRE(ws.on_message[0].match.has_value());
  CHECK(ws.on_message[0].match->text == "ping");
  CHECK(ws.on_message[0].repeat == 2);
  REQUIRE(ws.on_message[0].reply.size() == 1);
  CHECK(ws.on_message[0].reply[0].fault == websocket_fault::no_close_reply);
  CHECK_FALSE(ws.on_message[1].match.has_value());
  CHECK(ws.on_message[1].echo);
}

TEST_CASE("[route.websocket] defaults", "[config][websocket]") {
  const websocket_spec ws = read_one("");
  CHECK(ws.subprotocols.empty());
  CHECK(ws.on_open.empty());
  CHECK_FALSE(ws.every.has_value());
  CHECK(ws.close_after == 0ms);
  CHECK(ws.max_message_bytes == 1024 * 1024);
  CHECK(ws.idle_timeout == 0ms);
  CHECK(ws.ping_every == 0ms);
}

TEST_CASE("[route.websocket] problems name their place", "[config][websocket]") {
  struct row {
    std::string keys;
    std::string problem;
  };
  const std::vector<row> rows = {
      {"subprotocol = [\"a\"]\n",
       "t.toml:4:1: unknown key 'subprotocol' in [route.websocket] (did you mean "
       "'subprotocols'?)"},
      {"subprotocols = [\"a b\"]\n",
       "t.toml:4:17: subprotocol 'a b' is not an HTTP token (letters, digits and "
       "!#$%&'*+-.^_`|~)"},
      {"subprotocols = [\"a\", \"a\"]\n", "t.toml:4:22: subprotocol 'a' is listed twice"},
      {"on_open = [ { send = \"x\", ping = \"y\" } ]\n",
       "t.toml:4:34: a step has one of 'send', 'send_binary', 'ping' or 'close', not both "
       "'send' and 'ping'"},
      {"on_open = [ { delay = \"1s\" } ]\n",
       "t.toml:4:13: a step needs one of 'send', 'send_binary', 'ping', 'close' or 'fault'"},
      {"on_open = [ \"hi\" ]\n",
       "t.toml:4:13: each step of 'on_open' must be a table, e.g. { send = \"hi\" }, not a "
       "string"},
      {"on_open = [ { send_binary = \"not base64!\" } ]\n",
       "t.toml:4:29: 'send_binary' must be base64 (RFC 4648, with padding), e.g. \"AAEC\""},
      {"on_open = [ { send = \"{{path.nope}}\" } ]\n",
       "t.toml:4:23: bad template in 'send': {{path.nope}}: the path has no parameter 'nope' "
       "(it has: room)"},
      {"on_open = [ { send = \"{{mesage}}\" } ]\n",
       "t.toml:4:23: bad template in 'send': unknown placeholder {{mesage}}: use path.NAME, "
       "query.NAME, header.NAME, cookie.NAME, form.NAME, json.PATH, xpath.PATH, body, method, "
       "uri, now, now.epoch, now.epoch_ms, now.http, uuid or counter"},
      {"on_open = [ { ping = \"" + std::string(126, 'p') + "\" } ]\n",
       "t.toml:4:22: 'ping' is at most 125 bytes (a control frame's payload, RFC 6455 §5.5), "
       "not 126"},
      {"on_open = [ { close = { code = 1005 } } ]\n",
       "t.toml:4:32: 'close.code' must be a close code an endpoint may send (RFC 6455 §7.4): "
       "1000-1003, 1007-1014 or 3000-4999, not 1005"},
      {"on_open = [ { close = { code = 1000, reason = \"" + std::string(124, 'r') + "\" } } ]\n",
       "t.toml:4:47: 'close.reason' is at most 123 bytes (a close frame's payload, RFC 6455 "
       "§5.5), not 124"},
      {"on_open = [ { close = { cod = 1000 } } ]\n",
       "t.toml:4:25: unknown key 'cod' in 'close' (did you mean 'code'?)"},
      {"on_open = [ { fault = \"dorp\" } ]\n",
       "t.toml:4:23: 'fault' must be one of \"drop\", \"reset\", \"garbage\" or "
       "\"no-close-reply\", not \"dorp\" (did you mean 'drop'?)"},
      {"on_open = [ { send = \"x\", interval = \"1s\" } ]\n",
       "t.toml:4:27: 'interval' is only for 'every', the step played periodically"},
      {"every = { send = \"tick\" }\n",
       "t.toml:4:9: 'every' needs an 'interval', e.g. every = { send = \"tick\", interval = "
       "\"1s\" }"},
      {"every = { send = \"tick\", interval = \"0s\" }\n",
       "t.toml:4:37: 'interval' must be more than 0s"},
      {"close_code = 1006\nclose_after = \"1s\"\n",
       "t.toml:4:14: 'close_code' must be a close code an endpoint may send (RFC 6455 §7.4): "
       "1000-1003, 1007-1014 or 3000-4999, not 1006"},
      {"close_code = 4000\n",
       "t.toml:4:14: 'close_code' needs 'close_after': it is said by the close that ends the "
       "script"},
      {"max_message_bytes = 0\n", "t.toml:4:21: 'max_message_bytes' must be at least 1, not 0"},
      {"idle_timeout = \"soon\"\n",
       "t.toml:4:16: 'idle_timeout' must be a number with a unit (ms, s, m or h), e.g. \"10s\", "
       "not \"soon\""},
      {"[[route.websocket.on_message]]\nmatch = { equals = \"a\" }\n",
       "t.toml:4:1: an on_message entry needs 'reply' (steps; [] for none) or echo = true"},
      {"[[route.websocket.on_message]]\nreply = []\necho = true\n",
       "t.toml:6:8: an on_message entry has 'reply' or echo = true, not both"},
      {"[[route.websocket.on_message]]\nmatch = { equal = \"a\" }\necho = true\n",
       "t.toml:5:11: unknown key 'equal' in 'match' (did you mean 'equals'?)"},
      {"[[route.websocket.on_message]]\nmatch = { equals = \"a\", contains = \"b\" }\n"
       "echo = true\n",
       "t.toml:5:36: 'match' has one of 'contains', 'equals', 'regex' or 'json', not both "
       "'contains' and 'equals'"},
      {"[[route.websocket.on_message]]\nmatch = { regex = \"(\" }\necho = true\n",
       "t.toml:5:19: bad 'match.regex': missing ): ("},
      {"[[route.websocket.on_message]]\nrepeat = 0\necho = true\n",
       "t.toml:5:10: 'repeat' must be 1..4294967295, not 0"},
  };
  for (const row& r : rows) {
    INFO(r.keys);
    CHECK(problems_of(websocket_route(r.keys)) == lines{r.problem});
  }
}

TEST_CASE("a WebSocket route has no reply of its own", "[config][websocket]") {
  CHECK(problems_of("[[route]]\npath = \"/ws\"\n[route.reply]\nstatus = 200\n"
                    "[route.websocket]\n") ==
        lines{"t.toml:3:1: a WebSocket route plays its script after the upgrade; [route.reply] "
              "cannot be used with [route.websocket]"});
  CHECK(problems_of("[[route]]\npath = \"/ws\"\n[route.websocket]\n[route.proxy]\n"
                    "to = \"http://127.0.0.1:9\"\n") ==
        lines{"t.toml:4:1: a WebSocket route plays its script after the upgrade; [route.proxy] "
              "cannot be used with [route.websocket]"});
  CHECK(problems_of("[[route]]\npath = \"/ws\"\n[[route.replies]]\nstatus = 200\n"
                    "[route.websocket]\n") ==
        lines{"t.toml:3:1: a WebSocket route plays its script after the upgrade; "
              "[[route.replies]] cannot be used with [route.websocket]"});
}

TEST_CASE("{{message}} is a WebSocket step's placeholder only", "[config][websocket]") {
  CHECK(problems_of("[[route]]\npath = \"/x\"\n[route.reply]\nbody = \"{{message}}\"\n") ==
        lines{"t.toml:4:9: bad template in 'body': unknown placeholder {{message}}: use "
              "path.NAME, query.NAME, header.NAME, cookie.NAME, form.NAME, json.PATH, "
              "xpath.PATH, body, method, uri, now, now.epoch, now.epoch_ms, now.http, uuid or "
              "counter"});
}

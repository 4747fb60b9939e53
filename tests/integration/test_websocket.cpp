// WebSocket routes over real sockets (and, in the suite's other runs, over the generic transport
// and both TLS transports): the handshake's bytes, the refusals (426, 400), subprotocols, each
// step and fault, close codes, the limits, the answers, the journal and drain.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>

#include "harness.hpp"
#include "routing/request.hpp"
#include "stubborn/control.hpp"
#include "stubborn/server.hpp"
#include "websocket_client.hpp"

using namespace stubborn;
using namespace stubborn::testing;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

const char* routes = R"(
[server]
server_header = "stubborn-test"

[[route]]
name = "quotes"
path = "/ws/quotes/{symbol}"
[route.websocket]
subprotocols = ["quotes.v1", "quotes.v2"]
on_open = [ { send = '{"hello":"{{path.symbol}}","q":"{{query.x}}"}' },
            { send_binary = "AAEC/w==" },
            { ping = "hi" },
            { send = "late", delay = "200ms" } ]
[[route.websocket.on_message]]
match = { equals = "ping" }
reply = [ { send = "pong" } ]
repeat = 2
[[route.websocket.on_message]]
match = { equals = "ping" }
reply = [ { send = "enough" } ]
[[route.websocket.on_message]]
match = { contains = "needle" }
reply = [ { send = "found {{message}}" } ]
[[route.websocket.on_message]]
match = { regex = "^n[0-9]+$" }
reply = [ { send = "number" }, { send = "twice", delay = "100ms" } ]
[[route.websocket.on_message]]
match = { json = { type = "order" } }
reply = [ { send = "order {{json.id}}" } ]
[[route.websocket.on_message]]
match = { equals = "bye" }
reply = [ { close = { code = 4001, reason = "asked" } } ]
[[route.websocket.on_message]]
match = {}
echo = true

[[route]]
name = "ticker"
path = "/ws/ticker"
[route.websocket]
every = { send = "tick", interval = "100ms" }
close_after = "450ms"
close_code = 4000
close_reason = "over"

[[route]]
name = "faults"
path = "/ws/fault/{kind}"
[route.websocket]
[[route.websocket.on_message]]
match = { equals = "drop" }
reply = [ { send = "dropping", fault = "drop" } ]
[[route.websocket.on_message]]
match = { equals = "reset" }
reply = [ { fault = "reset" } ]
[[route.websocket.on_message]]
match = { equals = "garbage" }
reply = [ { send = "garbage next", fault = "garbage" } ]
[[route.websocket.on_message]]
match = { equals = "no-close-reply" }
reply = [ { send = "ok", fault = "no-close-reply" } ]

[[route]]
name = "limits"
path = "/ws/small"
[route.websocket]
max_message_bytes = 16
[[route.websocket.on_message]]
match = {}
echo = true

[[route]]
name = "idle"
path = "/ws/idle"
[route.websocket]
idle_timeout = "300ms"

[[route]]
name = "pinger"
path = "/ws/ping"
[route.websocket]
ping_every = "150ms"
)";

int elapsed_ms(steady::time_point since) {
  return static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - since).count());
}

std::string plain_get(std::string_view target, std::string_view extra = {}) {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra) + "\r\n";
}

}  // namespace

TEST_CASE("a WebSocket route accepts the upgrade with the RFC's accept value", "[websocket]") {
  running_server s(routes);
  ws_client c(s.port(), "/ws/quotes/ACME?x=1");
  const http_response& r = c.response();
  CHECK(r.status == 101);
  CHECK(r.reason == "Switching Protocols");
  CHECK(r.header("Upgrade") == "websocket");
  CHECK(iequals(r.header("Connection"), "upgrade"));
  CHECK(r.header("Sec-WebSocket-Accept") == sample_accept);
  CHECK(r.header("Server") == "stubborn-test");
  CHECK(r.has_header("Date"));
  CHECK_FALSE(r.has_header("Sec-WebSocket-Protocol"));
  CHECK_FALSE(r.has_header("Content-Length"));

  // on_open: templated text, binary, a ping, then the delayed step.
  const auto opened = steady::now();
  ws_frame f = c.read_frame();
  CHECK(f.opcode == 1);
  CHECK(f.payload == R"({"hello":"ACME","q":"1"})");
  f = c.read_frame();
  CHECK(f.opcode == 2);
  CHECK(f.payload == std::string("\x00\x01\x02\xff", 4));
  f = c.read_frame();
  CHECK(f.opcode == 9);
  CHECK(f.payload == "hi");
  f = c.read_frame();
  CHECK(f.payload == "late");
  CHECK(elapsed_ms(opened) >= 150);
}

TEST_CASE("a plain request to a WebSocket route gets 426 with Upgrade", "[websocket]") {
  running_server s(routes);
  http_response r = exchange(s.port(), plain_get("/ws/ticker"));
  CHECK(r.status == 426);
  CHECK(r.header("Upgrade") == "websocket");
  CHECK(r.header("Connection").find("Upgrade") != std::string::npos);

  // RFC 6455 §4.4: a version the server does not speak, or none.
  for (const std::string version : {"Sec-WebSocket-Version: 8\r\n", ""}) {
    INFO(version);
    r = exchange(s.port(), plain_get("/ws/ticker",
                                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
                                         version));
    CHECK(r.status == 426);
    CHECK(r.header("Sec-WebSocket-Version") == "13");
    CHECK(r.header("Upgrade") == "websocket");
  }
}

TEST_CASE("an upgrade with a bad key gets 400", "[websocket]") {
  running_server s(routes);
  for (const std::string key :
       {"Sec-WebSocket-Key: short\r\n", "", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=!\r\n"}) {
    INFO(key);
    const http_response r =
        exchange(s.port(), plain_get("/ws/ticker",
                                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                     "Sec-WebSocket-Version: 13\r\n" +
                                         key));
    CHECK(r.status == 400);
  }
}

TEST_CASE("the subprotocol is the first of the route's the client offers", "[websocket]") {
  running_server s(routes);
  {
    ws_client c(s.port(), "/ws/quotes/A",
                "Sec-WebSocket-Protocol: other, quotes.v2, quotes.v1\r\n");
    CHECK(c.response().status == 101);
    CHECK(c.response().header("Sec-WebSocket-Protocol") == "quotes.v1");
  }
  {
    ws_client c(s.port(), "/ws/quotes/A", "Sec-WebSocket-Protocol: quotes.v2\r\n");
    CHECK(c.response().header("Sec-WebSocket-Protocol") == "quotes.v2");
  }
  {
    ws_client c(s.port(), "/ws/quotes/A", "Sec-WebSocket-Protocol: other\r\n");
    CHECK(c.response().status == 101);
    CHECK_FALSE(c.response().has_header("Sec-WebSocket-Protocol"));
  }
}

TEST_CASE("messages are answered by the first matching entry", "[websocket]") {
  running_server s(routes);
  ws_client c(s.port(), "/ws/quotes/A");
  for (int i = 0; i < 4; ++i) c.read_frame();  // on_open

  // repeat = 2: the third ping falls through to the next entry.
  c.send_text("ping");
  CHECK(c.read_message().payload == "pong");
  c.send_text("ping");
  CHECK(c.read_message().payload == "pong");
  c.send_text("ping");
  CHECK(c.read_message().payload == "enough");

  c.send_text("a needle here");
  CHECK(c.read_message().payload == "found a needle here");
  const auto sent = steady::now();
  c.send_text("n42");
  CHECK(c.read_message().payload == "number");
  CHECK(c.read_message().payload == "twice");
  CHECK(elapsed_ms(sent) >= 80);
  c.send_text(R"({"type":"order","id":7})");
  CHECK(c.read_message().payload == "order 7");

  // echo keeps text and binary apart.
  c.send_text("anything");
  ws_frame f = c.read_message();
  CHECK(f.opcode == 1);
  CHECK(f.payload == "anything");
  c.send_binary(std::string("\x01\x00\xfe", 3));
  f = c.read_message();
  CHECK(f.opcode == 2);
  CHECK(f.payload == std::string("\x01\x00\xfe", 3));

  // A fragmented message is one message.
  c.send_frame(1, "frag", false);
  c.send_frame(0, "mented");
  CHECK(c.read_message().payload == "fragmented");

  // A close step: the server's code and reason; the client answers and the server closes.
  c.send_text("bye");
  f = c.read_message();
  CHECK(f.opcode == 8);
  CHECK(f.close_code() == 4001);
  CHECK(f.close_reason() == "asked");
  c.send_close(4001);
  const auto [rest, end] = c.raw().read_until_close(3000ms);
  CHECK(rest.empty());
  CHECK(end == connection_end::clean_close);
}

TEST_CASE("every repeats its step until close_after closes with its code", "[websocket]") {
  running_server s(routes);
  ws_client c(s.port(), "/ws/ticker");
  const auto opened = steady::now();
  int ticks = 0;
  ws_frame f;
  for (;;) {
    f = c.read_message();
    if (f.opcode != 1) break;
    CHECK(f.payload == "tick");
    ++ticks;
    CHECK(elapsed_ms(opened) >= ticks * 100 - 20);
  }
  CHECK(ticks == 4);
  CHECK(f.opcode == 8);
  CHECK(f.close_code() == 4000);
  CHECK(f.close_reason() == "over");
  CHECK(elapsed_ms(opened) >= 430);
  c.send_close(4000);
  CHECK(c.raw().read_until_close(3000ms).second == connection_end::clean_close);
}

TEST_CASE("the client's close is answered with its code", "[websocket]") {
  running_server s(routes);
  ws_client c(s.port(), "/ws/idle");
  c.send_close(1000, "done");
  const ws_frame f = c.read_message();
  CHECK(f.opcode == 8);
  CHECK(f.close_code() == 1000);
  CHECK(c.raw().read_until_close(3000ms).second == connection_end::clean_close);
}

TEST_CASE("WebSocket faults", "[websocket]") {
  running_server s(routes);
  SECTION("drop: FIN without a close frame") {
    ws_client c(s.port(), "/ws/fault/x");
    c.send_text("drop");
    CHECK(c.read_message().payload == "dropping");
    const auto [rest, end] = c.raw().read_until_close(3000ms);
    CHECK(rest.empty());
    CHECK(end == connection_end::clean_close);
  }
  SECTION("reset: RST") {
    ws_client c(s.port(), "/ws/fault/x");
    c.send_text("reset");
    CHECK(c.raw().read_until_close(3000ms).second == connection_end::reset);
  }
  SECTION("garbage: bytes that are no frame, then close") {
    ws_client c(s.port(), "/ws/fault/x");
    c.send_text("garbage");
    CHECK(c.read_message().payload == "garbage next");
    const auto [rest, end] = c.raw().read_until_close(3000ms);
    REQUIRE(rest.size() >= 2);
    // Reserved bits set and a reserved opcode: RFC 6455 §5.2 forbids both.
    CHECK((static_cast<unsigned char>(rest[0]) & 0x70) != 0);
    CHECK(end != connection_end::timeout);
  }
  SECTION("no-close-reply: the client's close stays unanswered") {
    ws_client c(s.port(), "/ws/fault/x");
    c.send_text("no-close-reply");
    CHECK(c.read_message().payload == "ok");
    c.send_close(1000);
    char byte;
    CHECK(c.raw().receive_some(&byte, 1, 500ms) == -2);  // nothing, and still open
  }
}

TEST_CASE("WebSocket limits close with their codes", "[websocket]") {
  running_server s(routes);
  SECTION("a message over max_message_bytes: 1009") {
    ws_client c(s.port(), "/ws/small");
    c.send_text("short");
    CHECK(c.read_message().payload == "short");
    c.send_text(std::string(17, 'x'));
    const ws_frame f = c.read_message();
    CHECK(f.opcode == 8);
    CHECK(f.close_code() == 1009);
  }
  SECTION("no frame for idle_timeout: 1001") {
    ws_client c(s.port(), "/ws/idle");
    const auto opened = steady::now();
    const ws_frame f = c.read_message();
    CHECK(f.opcode == 8);
    CHECK(f.close_code() == 1001);
    CHECK(elapsed_ms(opened) >= 280);
  }
  SECTION("a ping without a pong by the next: 1001") {
    ws_client c(s.port(), "/ws/ping");
    const auto opened = steady::now();
    ws_frame f = c.read_frame();
    CHECK(f.opcode == 9);
    f = c.read_frame();
    CHECK(f.opcode == 8);
    CHECK(f.close_code() == 1001);
    CHECK(elapsed_ms(opened) >= 280);
  }
  SECTION("pongs keep it open") {
    ws_client c(s.port(), "/ws/ping");
    for (int i = 0; i < 3; ++i) {
      const ws_frame f = c.read_frame();
      REQUIRE(f.opcode == 9);
      c.send_frame(10, f.payload);
    }
  }
  SECTION("a frame that breaks RFC 6455: 1002") {
    ws_client c(s.port(), "/ws/small");
    c.send_frame(1, "unmasked", true, false);  // §5.1: a client masks every frame
    const ws_frame f = c.read_message();
    CHECK(f.opcode == 8);
    CHECK(f.close_code() == 1002);
  }
}

TEST_CASE("frames sent right behind the upgrade request are read", "[websocket]") {
  running_server s(routes);
  raw_client c(s.port());
  c.send(upgrade_request("/ws/small") + frame_bytes(1, "early"));
  CHECK(c.read_response().status == 101);
  const std::string head = c.read_bytes(2);
  CHECK(static_cast<unsigned char>(head[0]) == 0x81);
  CHECK(c.read_bytes(static_cast<unsigned char>(head[1])) == "early");
}

TEST_CASE("WebSocket messages are journal entries", "[websocket]") {
  running_server s(routes);
  {
    ws_client c(s.port(), "/ws/small");
    c.send_text("one");
    CHECK(c.read_message().payload == "one");
    c.send_text("two");
    CHECK(c.read_message().payload == "two");
    c.send_close(1000);
    c.read_message();
  }
  server_control& control = s.get().control();
  journal_query in;
  in.kind = journal_kind::websocket;
  in.inbound = true;
  journal_query out = in;
  out.inbound = false;
  // The last entries are written as the connection ends: poll with a deadline.
  const auto deadline = steady::now() + 3s;
  while (control.count(in) < 3 && steady::now() < deadline) std::this_thread::sleep_for(10ms);
  CHECK(control.count(in) == 3);   // one, two, close
  CHECK(control.count(out) == 3);  // the echoes and the close
  CHECK(control.count() == 1);     // requests: the upgrade
  journal_query upgrades;
  upgrades.status = 101;
  CHECK(control.count(upgrades) == 1);
  journal_query all;
  all.kind.reset();
  CHECK(control.count(all) == 7);
  in.limit = 0;
  const std::vector<journal_entry> entries = control.journal(in);
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].body == "one");
  CHECK(entries[0].websocket.opcode == 1);
  CHECK(entries[0].websocket.size == 3);
  CHECK(entries[0].route == "limits");
  CHECK(entries[0].path == "/ws/small");
  CHECK(entries[2].websocket.opcode == 8);

  if (!s.over_tls()) {
    http_response r =
        exchange(s.port(), plain_get("/__admin/requests/count?kind=websocket&direction=in"));
    CHECK(r.status == 200);
    CHECK(r.body == "{\"count\":3}\n");
    r = exchange(s.port(), plain_get("/__admin/requests?direction=out&limit=1"));
    CHECK(r.status == 200);
    CHECK(r.body.find(R"("kind":"websocket")") != std::string::npos);
    CHECK(r.body.find(R"("websocket":{"direction":"out","opcode":8,"size":2})") !=
          std::string::npos);
    r = exchange(s.port(), plain_get("/__admin/requests/count?kind=sse"));
    CHECK(r.status == 400);
    // The metrics count the same frames, and the connection as closed.
    r = exchange(s.port(), plain_get("/__admin/metrics"));
    CHECK(r.body.find("stubborn_websocket_messages_total{route=\"limits\",direction=\"in\"} 3\n") !=
          std::string::npos);
    CHECK(
        r.body.find("stubborn_websocket_messages_total{route=\"limits\",direction=\"out\"} 3\n") !=
        std::string::npos);
    CHECK(r.body.find("stubborn_websocket_connections{route=\"limits\"} 0\n") != std::string::npos);
  }
}

TEST_CASE("a held WebSocket connection ends when the server stops", "[websocket]") {
  running_server s(routes);
  ws_client c(s.port(), "/ws/fault/x", {}, 10000ms);
  c.send_text("hello");  // no answer and no timer: the connection is held
  const auto stopping = steady::now();
  SECTION("the client answers the server's close 1001: the drain ends with it") {
    std::thread stopper([&] { s.get().stop(5000ms); });
    const ws_frame close = c.read_message();
    CHECK(close.opcode == 8);
    CHECK(close.close_code() == 1001);  // RFC 6455 §7.4.1: going away
    c.send_close(1001);
    const auto [rest, end] = c.raw().read_until_close(5000ms);
    stopper.join();
    CHECK(end != connection_end::timeout);
    CHECK(elapsed_ms(stopping) < 3000);  // far below the drain timeout
  }
  SECTION("a client that does not answer is closed on at the drain timeout") {
    s.get().stop(200ms);
    const auto [rest, end] = c.raw().read_until_close(5000ms);
    CHECK(end != connection_end::timeout);
    CHECK(rest.find(frame_bytes(8, close_payload(1001, "going away"), true, false)) == 0);
    CHECK(elapsed_ms(stopping) < 3000);
  }
}

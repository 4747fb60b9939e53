// Server-Sent Events over real sockets: the text/event-stream framing byte for byte, events at
// their times (read as they arrive), Last-Event-ID, held streams with heartbeats, drain, faults,
// templates, HTTP/1.0 and HEAD. Timing checks are lower bounds with slack, generous upper ones.

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>

#include "harness.hpp"

using namespace stubborn::testing;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

long elapsed_ms(clock_type::time_point since) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - since).count());
}

// Reads a stream as it arrives: everything up to a marker, and the time it came.
class stream_reader {
 public:
  explicit stream_reader(raw_client& client) : client_(client) {}

  // Everything received up to and including `marker` (consumed); throws if it does not come.
  std::string until(std::string_view marker, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = clock_type::now() + timeout;
    for (;;) {
      if (const auto at = buffer_.find(marker); at != std::string::npos) {
        std::string out = buffer_.substr(0, at + marker.size());
        buffer_.erase(0, at + marker.size());
        return out;
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
      if (left <= 0ms) throw std::runtime_error("timed out waiting for: " + std::string(marker));
      char chunk[4096];
      const long n = client_.receive_some(chunk, sizeof chunk, left);
      if (n <= 0 && n != -2) {
        throw std::runtime_error("connection ended before: " + std::string(marker) +
                                 "; received: " + buffer_);
      }
      if (n > 0) buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  // Everything until the connection ends, and how it ended.
  std::pair<std::string, connection_end> rest(std::chrono::milliseconds timeout = 5s) {
    const auto deadline = clock_type::now() + timeout;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
      if (left <= 0ms) return {take(), connection_end::timeout};
      char chunk[4096];
      const long n = client_.receive_some(chunk, sizeof chunk, left);
      if (n > 0) {
        buffer_.append(chunk, static_cast<std::size_t>(n));
      } else if (n == 0) {
        return {take(), connection_end::clean_close};
      } else if (n == -1) {
        return {take(), connection_end::reset};
      }
    }
  }
  // What arrived but was not taken yet.
  const std::string& pending() const { return buffer_; }

 private:
  std::string take() {
    std::string out;
    out.swap(buffer_);
    return out;
  }
  raw_client& client_;
  std::string buffer_;
};

constexpr const char* routes = R"(
[[route]]
path = "/framing"
[route.reply]
events = [ { event = "update", id = "7", retry = "3s", data = "line 1\nline 2" },
           { data = '{"delta":"lo"}' },
           { retry = "1500ms" },
           { id = "8" } ]

[[route]]
path = "/timed"
[route.reply]
events = [ { data = "one" },
           { data = "two", delay = "300ms" },
           { data = "three", delay = "300ms" } ]

[[route]]
path = "/resume"
[route.reply]
events = [ { id = "1", data = "a" }, { id = "2", data = "b" }, { id = "3", data = "c" } ]

[[route]]
path = "/feed"
[route.reply]
events = [ { event = "hello", data = "hi" } ]
then = "hold"
heartbeat = "150ms"

[[route]]
path = "/quiet"
[route.reply]
events = [ { data = "only" } ]
then = "hold"

[[route]]
path = "/cut"
[route.reply]
events = [ { data = "aaaaaaaaaa" }, { data = "bbbbbbbbbb", delay = "50ms" },
           { data = "cccccccccc", delay = "50ms" } ]
fault = "truncate"

[[route]]
path = "/rooms/{room}"
[route.reply]
events = [ { event = "{{query.kind}}", id = "{{header.X-Seq}}", data = "room {{path.room}}\nuser {{query.user}}" } ]

[[route]]
path = "/late"
[route.reply]
delay = "300ms"
events = [ { data = "x" } ]

[[route]]
path = "/typed"
[route.reply]
headers = { "Content-Type" = "text/event-stream; charset=utf-8", "Cache-Control" = "no-store" }
events = [ { data = "x" } ]

[[route]]
path = "/plain"
[route.reply]
body = "plain"
)";

// The head of a reply, up to its blank line.
std::string head_of(stream_reader& reader) {
  return reader.until("\r\n\r\n");
}

}  // namespace

TEST_CASE("events are framed byte for byte, each in a chunk, with the last chunk",
          "[sse][framing]") {
  running_server s(routes);
  raw_client client(s.port());
  stream_reader reader(client);
  client.send(get("/framing"));
  const std::string head = head_of(reader);
  CHECK(head.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(head.find("\r\nContent-Type: text/event-stream\r\n") != std::string::npos);
  CHECK(head.find("\r\nCache-Control: no-cache\r\n") != std::string::npos);
  CHECK(head.find("\r\nTransfer-Encoding: chunked\r\n") != std::string::npos);
  CHECK(head.find("Content-Length") == std::string::npos);
  const std::string body = reader.until("0\r\n\r\n");
  CHECK(body ==
        "3b\r\nevent: update\nid: 7\nretry: 3000\ndata: line 1\ndata: line 2\n\n\r\n"
        "16\r\ndata: {\"delta\":\"lo\"}\n\n\r\n"
        "d\r\nretry: 1500\n\n\r\n"
        "7\r\nid: 8\n\n\r\n"
        "0\r\n\r\n");

  // The connection stays open after a stream that ended: the next request is answered.
  client.send(get("/plain"));
  const std::string next = head_of(reader);
  CHECK(next.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(reader.until("plain") == "plain");
}

TEST_CASE("a route's own Content-Type and Cache-Control are kept", "[sse][framing]") {
  running_server s(routes);
  raw_client client(s.port());
  stream_reader reader(client);
  client.send(get("/typed"));
  const std::string head = head_of(reader);
  CHECK(head.find("\r\nContent-Type: text/event-stream; charset=utf-8\r\n") != std::string::npos);
  CHECK(head.find("\r\nCache-Control: no-store\r\n") != std::string::npos);
  CHECK(head.find("no-cache") == std::string::npos);
  CHECK(reader.until("0\r\n\r\n") == "9\r\ndata: x\n\n\r\n0\r\n\r\n");
}

TEST_CASE("each event arrives when it is due, before the next one", "[sse][timing]") {
  running_server s(routes);
  raw_client client(s.port());
  stream_reader reader(client);
  const auto start = clock_type::now();
  client.send(get("/timed"));
  head_of(reader);
  CHECK(reader.until("data: one\n\n\r\n").find("data: one") != std::string::npos);
  CHECK(elapsed_ms(start) < 250);  // not held back until the next event
  CHECK(reader.pending().empty());

  reader.until("data: two\n\n\r\n");
  const long second = elapsed_ms(start);
  CHECK(second >= 290);
  CHECK(reader.pending().find("three") == std::string::npos);  // the third is not due yet

  reader.until("data: three\n\n\r\n");
  CHECK(elapsed_ms(start) >= 590);  // counted from the previous event
  CHECK(reader.until("0\r\n\r\n") == "0\r\n\r\n");
}

TEST_CASE("a reply's delay holds the head back", "[sse][timing]") {
  running_server s(routes);
  raw_client client(s.port());
  stream_reader reader(client);
  const auto start = clock_type::now();
  client.send(get("/late"));
  head_of(reader);
  CHECK(elapsed_ms(start) >= 290);
  CHECK(reader.until("0\r\n\r\n") == "9\r\ndata: x\n\n\r\n0\r\n\r\n");
}

TEST_CASE("Last-Event-ID resumes after that event; an unknown id replays from the start",
          "[sse][resume]") {
  running_server s(routes);
  raw_client client(s.port());
  stream_reader reader(client);
  client.send(get("/resume", "Last-Event-ID: 2\r\n"));
  head_of(reader);
  CHECK(reader.until("0\r\n\r\n") == "f\r\nid: 3\ndata: c\n\n\r\n0\r\n\r\n");

  client.send(get("/resume", "Last-Event-ID: 99\r\n"));
  head_of(reader);
  CHECK(reader.until("0\r\n\r\n") ==
        "f\r\nid: 1\ndata: a\n\n\r\nf\r\nid: 2\ndata: b\n\n\r\nf\r\nid: 3\ndata: c\n\n\r\n"
        "0\r\n\r\n");

  client.send(get("/resume", "Last-Event-ID: 3\r\n"));
  head_of(reader);
  CHECK(reader.until("0\r\n\r\n") == "0\r\n\r\n");
}

TEST_CASE("templates fill data, id and event from the request", "[sse][templates]") {
  running_server s(routes);
  raw_client client(s.port());
  stream_reader reader(client);
  client.send(get("/rooms/blue?kind=join&user=ann", "X-Seq: 41\r\n"));
  head_of(reader);
  const std::string event = "event: join\nid: 41\ndata: room blue\ndata: user ann\n\n";
  char size[8];
  std::snprintf(size, sizeof size, "%zx", event.size());
  CHECK(reader.until("0\r\n\r\n") == std::string(size) + "\r\n" + event + "\r\n0\r\n\r\n");
}

TEST_CASE("a held stream sends heartbeats until the client goes", "[sse][hold]") {
  running_server s(routes);
  {
    raw_client client(s.port());
    stream_reader reader(client);
    const auto start = clock_type::now();
    client.send(get("/feed"));
    head_of(reader);
    CHECK(reader.until("data: hi\n\n\r\n") == "17\r\nevent: hello\ndata: hi\n\n\r\n");
    CHECK(reader.until("e\r\n: keep-alive\n\n\r\n") == "e\r\n: keep-alive\n\n\r\n");
    CHECK(elapsed_ms(start) >= 140);
    CHECK(reader.until("e\r\n: keep-alive\n\n\r\n") == "e\r\n: keep-alive\n\n\r\n");
    CHECK(elapsed_ms(start) >= 290);
    CHECK(reader.pending().empty());
  }
  // The client went; the server goes on serving (and notices at its next heartbeat).
  CHECK(exchange(s.port(), get("/plain")).body == "plain");
}

TEST_CASE("a drain ends held streams at once with the last chunk", "[sse][hold][drain]") {
  auto s = std::make_unique<running_server>(routes);
  raw_client beating(s->port());
  raw_client quiet(s->port());
  stream_reader beating_reader(beating);
  stream_reader quiet_reader(quiet);
  beating.send(get("/feed"));
  quiet.send(get("/quiet"));
  head_of(beating_reader);
  head_of(quiet_reader);
  beating_reader.until("data: hi\n\n\r\n");
  quiet_reader.until("data: only\n\n\r\n");

  const auto start = clock_type::now();
  std::jthread stopper([&] { s->get().stop(10s); });
  const auto [quiet_rest, quiet_end] = quiet_reader.rest(5s);
  CHECK(quiet_rest == "0\r\n\r\n");
  CHECK(quiet_end == connection_end::clean_close);
  auto [beating_rest, beating_end] = beating_reader.rest(5s);
  // Heartbeats may have come before the drain; the body ends with its last chunk.
  while (beating_rest.rfind("e\r\n: keep-alive\n\n\r\n", 0) == 0) beating_rest.erase(0, 19);
  CHECK(beating_rest == "0\r\n\r\n");
  CHECK(beating_end == connection_end::clean_close);
  CHECK(elapsed_ms(start) < 5000);  // the drain did not wait for its timeout
  stopper.join();
}

TEST_CASE("truncate cuts the stream inside an event, then closes", "[sse][faults]") {
  running_server s(routes);
  raw_client client(s.port());
  stream_reader reader(client);
  client.send(get("/cut"));
  head_of(reader);
  // Three events of 18 bytes: the cut falls at 27, inside the second.
  const auto [rest, end] = reader.rest(5s);
  CHECK(rest == "12\r\ndata: aaaaaaaaaa\n\n\r\n12\r\ndata: bbb");
  CHECK(end == connection_end::clean_close);
}

TEST_CASE("HTTP/1.0 gets the bare events, ended by the close", "[sse][framing]") {
  running_server s(routes);
  raw_client client(s.port());
  stream_reader reader(client);
  client.send("GET /framing HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n\r\n");
  const std::string head = head_of(reader);
  CHECK(head.find("Transfer-Encoding") == std::string::npos);
  CHECK(head.find("Content-Length") == std::string::npos);
  CHECK(head.find("\r\nConnection: close\r\n") != std::string::npos);
  const auto [rest, end] = reader.rest(5s);
  CHECK(rest ==
        "event: update\nid: 7\nretry: 3000\ndata: line 1\ndata: line 2\n\n"
        "data: {\"delta\":\"lo\"}\n\nretry: 1500\n\nid: 8\n\n");
  CHECK(end == connection_end::clean_close);
}

TEST_CASE("HEAD gets the head of a stream only, and the connection goes on", "[sse][framing]") {
  running_server s(routes);
  raw_client client(s.port());
  stream_reader reader(client);
  client.send("HEAD /feed HTTP/1.1\r\nHost: t\r\n\r\n");
  const std::string head = head_of(reader);
  CHECK(head.find("\r\nContent-Type: text/event-stream\r\n") != std::string::npos);
  client.send(get("/plain"));
  const std::string next = head_of(reader);
  CHECK(next.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(next.find("Content-Length: 5") != std::string::npos);
  CHECK(reader.until("plain") == "plain");  // nothing of the stream came in between
}

TEST_CASE("reset and close faults end an event stream before its head", "[sse][faults]") {
  running_server s(R"(
[[route]]
path = "/reset"
[route.reply]
events = [ { data = "x" } ]
fault = "reset"

[[route]]
path = "/empty"
[route.reply]
events = [ { data = "x" } ]
fault = "empty"
)");
  {
    raw_client client(s.port());
    client.send(get("/reset"));
    const auto [bytes, end] = client.read_until_close();
    CHECK(bytes.empty());
    CHECK(end != connection_end::timeout);
  }
  raw_client client(s.port());
  stream_reader reader(client);
  client.send(get("/empty"));
  CHECK(head_of(reader).find("Transfer-Encoding: chunked") != std::string::npos);
  const auto [rest, end] = reader.rest(5s);
  CHECK(rest.empty());
  CHECK(end == connection_end::clean_close);
}

// Scripted time and failure over real sockets: delays, 408/504, server timeouts, hang,
// Expect: 100-continue, interim responses, faults, pacing, sequences and outages.
// Timing checks are lower bounds with slack and generous upper bounds: CI machines are noisy.

#include <array>
#include <catch2/catch.hpp>
#include <cstdlib>
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

}  // namespace

TEST_CASE("a fixed delay holds the reply back", "[scripted][delay]") {
  running_server s(R"(
[[route]]
path = "/slow"
[route.reply]
delay = "300ms"
body = "late"

[[route]]
path = "/gateway"
[route.reply]
status = 504
delay = "400ms"
)");
  auto start = clock_type::now();
  auto r = exchange(s.port(), get("/slow"));
  CHECK(r.body == "late");
  CHECK(elapsed_ms(start) >= 290);
  CHECK(elapsed_ms(start) < 5000);

  start = clock_type::now();
  auto gateway = exchange(s.port(), get("/gateway"));
  CHECK(gateway.status == 504);
  CHECK(gateway.reason == "Gateway Timeout");
  CHECK(elapsed_ms(start) >= 390);
}

TEST_CASE("before a delay, replies already due and interim responses go out", "[scripted][delay]") {
  running_server s(R"(
[[route]]
path = "/fast"
[route.reply]
body = "fast"

[[route]]
path = "/slow/{id}"
[route.reply]
delay = "400ms"
interim = [ { status = 103, headers = { Link = "</a.css>; rel=preload" } } ]
body = "late {{path.id}} {{query.q}}"
)");
  raw_client c(s.port());
  c.send(get("/fast") + get("/slow/7?q=x") + get("/fast"));
  CHECK(c.read_response().body == "fast");
  auto early = c.read_response();
  CHECK(early.status == 103);
  const auto interim_at = clock_type::now();
  auto late = c.read_response();
  CHECK(late.status == 200);
  CHECK(late.body == "late 7 x");        // the request is still there to render after the wait
  CHECK(elapsed_ms(interim_at) >= 300);  // the 103 came before the wait, not with the reply
  CHECK(c.read_response().body == "fast");
}

TEST_CASE("random delays stay in range and repeat with a seed", "[scripted][delay][seed]") {
  const char* config = R"(
[server]
seed = 42

[[route]]
path = "/uniform"
[route.reply]
delay = { min = "20ms", max = "120ms" }

[[route]]
path = "/lognormal"
[route.reply]
delay = { median = "30ms", sigma = 0.5 }
)";
  running_server s(config);
  for (int i = 0; i < 10; ++i) {
    auto start = clock_type::now();
    CHECK(exchange(s.port(), get("/uniform")).status == 200);
    long ms = elapsed_ms(start);
    CHECK(ms >= 19);
    CHECK(ms < 3000);
  }
  for (int i = 0; i < 5; ++i) CHECK(exchange(s.port(), get("/lognormal")).status == 200);

  // The seed fixes the sequence of delays: two servers with the same seed wait the same times,
  // request for request, and a server with another seed waits other times. Uniform draws over
  // half a second: the same seed agrees within timing noise, different seeds differ far more.
  auto seeded = [](int seed) {
    return "[server]\nseed = " + std::to_string(seed) + R"(
[[route]]
path = "/wide"
[route.reply]
delay = { min = "0ms", max = "500ms" }
)";
  };
  constexpr int draws = 8;
  running_server same_a(seeded(42)), same_b(seeded(42)), other(seeded(7));
  std::array<std::array<long, draws>, 3> delays{};
  std::array<std::string, 3> failures;
  std::vector<std::thread> clients;
  std::array<std::uint16_t, 3> ports = {same_a.port(), same_b.port(), other.port()};
  for (std::size_t k = 0; k < ports.size(); ++k) {
    // No Catch macros in these threads (Catch is not thread-safe): record, assert after join.
    clients.emplace_back([&, k] {
      try {
        raw_client c(ports[k]);
        for (int i = 0; i < draws; ++i) {
          auto start = clock_type::now();
          c.send(get("/wide"));
          if (c.read_response().status != 200) throw std::runtime_error("not a 200");
          delays[k][i] = elapsed_ms(start);
        }
      } catch (const std::exception& e) {
        failures[k] = e.what();
      }
    });
  }
  for (auto& t : clients) t.join();
  for (const auto& failure : failures) REQUIRE(failure.empty());
  long widest_gap = 0;
  for (int i = 0; i < draws; ++i) {
    INFO("request " << i << ": " << delays[0][i] << ", " << delays[1][i] << " and " << delays[2][i]
                    << " ms");
    CHECK(delays[0][i] < 3000);
    CHECK(std::labs(delays[0][i] - delays[1][i]) < 100);
    widest_gap = std::max(widest_gap, std::labs(delays[0][i] - delays[2][i]));
  }
  CHECK(widest_gap > 150);
}

TEST_CASE("a scripted 408 closes the connection", "[scripted]") {
  running_server s(R"(
[[route]]
path = "/timeout"
[route.reply]
status = 408
)");
  raw_client c(s.port());
  c.send(get("/timeout"));
  auto r = c.read_response();
  CHECK(r.status == 408);
  CHECK(r.header("Connection") == "close");
  CHECK(c.read_until_close(3s).second == connection_end::clean_close);
}

TEST_CASE("server timeouts: slow head and stalled body get 408, idle gets a silent close",
          "[scripted][timeouts]") {
  running_server s(R"(
[server]
header_timeout = "300ms"
body_timeout = "300ms"
idle_timeout = "300ms"

[[route]]
path = "/ok"
[route.reply]
body = "ok"
)");
  SECTION("slowloris head") {
    raw_client c(s.port());
    auto start = clock_type::now();
    c.send("GET /ok HTTP/1.1\r\nHost: t\r\nX-Slow: ");
    auto r = c.read_response();
    CHECK(r.status == 408);
    CHECK(r.header("Connection") == "close");
    CHECK(elapsed_ms(start) >= 250);
    CHECK(c.read_until_close(3s).second == connection_end::clean_close);
  }
  SECTION("stalled body") {
    raw_client c(s.port());
    c.send("POST /ok HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    auto r = c.read_response();
    CHECK(r.status == 408);
    CHECK(c.read_until_close(3s).second == connection_end::clean_close);
  }
  SECTION("idle before the first byte and between requests") {
    raw_client c(s.port());
    auto start = clock_type::now();
    auto [data, end] = c.read_until_close(5s);
    CHECK(data.empty());
    CHECK(end == connection_end::clean_close);
    CHECK(elapsed_ms(start) >= 250);
    raw_client k(s.port());
    k.send(get("/ok"));
    CHECK(k.read_response().body == "ok");
    auto [rest, how] = k.read_until_close(5s);
    CHECK(rest.empty());
    CHECK(how == connection_end::clean_close);
  }
}

TEST_CASE("each connection keeps its own deadline while others open and close around it",
          "[scripted][timeouts]") {
  // The registry keeps deadlines in a dense array and fills a closed connection's slot with the
  // last one: a slot mix-up would time out the wrong connection, or none.
  running_server s(R"(
[server]
header_timeout = "300ms"
idle_timeout = "30s"

[[route]]
path = "/ok"
[route.reply]
body = "ok"
)");
  std::vector<std::unique_ptr<raw_client>> clients;
  for (int i = 0; i < 12; ++i) clients.push_back(std::make_unique<raw_client>(s.port()));
  auto wait_for_open = [&](std::size_t wanted) {
    const auto deadline = clock_type::now() + 5s;
    while (s.get().open_connections() != wanted && clock_type::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    REQUIRE(s.get().open_connections() == wanted);
  };
  wait_for_open(12);
  // Close the first half: on both I/O threads, later connections move into their slots.
  for (int i = 0; i < 6; ++i) clients[i].reset();
  wait_for_open(6);
  // Two of the rest start a head and stall; the others stay idle.
  clients[7]->send("GET /ok HTTP/1.1\r\nHost: t\r\n");
  clients[10]->send("GET /ok HTTP/1.1\r\nHost: t\r\n");
  for (int i : {7, 10}) {
    auto r = clients[i]->read_response();
    CHECK(r.status == 408);
  }
  wait_for_open(4);
  for (int i : {6, 8, 9, 11}) {
    clients[i]->send(get("/ok"));
    CHECK(clients[i]->read_response().body == "ok");
  }
}

TEST_CASE("hang = true never answers and gives up at max_hang", "[scripted]") {
  running_server s(R"(
[server]
max_hang = "500ms"

[[route]]
path = "/hang"
[route.reply]
hang = true
body = "never"
)");
  raw_client c(s.port());
  auto start = clock_type::now();
  c.send(get("/hang"));
  auto [data, end] = c.read_until_close(5s);
  CHECK(data.empty());
  CHECK(end != connection_end::timeout);
  CHECK(elapsed_ms(start) >= 450);
}

TEST_CASE("Expect: 100-continue, answered, held back, or refused", "[scripted][expect]") {
  running_server s(R"(
[server]
max_body_bytes = 1000

[[route]]
name = "upload"
method = "PUT"
path = "/upload"
[route.reply]
status = 201

[[route]]
name = "slow-continue"
method = "PUT"
path = "/slow-upload"
continue_delay = "300ms"
[route.reply]
status = 201

[[route]]
name = "refuse"
method = "PUT"
path = "/locked"
expect = "reject"
[route.reply]
status = 401
headers = { "WWW-Authenticate" = 'Bearer realm="stub"' }
)");
  SECTION("100 then the final reply") {
    raw_client c(s.port());
    c.send("PUT /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    auto interim = c.read_response();
    CHECK(interim.status == 100);
    CHECK(interim.reason == "Continue");
    c.send("hello");
    CHECK(c.read_response().status == 201);
  }
  SECTION("continue_delay holds the 100 back") {
    raw_client c(s.port());
    auto start = clock_type::now();
    c.send(
        "PUT /slow-upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: "
        "100-continue\r\n\r\n");
    CHECK(c.read_response().status == 100);
    CHECK(elapsed_ms(start) >= 290);
    c.send("hello");
    CHECK(c.read_response().status == 201);
  }
  SECTION("expect = reject answers at once, without reading the body, and closes") {
    raw_client c(s.port());
    c.send("PUT /locked HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    auto r = c.read_response();
    CHECK(r.status == 401);
    CHECK(r.header("WWW-Authenticate") == "Bearer realm=\"stub\"");
    CHECK(r.header("Connection") == "close");
    CHECK(c.read_until_close(3s).second != connection_end::timeout);
  }
  SECTION("too large: 413 before the body is sent") {
    raw_client c(s.port());
    c.send(
        "PUT /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n");
    auto r = c.read_response();
    CHECK(r.status == 413);
    CHECK(r.header("Connection") == "close");
  }
  SECTION("a client that does not wait for the 100 is served too") {
    raw_client c(s.port());
    c.send(
        "PUT /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: "
        "100-continue\r\n\r\nhello");
    auto r = c.read_response();
    if (r.status == 100) r = c.read_response();  // the 100 may still come if the body was late
    CHECK(r.status == 201);
  }
}

TEST_CASE("interim responses come before the final one", "[scripted][interim]") {
  running_server s(R"(
[[route]]
path = "/hints"
[route.reply]
interim = [ { status = 103, headers = { Link = "</app.css>; rel=preload" } } ]
body = "page"

[[route]]
path = "/long"
[route.reply]
delay = "450ms"
processing_every = "100ms"
body = "done"
)");
  raw_client c(s.port());
  c.send(get("/hints"));
  auto early = c.read_response();
  CHECK(early.status == 103);
  CHECK(early.reason == "Early Hints");
  CHECK(early.header("Link") == "</app.css>; rel=preload");
  CHECK(c.read_response().body == "page");

  c.send(get("/long"));
  int processing = 0;
  http_response r;
  while ((r = c.read_response()).status == 102) ++processing;
  CHECK(processing >= 2);
  CHECK(r.status == 200);
  CHECK(r.body == "done");
}

TEST_CASE("faults break the reply the way a failing server does", "[scripted][faults]") {
  running_server s(R"(
[[route]]
path = "/reset"
[route.reply]
fault = "reset"

[[route]]
path = "/close"
[route.reply]
fault = "close"

[[route]]
path = "/empty"
[route.reply]
fault = "empty"
body = "0123456789"

[[route]]
path = "/truncate"
[route.reply]
fault = "truncate"
body = "0123456789"

[[route]]
path = "/garbage"
[route.reply]
fault = "garbage"

[[route]]
path = "/bad-chunk"
[route.reply]
fault = "malformed-chunk"
body = "0123456789"
)");
  SECTION("reset") {
    raw_client c(s.port());
    c.send(get("/reset"));
    auto [data, end] = c.read_until_close(3s);
    CHECK(data.empty());
    CHECK(end == connection_end::reset);
  }
  SECTION("close") {
    raw_client c(s.port());
    c.send(get("/close"));
    auto [data, end] = c.read_until_close(3s);
    CHECK(data.empty());
    CHECK(end == connection_end::clean_close);
  }
  SECTION("empty") {
    raw_client c(s.port());
    c.send(get("/empty"));
    auto [data, end] = c.read_until_close(3s);
    CHECK(data.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(data.find("Content-Length: 10\r\n") != std::string::npos);
    CHECK(data.ends_with("\r\n\r\n"));
    CHECK(end == connection_end::clean_close);
  }
  SECTION("truncate") {
    raw_client c(s.port());
    c.send(get("/truncate"));
    auto [data, end] = c.read_until_close(3s);
    CHECK(data.find("Content-Length: 10\r\n") != std::string::npos);
    CHECK(data.ends_with("\r\n\r\n01234"));
    CHECK(end == connection_end::clean_close);
  }
  SECTION("garbage") {
    raw_client c(s.port());
    c.send(get("/garbage"));
    auto [data, end] = c.read_until_close(3s);
    CHECK(data.size() >= 64);
    CHECK_FALSE(data.starts_with("HTTP/"));
    CHECK(end != connection_end::timeout);
  }
  SECTION("malformed chunk") {
    raw_client c(s.port());
    c.send(get("/bad-chunk"));
    auto [data, end] = c.read_until_close(3s);
    CHECK(data.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
    CHECK(data.find("Content-Length") == std::string::npos);
    CHECK(data.find("\r\n\r\n1\r\n0\r\nzz\r\n") != std::string::npos);
  }
}

TEST_CASE("chunks and bandwidth pace the body", "[scripted][pacing]") {
  running_server s(R"(
[[route]]
path = "/chunks"
[route.reply]
chunks = { count = 4, over = "400ms" }
body = "aaaabbbbccccdddd"

[[route]]
path = "/slow-link"
[route.reply]
bandwidth = "2KiB/s"
body = """)" + std::string(1024, 'x') +
                   R"("""
)");
  auto start = clock_type::now();
  raw_client c(s.port());
  c.send(get("/chunks"));
  auto r = c.read_response();
  CHECK(r.header("Transfer-Encoding") == "chunked");
  CHECK_FALSE(r.has_header("Content-Length"));
  CHECK(r.body == "aaaabbbbccccdddd");
  CHECK(elapsed_ms(start) >= 250);  // three pauses of 100 ms between four chunks

  start = clock_type::now();
  c.send(get("/slow-link"));
  auto slow = c.read_response();
  CHECK(slow.body == std::string(1024, 'x'));
  CHECK(elapsed_ms(start) >= 350);  // 1 KiB at 2 KiB/s: about half a second
}

TEST_CASE("sequences: two 503s then 200, and cycles", "[scripted][sequence]") {
  running_server s(R"(
[[route]]
name = "flaky"
path = "/flaky"
[[route.replies]]
status = 503
repeat = 2
headers = { "Retry-After" = "1" }
[[route.replies]]
status = 200
body = "recovered"

[[route]]
name = "alternating"
path = "/alternating"
then = "cycle"
[[route.replies]]
body = "a"
[[route.replies]]
body = "b"
)");
  raw_client c(s.port());
  std::vector<int> statuses;
  for (int i = 0; i < 4; ++i) {
    c.send(get("/flaky"));
    auto r = c.read_response();
    statuses.push_back(r.status);
    if (r.status == 503) CHECK(r.header("Retry-After") == "1");
  }
  CHECK(statuses == std::vector<int>{503, 503, 200, 200});
  std::string bodies;
  for (int i = 0; i < 5; ++i) {
    c.send(get("/alternating"));
    bodies += c.read_response().body;
  }
  CHECK(bodies == "ababa");
}

TEST_CASE("sequences hold across threads and connections", "[scripted][sequence]") {
  running_server s(R"(
[[route]]
path = "/once"
[[route.replies]]
status = 201
[[route.replies]]
status = 409
)");
  std::atomic<int> created{0}, conflicts{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        int status = exchange(s.port(), get("/once")).status;
        (status == 201 ? created : conflicts)++;
      }
    });
  }
  for (auto& t : clients) t.join();
  CHECK(created == 1);
  CHECK(conflicts == 79);
}

TEST_CASE("outages: a failing fraction, a window with Retry-After, server-wide",
          "[scripted][outage]") {
  const char* config = R"(
[server]
seed = 7

[[route]]
path = "/sometimes"
[route.outage]
rate = 0.5

[[route]]
path = "/window"
[route.outage]
every = "60s"
duration = "30s"

[[route]]
path = "/dropping"
[route.outage]
rate = 1.0
fault = "reset"

[[route]]
path = "/api/users"

[[outage]]
path = "/api/*"
rate = 1.0
status = 502
)";
  std::vector<int> first_run;
  {
    running_server s(config);
    raw_client c(s.port());
    int failed = 0;
    for (int i = 0; i < 200; ++i) {
      c.send(get("/sometimes"));
      int status = c.read_response().status;
      first_run.push_back(status);
      failed += status == 503;
    }
    CHECK(failed > 60);
    CHECK(failed < 140);

    c.send(get("/window"));
    auto w = c.read_response();
    CHECK(w.status == 503);
    int retry = std::stoi(w.header("Retry-After"));
    CHECK(retry >= 1);
    CHECK(retry <= 30);

    c.send(get("/api/users"));
    CHECK(c.read_response().status == 502);

    raw_client d(s.port());
    d.send(get("/dropping"));
    CHECK(d.read_until_close(3s).second == connection_end::reset);
  }
  // The same seed gives the same choices.
  running_server again(config);
  raw_client c(again.port());
  std::vector<int> second_run;
  for (int i = 0; i < 200; ++i) {
    c.send(get("/sometimes"));
    second_run.push_back(c.read_response().status);
  }
  CHECK(first_run == second_run);
}

// Idle keep-alive connections on a thread with many connections wait for their next request
// holding only their socket (no session, no buffer): over real sockets, they still answer every
// request, pipelined or split, time out, and close on stop like any other connection.
#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

using namespace std::chrono_literals;
using namespace stubborn::testing;

namespace {

// More than a thread keeps sessions for (256 each; the test server has 2 threads), so most of
// these connections park: new ones until their first bytes come, all of them between requests.
constexpr std::size_t many = 700;

const char* const parked_config = R"(
[server]
listen = "127.0.0.1:0"
idle_timeout = "1500ms"
header_timeout = "500ms"

[[route]]
method = "GET"
path = "/hello"
[route.reply]
body = "hello"

[[route]]
method = "GET"
path = "/slow"
[route.reply]
body = "slow"
delay = "200ms"
)";

// Two descriptors per connection (ours and the server's) in this one process.
bool enough_descriptors() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  const rlim_t wanted = 2 * many + 256;
  if (limit.rlim_cur < wanted && limit.rlim_max >= wanted) {
    limit.rlim_cur = wanted;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur >= wanted;
}

const std::string hello = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";

// `first`: sent on each connection as soon as it is open (the time to open all of them, TLS
// handshakes included, may exceed a short idle timeout).
std::vector<std::unique_ptr<raw_client>> open_many(std::uint16_t port,
                                                   const std::string& first = {}) {
  std::vector<std::unique_ptr<raw_client>> clients;
  for (std::size_t i = 0; i < many; ++i) {
    clients.push_back(std::make_unique<raw_client>(port));
    if (!first.empty()) clients.back()->send(first);
  }
  return clients;
}

// parked_config with another idle timeout.
std::string with_idle_timeout(const std::string& value) {
  std::string config = parked_config;
  config.replace(config.find("1500ms"), 6, value);
  return config;
}

}  // namespace

TEST_CASE("parked connections answer every request, pipelined or split", "[parked]") {
  if (!enough_descriptors()) {
    WARN("skipped: the open-file limit is below what " << many << " connections need");
    return;
  }
  // Long enough for opening them all, TLS handshakes included, on a slow machine.
  running_server server(with_idle_timeout("60s"));
  auto clients = open_many(server.port());

  // First request on each: most connections were parked before any byte came.
  for (auto& c : clients) c->send(hello);
  std::size_t answered = 0;
  for (auto& c : clients) answered += c->read_response().body == "hello";
  CHECK(answered == many);

  // Second: every one of them has parked after its first reply.
  answered = 0;
  for (auto& c : clients) c->send(hello);
  for (auto& c : clients) answered += c->read_response().body == "hello";
  CHECK(answered == many);

  SECTION("three pipelined requests in one write wake a parked connection once") {
    raw_client& c = *clients[many - 1];
    c.send(hello + hello + hello);
    for (int i = 0; i < 3; ++i) CHECK(c.read_response().body == "hello");
  }
  SECTION("a request split across writes: its first byte wakes the connection") {
    raw_client& c = *clients[many - 2];
    c.send("G");
    std::this_thread::sleep_for(50ms);
    c.send("ET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(c.read_response().body == "hello");
  }
  SECTION("half a request, then nothing: 408 once the header timeout passes") {
    raw_client& c = *clients[many - 3];
    c.send("GET /hello HTTP/1.1\r\n");
    const auto response = c.read_response();
    CHECK(response.status == 408);
    CHECK(c.read_until_close(2s).second == connection_end::clean_close);
  }
  SECTION("a delayed reply on a woken connection, then it parks again") {
    raw_client& c = *clients[many - 4];
    c.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(c.read_response().body == "slow");
    c.send(hello);
    CHECK(c.read_response().body == "hello");
  }
  SECTION("a client that closes while parked: the server closes its end too") {
    clients[many - 5].reset();
    raw_client& c = *clients[many - 6];
    c.send(hello);
    CHECK(c.read_response().body == "hello");
  }
}

TEST_CASE("parked connections close at the idle timeout", "[parked]") {
  if (!enough_descriptors()) {
    WARN("skipped: the open-file limit is below what " << many << " connections need");
    return;
  }
  running_server server(parked_config);
  auto clients = open_many(server.port(), hello);
  for (auto& c : clients) REQUIRE(c->read_response().body == "hello");
  // Parked now; idle_timeout is 1.5 s: each is closed cleanly (FIN), none waits for ever.
  std::size_t closed = 0;
  for (std::size_t i = 0; i < many; i += 50) {
    closed += clients[i]->read_until_close(4s).second == connection_end::clean_close;
  }
  CHECK(closed == (many + 49) / 50);
}

TEST_CASE("a server with parked connections stops at once", "[parked]") {
  if (!enough_descriptors()) {
    WARN("skipped: the open-file limit is below what " << many << " connections need");
    return;
  }
  // An idle timeout far longer than the stop may take.
  auto server = std::make_unique<running_server>(with_idle_timeout("60s"));
  auto clients = open_many(server->port(), hello);
  for (auto& c : clients) REQUIRE(c->read_response().body == "hello");
  // Stopping must end every parked connection, not wait for its idle timeout.
  const auto started = std::chrono::steady_clock::now();
  server.reset();
  CHECK(std::chrono::steady_clock::now() - started < 20s);
  std::size_t closed = 0;
  for (std::size_t i = 0; i < many; i += 50) {
    closed += clients[i]->read_until_close(2s).second != connection_end::timeout;
  }
  CHECK(closed == (many + 49) / 50);
}

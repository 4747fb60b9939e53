// The Redis client against a real redis-server on a free loopback port: replies, pipelining,
// scripts, AUTH and SELECT, unix sockets, and what happens when Redis is unreachable, restarts,
// stops answering or answers late.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cluster/redis_client.hpp"
#include "redis_process.hpp"

namespace net = boost::asio;
using namespace std::chrono_literals;
using stubborn::redis_connection;
using stubborn::redis_options;
using stubborn::redis_reply;
using stubborn::redis_script;
using stubborn::redis_subscriber;
using stubborn::testing::redis_process;
using clock_type = std::chrono::steady_clock;

namespace {

// The test's event loop: runs handlers until a condition holds, within a bound.
struct event_loop {
  net::io_context io;
  net::executor_work_guard<net::io_context::executor_type> guard = net::make_work_guard(io);

  template <typename Condition>
  bool run_until(Condition condition, std::chrono::milliseconds limit = 5000ms) {
    const auto end = clock_type::now() + limit;
    while (!condition()) {
      if (clock_type::now() >= end) return false;
      io.run_one_for(10ms);
    }
    return true;
  }
  // Runs whatever happens for `duration` (to see that something does not happen).
  void run_for(std::chrono::milliseconds duration) {
    const auto end = clock_type::now() + duration;
    while (clock_type::now() < end) io.run_one_for(end - clock_type::now());
  }
};

redis_options options_for(const std::string& url, std::chrono::milliseconds timeout = 50ms) {
  redis_options options;
  const auto problem = stubborn::parse_redis_url(url, options.endpoint);
  INFO(problem);
  REQUIRE(problem.empty());
  options.timeout = timeout;
  return options;
}

// One command's outcome.
struct outcome {
  bool done = false;
  std::optional<redis_reply> reply;  // nullopt: the handler had null
};

redis_connection::reply_handler keep(std::shared_ptr<outcome> out) {
  return [out](const redis_reply* reply) {
    out->done = true;
    if (reply) out->reply = *reply;
  };
}

// Sends one command and runs the loop until its handler ran.
std::optional<redis_reply> call(event_loop& loop, redis_connection& connection,
                                std::vector<std::string> argv) {
  auto out = std::make_shared<outcome>();
  connection.command(std::move(argv), keep(out));
  REQUIRE(loop.run_until([&] { return out->done; }, 3000ms));
  return out->reply;
}

std::string text_of(const std::optional<redis_reply>& reply) {
  REQUIRE(reply);
  return reply->text;
}

// A port on which nothing listens (bound to 0 by the kernel, then closed).
unsigned short unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) == 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

// Sets an environment variable for one scope.
struct scoped_env {
  scoped_env(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~scoped_env() { ::unsetenv(name_); }
  const char* name_;
};

// Connects (and waits until up), recording each on_state call.
struct connected {
  connected(event_loop& loop, redis_options options) : connection(loop.io, std::move(options)) {
    connection.on_state([this](bool up) { states.push_back(up); });
    connection.start();
  }
  redis_connection connection;
  std::vector<bool> states;
};

}  // namespace

TEST_CASE("Redis client: SET, GET, INCR, nil, arrays and errors come back as replies", "[redis]") {
  redis_process redis;
  event_loop loop;
  connected c(loop, options_for(redis.url()));
  REQUIRE(loop.run_until([&] { return c.connection.up(); }));

  auto set = call(loop, c.connection, {"SET", "greeting", "hello world"});
  REQUIRE(set);
  CHECK(set->kind == redis_reply::type::status);
  CHECK(set->text == "OK");
  auto get = call(loop, c.connection, {"GET", "greeting"});
  REQUIRE(get);
  CHECK(get->kind == redis_reply::type::string);
  CHECK(get->text == "hello world");
  for (long long expected = 1; expected <= 3; ++expected) {
    auto incr = call(loop, c.connection, {"INCR", "counter"});
    REQUIRE(incr);
    CHECK(incr->kind == redis_reply::type::integer);
    CHECK(incr->integer == expected);
  }
  auto missing = call(loop, c.connection, {"GET", "no such key"});
  REQUIRE(missing);
  CHECK(missing->kind == redis_reply::type::nil);
  // Binary-safe arguments and replies.
  const std::string binary("a\0b\r\nc", 6);
  call(loop, c.connection, {"RPUSH", "list", binary, "second"});
  auto range = call(loop, c.connection, {"LRANGE", "list", "0", "-1"});
  REQUIRE(range);
  REQUIRE(range->kind == redis_reply::type::array);
  REQUIRE(range->elements.size() == 2);
  CHECK(range->elements[0].text == binary);
  CHECK(range->elements[1].text == "second");
  auto wrong = call(loop, c.connection, {"INCR", "greeting"});
  REQUIRE(wrong);
  CHECK(wrong->kind == redis_reply::type::error);
  CHECK(wrong->text.find("not an integer") != std::string::npos);
  CHECK(c.states == std::vector<bool>{true});
}

TEST_CASE("Redis client: 1,000 pipelined commands are all in flight at once and complete in order",
          "[redis]") {
  redis_process redis;
  event_loop loop;
  connected c(loop, options_for(redis.url(), 2000ms));
  REQUIRE(loop.run_until([&] { return c.connection.up(); }));

  std::vector<long long> replies;
  for (int i = 0; i < 1000; ++i) {
    c.connection.command({"INCR", "counter"}, [&](const redis_reply* reply) {
      replies.push_back(reply && reply->kind == redis_reply::type::integer ? reply->integer : -1);
    });
  }
  CHECK(c.connection.in_flight() == 1000);
  CHECK(replies.empty());  // never answered from inside command()
  REQUIRE(loop.run_until([&] { return replies.size() == 1000; }));
  for (std::size_t i = 0; i < replies.size(); ++i) {
    INFO("reply " << i);
    REQUIRE(replies[i] == static_cast<long long>(i + 1));
  }
  CHECK(c.connection.in_flight() == 0);
}

TEST_CASE("Redis client: eval runs a script by EVALSHA, and loads it again after SCRIPT FLUSH",
          "[redis]") {
  redis_process redis;
  event_loop loop;
  connected c(loop, options_for(redis.url(), 500ms));
  REQUIRE(loop.run_until([&] { return c.connection.up(); }));
  const redis_script script("return redis.call('INCRBY', KEYS[1], ARGV[1])");
  CHECK(script.sha1().size() == 40);

  const auto run = [&] {
    auto out = std::make_shared<outcome>();
    c.connection.eval(script, {"total"}, {"10"}, keep(out));
    REQUIRE(loop.run_until([&] { return out->done; }));
    REQUIRE(out->reply);
    return *out->reply;
  };
  call(loop, c.connection, {"CONFIG", "RESETSTAT"});
  CHECK(run().integer == 10);  // NOSCRIPT, then EVAL
  CHECK(run().integer == 20);  // EVALSHA
  CHECK(run().integer == 30);
  call(loop, c.connection, {"SCRIPT", "FLUSH"});
  CHECK(run().integer == 40);  // NOSCRIPT again, then EVAL
  CHECK(run().integer == 50);
  // The SHA1 is the one Redis computes.
  CHECK(text_of(call(loop, c.connection, {"SCRIPT", "LOAD", script.source()})) == script.sha1());
  const auto stats = text_of(call(loop, c.connection, {"INFO", "commandstats"}));
  INFO(stats);
  CHECK(stats.find("cmdstat_eval:calls=2,") != std::string::npos);
  CHECK(stats.find("cmdstat_evalsha:calls=5,") != std::string::npos);

  // A script error is an error reply, not a retry.
  const redis_script broken("return redis.call('NOSUCHCOMMAND')");
  auto out = std::make_shared<outcome>();
  c.connection.eval(broken, {}, {}, keep(out));
  REQUIRE(loop.run_until([&] { return out->done; }));
  REQUIRE(out->reply);
  CHECK(out->reply->kind == redis_reply::type::error);
}

TEST_CASE(
    "Redis client: the password from the URL or STUBBORN_REDIS_PASSWORD, and a wrong one fails",
    "[redis]") {
  redis_process redis({.password = "s3cret", .unix_socket = false});
  const auto host = "127.0.0.1:" + std::to_string(redis.port());
  event_loop loop;

  SECTION("in the URL") {
    connected c(loop, options_for("redis://:s3cret@" + host));
    REQUIRE(loop.run_until([&] { return c.connection.up(); }));
    CHECK(text_of(call(loop, c.connection, {"PING"})) == "PONG");
  }
  SECTION("in the URL, with a user") {
    connected c(loop, options_for("redis://default:s3cret@" + host));
    REQUIRE(loop.run_until([&] { return c.connection.up(); }));
    CHECK(text_of(call(loop, c.connection, {"PING"})) == "PONG");
  }
  SECTION("in STUBBORN_REDIS_PASSWORD") {
    scoped_env env("STUBBORN_REDIS_PASSWORD", "s3cret");
    connected c(loop, options_for("redis://" + host));
    REQUIRE(loop.run_until([&] { return c.connection.up(); }));
    CHECK(text_of(call(loop, c.connection, {"PING"})) == "PONG");
  }
  SECTION("the URL's password wins over STUBBORN_REDIS_PASSWORD") {
    scoped_env env("STUBBORN_REDIS_PASSWORD", "wrong");
    connected c(loop, options_for("redis://:s3cret@" + host));
    REQUIRE(loop.run_until([&] { return c.connection.up(); }));
  }
  SECTION("a wrong password: never up, on_state(false) once, commands get null") {
    connected c(loop, options_for("redis://:wrong@" + host));
    loop.run_for(700ms);  // a few attempts: 100 ms, 200 ms, 400 ms apart
    CHECK_FALSE(c.connection.up());
    CHECK(c.states == std::vector<bool>{false});
    CHECK(c.connection.last_error().find("AUTH failed") != std::string::npos);
    CHECK(c.connection.last_error().find("WRONGPASS") != std::string::npos);
    CHECK_FALSE(call(loop, c.connection, {"PING"}));
  }
  SECTION("no password: the first command's NOAUTH is the failure") {
    connected c(loop, options_for("redis://" + host));
    loop.run_for(300ms);
    CHECK_FALSE(c.connection.up());
    CHECK(c.connection.last_error().find("NOAUTH") != std::string::npos);
  }
}

TEST_CASE("Redis client: the URL's db is selected, the client name set", "[redis]") {
  redis_process redis;
  event_loop loop;
  auto options = options_for(redis.url("/3"));
  options.client_name = "stubborn-test";
  connected on3(loop, options);
  connected on0(loop, options_for(redis.url()));
  REQUIRE(loop.run_until([&] { return on3.connection.up() && on0.connection.up(); }));
  call(loop, on3.connection, {"SET", "where", "three"});
  CHECK(call(loop, on0.connection, {"GET", "where"})->kind == redis_reply::type::nil);
  CHECK(text_of(call(loop, on3.connection, {"GET", "where"})) == "three");
  CHECK(text_of(call(loop, on3.connection, {"CLIENT", "GETNAME"})) == "stubborn-test");
  CHECK(call(loop, on0.connection, {"CLIENT", "GETNAME"})->kind == redis_reply::type::nil);
}

TEST_CASE("Redis client: over a unix socket", "[redis]") {
  redis_process redis({.password = "", .unix_socket = true});
  event_loop loop;
  connected c(loop, options_for("unix://" + redis.unix_path() + "?db=2"));
  REQUIRE(loop.run_until([&] { return c.connection.up(); }));
  call(loop, c.connection, {"SET", "over", "unix"});
  CHECK(text_of(call(loop, c.connection, {"GET", "over"})) == "unix");
  CHECK(call(loop, c.connection, {"CLIENT", "INFO"})->text.find("db=2") != std::string::npos);
}

TEST_CASE("Redis client: a host name is resolved (by Asio, not inside hiredis)", "[redis]") {
  redis_process redis;
  event_loop loop;
  connected c(loop, options_for("redis://localhost:" + std::to_string(redis.port())));
  REQUIRE(loop.run_until([&] { return c.connection.up(); }));
  CHECK(text_of(call(loop, c.connection, {"PING"})) == "PONG");
}

TEST_CASE("Redis client: never reachable: down once, commands get null at once but not inline",
          "[redis]") {
  event_loop loop;
  connected c(loop, options_for("redis://127.0.0.1:" + std::to_string(unused_port())));
  loop.run_for(700ms);  // the first attempt and a few retries
  CHECK_FALSE(c.connection.up());
  CHECK(c.states == std::vector<bool>{false});
  CHECK_FALSE(c.connection.last_error().empty());

  auto out = std::make_shared<outcome>();
  const auto sent = clock_type::now();
  c.connection.command({"PING"}, keep(out));
  CHECK_FALSE(out->done);  // posted, never called from inside command()
  REQUIRE(loop.run_until([&] { return out->done; }, 1000ms));
  CHECK(clock_type::now() - sent < 100ms);  // no connect attempt, no timeout waited for
  CHECK_FALSE(out->reply);
}

TEST_CASE("Redis client: a restart in the middle of traffic: down, commands null, then up again",
          "[redis]") {
  redis_process redis;
  event_loop loop;
  connected c(loop, options_for(redis.url()));
  REQUIRE(loop.run_until([&] { return c.connection.up(); }));
  CHECK(text_of(call(loop, c.connection, {"SET", "before", "1"})) == "OK");

  // Commands in flight when Redis goes away each complete, with null.
  int completed = 0;
  int null = 0;
  for (int i = 0; i < 100; ++i) {
    c.connection.command({"INCR", "n"}, [&](const redis_reply* reply) {
      ++completed;
      if (!reply) ++null;
    });
  }
  redis.stop();
  REQUIRE(loop.run_until([&] { return completed == 100 && !c.connection.up(); }));
  CHECK(null == 100);
  REQUIRE(loop.run_until([&] { return c.states.size() == 2; }));
  CHECK(c.states == std::vector<bool>{true, false});
  CHECK_FALSE(call(loop, c.connection, {"PING"}));

  const auto restarted = clock_type::now();
  redis.restart();
  REQUIRE(loop.run_until([&] { return c.connection.up(); }, 5000ms));
  CHECK(clock_type::now() - restarted < 3000ms);  // the backoff is 2 s at most
  CHECK(call(loop, c.connection, {"GET", "before"})->kind == redis_reply::type::nil);
  CHECK(text_of(call(loop, c.connection, {"SET", "after", "1"})) == "OK");
  REQUIRE(loop.run_until([&] { return c.states.size() == 3; }));
  CHECK(c.states == std::vector<bool>{true, false, true});
}

TEST_CASE("Redis client: a stopped (SIGSTOP) Redis: commands null after the timeout, then down",
          "[redis]") {
  redis_process redis;
  event_loop loop;
  connected c(loop, options_for(redis.url(), 50ms));
  REQUIRE(loop.run_until([&] { return c.connection.up(); }));
  redis.pause();

  auto out = std::make_shared<outcome>();
  const auto sent = clock_type::now();
  c.connection.command({"PING"}, keep(out));
  REQUIRE(loop.run_until([&] { return out->done; }, 1000ms));
  const auto waited = clock_type::now() - sent;
  CHECK_FALSE(out->reply);
  CHECK(waited >= 45ms);
  CHECK(waited < 500ms);
  CHECK(c.connection.up());  // one late reply is not yet a lost connection

  // Nothing came back for max(4 x timeout, 1 s) while a command waited: down.
  REQUIRE(loop.run_until([&] { return !c.connection.up(); }, 3000ms));
  CHECK(clock_type::now() - sent >= 950ms);
  REQUIRE(loop.run_until([&] { return c.states.size() == 2; }));
  CHECK(c.states == std::vector<bool>{true, false});
  CHECK_FALSE(call(loop, c.connection, {"PING"}));

  redis.resume();
  REQUIRE(loop.run_until([&] { return c.connection.up(); }, 5000ms));
  CHECK(text_of(call(loop, c.connection, {"PING"})) == "PONG");
}

TEST_CASE("Redis client: a reply past its deadline is null, and the late reply is dropped",
          "[redis]") {
  redis_process redis;
  event_loop loop;
  connected c(loop, options_for(redis.url(), 100ms));
  REQUIRE(loop.run_until([&] { return c.connection.up(); }));
  call(loop, c.connection, {"SET", "k", "value"});

  // BLPOP holds this connection's replies for 400 ms (Redis itself keeps serving others).
  auto blocked = std::make_shared<outcome>();
  auto behind = std::make_shared<outcome>();
  c.connection.command({"BLPOP", "empty", "0.4"}, keep(blocked));
  c.connection.command({"GET", "k"}, keep(behind));
  REQUIRE(loop.run_until([&] { return blocked->done && behind->done; }, 1000ms));
  CHECK_FALSE(blocked->reply);
  CHECK_FALSE(behind->reply);
  CHECK(c.connection.in_flight() == 2);  // their replies are still owed
  REQUIRE(loop.run_until([&] { return c.connection.in_flight() == 0; }, 2000ms));
  // The next command gets its own reply, not a late one.
  CHECK(text_of(call(loop, c.connection, {"ECHO", "mine"})) == "mine");
  CHECK(c.connection.up());
  CHECK(c.states == std::vector<bool>{true});
}

TEST_CASE("Redis client: stop and destruction with commands, timers and waits pending", "[redis]") {
  redis_process redis;
  event_loop loop;

  SECTION("destroyed with 50 commands in flight: each completes with null") {
    auto c = std::make_unique<redis_connection>(loop.io, options_for(redis.url()));
    c->start();
    REQUIRE(loop.run_until([&] { return c->up(); }));
    int nulls = 0;
    for (int i = 0; i < 50; ++i)
      c->command({"PING"}, [&](const redis_reply* reply) { nulls += reply ? 0 : 1; });
    c.reset();
    REQUIRE(loop.run_until([&] { return nulls == 50; }));
  }
  SECTION("destroyed from inside a reply handler") {
    auto c = std::make_unique<redis_connection>(loop.io, options_for(redis.url()));
    c->start();
    REQUIRE(loop.run_until([&] { return c->up(); }));
    int replies = 0;
    int nulls = 0;
    c->command({"PING"}, [&](const redis_reply* reply) {
      replies += reply ? 1 : 0;
      c.reset();
    });
    for (int i = 0; i < 9; ++i)
      c->command({"PING"}, [&](const redis_reply* reply) { (reply ? replies : nulls) += 1; });
    REQUIRE(loop.run_until([&] { return replies + nulls == 10; }));
    CHECK(replies == 1);
    loop.run_for(50ms);
    CHECK(replies + nulls == 10);
  }
  SECTION("stopped while connecting, and while waiting to reconnect: on_state not called after") {
    for (const auto& url : {redis.url(), "redis://127.0.0.1:" + std::to_string(unused_port())}) {
      std::vector<bool> states;
      auto c = std::make_unique<redis_connection>(loop.io, options_for(url));
      c->on_state([&](bool up) { states.push_back(up); });
      c->start();
      loop.run_for(url == redis.url() ? 0ms : 150ms);
      const auto before = states;
      c.reset();
      loop.run_for(100ms);
      CHECK(states == before);
    }
  }
  SECTION("stopped, then started again") {
    connected c(loop, options_for(redis.url()));
    REQUIRE(loop.run_until([&] { return c.connection.up(); }));
    c.connection.stop();
    CHECK_FALSE(c.connection.up());
    CHECK_FALSE(call(loop, c.connection, {"PING"}));
    c.connection.start();
    REQUIRE(loop.run_until([&] { return c.connection.up(); }));
    CHECK(text_of(call(loop, c.connection, {"PING"})) == "PONG");
  }
}

namespace {

net::awaitable<void> coroutine_calls(redis_connection* connection, redis_script script,
                                     std::vector<std::optional<redis_reply>>* results) {
  // Named arguments: g++ 12 rejects braced lists inside a co_await expression.
  std::vector<std::string> set{"SET", "k", "41"};
  std::vector<std::string> keys{"k"};
  std::vector<std::string> get{"GET", "k"};
  results->push_back(co_await connection->async_command(std::move(set)));
  // The script is passed as a copy the coroutine owns.
  results->push_back(co_await connection->async_eval(script, std::move(keys), {}));
  results->push_back(co_await connection->async_command(std::move(get)));
}

}  // namespace

TEST_CASE("Redis client: async_command and async_eval in a coroutine", "[redis]") {
  redis_process redis;
  event_loop loop;
  connected c(loop, options_for(redis.url(), 500ms));
  REQUIRE(loop.run_until([&] { return c.connection.up(); }));
  std::vector<std::optional<redis_reply>> results;
  net::co_spawn(
      loop.io,
      coroutine_calls(&c.connection, redis_script("return redis.call('INCR', KEYS[1])"), &results),
      net::detached);
  REQUIRE(loop.run_until([&] { return results.size() == 3; }));
  REQUIRE(results[0]);
  CHECK(results[0]->text == "OK");
  REQUIRE(results[1]);
  CHECK(results[1]->integer == 42);
  CHECK(text_of(results[2]) == "42");

  // Down: nullopt.
  c.connection.stop();
  results.clear();
  net::co_spawn(loop.io, coroutine_calls(&c.connection, redis_script("return 1"), &results),
                net::detached);
  REQUIRE(loop.run_until([&] { return results.size() == 3; }));
  CHECK_FALSE(results[0]);
  CHECK_FALSE(results[1]);
  CHECK_FALSE(results[2]);
}

TEST_CASE("Redis client: a subscriber gets PUBLISHed messages, and again after a restart",
          "[redis]") {
  redis_process redis;
  event_loop loop;
  connected publisher(loop, options_for(redis.url()));
  std::vector<std::pair<std::string, std::string>> messages;
  std::vector<bool> states;
  redis_subscriber subscriber(loop.io, options_for(redis.url()), {"routes", "reset", "routes"},
                              [&](std::string_view channel, std::string_view message) {
                                messages.emplace_back(channel, message);
                              });
  subscriber.on_state([&](bool up) { states.push_back(up); });
  subscriber.start();
  REQUIRE(loop.run_until([&] { return subscriber.up() && publisher.connection.up(); }));

  const auto publish = [&](std::string channel, std::string message) {
    auto receivers = call(loop, publisher.connection, {"PUBLISH", channel, message});
    REQUIRE(receivers);
    return receivers->integer;
  };
  CHECK(publish("routes", "added /a") == 1);
  CHECK(publish("reset", std::string("k\0ey", 4)) == 1);
  CHECK(publish("elsewhere", "not for us") == 0);
  REQUIRE(loop.run_until([&] { return messages.size() == 2; }));
  CHECK(messages[0] == std::pair<std::string, std::string>{"routes", "added /a"});
  CHECK(messages[1] == std::pair<std::string, std::string>{"reset", std::string("k\0ey", 4)});

  redis.restart();
  REQUIRE(loop.run_until([&] { return states.size() >= 2; }));
  REQUIRE(loop.run_until([&] { return subscriber.up() && publisher.connection.up(); }, 5000ms));
  REQUIRE(loop.run_until([&] { return states.size() == 3; }));
  CHECK(states == std::vector<bool>{true, false, true});
  CHECK(publish("routes", "after the restart") == 1);
  REQUIRE(loop.run_until([&] { return messages.size() == 3; }));
  CHECK(messages[2] == std::pair<std::string, std::string>{"routes", "after the restart"});
}

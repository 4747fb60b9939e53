// stubborn::test_server, the C++ test library: the server a test owns, over real sockets.

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "harness.hpp"
#include "stubborn/test_server.hpp"

using namespace stubborn;
using namespace stubborn::testing;

namespace {

constexpr const char* user_routes = R"(
[server]
listen = "0.0.0.0:8080"   # a test server takes a free port on 127.0.0.1 whatever this says

[[route]]
name = "get-user"
method = "GET"
path = "/users/{id}"
[route.reply]
json = { id = "{{path.id}}" }

[[route]]
name = "create-order"
method = "POST"
path = "/orders"
[route.reply]
status = 201
)";

std::string post(std::string_view target, std::string_view body) {
  return "POST " + std::string(target) +
         " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         std::string(body);
}

}  // namespace

TEST_CASE("a test server serves TOML text on 127.0.0.1 at a free port",
          "[test_server][plain_only]") {
  test_server api{user_routes};
  CHECK(api.port() != 0);
  CHECK(api.port() != 8080);
  CHECK(api.url() == "http://127.0.0.1:" + std::to_string(api.port()));
  CHECK(api.admin_url() == api.url() + "/__admin");
  CHECK(api.tls_url().empty());

  const http_response reply = exchange(api.port(), get("/users/7"));
  CHECK(reply.status == 200);
  CHECK(reply.body == R"({"id":"7"})");
}

TEST_CASE("a test server counts and lists what it received, by the journal's filters",
          "[test_server][plain_only]") {
  test_server api{user_routes};
  exchange(api.port(), get("/users/1"));
  exchange(api.port(), get("/users/2"));
  exchange(api.port(), post("/orders", R"({"sku":"A1"})"));
  exchange(api.port(), get("/nowhere"));

  CHECK(api.count() == 4);
  CHECK(api.count({.method = "POST", .path = "/orders"}) == 1);
  CHECK(api.count({.route = "get-user"}) == 2);
  CHECK(api.count({.path = "/users/*"}) == 2);
  CHECK(api.count({.route = "none"}) == 1);
  CHECK(api.count({.status = 404}) == 1);

  const std::vector<journal_entry> orders = api.requests({.route = "create-order"});
  REQUIRE(orders.size() == 1);
  CHECK(orders[0].method == "POST");
  CHECK(orders[0].body == R"({"sku":"A1"})");
  CHECK(orders[0].status == 201);
  const std::vector<journal_entry> users = api.requests({.route = "get-user"});
  REQUIRE(users.size() == 2);
  CHECK(users[0].path == "/users/1");  // oldest first
  CHECK(users[1].path == "/users/2");
  CHECK(api.requests({.route = "get-user", .limit = 1}).at(0).path == "/users/2");
}

TEST_CASE("add_route checks the text as a file is checked and throws config_error",
          "[test_server][plain_only]") {
  test_server api{user_routes};
  const std::vector<std::string> added = api.add_route(R"([[route]]
name = "down"
path = "/users/{id}"
[route.reply]
status = 503
)");
  CHECK(added == std::vector<std::string>{"down"});
  CHECK(exchange(api.port(), get("/users/1")).status == 503);  // ranked before the file's

  SECTION("a bad value, with its line and column") {
    try {
      api.add_route("[[route]]\nname = \"x\"\npath = \"/x\"\n[route.reply]\nstatus = 1000\n",
                    "extra.toml");
      FAIL("status 1000 was accepted");
    } catch (const config_error& e) {
      REQUIRE(e.problems().size() == 1);
      CHECK(e.problems()[0].where.file == "extra.toml");
      CHECK(e.problems()[0].where.line == 5);
      CHECK(e.problems()[0].to_string().rfind("extra.toml:5:", 0) == 0);
    }
  }
  SECTION("a table that is not a route") {
    CHECK_THROWS_WITH(api.add_route("[server]\nthreads = 2\n[[route]]\nname = \"y\"\npath = "
                                    "\"/y\"\n",
                                    "extra.toml"),
                      Catch::Matchers::Contains("extra.toml:1:1: only [[route]] tables"));
  }
  SECTION("a name that is taken") {
    CHECK_THROWS_AS(api.add_route("[[route]]\nname = \"down\"\npath = \"/z\"\n"), config_error);
  }
  // Nothing half-added: the first route still answers, and /x, /y and /z are unknown.
  CHECK(exchange(api.port(), get("/users/1")).status == 503);
  CHECK(exchange(api.port(), get("/x")).status == 404);
  CHECK(exchange(api.port(), get("/y")).status == 404);
  CHECK(exchange(api.port(), get("/z")).status == 404);

  api.remove_route("down");
  CHECK(exchange(api.port(), get("/users/1")).status == 200);
  CHECK_THROWS_AS(api.remove_route("down"), std::invalid_argument);
}

TEST_CASE("a bad config throws from the constructor with its position",
          "[test_server][plain_only]") {
  CHECK_THROWS_WITH(test_server("[[route]]\npath = 3\n", {}, "mine.toml"),
                    Catch::Matchers::Contains("mine.toml:2:8"));
}

TEST_CASE("reset starts sequences again and empties the journal", "[test_server][plain_only]") {
  test_server api;
  api.add_route(R"([[route]]
name = "flaky"
path = "/flaky"
then = "repeat-last"
[[route.replies]]
status = 503
[[route.replies]]
status = 200
)");
  CHECK(exchange(api.port(), get("/flaky")).status == 503);
  CHECK(exchange(api.port(), get("/flaky")).status == 200);
  CHECK(api.count() == 2);
  api.reset();
  CHECK(api.count() == 0);
  CHECK(exchange(api.port(), get("/flaky")).status == 503);
  // The route added stays; clear_routes removes it.
  api.clear_routes();
  CHECK(exchange(api.port(), get("/flaky")).status == 404);
}

TEST_CASE("wait_for waits for requests a client sends later", "[test_server][plain_only]") {
  test_server api{user_routes};
  std::thread client([port = api.port()] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stubborn::testing::exchange(port, get("/users/9"));
  });
  CHECK(api.wait_for(1, {.route = "get-user"}) == 1);
  client.join();
  // A count that never comes: the timeout ends the wait with what there is.
  CHECK(api.wait_for(2, {.route = "get-user"}, std::chrono::milliseconds(30)) == 1);
}

TEST_CASE("a test server reads config files and stops when it goes out of scope",
          "[test_server][plain_only]") {
  const temp_file file(user_routes);
  std::uint16_t port = 0;
  {
    test_server api = test_server::from_files({file.path.string()}, {.threads = 2});
    port = api.port();
    CHECK(api.underlying().thread_count() == 2);
    test_server moved = std::move(api);  // still one server, now owned here
    CHECK(exchange(moved.port(), get("/users/3")).status == 200);
  }
  // Nothing listens there any more: the connection is refused.
  CHECK_THROWS(raw_client(port));
}

// The inventory client tested against stubborn::test_server with Catch2: each test starts its
// own stub on a free port, the client talks to it over a real socket, and the test asks the
// stub what it received.

#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <stubborn/test_server.hpp>

#include "inventory_client.hpp"

namespace {

// What the real inventory service answers, as the tests need it.
constexpr const char* inventory_routes = R"(
[[route]]
name = "item"
method = "GET"
path = "/items/{sku}"
[route.reply]
json = { sku = "{{path.sku}}", stock = 12 }

[[route]]
name = "reserve"
method = "POST"
path = "/reservations"
[route.when]
all = [ { json_path = "$.quantity", gt = 0 } ]
[route.reply]
status = 201
json = { id = "r-{{counter}}", sku = "{{json.sku}}" }
)";

}  // namespace

TEST_CASE("the client reads the stock of an item") {
  stubborn::test_server api{inventory_routes};
  const inventory::client client{api.url()};

  CHECK(client.stock("A1") == 12);
  CHECK(api.count({.method = "GET", .path = "/items/A1"}) == 1);
  CHECK(api.count({.route = "item"}) == 1);
}

TEST_CASE("the client retries while the service sheds load") {
  stubborn::test_server api;
  api.add_route(R"(
[[route]]
name = "busy-item"
path = "/items/{sku}"
then = "repeat-last"
[[route.replies]]
status = 503
repeat = 2
[[route.replies]]
json = { stock = 4 }
)");
  const inventory::client client{api.url()};

  CHECK(client.stock("B2") == 4);
  CHECK(api.count({.route = "busy-item"}) == 3);

  // After a reset the stub sheds load again from the start, and has forgotten the requests.
  api.reset();
  CHECK(api.count() == 0);
  CHECK(client.stock("B2") == 4);
  CHECK(api.count({.status = 503}) == 2);
}

TEST_CASE("a reservation sends the item and the quantity") {
  stubborn::test_server api{inventory_routes};
  const inventory::client client{api.url()};

  CHECK(client.reserve("A1", 2) == "r-1");
  CHECK(client.reserve("A1", 1) == "r-2");

  const std::vector<stubborn::journal_entry> sent = api.requests({.route = "reserve"});
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].body == R"({"sku":"A1","quantity":2})");
  CHECK(sent[0].status == 201);
  // A quantity of 0 matches no route: the stub says 404 and the client reports it.
  CHECK_THROWS(client.reserve("A1", 0));
  CHECK(api.count({.route = "none"}) == 1);
}

TEST_CASE("an unknown item is not in stock") {
  stubborn::test_server api{inventory_routes};
  api.add_route(R"(
[[route]]
name = "gone"
path = "/items/OLD"
[route.reply]
status = 404
)");
  const inventory::client client{api.url()};
  CHECK_FALSE(client.stock("OLD").has_value());
}

TEST_CASE("a route with a mistake is refused with its line and column") {
  stubborn::test_server api;
  try {
    api.add_route("[[route]]\npath = \"/x\"\n[route.reply]\nstatus = 99\n", "broken.toml");
    FAIL("add_route accepted status 99");
  } catch (const stubborn::config_error& e) {
    CHECK_THAT(e.what(), Catch::Matchers::Contains("broken.toml:4:"));
  }
}

// The inventory client tested against stubborn::test_server with GoogleTest: a fixture starts
// the stub on a free port for each test, the client talks to it over a real socket, and the
// test asks the stub what it received.

#include <gtest/gtest.h>

#include <stubborn/test_server.hpp>

#include "inventory_client.hpp"

namespace {

class inventory_test : public ::testing::Test {
 protected:
  stubborn::test_server api{R"(
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
[route.reply]
status = 201
json = { id = "r-{{counter}}" }
)"};
  inventory::client client{api.url()};
};

TEST_F(inventory_test, reads_the_stock_of_an_item) {
  EXPECT_EQ(client.stock("A1"), 12);
  EXPECT_EQ(api.count({.method = "GET", .path = "/items/A1"}), 1U);
}

TEST_F(inventory_test, retries_while_the_service_sheds_load) {
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
  EXPECT_EQ(client.stock("B2"), 4);
  EXPECT_EQ(api.count({.route = "busy-item"}), 3U);
  EXPECT_EQ(api.count({.status = 503}), 2U);
}

TEST_F(inventory_test, a_reservation_sends_the_item_and_the_quantity) {
  EXPECT_EQ(client.reserve("A1", 2), "r-1");
  const std::vector<stubborn::journal_entry> sent = api.requests({.route = "reserve"});
  ASSERT_EQ(sent.size(), 1U);
  EXPECT_EQ(sent[0].body, R"({"sku":"A1","quantity":2})");

  api.reset();
  EXPECT_EQ(api.count(), 0U);
  EXPECT_EQ(client.reserve("A1", 1), "r-1");  // the counter starts again too
}

TEST_F(inventory_test, a_route_with_a_mistake_is_refused) {
  EXPECT_THROW(api.add_route("[[route]]\npath = 3\n"), stubborn::config_error);
}

}  // namespace

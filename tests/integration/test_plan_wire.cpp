// Plans as the client sees them: the lines a plan leaves to the moment of writing (Date, and
// Connection after a wait) are decided then, not when the plan was made.

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <thread>

#include "harness.hpp"

using namespace std::chrono_literals;
using namespace stubborn::testing;

TEST_CASE("a delayed reply that outlives the start of a drain says Connection: close",
          "[integration][drain]") {
  auto s = std::make_unique<running_server>(R"(
[[route]]
path = "/slow"
[route.reply]
delay = "600ms"
interim = [ { status = 103, headers = { Link = "</a.css>; rel=preload" } } ]
body = "late"
)");
  raw_client c(s->port());
  c.send(get("/slow"));
  // The 103 goes out before the wait: the plan (keep-alive) is made, the reply is not written.
  REQUIRE(c.read_response().status == 103);
  std::thread stopper([&] { s.reset(); });  // stop() with a drain
  auto r = c.read_response();
  CHECK(r.status == 200);
  CHECK(r.body == "late");
  CHECK(r.header("Connection") == "close");
  CHECK(r.header("Date").size() == 29);
  stopper.join();
}

// configs/example.toml loads and serves.

#include <catch2/catch.hpp>

#include "harness.hpp"
#include "stubborn/load_config.hpp"

using namespace stubborn::testing;

TEST_CASE("configs/example.toml loads and serves its routes", "[example]") {
  auto cfg = stubborn::load_config({STUBBORN_SOURCE_DIR "/configs/example.toml"});
  REQUIRE(cfg.routes.size() >= 5);
  running_server s(cfg);
  auto r = exchange(s.port(), get("/users/42"));
  CHECK(r.status == 200);
  CHECK(r.body.find("42") != std::string::npos);
}

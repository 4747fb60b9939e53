// Strict replay over real sockets: with --offline (config_overrides::offline), the admin API
// refuses proxy routes with 400, and a reload that brings one fails while the old routes serve.

#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <string>

#include "harness.hpp"
#include "stubborn/load_config.hpp"

using namespace stubborn::testing;
namespace json = boost::json;

namespace {

constexpr const char* local_route =
    "[[route]]\nname = \"local\"\npath = \"/local\"\n[route.reply]\nbody = \"here\"\n";

std::string request(std::string_view method, std::string_view target, std::string_view body) {
  return std::string(method) + " " + std::string(target) +
         " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         std::string(body);
}

// Qualified: with std::string arguments, unqualified exchange() would find std::exchange.
http_response call(std::uint16_t port, std::string_view bytes) {
  return stubborn::testing::exchange(port, bytes);
}

std::string error_of(const http_response& response) {
  return std::string(json::parse(response.body).at("error").as_string());
}

}  // namespace

TEST_CASE("offline: the admin API refuses proxy routes, a reload with one keeps the old routes",
          "[admin][offline]") {
  temp_file file(local_route);
  stubborn::config cfg = stubborn::load_config({file.path.string()});
  cfg.overrides.offline = true;
  running_server server(std::move(cfg));
  const auto port = server.port();
  const std::string offline = ", but the server is offline: strict replay never calls an upstream";

  const std::string proxy_route = R"({"name": "up", "path": "/up", "proxy": {"to": "http://h:1"}})";
  const http_response posted = call(port, request("POST", "/__admin/routes", proxy_route));
  CHECK(posted.status == 400);
  CHECK(error_of(posted) ==
        "POST /__admin/routes:1:40: route 'up' proxies to http://h:1" + offline);
  const http_response put = call(port, request("PUT", "/__admin/routes/up", proxy_route));
  CHECK(put.status == 400);
  CHECK(error_of(put).find("route 'up' proxies to http://h:1" + offline) != std::string::npos);
  CHECK(json::parse(call(port, get("/__admin/routes")).body).at("routes").as_array().size() == 1);
  CHECK(call(port, get("/up")).status == 404);

  file.write(std::string(local_route) +
             "[[route]]\nname = \"up\"\npath = \"/up\"\nproxy = { to = \"http://h:2\" }\n");
  const http_response reloaded = call(port, request("POST", "/__admin/reload", ""));
  CHECK(reloaded.status == 422);
  const std::string expected =
      file.path.string() + ":9:9: route 'up' proxies to http://h:2" + offline + "\n";
  CHECK(error_of(reloaded) == expected);
  const json::value status = json::parse(call(port, get("/__admin/status")).body);
  CHECK(status.at("last_reload").at("ok") == false);
  CHECK(status.at("last_reload").at("error") == json::value(expected));
  CHECK(call(port, get("/local")).body == "here");
  CHECK(call(port, get("/up")).status == 404);
}

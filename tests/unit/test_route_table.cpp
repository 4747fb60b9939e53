#include <catch2/catch.hpp>

#include "route_fixture.hpp"
#include "routing/route_table.hpp"
#include "stubborn/load_config.hpp"

using stubborn::route_table;
using stubborn::testing::fake_request;

namespace {

std::shared_ptr<const route_table> table_of(const std::string& toml) {
  return route_table::compile(stubborn::load_config_text(toml, "t.toml"));
}

std::string winner(const route_table& table, const fake_request& r) {
  stubborn::match_scratch scratch;
  auto m = table.match(r.view, scratch);
  return m.route ? m.route->name : "<none>";
}

}  // namespace

TEST_CASE("priority wins, then file order", "[routing]") {
  auto table = table_of(R"(
[[route]]
name = "param"
path = "/users/{id}"
[[route]]
name = "literal"
path = "/users/me"
[[route]]
name = "urgent"
path = "/users/*"
priority = 5
[[route]]
name = "regex"
path_regex = "^/users/[0-9]+$"
priority = 10
)");
  CHECK(winner(*table, fake_request("GET", "/users/42")) == "regex");
  CHECK(winner(*table, fake_request("GET", "/users/me")) == "urgent");
  CHECK(winner(*table, fake_request("GET", "/users/me/x")) == "urgent");
  CHECK(winner(*table, fake_request("GET", "/other")) == "<none>");

  auto ordered = table_of(R"(
[[route]]
name = "param"
path = "/users/{id}"
[[route]]
name = "literal"
path = "/users/me"
)");
  CHECK(winner(*ordered, fake_request("GET", "/users/me")) == "param");
}

TEST_CASE("methods, HEAD on GET routes, and custom methods", "[routing]") {
  auto table = table_of(R"(
[[route]]
name = "get"
method = "GET"
path = "/a"
[[route]]
name = "post"
method = ["POST", "PURGE"]
path = "/a"
[[route]]
name = "any"
path = "/b"
)");
  stubborn::match_scratch scratch;
  fake_request head("HEAD", "/a");
  auto m = table->match(head.view, scratch);
  REQUIRE(m.route);
  CHECK(m.route->name == "get");
  CHECK(winner(*table, fake_request("POST", "/a")) == "post");
  CHECK(winner(*table, fake_request("PURGE", "/a")) == "post");
  CHECK(winner(*table, fake_request("DELETE", "/b")) == "any");
  CHECK(winner(*table, fake_request("DELETE", "/a")) == "<none>");

  fake_request del("DELETE", "/a");
  auto miss = table->explain_miss(del.view, scratch);
  CHECK(miss.method_not_allowed);
  CHECK(miss.allow == "GET, HEAD, POST, PURGE");
}

TEST_CASE("query, header and body matchers", "[routing]") {
  auto table = table_of(R"(
[[route]]
name = "verbose"
path = "/q"
query = { verbose = "true", name = "a b" }
[[route]]
name = "keyed"
path = "/h"
headers = { "X-Api-Key" = "k1" }
[[route]]
name = "contains"
path = "/body"
body = { contains = "needle" }
[[route]]
name = "json"
path = "/body"
body = { json = { user = { id = 7 }, tags = ["b"] } }
[[route]]
name = "regex"
path = "/body"
body = { regex = "^[0-9]+$" }
)");
  CHECK(winner(*table, fake_request("GET", "/q?verbose=true&name=a+b")) == "verbose");
  CHECK(winner(*table, fake_request("GET", "/q?name=a%20b&verbose=true")) == "verbose");
  CHECK(winner(*table, fake_request("GET", "/q?verbose=false&name=a+b")) == "<none>");
  CHECK(winner(*table, fake_request("GET", "/h", {{"x-api-key", "k1"}})) == "keyed");
  CHECK(winner(*table, fake_request("GET", "/h", {{"X-Api-Key", "k2"}})) == "<none>");
  CHECK(winner(*table, fake_request("POST", "/body", {}, "hay needle hay")) == "contains");
  CHECK(winner(*table, fake_request("POST", "/body", {},
                                    R"({"user": {"id": 7.0, "name": "x"}, "tags": ["a", "b"]})")) ==
        "json");
  CHECK(winner(*table, fake_request("POST", "/body", {},
                                    R"({"user": {"id": 8}, "tags": ["b"]})")) == "<none>");
  CHECK(winner(*table, fake_request("POST", "/body", {}, "not json {")) == "<none>");
  CHECK(winner(*table, fake_request("POST", "/body", {}, "12345")) == "regex");

  stubborn::match_scratch scratch;
  fake_request wrong("GET", "/q?verbose=false");
  auto miss = table->explain_miss(wrong.view, scratch);
  CHECK_FALSE(miss.method_not_allowed);
  CHECK(miss.explanation ==
        "No route matched GET /q?verbose=false\n"
        "Nearest route: \"verbose\" (any method /q):\n"
        "  query parameter 'name' is missing (wanted 'a b')\n"
        "  query parameter 'verbose' is 'false', wanted 'true'\n");
}

TEST_CASE("a 404 names the nearest route", "[routing]") {
  auto table = table_of(R"(
[[route]]
name = "get-user"
method = "GET"
path = "/users/{id}"
[[route]]
name = "health"
path = "/health"
)");
  stubborn::match_scratch scratch;
  fake_request r("GET", "/user/1");
  auto miss = table->explain_miss(r.view, scratch);
  CHECK(miss.explanation ==
        "No route matched GET /user/1\nNearest route: \"get-user\" (GET /users/{id}): path "
        "differs\n");
}

TEST_CASE("regex routes capture named groups as path parameters", "[routing]") {
  auto table = table_of(R"(
[[route]]
name = "items"
path_regex = "^/v(?P<version>[0-9]+)/items/(?P<id>[a-z]+)$"
[route.reply]
body = "{{path.version}}:{{path.id}}"
)");
  stubborn::match_scratch scratch;
  fake_request r("GET", "/v2/items/abc");
  auto m = table->match(r.view, scratch);
  REQUIRE(m.route);
  REQUIRE(m.param_count == 2);
  CHECK(m.params[0] == "2");
  CHECK(m.params[1] == "abc");
  std::string out, body;
  auto rendered =
      m.route->script.replies[0].render(r.view, std::span(m.params.data(), m.param_count), false,
                                        stubborn::connection_header::none, out, body);
  CHECK(rendered == "2:abc");
  CHECK(out.find("Content-Length: 5\r\n") != std::string::npos);
}

TEST_CASE("absolute-form targets are routed by their path", "[routing]") {
  auto table = table_of(R"(
[[route]]
name = "a"
path = "/a/b"
)");
  CHECK(winner(*table, fake_request("GET", "http://example.com/a/b?x=1")) == "a");
  CHECK(winner(*table, fake_request("GET", "HTTP://example.com:80/a/b")) == "a");
}

TEST_CASE("regex routes in different prefix buckets still win by rank", "[routing]") {
  auto table = table_of(R"(
[[route]]
name = "deep"
path_regex = "^/api/v1/items/[0-9]+$"
[[route]]
name = "unanchored"
path_regex = "items/7$"
priority = 1
[[route]]
name = "root"
path_regex = "^/a[a-z]+/v1/items/8$"
priority = 2
[[route]]
name = "caseless"
path_regex = "(?i)^/API/v1/items/9$"
priority = 3
[[route]]
name = "other"
path_regex = "^/api/v2/"
)");
  CHECK(winner(*table, fake_request("GET", "/api/v1/items/1")) == "deep");
  CHECK(winner(*table, fake_request("GET", "/api/v1/items/7")) == "unanchored");
  CHECK(winner(*table, fake_request("GET", "/api/v1/items/8")) == "root");
  CHECK(winner(*table, fake_request("GET", "/api/v1/items/9")) == "caseless");
  CHECK(winner(*table, fake_request("GET", "/Api/V1/items/9")) == "caseless");
  CHECK(winner(*table, fake_request("GET", "/api/v2/x")) == "other");
  CHECK(winner(*table, fake_request("GET", "/api/v3/x")) == "<none>");
}

TEST_CASE("a leading group is not mistaken for flags when bucketing regexes", "[routing]") {
  auto table = table_of(R"toml(
[[route]]
name = "grouped"
path_regex = "(?P<all>^/x/[0-9]+$)"
[[route]]
name = "flagged"
path_regex = "(?i)^/Y/[0-9]+$"
)toml");
  CHECK(winner(*table, fake_request("GET", "/x/1")) == "grouped");
  CHECK(winner(*table, fake_request("GET", "/y/2")) == "flagged");
}

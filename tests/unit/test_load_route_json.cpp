#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "config/json_token_scanner.hpp"
#include "stubborn/config_error.hpp"
#include "stubborn/load_config.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using stubborn::config_error;
using stubborn::load_config_text;
using stubborn::load_route_json;
using stubborn::load_routes_json;
using stubborn::route_spec;

namespace {

using lines = std::vector<std::string>;

// Every problem load_route_json (or load_routes_json) reports, as "j:line:col: message".
lines problems_of(const std::string& json, bool several = false, const std::string& base = ".") {
  try {
    if (several) {
      load_routes_json(json, "j", base);
    } else {
      load_route_json(json, "j", base);
    }
  } catch (const config_error& e) {
    lines out;
    for (const auto& p : e.problems()) out.push_back(p.to_string());
    return out;
  }
  return {};
}

lines problems_of_many(const std::string& json) {
  return problems_of(json, true);
}

std::vector<std::string> names_of(const std::vector<stubborn::name_value>& pairs) {
  std::vector<std::string> out;
  for (const auto& pair : pairs) out.push_back(pair.name + "=" + pair.value);
  return out;
}

// Everything a route does, compared field by field (positions differ between TOML and JSON).
void check_same_reply(const stubborn::reply_spec& a, const stubborn::reply_spec& b) {
  CHECK(a.status == b.status);
  CHECK(a.reason == b.reason);
  CHECK(names_of(a.headers) == names_of(b.headers));
  CHECK(a.body == b.body);
  CHECK(a.source == b.source);
  CHECK(a.body_file == b.body_file);
  CHECK(a.delay.type == b.delay.type);
  CHECK(a.delay.fixed == b.delay.fixed);
  CHECK(a.delay.min == b.delay.min);
  CHECK(a.delay.max == b.delay.max);
  CHECK(a.delay.median == b.delay.median);
  CHECK(a.delay.sigma == b.delay.sigma);
  CHECK(a.hang == b.hang);
  REQUIRE(a.interim.size() == b.interim.size());
  for (std::size_t i = 0; i < a.interim.size(); ++i) {
    CHECK(a.interim[i].status == b.interim[i].status);
    CHECK(names_of(a.interim[i].headers) == names_of(b.interim[i].headers));
  }
  CHECK(a.processing_every == b.processing_every);
  CHECK(a.fault == b.fault);
  CHECK(a.chunks.count == b.chunks.count);
  CHECK(a.chunks.over == b.chunks.over);
  CHECK(a.bandwidth == b.bandwidth);
  CHECK(a.repeat == b.repeat);
  REQUIRE(a.redirect.has_value() == b.redirect.has_value());
  if (a.redirect) {
    CHECK(a.redirect->to == b.redirect->to);
    CHECK(a.redirect->status == b.redirect->status);
  }
}

void check_same_route(const route_spec& a, const route_spec& b) {
  INFO(a.name);
  CHECK(a.name == b.name);
  CHECK(a.methods == b.methods);
  CHECK(a.path == b.path);
  CHECK(a.path_regex == b.path_regex);
  CHECK(names_of(a.query) == names_of(b.query));
  CHECK(names_of(a.headers) == names_of(b.headers));
  REQUIRE(a.body.has_value() == b.body.has_value());
  if (a.body) {
    CHECK(a.body->kind == b.body->kind);
    CHECK(a.body->text == b.body->text);
  }
  CHECK(a.priority == b.priority);
  check_same_reply(a.reply, b.reply);
  REQUIRE(a.replies.size() == b.replies.size());
  for (std::size_t i = 0; i < a.replies.size(); ++i) check_same_reply(a.replies[i], b.replies[i]);
  CHECK(a.then == b.then);
  CHECK(a.expect == b.expect);
  CHECK(a.continue_delay == b.continue_delay);
  REQUIRE(a.outage.has_value() == b.outage.has_value());
  if (a.outage) {
    CHECK(a.outage->rate == b.outage->rate);
    CHECK(a.outage->every == b.outage->every);
    CHECK(a.outage->duration == b.outage->duration);
    CHECK(a.outage->status == b.outage->status);
    CHECK(a.outage->fault == b.outage->fault);
  }
  REQUIRE(a.auth.has_value() == b.auth.has_value());
  if (a.auth) {
    CHECK(a.auth->kind == b.auth->kind);
    CHECK(a.auth->header_name == b.auth->header_name);
    CHECK(a.auth->secret == b.auth->secret);
  }
  CHECK(a.require_length == b.require_length);
  CHECK(a.consumes == b.consumes);
  CHECK(a.produces == b.produces);
  CHECK(a.etag == b.etag);
  CHECK(a.last_modified == b.last_modified);
  CHECK(a.ranges == b.ranges);
}

// A fresh folder under the system temp folder, removed with everything in it.
class temp_dir {
 public:
  temp_dir() {
    static std::atomic<unsigned> counter{0};
    std::random_device random;
    path_ = fs::temp_directory_path() /
            ("stubborn-json-test-" + std::to_string(random()) + "-" + std::to_string(counter++));
    fs::create_directories(path_ / "bodies");
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace

TEST_CASE("a route in JSON reads the same as in TOML", "[config][json]") {
  const std::string toml = R"toml([[route]]
name = "get-user"
method = ["GET", "HEAD"]
path = "/users/{id}"
query = { verbose = true, page = 2, q = "x y" }
headers = { "X-Api-Key" = "k1" }
body = { json = { a = 1, b = [true, 1.5, "s"], c = {} } }
priority = -3
etag = true
ranges = true
produces = ["application/JSON"]
last_modified = "Sun, 06 Nov 1994 08:49:37 GMT"
auth = { bearer = "t0k3n" }
outage = { rate = 0.25, status = 502 }
[route.reply]
status = 201
reason = "Made"
headers = { Content-Type = "application/json", X-Id = "{{path.id}}", X-N = 5 }
body = '{"id": "{{path.id}}"}'
delay = { median = "200ms", sigma = 0.4 }
interim = [{ status = 103, headers = { Link = "</a.css>; rel=preload" } }]
processing_every = "50ms"
chunks = { count = 4, over = "1s" }

[[route]]
path_regex = '^/v(?P<ver>[0-9]+)/items$'
require_length = true
consumes = "text/plain"
expect = "reject"
then = "cycle"
[[route.replies]]
json = { ok = false, n = [1, 2.5] }
status = 503
repeat = 2
bandwidth = "1KiB/s"
[[route.replies]]
redirect = { to = "/v{{path.ver}}/new", status = 308 }
[[route.replies]]
fault = "reset"
hang = true
delay = { min = "1ms", max = "2ms" }
)toml";
  const std::string json = R"json([
  {
    "name": "get-user",
    "method": ["GET", "HEAD"],
    "path": "/users/{id}",
    "query": {"verbose": true, "page": 2, "q": "x y"},
    "headers": {"X-Api-Key": "k1"},
    "body": {"json": {"a": 1, "b": [true, 1.5, "s"], "c": {}}},
    "priority": -3,
    "etag": true,
    "ranges": true,
    "produces": ["application/JSON"],
    "last_modified": "Sun, 06 Nov 1994 08:49:37 GMT",
    "auth": {"bearer": "t0k3n"},
    "outage": {"rate": 0.25, "status": 502},
    "reply": {
      "status": 201,
      "reason": "Made",
      "headers": {"Content-Type": "application/json", "X-Id": "{{path.id}}", "X-N": 5},
      "body": "{\"id\": \"{{path.id}}\"}",
      "delay": {"median": "200ms", "sigma": 0.4},
      "interim": [{"status": 103, "headers": {"Link": "</a.css>; rel=preload"}}],
      "processing_every": "50ms",
      "chunks": {"count": 4, "over": "1s"}
    }
  },
  {
    "path_regex": "^/v(?P<ver>[0-9]+)/items$",
    "require_length": true,
    "consumes": "text/plain",
    "expect": "reject",
    "then": "cycle",
    "replies": [
      {"json": {"ok": false, "n": [1, 2.5]}, "status": 503, "repeat": 2, "bandwidth": "1KiB/s"},
      {"redirect": {"to": "/v{{path.ver}}/new", "status": 308}},
      {"fault": "reset", "hang": true, "delay": {"min": "1ms", "max": "2ms"}}
    ]
  }
])json";
  const stubborn::config from_toml = load_config_text(toml, "t.toml");
  const std::vector<route_spec> from_json = load_routes_json(json, "j");
  REQUIRE(from_toml.routes.size() == 2);
  REQUIRE(from_json.size() == 2);
  check_same_route(from_json[0], from_toml.routes[0]);
  check_same_route(from_json[1], from_toml.routes[1]);
  // A few values spelt out, so that the comparison cannot pass with both sides empty.
  CHECK(from_json[0].body->text == R"({"a":1,"b":[true,1.5,"s"],"c":{}})");
  CHECK(from_json[0].reply.body == R"({"id": "{{path.id}}"})");
  CHECK(from_json[0].produces == std::vector<std::string>{"application/json"});
  CHECK(from_json[1].name == "ANY ^/v(?P<ver>[0-9]+)/items$");
  CHECK(from_json[1].replies[0].body == R"({"n":[1,2.5],"ok":false})");

  // The same first route alone, through load_route_json.
  const std::string one = json.substr(json.find('{'), json.find("\n  },") + 4 - json.find('{'));
  check_same_route(load_route_json(one, "j"), from_toml.routes[0]);
}

TEST_CASE("positions in a JSON route are its lines and columns", "[config][json]") {
  const route_spec route = load_route_json(R"json({"path": "/a/{id}",
  "query": {"q": "1"},
  "reply": {"body": "hi {{path.id}}"}})json",
                                           "j");
  CHECK(route.position.file == "j");
  CHECK(route.position.line == 1);
  CHECK(route.position.column == 1);
  CHECK(route.path_position.line == 1);
  CHECK(route.path_position.column == 10);
  REQUIRE(route.query.size() == 1);
  CHECK(route.query[0].position.line == 2);
  CHECK(route.query[0].position.column == 13);
  CHECK(route.reply.position.line == 3);
  CHECK(route.reply.position.column == 12);
  CHECK(route.reply.body_position.line == 3);
  CHECK(route.reply.body_position.column == 21);
  CHECK(route.name == "ANY /a/{id}");
}

TEST_CASE("every mistake in a JSON route is reported at its position", "[config][json]") {
  const std::string json = R"json({
  "path": "/users/{id}",
  "methods": "GET",
  "reply": {"stauts": 200, "body": "{{path.uid}}"}
})json";
  const lines expected = {
      "j:3:3: unknown key 'methods' in [[route]] (did you mean 'method'?)",
      "j:4:13: unknown key 'stauts' in [route.reply] (did you mean 'status'?)",
      "j:4:37: bad template in 'body': {{path.uid}}: the path has no parameter 'uid' (it has: id)",
  };
  CHECK(problems_of(json) == expected);
  try {
    load_route_json(json, "POST /__admin/routes");
    FAIL("no config_error");
  } catch (const config_error& e) {
    REQUIRE(e.problems().size() == 3);
    CHECK(e.problems()[0].to_string() ==
          "POST /__admin/routes:3:3: unknown key 'methods' in [[route]] (did you mean 'method'?)");
  }
}

TEST_CASE("JSON routes get the messages of the TOML checks", "[config][json]") {
  const std::vector<std::pair<std::string, lines>> cases = {
      {R"({"reply": {}})", {"j:1:1: a route needs 'path' or 'path_regex'"}},
      {R"({"path": "/", "reply": {"status": 200.0}})",
       {"j:1:35: 'status' must be an integer, not a float"}},
      {R"({"path": "/", "method": "get"})",
       {"j:1:25: method 'get' never matches: methods are case-sensitive (did you mean 'GET'?)"}},
      {R"({"path": "/", "path_regex": "^/$"})",
       {"j:1:29: a route has 'path' or 'path_regex', not both"}},
      {R"({"path_regex": "^/$", "path": "/"})",
       {"j:1:31: a route has 'path' or 'path_regex', not both"}},
      {R"({"path": "/", "reply": {"json": 1, "body": "x"}})",
       {"j:1:44: a reply has at most one of 'body', 'body_file' and 'json', not both 'json' and "
        "'body'"}},
      {R"({"path": "/", "reply": {"headers": {"Content-Length": "1"}}})",
       {"j:1:37: header 'Content-Length' is set by the server and cannot be configured"}},
      {R"({"path": "/", "reply": {"status": 302}})",
       {"j:1:35: a 302 reply needs a Location: add headers = { Location = \"...\" } or redirect "
        "= { to = \"...\" }"}},
      // Inside a string written without escapes, a position points at the character.
      {R"({"path": "/users?id=1"})",
       {"j:1:17: bad 'path': a path cannot hold a query: match it with 'query = { ... }'"}},
      {R"({"path": "/\u0061?"})",
       {"j:1:10: bad 'path': a path cannot hold a query: match it with 'query = { ... }'"}},
  };
  for (const auto& [json, expected] : cases) {
    INFO(json);
    CHECK(problems_of(json) == expected);
  }
}

TEST_CASE("invalid JSON is one problem at its line and column", "[config][json]") {
  const std::vector<std::pair<std::string, lines>> cases = {
      {"{\"path\": \"/x\",\n \"reply\": {\"status\": 200,}}",
       {"j:2:26: invalid JSON: syntax error at '}'"}},
      {"{\"path\" \"/x\"}", {"j:1:9: invalid JSON: syntax error at '\"'"}},
      {"{\"path\": \"/x\"", {"j:1:14: invalid JSON: the text ends before the value does"}},
      {"", {"j:1:1: invalid JSON: the text ends before the value does"}},
      {"{\"path\": \"/x\"} {}", {"j:1:16: invalid JSON: more text after the value"}},
      {"{\"path\": \"/\xff\"}", {"j:1:12: invalid JSON: syntax error at byte 0xff"}},
      // Columns count characters, not bytes.
      {"{\"name\": \"\xc3\xa9t\xc3\xa9\", x}", {"j:1:17: invalid JSON: syntax error at 'x'"}},
      {"{\"path\": \"/x\", // note\n}", {"j:1:16: invalid JSON: syntax error at '/'"}},
  };
  for (const auto& [json, expected] : cases) {
    INFO(json);
    CHECK(problems_of(json) == expected);
  }
}

TEST_CASE("what TOML cannot hold is an error in JSON too", "[config][json]") {
  const std::vector<std::pair<std::string, lines>> cases = {
      {R"({"path": "/", "name": null})",
       {"j:1:23: null is not allowed: leave the key out to get its default"}},
      // Every null is reported; nothing else is read, so a missing 'path' is not a second one.
      {"{\"path\": null,\n \"reply\": {\"json\": [1, null]}}",
       {"j:1:10: null is not allowed: leave the key out to get its default",
        "j:2:24: null is not allowed: leave the key out to get its default"}},
      {R"({"path": "/", "path": "/b"})", {"j:1:15: key 'path' is already set at j:1:2"}},
      {R"({"path": "/", "reply": {"json": {"a": 1, "a": {"b": 2}}}})",
       {"j:1:42: key 'a' is already set at j:1:34"}},
      {R"({"path": "/", "priority": 9223372036854775808})",
       {"j:1:27: integer 9223372036854775808 is too large: at most 9223372036854775807"}},
      {R"({"path": "/", "reply": {"json": 1e999}})", {"j:1:33: number is too large for a double"}},
  };
  for (const auto& [json, expected] : cases) {
    INFO(json);
    CHECK(problems_of(json) == expected);
  }
}

TEST_CASE("one route is a JSON object; several are an array or {\"route\": [...]}",
          "[config][json]") {
  CHECK(problems_of("[]") == lines{"j:1:1: expected a route (a JSON object), not an array"});
  CHECK(problems_of(" \"/x\"") == lines{"j:1:2: expected a route (a JSON object), not a string"});
  CHECK(problems_of("42") == lines{"j:1:1: expected a route (a JSON object), not an integer"});
  // load_route_json takes the route itself, never a list.
  CHECK(problems_of(R"({"route": [{"path": "/"}]})") ==
        lines{"j:1:1: a route needs 'path' or 'path_regex'",
              "j:1:2: unknown key 'route' in [[route]]"});
  CHECK(problems_of_many("true") ==
        lines{"j:1:1: expected a route (a JSON object) or an array of routes, not a boolean"});

  const auto routes = load_routes_json(R"([{"path": "/a"}, {"path": "/a"}, {"name": "b",
    "path": "/b"}])",
                                       "j");
  REQUIRE(routes.size() == 3);
  CHECK(routes[0].name == "ANY /a");
  CHECK(routes[1].name == "ANY /a #2");
  CHECK(routes[2].name == "b");
  CHECK(routes[2].path_position.line == 2);
  CHECK(load_routes_json("[]", "j").empty());
  CHECK(load_routes_json(R"({"path": "/a"})", "j").size() == 1);
  const auto listed = load_routes_json(R"({"route": [{"path": "/a"}, {"path": "/b"}]})", "j");
  REQUIRE(listed.size() == 2);
  CHECK(listed[1].path == "/b");

  CHECK(problems_of_many(R"([{"name": "a", "path": "/a"},
 {"name": "a", "path": "/b"}, 3, {"path": 1}])") ==
        lines{"j:2:11: route name 'a' is already used at j:1:11",
              "j:2:31: each 'route' must be a table, not an integer",
              "j:2:43: 'path' must be a string, not an integer"});
  CHECK(problems_of_many(R"({"route": [], "outage": [{"path": "/", "rate": 1}], "routes": 1})") ==
        lines{"j:1:15: [[outage]] cannot be set here, only routes (a route's own outage is its "
              "'outage' key)",
              "j:1:53: unknown key 'routes' at the top level (did you mean 'route'?)"});
  CHECK(problems_of_many(R"({"route": {"path": "/"}})") ==
        lines{"j:1:11: 'route' must be an array of tables, written [[route]], not a table"});
}

TEST_CASE("server settings cannot come with routes", "[config][json]") {
  const lines server = {
      "j:1:15: [server] cannot be set here, only routes: server settings come from the "
      "configuration files"};
  CHECK(problems_of(R"({"path": "/", "server": {"threads": 1}})") == server);
  CHECK(problems_of_many(R"({"path": "/", "server": {"threads": 1}})") == server);
  CHECK(problems_of_many(R"({"route": [], "server": {"threads": 1}})") == server);
  // A route's own outage is a route key like any other.
  const route_spec route = load_route_json(R"({"path": "/", "outage": {"rate": 1}})", "j");
  REQUIRE(route.outage.has_value());
  CHECK(route.outage->rate == 1.0);
}

TEST_CASE("JSON nesting has the limit of a file, and deep input cannot crash", "[config][json]") {
  // In a file: the route is level 2, its reply 3, json's arrays 4 and on (see test_load_config).
  // A JSON route is the same route, so the same json value is just within the limit or not.
  const auto route = [](std::size_t depth) {
    return R"({"path": "/", "reply": {"json": )" + std::string(depth, '[') +
           std::string(depth, ']') + "}}";
  };
  CHECK(problems_of(route(29)).empty());
  CHECK(problems_of(route(30)) == lines{"j:1:62: values are nested more than 32 levels deep"});
  CHECK(problems_of_many("[" + route(29) + "]").empty());
  CHECK(problems_of_many(R"({"route": [)" + route(29) + "]}").empty());
  CHECK(problems_of_many(R"({"route": [)" + route(30) + "]}") ==
        lines{"j:1:73: values are nested more than 32 levels deep"});
  // Far deeper than that stops the parser at the first level too many, without recursing.
  CHECK(problems_of(std::string(100'000, '[')) ==
        lines{"j:1:34: values are nested more than 32 levels deep"});
  std::string objects = R"({"path": "/", "reply": {"json": )";
  for (int i = 0; i < 100'000; ++i) objects += R"({"a": )";
  CHECK(problems_of(objects) == lines{"j:1:219: values are nested more than 32 levels deep"});
}

TEST_CASE("body_file in JSON is relative to the given folder", "[config][json]") {
  temp_dir dir;
  {
    std::ofstream out(dir.path() / "bodies" / "user.json", std::ios::binary);
    out << "{\"id\": 1}";
  }
  const std::string base = dir.path().string();
  const route_spec route =
      load_route_json(R"({"path": "/", "reply": {"body_file": "bodies/user.json"}})", "j", base);
  CHECK(route.reply.body == "{\"id\": 1}");
  CHECK(route.reply.source == stubborn::body_source::file);
  CHECK(problems_of(R"({"path": "/", "reply": {"body_file": "../x.json"}})", false, base) ==
        lines{"j:1:38: 'body_file' \"../x.json\" is outside the config file's folder"});
  CHECK(problems_of(R"({"path": "/", "reply": {"body_file": "/bodies/user.json"}})", false, base) ==
        lines{"j:1:38: 'body_file' must be relative to the config file's folder, not an "
              "absolute path: \"/bodies/user.json\""});
}

TEST_CASE("json_token_scanner finds keys and values in document order", "[config][json]") {
  stubborn::json_token_scanner scanner("{\"a\": [1, \"x\\\"y\"],\n \"\xc3\xa9\": true}");
  const auto at = [](const stubborn::json_token& t) {
    return std::to_string(t.begin.line) + ":" + std::to_string(t.begin.column) + "-" +
           std::to_string(t.end.line) + ":" + std::to_string(t.end.column);
  };
  CHECK(at(scanner.next()) == "1:1-1:2");    // {
  CHECK(at(scanner.next()) == "1:2-1:5");    // "a"
  CHECK(at(scanner.next()) == "1:7-1:8");    // [
  CHECK(at(scanner.next()) == "1:8-1:9");    // 1
  CHECK(at(scanner.next()) == "1:11-1:17");  // "x\"y"
  CHECK(at(scanner.next()) == "2:2-2:5");    // "é"
  CHECK(at(scanner.next()) == "2:7-2:11");   // true
  CHECK(at(scanner.next()) == "2:12-2:12");  // the end
  CHECK(at(scanner.next()) == "2:12-2:12");
  const auto p = stubborn::json_token_scanner::position_of("ab\ncd", 4);
  CHECK(p.line == 2);
  CHECK(p.column == 2);
}

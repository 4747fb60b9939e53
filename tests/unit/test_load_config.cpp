#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "stubborn/config_error.hpp"
#include "stubborn/load_config.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using stubborn::config;
using stubborn::config_error;
using stubborn::load_config;
using stubborn::load_config_text;

namespace {

using lines = std::vector<std::string>;

// What the message for an unknown placeholder offers.
const std::string placeholders =
    "path.NAME, query.NAME, header.NAME, cookie.NAME, form.NAME, json.PATH, xpath.PATH, body, "
    "method, uri, now, now.epoch, now.epoch_ms, now.http, uuid or counter";

// Every problem load_config_text reports for `text`, as "t.toml:line:col: message".
lines problems_of(const std::string& text, const std::string& base_dir = ".") {
  try {
    load_config_text(text, "t.toml", base_dir);
  } catch (const config_error& e) {
    lines out;
    for (const auto& p : e.problems()) out.push_back(p.to_string());
    return out;
  }
  return {};
}

lines problems_of_paths(const std::vector<std::string>& paths) {
  try {
    load_config(paths);
  } catch (const config_error& e) {
    lines out;
    for (const auto& p : e.problems()) out.push_back(p.to_string());
    return out;
  }
  return {};
}

std::string repeat(const std::string& part, std::size_t times) {
  std::string out;
  for (std::size_t i = 0; i < times; ++i) out += part;
  return out;
}

struct error_case {
  std::string text;
  lines expected;
};

void check_cases(const std::vector<error_case>& cases) {
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK(problems_of(c.text) == c.expected);
  }
}

// A fresh folder under the system temp folder, removed with everything in it.
class temp_dir {
 public:
  temp_dir() {
    static std::atomic<unsigned> counter{0};
    std::random_device random;
    path_ = fs::temp_directory_path() /
            ("stubborn-config-test-" + std::to_string(random()) + "-" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const fs::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

}  // namespace

TEST_CASE("a TOML syntax error is reported with its position", "[config]") {
  check_cases({
      // The messages are toml++'s own.
      {"[server]\nthreads = \n",
       {"t.toml:2:11: Error while parsing key-value pair: expected value, saw '\\n'"}},
      {"[[route]]\npath = \"/a\nname = \"x\"\n",
       {"t.toml:2:11: Error while parsing string: unescaped control characters other than TAB "
        "(U+0009) are explicitly prohibited"}},
      {"[server]\nthreads = 1\nthreads = 2\n",
       {"t.toml:3:11: Error while parsing key-value pair: cannot redefine existing integer "
        "'threads'"}},
  });
}

TEST_CASE("unknown keys are errors, with the nearest known key suggested", "[config]") {
  check_cases({
      {"[srever]\n",
       {"t.toml:1:2: unknown key 'srever' at the top level (did you mean 'server'?)"}},
      {"[[routes]]\npath = \"/\"\n",
       {"t.toml:1:3: unknown key 'routes' at the top level (did you mean 'route'?)"}},
      {"listen = \"127.0.0.1:1\"\n", {"t.toml:1:1: unknown key 'listen' at the top level"}},
      {"[server]\nthread = 4\n",
       {"t.toml:2:1: unknown key 'thread' in [server] (did you mean 'threads'?)"}},
      {"[server]\nIdle_Timeout = \"1s\"\n",
       {"t.toml:2:1: unknown key 'Idle_Timeout' in [server] (did you mean 'idle_timeout'?)"}},
      {"[server]\nfoo = 1\n", {"t.toml:2:1: unknown key 'foo' in [server]"}},
      {"[[route]]\npath = \"/\"\nmethods = \"GET\"\n",
       {"t.toml:3:1: unknown key 'methods' in [[route]] (did you mean 'method'?)"}},
      {"[[route]]\npath = \"/\"\npath-regex = \"x\"\n",
       {"t.toml:3:1: unknown key 'path-regex' in [[route]] (did you mean 'path_regex'?)"}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nstauts = 200\n",
       {"t.toml:4:1: unknown key 'stauts' in [route.reply] (did you mean 'status'?)"}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nbodyfile = \"x\"\n",
       {"t.toml:4:1: unknown key 'bodyfile' in [route.reply] (did you mean 'body_file'?)"}},
      {"[[route]]\npath = \"/\"\nbody = { contain = \"x\" }\n",
       {"t.toml:3:10: unknown key 'contain' in [route.body] (did you mean 'contains'?)"}},
      {"[[route]]\npath = \"/\"\nbody = { xml = \"x\" }\n",
       {"t.toml:3:10: unknown key 'xml' in [route.body]"}},
  });
}

TEST_CASE("values of the wrong type are errors naming both types", "[config]") {
  check_cases({
      {"server = 1\n", {"t.toml:1:10: 'server' must be a table, not an integer"}},
      {"[route]\npath = \"/\"\n",
       {"t.toml:1:1: 'route' must be an array of tables, written [[route]], not a table"}},
      {"route = [1]\n", {"t.toml:1:10: each 'route' must be a table, not an integer"}},
      {"[server]\nlisten = 8080\n", {"t.toml:2:10: 'listen' must be a string, not an integer"}},
      {"[server]\nthreads = \"4\"\n", {"t.toml:2:11: 'threads' must be an integer, not a string"}},
      {"[server]\nidle_timeout = 60\n",
       {"t.toml:2:16: 'idle_timeout' must be a duration string with a unit, e.g. \"10s\", not an "
        "integer"}},
      {"[server]\nmax_body_bytes = true\n",
       {"t.toml:2:18: 'max_body_bytes' must be an integer or a size string, e.g. \"16KiB\", not a "
        "boolean"}},
      {"[server]\nmax_connections = 1.5\n",
       {"t.toml:2:19: 'max_connections' must be an integer, not a float"}},
      {"[server]\nserver_header = false\n",
       {"t.toml:2:17: 'server_header' must be a string, not a boolean"}},
      {"[[route]]\nname = 1\npath = \"/\"\n",
       {"t.toml:2:8: 'name' must be a string, not an integer"}},
      {"[[route]]\nmethod = 1\npath = \"/\"\n",
       {"t.toml:2:10: 'method' must be a string or an array of strings, not an integer"}},
      {"[[route]]\nmethod = [\"GET\", 1]\npath = \"/\"\n",
       {"t.toml:2:18: each 'method' must be a string, not an integer"}},
      {"[[route]]\npath = 1\n", {"t.toml:2:8: 'path' must be a string, not an integer"}},
      {"[[route]]\npath_regex = [\"x\"]\n",
       {"t.toml:2:14: 'path_regex' must be a string, not an array"}},
      {"[[route]]\npath = \"/\"\nquery = \"a=1\"\n",
       {"t.toml:3:9: 'query' must be a table, e.g. { page = \"2\" }, not a string"}},
      {"[[route]]\npath = \"/\"\nquery = { a = [1] }\n",
       {"t.toml:3:15: query parameter 'a' must be a string, an integer or a boolean, not an "
        "array"}},
      {"[[route]]\npath = \"/\"\nheaders = { X-A = 1.5 }\n",
       {"t.toml:3:19: header 'X-A' must be a string, an integer or a boolean, not a float"}},
      {"[[route]]\npath = \"/\"\nbody = \"x\"\n",
       {"t.toml:3:8: 'body' must be a table, e.g. { contains = \"x\" }, not a string"}},
      {"[[route]]\npath = \"/\"\nbody = { equals = 1 }\n",
       {"t.toml:3:19: 'body.equals' must be a string, not an integer"}},
      {"[[route]]\npath = \"/\"\npriority = \"high\"\n",
       {"t.toml:3:12: 'priority' must be an integer, not a string"}},
      {"[[route]]\npath = \"/\"\nreply = 200\n",
       {"t.toml:3:9: 'reply' must be a table, written [route.reply], not an integer"}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nstatus = \"200\"\n",
       {"t.toml:4:10: 'status' must be an integer, not a string"}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nreason = 1\n",
       {"t.toml:4:10: 'reason' must be a string, not an integer"}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nheaders = [\"a\"]\n",
       {"t.toml:4:11: 'headers' must be a table, e.g. { \"Content-Type\" = \"text/plain\" }, not "
        "an "
        "array"}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nbody = 1\n",
       {"t.toml:4:8: 'body' must be a string, not an integer"}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nbody_file = 1\n",
       {"t.toml:4:13: 'body_file' must be a string, not an integer"}},
  });
}

TEST_CASE("server values out of range are errors", "[config]") {
  check_cases({
      {"[server]\nlisten = \"127.0.0.1:65536\"\n",
       {"t.toml:2:10: the port in 'listen' must be 0..65535 (0 = any free port), not 65536"}},
      {"[server]\nlisten = \"127.0.0.1\"\n",
       {"t.toml:2:10: 'listen' must be \"host:port\", e.g. \"127.0.0.1:8080\" or \"[::1]:8080\", "
        "not \"127.0.0.1\""}},
      {"[server]\nlisten = \":8080\"\n",
       {"t.toml:2:10: 'listen' must be \"host:port\", e.g. \"127.0.0.1:8080\" or \"[::1]:8080\", "
        "not \":8080\""}},
      {"[server]\nlisten = \"::1:8080\"\n",
       {"t.toml:2:10: an IPv6 address in 'listen' needs brackets, e.g. \"[::1]:8080\""}},
      {"[server]\nlisten = \"[::1]8080\"\n",
       {"t.toml:2:10: 'listen' must be \"host:port\", e.g. \"127.0.0.1:8080\" or \"[::1]:8080\", "
        "not \"[::1]8080\""}},
      {"[server]\nthreads = 1025\n",
       {"t.toml:2:11: 'threads' must be 0..1024 (0 = one per core), not 1025"}},
      {"[server]\nthreads = -1\n",
       {"t.toml:2:11: 'threads' must be 0..1024 (0 = one per core), not -1"}},
      {"[server]\ndrain_timeout = \"10\"\n",
       {"t.toml:2:17: 'drain_timeout' must be a number with a unit (ms, s, m or h), e.g. \"10s\", "
        "not \"10\""}},
      {"[server]\nidle_timeout = \"0s\"\n", {"t.toml:2:16: 'idle_timeout' must be more than 0s"}},
      {"[server]\nbody_timeout = \"169h\"\n",
       {"t.toml:2:16: 'body_timeout' must be at most 168h (a week)"}},
      {"[server]\nmax_header_bytes = 1023\n",
       {"t.toml:2:20: 'max_header_bytes' must be at least 1024, not 1023"}},
      {"[server]\nmax_header_bytes = \"1KB\"\n",
       {"t.toml:2:20: 'max_header_bytes' must be at least 1024, not 1000"}},
      {"[server]\nmax_header_bytes = \"1GiB\"\n",
       {"t.toml:2:20: 'max_header_bytes' must be at most 67108864, not 1073741824"}},
      {"[server]\nmax_body_bytes = -1\n", {"t.toml:2:18: 'max_body_bytes' must not be negative"}},
      {"[server]\nmax_body_bytes = \"8 MiB\"\n",
       {"t.toml:2:18: 'max_body_bytes' must be a number of bytes, optionally with a unit (KB, KiB, "
        "MB, MiB, GB, GiB), e.g. \"16KiB\", not \"8 MiB\""}},
      {"[server]\nmax_connections = 0\n",
       {"t.toml:2:19: 'max_connections' must be at least 1, not 0"}},
      {"[server]\nmax_headers = 0\n", {"t.toml:2:15: 'max_headers' must be 1..10000, not 0"}},
      {"[server]\nmax_requests_per_connection = -1\n",
       {"t.toml:2:31: 'max_requests_per_connection' must be 0 (no limit) or more, not -1"}},
      {"[server]\nmax_uri_byte = 100\n",
       {"t.toml:2:1: unknown key 'max_uri_byte' in [server] (did you mean 'max_uri_bytes'?)"}},
      {"[server]\nserver_header = \"a\\r\\nX-Evil: 1\"\n",
       {"t.toml:2:17: 'server_header' must not contain CR, LF, NUL or other control characters"}},
  });
}

TEST_CASE("reply statuses must be final and in 200..999", "[config]") {
  const std::string route = "[[route]]\npath = \"/\"\n[route.reply]\n";
  check_cases({
      {route + "status = 99\n",
       {"t.toml:4:10: status 99 is out of range: a final status must be 200..999"}},
      {route + "status = 1000\n",
       {"t.toml:4:10: status 1000 is out of range: a final status must be 200..999"}},
      {route + "status = -200\n",
       {"t.toml:4:10: status -200 is out of range: a final status must be 200..999"}},
      {route + "status = 100\n",
       {"t.toml:4:10: status 100: 1xx responses are interim and sent by the server itself; a final "
        "status must be 200..999"}},
      {route + "status = 199\n",
       {"t.toml:4:10: status 199: 1xx responses are interim and sent by the server itself; a final "
        "status must be 200..999"}},
      {route + "status = 200\n", {}},
      {route + "status = 999\n", {}},
      {route + "reason = \"Bad\\nThing\"\n",
       {"t.toml:4:10: 'reason' must not contain CR, LF, NUL or other control characters"}},
  });
}

TEST_CASE("204, 205 and 304 replies cannot have a body", "[config]") {
  const std::string route = "[[route]]\npath = \"/\"\n[route.reply]\n";
  check_cases({
      {route + "status = 204\nbody = \"x\"\n",
       {"t.toml:5:8: a 204 reply cannot have a body (RFC 9110 §15.3.5)"}},
      {route + "status = 205\nbody_file = \"x.json\"\n",
       {"t.toml:5:13: a 205 reply cannot have a body (RFC 9110 §15.3.6)"}},
      {route + "status = 304\njson = { a = 1 }\n",
       {"t.toml:5:8: a 304 reply cannot have a body (RFC 9110 §15.4.5)"}},
      {route + "status = 204\n", {}},
  });
}

TEST_CASE("a reply has at most one of body, body_file and json", "[config]") {
  const std::string route = "[[route]]\npath = \"/\"\n[route.reply]\n";
  check_cases({
      {route + "json = 1\nbody = \"x\"\n",
       {"t.toml:5:8: a reply has at most one of 'body', 'body_file' and 'json', not both 'json' "
        "and 'body'"}},
      {route + "body = \"x\"\nbody_file = \"y\"\njson = 1\n",
       {"t.toml:5:13: a reply has at most one of 'body', 'body_file' and 'json', not both 'body' "
        "and 'body_file'",
        "t.toml:6:8: a reply has at most one of 'body', 'body_file' and 'json', not both 'body' "
        "and 'json'"}},
  });
}

TEST_CASE("paths, regexes and methods are checked", "[config]") {
  check_cases({
      {"[[route]]\nname = \"x\"\n", {"t.toml:1:1: a route needs 'path' or 'path_regex'"}},
      {"[[route]]\npath = \"/\"\npath_regex = \"^/$\"\n",
       {"t.toml:3:14: a route has 'path' or 'path_regex', not both"}},
      {"[[route]]\npath = \"users\"\n", {"t.toml:2:9: bad 'path': a path must start with '/'"}},
      {"[[route]]\npath = \"/users?id=1\"\n",
       {"t.toml:2:15: bad 'path': a path cannot hold a query: match it with 'query = { ... }'"}},
      {"[[route]]\npath = \"/a#b\"\n",
       {"t.toml:2:11: bad 'path': a path cannot hold a fragment ('#')"}},
      // An escape in the string: the column cannot be mapped into it, so the string's own is used.
      {"[[route]]\npath = \"/\\u0061?\"\n",
       {"t.toml:2:8: bad 'path': a path cannot hold a query: match it with 'query = { ... }'"}},
      {"[[route]]\npath_regex = \"^/v(\"\n", {"t.toml:2:14: bad 'path_regex': missing ): ^/v("}},
      {"[[route]]\npath = \"/\"\nbody = { regex = \"a[\" }\n",
       {"t.toml:3:18: bad 'body.regex': missing ]: ["}},
      {"[[route]]\npath = \"/\"\nbody = {}\n",
       {"t.toml:3:8: 'body' needs one of 'contains', 'equals', 'regex' or 'json'"}},
      {"[[route]]\npath = \"/\"\nbody = { contains = \"a\", equals = \"b\" }\n",
       {"t.toml:3:35: 'body' has one of 'contains', 'equals', 'regex' or 'json', not both "
        "'contains' and 'equals'"}},
      {"[[route]]\nmethod = \"G ET\"\npath = \"/\"\n",
       {"t.toml:2:10: method 'G ET' is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)"}},
      {"[[route]]\nmethod = \"\"\npath = \"/\"\n",
       {"t.toml:2:10: method '' is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)"}},
      {"[[route]]\nmethod = \"get\"\npath = \"/\"\n",
       {"t.toml:2:10: method 'get' never matches: methods are case-sensitive (did you mean "
        "'GET'?)"}},
      {"[[route]]\nmethod = [\"POST\", \"Delete\"]\npath = \"/\"\n",
       {"t.toml:2:19: method 'Delete' never matches: methods are case-sensitive (did you mean "
        "'DELETE'?)"}},
      {"[[route]]\nmethod = [\"GET\", \"GET\"]\npath = \"/\"\n",
       {"t.toml:2:18: method 'GET' is listed twice"}},
      {"[[route]]\nmethod = []\npath = \"/\"\n",
       {"t.toml:2:10: 'method' must not be an empty array (leave it out to match any method)"}},
      // Custom methods are fine as long as they are tokens.
      {"[[route]]\nmethod = [\"PURGE\", \"get-ish\"]\npath = \"/\"\n", {}},
  });
}

TEST_CASE("header names and values are checked", "[config]") {
  check_cases({
      {"[[route]]\npath = \"/\"\nheaders = { \"X A\" = \"1\" }\n",
       {"t.toml:3:13: header name 'X A' is not an HTTP token (letters, digits and "
        "!#$%&'*+-.^_`|~)"}},
      {"[[route]]\npath = \"/\"\nheaders = { X-A = \"1\", x-a = \"2\" }\n",
       {"t.toml:3:24: header 'x-a' is already matched at t.toml:3:13 (header names are "
        "case-insensitive)"}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nheaders = { \"Content-Length\" = \"3\" }\n",
       {"t.toml:4:13: header 'Content-Length' is set by the server and cannot be configured"}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nheaders = { transfer-encoding = \"chunked\" }\n",
       {"t.toml:4:13: header 'transfer-encoding' is set by the server and cannot be configured"}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nheaders = { Connection = \"close\" }\n",
       {"t.toml:4:13: header 'Connection' is set by the server and cannot be configured"}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nheaders = { X-A = \"a\\r\\nb\" }\n",
       {"t.toml:4:19: header 'X-A' must not contain CR, LF, NUL or other control characters"}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nheaders = { \"X:A\" = \"1\" }\n",
       {"t.toml:4:13: header name 'X:A' is not an HTTP token (letters, digits and "
        "!#$%&'*+-.^_`|~)"}},
  });
}

TEST_CASE("templates in reply bodies and header values are checked", "[config]") {
  check_cases({
      {"[[route]]\npath = \"/users/{id}\"\n[route.reply]\nbody = 'id={{path.nope}}'\n",
       {"t.toml:4:12: bad template in 'body': {{path.nope}}: the path has no parameter 'nope' (it "
        "has: id)"}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nbody = \"{{bogus}}\"\n",
       {"t.toml:4:9: bad template in 'body': unknown placeholder {{bogus}}: use " + placeholders}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nbody = \"\"\"\nline\n{{bogus}}\"\"\"\n",
       {"t.toml:4:8: bad template in 'body': unknown placeholder {{bogus}}: use " + placeholders}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nheaders = { X-Id = \"<{{path.id}}>\" }\n",
       {"t.toml:4:22: bad template in header 'X-Id': {{path.id}}: the path has no parameter 'id' "
        "(it has none)"}},
      {"[[route]]\npath_regex = \"^/v(?P<ver>[0-9]+)/items$\"\n[route.reply]\n"
       "body = \"{{path.ver}} {{path.item}}\"\n",
       {"t.toml:4:22: bad template in 'body': {{path.item}}: the path has no parameter 'item' (it "
        "has: ver)"}},
      // The strings of a JSON reply are templates, checked where they are written.
      {"[[route]]\npath = \"/\"\n[route.reply]\njson = { a = \"{{bogus}}\" }\n",
       {"t.toml:4:15: bad template in a 'json' string: unknown placeholder {{bogus}}: use " +
        placeholders}},
      {"[[route]]\npath = \"/\"\n[route.reply]\njson = { a = [1, { b = \"x {{json.a!}}\" }] }\n",
       {"t.toml:4:35: bad template in a 'json' string: bad JSON path in {{json.a!}}: unexpected "
        "'!' in a name (write other names as ['name'])"}},
      {"[[route]]\npath = \"/\"\n[route.reply]\njson = { a = \"{{json.order.id}}\" }\n", {}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nbody = \"{{json.items[}}\"\n",
       {"t.toml:4:21: bad template in 'body': bad JSON path in {{json.items[}}: unclosed '['"}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nbody = \"<{{xpath.//[}}>\"\n",
       {"t.toml:4:18: bad template in 'body': {{xpath.//[}}: bad XPath '//[': the expression is "
        "malformed (at offset 2)"}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nheaders = { X-At = \"{{now.iso}}\" }\n",
       {"t.toml:4:21: bad template in header 'X-At': unknown placeholder {{now.iso}}: use now, "
        "now.epoch, now.epoch_ms or now.http"}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nredirect = { to = \"/o/{{json.a!}}\" }\n",
       {"t.toml:4:31: bad template in 'to': bad JSON path in {{json.a!}}: unexpected '!' in a "
        "name (write other names as ['name'])"}},
      {"[[route]]\npath = \"/\"\n[[route.replies]]\nbody = \"{{form.}}\"\n",
       {"t.toml:4:9: bad template in 'body': unknown placeholder {{form.}}: use " + placeholders}},
      // A broken path already has its own error; its templates are not judged against it.
      {"[[route]]\npath = \"/a/{id\"\n[route.reply]\nbody = \"{{path.id}}\"\n",
       {"t.toml:2:12: bad 'path': a parameter is written {name} and fills a whole segment"}},
  });
}

TEST_CASE("an explicit duplicate route name names both positions", "[config]") {
  check_cases({
      {"[[route]]\nname = \"a\"\npath = \"/a\"\n\n[[route]]\nname = \"a\"\npath = \"/b\"\n",
       {"t.toml:6:8: route name 'a' is already used at t.toml:2:8"}},
  });
}

TEST_CASE("several mistakes are all reported, in line order", "[config]") {
  // toml++ iterates keys alphabetically ("route" before "server"); the report is in file order.
  const std::string text = R"toml([server]
listen = "127.0.0.1:99999"

[[route]]
path = "/users/{id}"
[route.reply]
stauts = 200
body = "{{path.uid}}"
)toml";
  CHECK(problems_of(text) ==
        lines{"t.toml:2:10: the port in 'listen' must be 0..65535 (0 = any free port), not 99999",
              "t.toml:7:1: unknown key 'stauts' in [route.reply] (did you mean 'status'?)",
              "t.toml:8:9: bad template in 'body': {{path.uid}}: the path has no parameter 'uid' "
              "(it has: id)"});

  try {
    load_config_text(text, "t.toml");
    FAIL("no config_error");
  } catch (const config_error& e) {
    CHECK(std::string(e.what()) == e.problems()[0].to_string() + "\n" +
                                       e.problems()[1].to_string() + "\n" +
                                       e.problems()[2].to_string());
  }
}

TEST_CASE("values nested too deeply are rejected", "[config]") {
  const std::string deep = "a = " + std::string(40, '[') + std::string(40, ']') + "\n";
  CHECK(problems_of(deep) == lines{"t.toml:1:37: values are nested more than 32 levels deep"});
  // The root table is level 0; [[route]] 1, the route 2, its reply 3, json's arrays 4 and on.
  const std::string route = "[[route]]\npath = \"/\"\n[route.reply]\njson = ";
  CHECK(problems_of(route + std::string(29, '[') + std::string(29, ']') + "\n").empty());
  CHECK(problems_of(route + std::string(30, '[') + std::string(30, ']') + "\n") ==
        lines{"t.toml:4:37: values are nested more than 32 levels deep"});
}

TEST_CASE("pathological nesting is stopped before toml++ recurses into it", "[config]") {
  // Each of these overflowed the stack inside toml::parse before the pre-scan.
  const std::string dotted_key = "a" + repeat(".b", 100'000) + " = 1\n";
  CHECK(problems_of(dotted_key) ==
        lines{"t.toml:1:128: values are nested more than 32 levels deep"});
  const std::string header = "[a" + repeat(".b", 100'000) + "]\n";
  CHECK(problems_of(header) == lines{"t.toml:1:129: values are nested more than 32 levels deep"});
  const std::string arrays = "a = " + std::string(100'000, '[') + "\n";
  CHECK(problems_of(arrays) == lines{"t.toml:1:69: values are nested more than 32 levels deep"});
  const std::string mixed = "x = [" + repeat("{y.y.y.y = [", 10'000) + "\n";
  CHECK(problems_of(mixed) == lines{"t.toml:1:154: values are nested more than 32 levels deep"});
  // Dots and brackets in strings and comments are not nesting.
  const std::string quoted = "[[route]]\npath = \"/\"\nname = \"" + repeat(".[{", 1000) + "\" # " +
                             repeat(".[{", 1000) + "\n[route.reply]\nbody = '''" +
                             repeat(".[{", 1000) + "'''\n";
  CHECK(problems_of(quoted).empty());
}

TEST_CASE("config_problem::to_string", "[config]") {
  CHECK(stubborn::config_problem{{"a.toml", 3, 7}, "bad"}.to_string() == "a.toml:3:7: bad");
  CHECK(stubborn::config_problem{{"a.toml", 0, 0}, "cannot read file"}.to_string() ==
        "a.toml: cannot read file");
}

TEST_CASE("defaults apply to everything left out", "[config]") {
  const config cfg = load_config_text("[[route]]\npath = \"/\"\n", "t.toml");
  CHECK(cfg.server.listen.host == "127.0.0.1");
  CHECK(cfg.server.listen.port == 8080);
  CHECK(cfg.server.threads == 0);
  CHECK(cfg.server.drain_timeout == 10s);
  CHECK(cfg.server.idle_timeout == 60s);
  CHECK(cfg.server.header_timeout == 10s);
  CHECK(cfg.server.body_timeout == 30s);
  CHECK(cfg.server.max_header_bytes == 16384);
  CHECK(cfg.server.max_body_bytes == 8u * 1024 * 1024);
  CHECK(cfg.server.max_connections == 100000);
  CHECK(cfg.server.server_header == "stubborn");
  CHECK(cfg.files == std::vector<std::string>{"t.toml"});
  REQUIRE(cfg.routes.size() == 1);
  const auto& r = cfg.routes[0];
  CHECK(r.methods.empty());
  CHECK(r.priority == 0);
  CHECK(r.query.empty());
  CHECK(r.headers.empty());
  CHECK_FALSE(r.body.has_value());
  CHECK(r.reply.status == 200);
  CHECK(r.reply.reason.empty());
  CHECK(r.reply.headers.empty());
  CHECK(r.reply.body.empty());
  CHECK(r.reply.source == stubborn::body_source::none);
  CHECK(r.position.line == 1);
  CHECK(r.path_position.line == 2);
  CHECK(r.path_position.column == 8);

  CHECK(load_config_text("", "t.toml").routes.empty());
}

TEST_CASE("every server key is read", "[config]") {
  const config cfg = load_config_text(R"toml([server]
listen = "[::1]:0"
threads = 3
drain_timeout = "1.5s"
idle_timeout = "2m"
header_timeout = "250ms"
body_timeout = "1h"
max_header_bytes = "64KiB"
max_body_bytes = 1000
max_connections = 7
server_header = ""
)toml",
                                      "t.toml");
  CHECK(cfg.server.listen.host == "::1");
  CHECK(cfg.server.listen.port == 0);
  CHECK(cfg.server.threads == 3);
  CHECK(cfg.server.drain_timeout == 1500ms);
  CHECK(cfg.server.idle_timeout == 120s);
  CHECK(cfg.server.header_timeout == 250ms);
  CHECK(cfg.server.body_timeout == 3600s);
  CHECK(cfg.server.max_header_bytes == 65536);
  CHECK(cfg.server.max_body_bytes == 1000);
  CHECK(cfg.server.max_connections == 7);
  CHECK(cfg.server.server_header.empty());
  CHECK(cfg.routes.empty());

  const config zero_drain =
      load_config_text("[server]\ndrain_timeout = \"0s\"\nlisten = \"localhost:65535\"\n", "t");
  CHECK(zero_drain.server.drain_timeout == 0ms);
  CHECK(zero_drain.server.listen.host == "localhost");
  CHECK(zero_drain.server.listen.port == 65535);
}

TEST_CASE("every route key is read", "[config]") {
  const config cfg = load_config_text(R"toml([[route]]
name = "get-user"
method = ["GET", "HEAD"]
path = "/users/{id}"
query = { verbose = true, page = 2, q = "x y" }
headers = { "X-Api-Key" = "k1" }
body = { json = { a = 1, b = [true, 1.5, "s"], c = {} } }
priority = -3
[route.reply]
status = 799
reason = "Custom"
headers = { Content-Type = "application/json", X-Id = "{{path.id}}", X-N = 5 }
body = '{"id": "{{path.id}}"}'
)toml",
                                      "t.toml");
  REQUIRE(cfg.routes.size() == 1);
  const auto& r = cfg.routes[0];
  CHECK(r.name == "get-user");
  CHECK(r.methods == std::vector<std::string>{"GET", "HEAD"});
  CHECK(r.path == "/users/{id}");
  CHECK(r.path_regex.empty());
  // toml++ keeps table keys sorted.
  REQUIRE(r.query.size() == 3);
  CHECK(r.query[0].name == "page");
  CHECK(r.query[0].value == "2");
  CHECK(r.query[1].name == "q");
  CHECK(r.query[1].value == "x y");
  CHECK(r.query[2].name == "verbose");
  CHECK(r.query[2].value == "true");
  CHECK(r.query[2].position.line == 5);
  CHECK(r.query[2].position.column == 11);
  REQUIRE(r.headers.size() == 1);
  CHECK(r.headers[0].name == "X-Api-Key");
  CHECK(r.headers[0].value == "k1");
  REQUIRE(r.body.has_value());
  CHECK(r.body->kind == stubborn::body_match_kind::json);
  CHECK(r.body->text == R"({"a":1,"b":[true,1.5,"s"],"c":{}})");
  CHECK(r.body->position.line == 7);
  CHECK(r.priority == -3);
  CHECK(r.reply.status == 799);
  CHECK(r.reply.reason == "Custom");
  REQUIRE(r.reply.headers.size() == 3);
  CHECK(r.reply.headers[0].name == "Content-Type");
  CHECK(r.reply.headers[1].name == "X-Id");
  CHECK(r.reply.headers[1].value == "{{path.id}}");
  CHECK(r.reply.headers[2].name == "X-N");
  CHECK(r.reply.headers[2].value == "5");
  CHECK(r.reply.body == R"({"id": "{{path.id}}"})");
  CHECK(r.reply.source == stubborn::body_source::inline_text);
  CHECK(r.reply.body_position.line == 13);
  CHECK(r.reply.body_position.column == 8);
  CHECK(r.reply.position.line == 9);
}

TEST_CASE("body matchers and json replies", "[config]") {
  const config cfg = load_config_text(R"toml([[route]]
path = "/a"
body = { contains = "needle" }
[[route]]
path = "/b"
body = { equals = "" }
[[route]]
path = "/c"
body = { regex = "^a+$" }
[[route]]
path = "/d"
body = { json = [1, 2] }
reply = { json = { price = 9.99, whole = 2.0, n = -0.5, big = 1e300, s = "q\"" } }
)toml",
                                      "t.toml");
  REQUIRE(cfg.routes.size() == 4);
  CHECK(cfg.routes[0].body->kind == stubborn::body_match_kind::contains);
  CHECK(cfg.routes[0].body->text == "needle");
  CHECK(cfg.routes[1].body->kind == stubborn::body_match_kind::equals);
  CHECK(cfg.routes[1].body->text.empty());
  CHECK(cfg.routes[2].body->kind == stubborn::body_match_kind::regex);
  CHECK(cfg.routes[2].body->text == "^a+$");
  CHECK(cfg.routes[3].body->kind == stubborn::body_match_kind::json);
  CHECK(cfg.routes[3].body->text == "[1,2]");
  CHECK(cfg.routes[3].reply.source == stubborn::body_source::json);
  CHECK(cfg.routes[3].reply.body ==
        R"({"big":1e+300,"n":-0.5,"price":9.99,"s":"q\"","whole":2.0})");

  CHECK(problems_of("[[route]]\npath = \"/\"\nreply = { json = { d = 1979-05-27 } }\n") ==
        lines{"t.toml:3:24: JSON has no dates or times: write a date as a string"});
  CHECK(problems_of("[[route]]\npath = \"/\"\nreply = { json = [nan] }\n") ==
        lines{"t.toml:3:19: JSON has no infinity or NaN"});
}

TEST_CASE("route names are generated when left out, and made unique", "[config]") {
  const config cfg = load_config_text(R"toml([[route]]
path = "/a"
[[route]]
method = ["GET", "HEAD"]
path = "/a"
[[route]]
path = "/a"
[[route]]
name = "ANY /a #3"
path = "/b"
[[route]]
path = "/a"
[[route]]
name = ""
path_regex = "^/x$"
)toml",
                                      "t.toml");
  REQUIRE(cfg.routes.size() == 6);
  CHECK(cfg.routes[0].name == "ANY /a");
  CHECK(cfg.routes[1].name == "GET,HEAD /a");
  CHECK(cfg.routes[2].name == "ANY /a #2");
  CHECK(cfg.routes[3].name == "ANY /a #3");
  CHECK(cfg.routes[4].name == "ANY /a #4");
  CHECK(cfg.routes[5].name == "ANY ^/x$");
}

TEST_CASE("body_file is read relative to the config file and must stay inside it", "[config]") {
  temp_dir dir;
  write_file(dir.path() / "secret.json", "secret");
  write_file(dir.path() / "conf" / "bodies" / "user.json", "{\"id\": \"{{not a template}}\"}");
  fs::create_directories(dir.path() / "conf" / "bodies" / "folder");
  fs::create_symlink(dir.path() / "secret.json", dir.path() / "conf" / "out.json");
  fs::create_symlink(dir.path() / "conf" / "bodies" / "user.json", dir.path() / "conf" / "in.json");
  const std::string base = dir / "conf";
  const std::string route = "[[route]]\npath = \"/\"\n[route.reply]\n";

  const config cfg = load_config_text(
      route + "body_file = \"bodies/user.json\"\n" + route + "body_file = \"in.json\"\n", "t.toml",
      base);
  REQUIRE(cfg.routes.size() == 2);
  CHECK(cfg.routes[0].reply.body == "{\"id\": \"{{not a template}}\"}");
  CHECK(cfg.routes[0].reply.source == stubborn::body_source::file);
  CHECK(cfg.routes[0].reply.body_file == "bodies/user.json");
  CHECK(cfg.routes[0].reply.body_position.line == 4);
  CHECK(cfg.routes[1].reply.body == cfg.routes[0].reply.body);

  REQUIRE(::mkfifo((dir.path() / "conf" / "bodies" / "fifo").c_str(), 0600) == 0);
  const std::string absolute = dir / "secret.json";
  const std::vector<error_case> cases = {
      {route + "body_file = \"../secret.json\"\n",
       {"t.toml:4:13: 'body_file' \"../secret.json\" is outside the config file's folder"}},
      {route + "body_file = \"bodies/../../secret.json\"\n",
       {"t.toml:4:13: 'body_file' \"bodies/../../secret.json\" is outside the config file's "
        "folder"}},
      {route + "body_file = \"out.json\"\n",
       {"t.toml:4:13: 'body_file' \"out.json\" is outside the config file's folder"}},
      {route + "body_file = '" + absolute + "'\n",
       {"t.toml:4:13: 'body_file' must be relative to the config file's folder, not an absolute "
        "path: \"" +
        absolute + "\""}},
      {route + "body_file = \"bodies/missing.json\"\n",
       {"t.toml:4:13: cannot read 'body_file' \"bodies/missing.json\": it does not exist"}},
      {route + "body_file = \"bodies/folder\"\n",
       {"t.toml:4:13: cannot read 'body_file' \"bodies/folder\": it is a folder"}},
      // A FIFO would block the loader forever (a regression found by fuzzing).
      {route + "body_file = \"bodies/fifo\"\n",
       {"t.toml:4:13: cannot read 'body_file' \"bodies/fifo\": it is not a regular file"}},
      {route + "body_file = \"\"\n", {"t.toml:4:13: 'body_file' must not be empty"}},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK(problems_of(c.text, base) == c.expected);
  }
}

TEST_CASE("load_config reads files and folders, and names positions by file", "[config]") {
  temp_dir dir;
  const std::string a = dir / "a.toml";
  const std::string b = dir / "b.toml";
  write_file(a, "[server]\nthreads = 2\n[[route]]\nname = \"a\"\npath = \"/a\"\n");
  write_file(b,
             "[server]\nmax_connections = 5\nthreads = 4\n\n[[route]]\nname = \"a\"\n"
             "path = \"/b\"\n");

  SECTION("a [server] key set in two files, and a duplicate name across files") {
    CHECK(problems_of_paths({a, b}) ==
          lines{b + ":3:1: 'threads' in [server] is already set at " + a + ":2:1",
                b + ":6:8: route name 'a' is already used at " + a + ":4:8"});
  }

  SECTION("[server] tables in several files merge when their keys differ") {
    write_file(b, "[server]\nmax_connections = 5\n[[route]]\npath = \"/b\"\n");
    const config cfg = load_config({a, b});
    CHECK(cfg.server.threads == 2);
    CHECK(cfg.server.max_connections == 5);
    CHECK(cfg.files == std::vector<std::string>{a, b});
    REQUIRE(cfg.routes.size() == 2);
    CHECK(cfg.routes[0].name == "a");
    CHECK(cfg.routes[1].name == "ANY /b");
    CHECK(cfg.routes[1].position.file == b);
  }

  SECTION("a folder means its *.toml files in name order, not recursively") {
    const fs::path folder = dir.path() / "conf.d";
    write_file(folder / "20-second.toml", "[[route]]\npath = \"/2\"\n");
    write_file(folder / "10-first.toml", "[[route]]\npath = \"/1\"\n");
    write_file(folder / "30-not-toml.txt", "this is not TOML [");
    write_file(folder / "sub" / "00-nested.toml", "[[route]]\npath = \"/nested\"\n");
    const config cfg = load_config({folder.string()});
    REQUIRE(cfg.routes.size() == 2);
    CHECK(cfg.routes[0].path == "/1");
    CHECK(cfg.routes[1].path == "/2");
    CHECK(cfg.files == std::vector<std::string>{(folder / "10-first.toml").string(),
                                                (folder / "20-second.toml").string()});
  }

  SECTION("a syntax error stops only its own file") {
    write_file(a, "[server\n");
    write_file(b, "[[route]]\npath = \"/\"\nmethd = \"GET\"\n");
    CHECK(problems_of_paths({a, b}) ==
          lines{a + ":1:8: Error while parsing table header: expected ']', saw '\\n'",
                b + ":3:1: unknown key 'methd' in [[route]] (did you mean 'method'?)"});
  }

  SECTION("missing files and empty folders") {
    const std::string missing = dir / "missing.toml";
    const std::string empty = dir / "empty";
    fs::create_directories(empty);
    CHECK(problems_of_paths({missing, empty, a}) ==
          lines{missing + ": cannot read file: it does not exist",
                empty + ": no *.toml files in this folder"});
    CHECK(problems_of_paths({}) == lines{"no configuration file given"});
  }

  SECTION("body_file is relative to the folder of its own file") {
    write_file(dir.path() / "sub" / "c.toml",
               "[[route]]\npath = \"/\"\n[route.reply]\nbody_file = \"body.txt\"\n");
    write_file(dir.path() / "sub" / "body.txt", "hello");
    const config cfg = load_config({(dir.path() / "sub" / "c.toml").string()});
    REQUIRE(cfg.routes.size() == 1);
    CHECK(cfg.routes[0].reply.body == "hello");
  }
}

TEST_CASE("configs/example.toml loads", "[config]") {
  const config cfg = load_config({STUBBORN_SOURCE_DIR "/configs/example.toml"});
  CHECK(cfg.routes.size() >= 10);
  CHECK(cfg.server.listen.host == "127.0.0.1");
  CHECK(cfg.server.listen.port == 8080);
  bool has_file_body = false;
  for (const auto& r : cfg.routes) {
    if (r.reply.source == stubborn::body_source::file) has_file_body = !r.reply.body.empty();
  }
  CHECK(has_file_body);
}

// Scripted time and failure (issue 5): delays, hangs, interim responses, faults, pacing,
// sequences, Expect handling and outages.

namespace {

const std::string reply_table = "[[route]]\npath = \"/\"\n[route.reply]\n";
const std::string sequence_entry = "[[route]]\npath = \"/\"\n[[route.replies]]\n";
const std::string route_outage = "[[route]]\npath = \"/\"\n[route.outage]\n";
const std::string delay_forms =
    "'delay' must be a duration like \"250ms\", a table { min = \"100ms\", max = \"400ms\" } or "
    "a table { median = \"200ms\", sigma = 0.4 }, not ";
const std::string fault_forms =
    "'fault' must be one of \"reset\", \"close\", \"empty\", \"truncate\", \"garbage\" or "
    "\"malformed-chunk\", not ";

}  // namespace

TEST_CASE("scripted keys are suggested for near misses where they belong", "[config][scripted]") {
  check_cases({
      {reply_table + "delya = \"1s\"\n",
       {"t.toml:4:1: unknown key 'delya' in [route.reply] (did you mean 'delay'?)"}},
      {reply_table + "hnag = true\n",
       {"t.toml:4:1: unknown key 'hnag' in [route.reply] (did you mean 'hang'?)"}},
      {reply_table + "interims = []\n",
       {"t.toml:4:1: unknown key 'interims' in [route.reply] (did you mean 'interim'?)"}},
      {reply_table + "processing_evry = \"1s\"\n",
       {"t.toml:4:1: unknown key 'processing_evry' in [route.reply] (did you mean "
        "'processing_every'?)"}},
      {reply_table + "fualt = \"reset\"\n",
       {"t.toml:4:1: unknown key 'fualt' in [route.reply] (did you mean 'fault'?)"}},
      {reply_table + "chunk = { count = 1, over = \"1s\" }\n",
       {"t.toml:4:1: unknown key 'chunk' in [route.reply] (did you mean 'chunks'?)"}},
      {reply_table + "bandwith = 100\n",
       {"t.toml:4:1: unknown key 'bandwith' in [route.reply] (did you mean 'bandwidth'?)"}},
      // 'repeat' has its own message in [route.reply], so it is not suggested there.
      {reply_table + "repaet = 2\n", {"t.toml:4:1: unknown key 'repaet' in [route.reply]"}},
      {sequence_entry + "repaet = 2\n",
       {"t.toml:4:1: unknown key 'repaet' in [[route.replies]] (did you mean 'repeat'?)"}},
      {sequence_entry + "stauts = 503\n",
       {"t.toml:4:1: unknown key 'stauts' in [[route.replies]] (did you mean 'status'?)"}},
      {"[[route]]\npath = \"/\"\n[[route.replie]]\nstatus = 503\n",
       {"t.toml:3:9: unknown key 'replie' in [[route]] (did you mean 'replies'?)"}},
      {"[[route]]\npath = \"/\"\nthne = \"cycle\"\n",
       {"t.toml:3:1: unknown key 'thne' in [[route]] (did you mean 'then'?)"}},
      {"[[route]]\npath = \"/\"\nexpects = \"reject\"\n",
       {"t.toml:3:1: unknown key 'expects' in [[route]] (did you mean 'expect'?)"}},
      {"[[route]]\npath = \"/\"\ncontinue-delay = \"1s\"\n",
       {"t.toml:3:1: unknown key 'continue-delay' in [[route]] (did you mean "
        "'continue_delay'?)"}},
      {"[[route]]\npath = \"/\"\n[route.otuage]\nrate = 1\n",
       {"t.toml:3:8: unknown key 'otuage' in [[route]] (did you mean 'outage'?)"}},
      {route_outage + "rtae = 0.5\n",
       {"t.toml:4:1: unknown key 'rtae' in [route.outage] (did you mean 'rate'?)"}},
      {route_outage + "rate = 0.5\nduraton = \"1s\"\n",
       {"t.toml:5:1: unknown key 'duraton' in [route.outage] (did you mean 'duration'?)"}},
      {route_outage + "rate = 0.5\npath = \"/a\"\n",
       {"t.toml:5:1: 'path' belongs in a top-level [[outage]]: [route.outage] covers its own "
        "route"}},
      {"[server]\nmax-hang = \"1s\"\n",
       {"t.toml:2:1: unknown key 'max-hang' in [server] (did you mean 'max_hang'?)"}},
      {"[server]\nsead = 1\n",
       {"t.toml:2:1: unknown key 'sead' in [server] (did you mean 'seed'?)"}},
      {"[[outages]]\npath = \"/\"\nrate = 1\n",
       {"t.toml:1:3: unknown key 'outages' at the top level (did you mean 'outage'?)"}},
      {"[[outage]]\npaht = \"/\"\nrate = 1\n",
       {"t.toml:2:1: unknown key 'paht' in [[outage]] (did you mean 'path'?)"}},
      {reply_table + "delay = { mn = \"1s\", max = \"2s\" }\n",
       {"t.toml:4:11: unknown key 'mn' in 'delay' (did you mean 'min'?)"}},
      {reply_table + "delay = { median = \"1s\", sigm = 0.5 }\n",
       {"t.toml:4:26: unknown key 'sigm' in 'delay' (did you mean 'sigma'?)"}},
      {reply_table + "chunks = { count = 2, ovr = \"1s\" }\n",
       {"t.toml:4:23: unknown key 'ovr' in 'chunks' (did you mean 'over'?)"}},
      {reply_table + "interim = [{ stauts = 103 }]\n",
       {"t.toml:4:14: unknown key 'stauts' in 'interim' (did you mean 'status'?)"}},
  });
}

TEST_CASE("scripted keys of the wrong type name what they take", "[config][scripted]") {
  check_cases({
      {reply_table + "delay = 250\n", {"t.toml:4:9: " + delay_forms + "an integer"}},
      {reply_table + "delay = [\"1s\"]\n", {"t.toml:4:9: " + delay_forms + "an array"}},
      {reply_table + "delay = { min = 1, max = \"2s\" }\n",
       {"t.toml:4:17: 'delay.min' must be a duration string with a unit, e.g. \"10s\", not an "
        "integer"}},
      {reply_table + "delay = { median = \"1s\", sigma = \"0.5\" }\n",
       {"t.toml:4:34: 'delay.sigma' must be a number (a float or an integer), not a string"}},
      {reply_table + "hang = \"yes\"\n",
       {"t.toml:4:8: 'hang' must be a boolean (true or false), not a string"}},
      {reply_table + "interim = { status = 103 }\n",
       {"t.toml:4:11: 'interim' must be an array of tables, e.g. [ { status = 103 } ], not a "
        "table"}},
      {reply_table + "interim = [103]\n",
       {"t.toml:4:12: each 'interim' must be a table, e.g. { status = 103 }, not an integer"}},
      {reply_table + "interim = [{ status = \"103\" }]\n",
       {"t.toml:4:23: 'status' must be an integer, not a string"}},
      {reply_table + "interim = [{ status = 103, headers = [\"Link\"] }]\n",
       {"t.toml:4:38: 'headers' must be a table, e.g. { \"Content-Type\" = \"text/plain\" }, not "
        "an array"}},
      {reply_table + "delay = \"1s\"\nprocessing_every = 1\n",
       {"t.toml:5:20: 'processing_every' must be a duration string with a unit, e.g. \"10s\", "
        "not an integer"}},
      {reply_table + "fault = 1\n", {"t.toml:4:9: " + fault_forms + "an integer"}},
      {reply_table + "chunks = 10\n",
       {"t.toml:4:10: 'chunks' must be a table, e.g. { count = 10, over = \"2s\" }, not an "
        "integer"}},
      {reply_table + "chunks = { count = \"10\", over = \"2s\" }\n",
       {"t.toml:4:20: 'chunks.count' must be an integer, not a string"}},
      {reply_table + "chunks = { count = 10, over = 2 }\n",
       {"t.toml:4:31: 'chunks.over' must be a duration string with a unit, e.g. \"10s\", not an "
        "integer"}},
      {reply_table + "bandwidth = 1.5\n",
       {"t.toml:4:13: 'bandwidth' must be a size per second, e.g. \"64KiB/s\", or an integer "
        "(bytes per second), not a float"}},
      {sequence_entry + "repeat = \"2\"\n",
       {"t.toml:4:10: 'repeat' must be an integer, not a string"}},
      {"[[route]]\npath = \"/\"\nreplies = { status = 503 }\n",
       {"t.toml:3:11: 'replies' must be an array of tables, written [[route.replies]], not a "
        "table"}},
      {"[[route]]\npath = \"/\"\nreplies = [503]\n",
       {"t.toml:3:12: each 'replies' must be a table, not an integer"}},
      {"[[route]]\npath = \"/\"\nthen = true\n[[route.replies]]\n",
       {"t.toml:3:8: 'then' must be \"repeat-last\" or \"cycle\", not a boolean"}},
      {"[[route]]\npath = \"/\"\nexpect = 100\n",
       {"t.toml:3:10: 'expect' must be \"continue\" or \"reject\", not an integer"}},
      {"[[route]]\npath = \"/\"\ncontinue_delay = 2\n",
       {"t.toml:3:18: 'continue_delay' must be a duration string with a unit, e.g. \"10s\", not "
        "an integer"}},
      {"[[route]]\npath = \"/\"\noutage = 0.5\n",
       {"t.toml:3:10: 'outage' must be a table, written [route.outage], not a float"}},
      {route_outage + "rate = \"50%\"\n",
       {"t.toml:4:8: 'rate' must be a number (a float or an integer), not a string"}},
      {route_outage + "every = 60\nduration = \"1s\"\n",
       {"t.toml:4:9: 'every' must be a duration string with a unit, e.g. \"10s\", not an "
        "integer"}},
      {route_outage + "rate = 1\nstatus = \"503\"\n",
       {"t.toml:5:10: 'status' must be an integer, not a string"}},
      {"[outage]\npath = \"/\"\nrate = 1\n",
       {"t.toml:1:1: 'outage' must be an array of tables, written [[outage]], not a table"}},
      {"outage = [1]\n", {"t.toml:1:11: each 'outage' must be a table, not an integer"}},
      {"[[outage]]\npath = 1\nrate = 1\n", {"t.toml:2:8: 'path' must be a string, not an integer"}},
      {"[server]\nmax_hang = 300\n",
       {"t.toml:2:12: 'max_hang' must be a duration string with a unit, e.g. \"10s\", not an "
        "integer"}},
      {"[server]\nseed = \"42\"\n", {"t.toml:2:8: 'seed' must be an integer, not a string"}},
  });
}

TEST_CASE("delay: a duration, a uniform range or a log-normal spread", "[config][scripted]") {
  check_cases({
      {reply_table + "delay = \"250\"\n",
       {"t.toml:4:9: 'delay' must be a number with a unit (ms, s, m or h), e.g. \"10s\", not "
        "\"250\""}},
      {reply_table + "delay = \"169h\"\n", {"t.toml:4:9: 'delay' must be at most 168h (a week)"}},
      {reply_table + "delay = \"0s\"\n", {}},
      {reply_table + "delay = { min = \"400ms\", max = \"100ms\" }\n",
       {"t.toml:4:32: 'delay.max' (\"100ms\") must not be less than 'delay.min' (\"400ms\")"}},
      {reply_table + "delay = { min = \"1s\", max = \"1s\" }\n", {}},
      {reply_table + "delay = { min = \"0s\", max = \"1x\" }\n",
       {"t.toml:4:29: 'delay.max' must be a number with a unit (ms, s, m or h), e.g. \"10s\", not "
        "\"1x\""}},
      {reply_table + "delay = { median = \"0s\", sigma = 0.5 }\n",
       {"t.toml:4:20: 'delay.median' must be more than 0s"}},
      {reply_table + "delay = { median = \"1s\", sigma = 5.5 }\n",
       {"t.toml:4:34: 'delay.sigma' must be 0..5, not 5.5"}},
      {reply_table + "delay = { median = \"1s\", sigma = -1 }\n",
       {"t.toml:4:34: 'delay.sigma' must be 0..5, not -1"}},
      {reply_table + "delay = { median = \"1s\", sigma = nan }\n",
       {"t.toml:4:34: 'delay.sigma' must be 0..5, not nan"}},
      {reply_table + "delay = { median = \"1s\", sigma = 0 }\n", {}},
      {reply_table + "delay = { median = \"1s\", sigma = 5 }\n", {}},
      // Half of a form, or parts of both, is none of the three.
      {reply_table + "delay = { min = \"1s\" }\n",
       {"t.toml:4:9: " + delay_forms + "a table with 'min'"}},
      {reply_table + "delay = { median = \"1s\" }\n",
       {"t.toml:4:9: " + delay_forms + "a table with 'median'"}},
      {reply_table + "delay = { max = \"2s\", median = \"1s\", sigma = 1 }\n",
       {"t.toml:4:9: " + delay_forms + "a table with 'max', 'median' and 'sigma'"}},
      {reply_table + "delay = {}\n", {"t.toml:4:9: " + delay_forms + "an empty table"}},
  });
}

TEST_CASE("interim responses are 1xx, never 101, with plain reply headers", "[config][scripted]") {
  check_cases({
      {reply_table + "interim = [{ status = 101 }]\n",
       {"t.toml:4:23: status 101: 101 Switching Protocols is reserved for protocol upgrades"}},
      {reply_table + "interim = [{ status = 200 }]\n",
       {"t.toml:4:23: status 200 is out of range: an interim status must be 100..199"}},
      {reply_table + "interim = [{ status = 99 }]\n",
       {"t.toml:4:23: status 99 is out of range: an interim status must be 100..199"}},
      {reply_table + "interim = [{ headers = { Link = \"</a>\" } }]\n",
       {"t.toml:4:12: an interim response needs a 'status' (100..199), e.g. { status = 103 }"}},
      {reply_table + "interim = [{ status = 103, headers = { \"X Y\" = \"1\" } }]\n",
       {"t.toml:4:40: header name 'X Y' is not an HTTP token (letters, digits and "
        "!#$%&'*+-.^_`|~)"}},
      {reply_table + "interim = [{ status = 103, headers = { Link = \"a\\nb\" } }]\n",
       {"t.toml:4:47: header 'Link' must not contain CR, LF, NUL or other control characters"}},
      {reply_table + "interim = [{ status = 103, headers = { Content-Length = \"0\" } }]\n",
       {"t.toml:4:40: header 'Content-Length' is set by the server and cannot be configured"}},
      // Interim headers are sent as written: braces are not placeholders there.
      {reply_table + "interim = [{ status = 103, headers = { X-Raw = \"{{bogus}}\" } }]\n", {}},
      {reply_table + "interim = [{ status = 100 }, { status = 102 }, { status = 199 }]\n", {}},
      {reply_table + "interim = []\n", {}},
  });
}

TEST_CASE("processing_every, fault, chunks, bandwidth and repeat", "[config][scripted]") {
  check_cases({
      {reply_table + "processing_every = \"1s\"\n",
       {"t.toml:4:20: 'processing_every' needs a 'delay': 102 Processing is sent only while a "
        "reply is delayed"}},
      {reply_table + "delay = \"5s\"\nprocessing_every = \"0s\"\n",
       {"t.toml:5:20: 'processing_every' must be more than 0s"}},
      {reply_table + "delay = { min = \"1s\", max = \"2s\" }\nprocessing_every = \"100ms\"\n", {}},
      {reply_table + "fault = \"rest\"\n",
       {"t.toml:4:9: " + fault_forms + "\"rest\" (did you mean 'reset'?)"}},
      {reply_table + "fault = \"malformed_chunk\"\n",
       {"t.toml:4:9: " + fault_forms + "\"malformed_chunk\" (did you mean 'malformed-chunk'?)"}},
      {reply_table + "fault = \"explode\"\n", {"t.toml:4:9: " + fault_forms + "\"explode\""}},
      {reply_table + "chunks = { count = 0, over = \"1s\" }\n",
       {"t.toml:4:20: 'chunks.count' must be 1..10000, not 0"}},
      {reply_table + "chunks = { count = 10001, over = \"1s\" }\n",
       {"t.toml:4:20: 'chunks.count' must be 1..10000, not 10001"}},
      {reply_table + "chunks = { count = 3 }\n",
       {"t.toml:4:10: 'chunks' needs both 'count' and 'over', e.g. { count = 10, over = \"2s\" }"}},
      {reply_table + "chunks = { over = \"1s\" }\n",
       {"t.toml:4:10: 'chunks' needs both 'count' and 'over', e.g. { count = 10, over = \"2s\" }"}},
      {reply_table + "chunks = { count = 10000, over = \"0s\" }\n", {}},
      {reply_table + "bandwidth = \"64KiB\"\n",
       {"t.toml:4:13: 'bandwidth' must be a number of bytes, optionally with a unit (KB, KiB, "
        "MB, MiB, GB, GiB), followed by \"/s\", e.g. \"64KiB/s\", not \"64KiB\""}},
      {reply_table + "bandwidth = \"64 KiB/s\"\n",
       {"t.toml:4:13: 'bandwidth' must be a number of bytes, optionally with a unit (KB, KiB, "
        "MB, MiB, GB, GiB), followed by \"/s\", e.g. \"64KiB/s\", not \"64 KiB/s\""}},
      {reply_table + "bandwidth = \"/s\"\n",
       {"t.toml:4:13: 'bandwidth' must be a number of bytes, optionally with a unit (KB, KiB, "
        "MB, MiB, GB, GiB), followed by \"/s\", e.g. \"64KiB/s\", not \"/s\""}},
      {reply_table + "bandwidth = \"0KiB/s\"\n",
       {"t.toml:4:13: 'bandwidth' must be more than 0 bytes per second, not \"0KiB/s\""}},
      {reply_table + "bandwidth = 0\n",
       {"t.toml:4:13: 'bandwidth' must be more than 0 bytes per second, not 0"}},
      {reply_table + "bandwidth = -1\n",
       {"t.toml:4:13: 'bandwidth' must be more than 0 bytes per second, not -1"}},
      {reply_table + "bandwidth = \"1/s\"\n", {}},
      {reply_table + "chunks = { count = 2, over = \"1s\" }\nbandwidth = 100\n",
       {"t.toml:5:13: a reply has 'chunks' or 'bandwidth', not both"}},
      {reply_table + "bandwidth = 100\nchunks = { count = 2, over = \"1s\" }\n",
       {"t.toml:5:10: a reply has 'chunks' or 'bandwidth', not both"}},
      {reply_table + "repeat = 2\n",
       {"t.toml:4:1: 'repeat' belongs in [[route.replies]], a sequence of replies; "
        "[route.reply] is used for every request"}},
      {sequence_entry + "repeat = 0\n", {"t.toml:4:10: 'repeat' must be 1..4294967295, not 0"}},
      {sequence_entry + "repeat = 4294967296\n",
       {"t.toml:4:10: 'repeat' must be 1..4294967295, not 4294967296"}},
      {sequence_entry + "repeat = 4294967295\n", {}},
      {reply_table + "hang = false\n", {}},
  });
}

TEST_CASE("bodiless statuses cannot be paced, in every reply of a sequence", "[config][scripted]") {
  check_cases({
      {reply_table + "status = 204\nchunks = { count = 2, over = \"1s\" }\n",
       {"t.toml:5:10: 'chunks' paces a body, and a 204 reply cannot have one (RFC 9110 §15.3.5)"}},
      {reply_table + "status = 304\nbandwidth = \"1KiB/s\"\n",
       {"t.toml:5:13: 'bandwidth' paces a body, and a 304 reply cannot have one (RFC 9110 "
        "§15.4.5)"}},
      {reply_table + "status = 205\nbandwidth = 10\n",
       {"t.toml:5:13: 'bandwidth' paces a body, and a 205 reply cannot have one (RFC 9110 "
        "§15.3.6)"}},
      {sequence_entry + "status = 200\nbody = \"x\"\n[[route.replies]]\nstatus = 204\n"
                        "body = \"y\"\n",
       {"t.toml:8:8: a 204 reply cannot have a body (RFC 9110 §15.3.5)"}},
      {sequence_entry + "status = 304\n[[route.replies]]\nstatus = 204\n"
                        "chunks = { count = 2, over = \"1s\" }\n",
       {"t.toml:7:10: 'chunks' paces a body, and a 204 reply cannot have one (RFC 9110 §15.3.5)"}},
      {reply_table + "status = 408\nbody = \"too slow\"\n", {}},
      {reply_table + "status = 200\nchunks = { count = 2, over = \"1s\" }\n", {}},
  });
}

TEST_CASE("[[route.replies]] is a sequence, exclusive with [route.reply]", "[config][scripted]") {
  check_cases({
      {"[[route]]\npath = \"/\"\n[route.reply]\nstatus = 200\n[[route.replies]]\nstatus = 503\n",
       {"t.toml:5:1: a route has [route.reply] or [[route.replies]], not both"}},
      {"[[route]]\npath = \"/\"\n[[route.replies]]\nstatus = 503\n[route.reply]\nstatus = 200\n",
       {"t.toml:5:1: a route has [route.reply] or [[route.replies]], not both"}},
      {"[[route]]\npath = \"/\"\nreplies = []\n",
       {"t.toml:3:11: 'replies' must not be empty: write one [[route.replies]] table per reply"}},
      {"[[route]]\npath = \"/\"\nthen = \"cycle\"\n",
       {"t.toml:3:8: 'then' is only for [[route.replies]]: it says what comes after the last "
        "reply"}},
      {"[[route]]\npath = \"/\"\nthen = \"cycle\"\n[route.reply]\nstatus = 200\n",
       {"t.toml:3:8: 'then' is only for [[route.replies]]: it says what comes after the last "
        "reply"}},
      {"[[route]]\npath = \"/\"\nthen = \"repeat_last\"\n[[route.replies]]\n",
       {"t.toml:3:8: 'then' must be \"repeat-last\" or \"cycle\", not \"repeat_last\" (did you "
        "mean 'repeat-last'?)"}},
      {"[[route]]\npath = \"/\"\nthen = \"loop\"\n[[route.replies]]\n",
       {"t.toml:3:8: 'then' must be \"repeat-last\" or \"cycle\", not \"loop\""}},
      // Each entry is checked like [route.reply], templates included.
      {"[[route]]\npath = \"/users/{id}\"\n[[route.replies]]\nbody = \"{{path.id}}\"\n"
       "[[route.replies]]\nbody = \"{{path.uid}}\"\nstatus = 100\n",
       {"t.toml:6:9: bad template in 'body': {{path.uid}}: the path has no parameter 'uid' (it "
        "has: id)",
        "t.toml:7:10: status 100: 1xx responses are interim and sent by the server itself; a final "
        "status must be 200..999"}},
  });
}

TEST_CASE("expect and continue_delay", "[config][scripted]") {
  check_cases({
      {"[[route]]\npath = \"/\"\nexpect = \"100-continue\"\n",
       {"t.toml:3:10: 'expect' must be \"continue\" or \"reject\", not \"100-continue\""}},
      {"[[route]]\npath = \"/\"\nexpect = \"rejct\"\n",
       {"t.toml:3:10: 'expect' must be \"continue\" or \"reject\", not \"rejct\" (did you mean "
        "'reject'?)"}},
      {"[[route]]\npath = \"/\"\ncontinue_delay = \"forever\"\n",
       {"t.toml:3:18: 'continue_delay' must be a number with a unit (ms, s, m or h), e.g. "
        "\"10s\", not \"forever\""}},
      {"[[route]]\npath = \"/\"\nexpect = \"reject\"\ncontinue_delay = \"1s\"\n",
       {"t.toml:4:18: 'continue_delay' does nothing with expect = \"reject\": no 100 Continue is "
        "sent"}},
      {"[[route]]\npath = \"/\"\nexpect = \"continue\"\ncontinue_delay = \"0s\"\n", {}},
  });
}

TEST_CASE("outages: a rate, a window, or both", "[config][scripted]") {
  check_cases({
      {route_outage + "rate = 1.5\n",
       {"t.toml:4:8: 'rate' must be 0..1 (a fraction of requests), not 1.5"}},
      {route_outage + "rate = -0.1\n",
       {"t.toml:4:8: 'rate' must be 0..1 (a fraction of requests), not -0.1"}},
      {route_outage + "rate = 0\n", {}},
      {route_outage + "rate = 1\n", {}},
      {route_outage + "every = \"60s\"\n",
       {"t.toml:4:9: 'every' needs a 'duration': the outage lasts 'duration' once per 'every'"}},
      {route_outage + "duration = \"10s\"\n",
       {"t.toml:4:12: 'duration' needs an 'every': the outage lasts 'duration' once per "
        "'every'"}},
      {route_outage + "every = \"10s\"\nduration = \"11s\"\n",
       {"t.toml:5:12: 'duration' (\"11s\") must not be longer than 'every' (\"10s\")"}},
      {route_outage + "every = \"10s\"\nduration = \"0s\"\n",
       {"t.toml:5:12: 'duration' must be more than 0s"}},
      {route_outage + "every = \"0s\"\nduration = \"0s\"\n",
       {"t.toml:4:9: 'every' must be more than 0s",
        "t.toml:5:12: 'duration' must be more than 0s"}},
      {route_outage + "every = \"10s\"\nduration = \"10s\"\nrate = 0.1\n", {}},
      {route_outage + "status = 502\n",
       {"t.toml:3:1: an outage needs a 'rate', or 'every' and 'duration'"}},
      {route_outage + "rate = 1\nstatus = 101\n",
       {"t.toml:5:10: status 101: 1xx responses are interim and sent by the server itself; a final "
        "status must be 200..999"}},
      {route_outage + "rate = 1\nstatus = 1000\n",
       {"t.toml:5:10: status 1000 is out of range: a final status must be 200..999"}},
      {route_outage + "rate = 1\nfault = \"rst\"\n",
       {"t.toml:5:9: " + fault_forms + "\"rst\" (did you mean 'reset'?)"}},
      {"[[outage]]\nrate = 1\n",
       {"t.toml:1:1: an [[outage]] needs a 'path': the path pattern it covers, e.g. \"/api/*\""}},
      {"[[outage]]\npath = \"api/*\"\nrate = 1\n",
       {"t.toml:2:9: bad 'path': a path must start with '/'"}},
      {"[[outage]]\npath = \"/api/{id\"\nrate = 1\n",
       {"t.toml:2:14: bad 'path': a parameter is written {name} and fills a whole segment"}},
      {"[[outage]]\npath = \"/api/*\"\n",
       {"t.toml:1:1: an outage needs a 'rate', or 'every' and 'duration'"}},
      {"[[outage]]\npath = \"/api/*\"\nrate = 0.5\n[[outage]]\npath = \"/\"\nevery = \"1m\"\n"
       "duration = \"1s\"\nstatus = 999\nfault = \"close\"\n",
       {}},
  });
}

TEST_CASE("max_hang and seed", "[config][scripted]") {
  check_cases({
      {"[server]\nmax_hang = \"0s\"\n", {"t.toml:2:12: 'max_hang' must be more than 0s"}},
      {"[server]\nmax_hang = \"200h\"\n",
       {"t.toml:2:12: 'max_hang' must be at most 168h (a week)"}},
      {"[server]\nseed = -1\n", {"t.toml:2:8: 'seed' must be 0 or more, not -1"}},
      {"[server]\nseed = 0\nmax_hang = \"1ms\"\n", {}},
      {"[server]\nseed = 1\nseed = 2\n",
       {"t.toml:3:8: Error while parsing key-value pair: cannot redefine existing integer 'seed'"}},
  });
}

TEST_CASE("defaults of the scripted keys", "[config][scripted]") {
  const config cfg = load_config_text("[[route]]\npath = \"/\"\n", "t.toml");
  CHECK(cfg.server.max_hang == 300s);
  CHECK_FALSE(cfg.server.seed.has_value());
  CHECK(cfg.outages.empty());
  REQUIRE(cfg.routes.size() == 1);
  const auto& r = cfg.routes[0];
  CHECK(r.replies.empty());
  CHECK(r.then == stubborn::sequence_end::repeat_last);
  CHECK(r.expect == stubborn::expect_mode::send_continue);
  CHECK(r.continue_delay == 0ms);
  CHECK_FALSE(r.outage.has_value());
  CHECK(r.reply.delay.type == stubborn::delay_spec::kind::none);
  CHECK_FALSE(r.reply.hang);
  CHECK(r.reply.interim.empty());
  CHECK(r.reply.processing_every == 0ms);
  CHECK(r.reply.fault == stubborn::fault_kind::none);
  CHECK(r.reply.chunks.count == 0);
  CHECK(r.reply.bandwidth == 0);
  CHECK(r.reply.repeat == 1);
}

TEST_CASE("a full scripted example is read into the structs", "[config][scripted]") {
  const config cfg = load_config_text(R"toml([server]
max_hang = "45s"
seed = 42

[[route]]
name = "slow"
path = "/slow"
expect = "reject"
[route.reply]
status = 408
delay = "250ms"
hang = true
interim = [ { status = 103, headers = { Link = "</app.css>; rel=preload" } }, { status = 100 } ]
fault = "malformed-chunk"
chunks = { count = 10, over = "2s" }
[route.outage]
rate = 0.25
every = "1m"
duration = "15s"
status = 502
fault = "reset"

[[route]]
name = "flaky"
path = "/flaky/{id}"
then = "cycle"
expect = "continue"
continue_delay = "1.5s"
[[route.replies]]
status = 503
repeat = 2
headers = { Retry-After = "1" }
delay = { min = "100ms", max = "400ms" }
processing_every = "100ms"
[[route.replies]]
body = "ok {{path.id}}"
delay = { median = "200ms", sigma = 0.4 }
bandwidth = 100
[[route.replies]]
delay = { median = "1s", sigma = 2 }
fault = "truncate"
bandwidth = "64KiB/s"

[[outage]]
path = "/api/*"
rate = 1
[[outage]]
path = "/v1/{n}"
every = "10s"
duration = "10s"
status = 504
)toml",
                                      "t.toml");
  CHECK(cfg.server.max_hang == 45s);
  REQUIRE(cfg.server.seed.has_value());
  CHECK(*cfg.server.seed == 42);
  REQUIRE(cfg.routes.size() == 2);

  const auto& slow = cfg.routes[0];
  CHECK(slow.expect == stubborn::expect_mode::reject);
  CHECK(slow.replies.empty());
  const auto& reply = slow.reply;
  CHECK(reply.status == 408);
  CHECK(reply.delay.type == stubborn::delay_spec::kind::fixed);
  CHECK(reply.delay.fixed == 250ms);
  CHECK(reply.hang);
  REQUIRE(reply.interim.size() == 2);
  CHECK(reply.interim[0].status == 103);
  REQUIRE(reply.interim[0].headers.size() == 1);
  CHECK(reply.interim[0].headers[0].name == "Link");
  CHECK(reply.interim[0].headers[0].value == "</app.css>; rel=preload");
  CHECK(reply.interim[0].position.line == 13);
  CHECK(reply.interim[0].position.column == 13);
  CHECK(reply.interim[1].status == 100);
  CHECK(reply.interim[1].headers.empty());
  CHECK(reply.fault == stubborn::fault_kind::malformed_chunk);
  CHECK(reply.chunks.count == 10);
  CHECK(reply.chunks.over == 2s);
  CHECK(reply.bandwidth == 0);
  CHECK(reply.repeat == 1);
  REQUIRE(slow.outage.has_value());
  CHECK(slow.outage->rate == 0.25);
  CHECK(slow.outage->every == 60s);
  CHECK(slow.outage->duration == 15s);
  CHECK(slow.outage->status == 502);
  CHECK(slow.outage->fault == stubborn::fault_kind::reset);
  CHECK(slow.outage->path.empty());
  CHECK(slow.outage->position.line == 16);
  CHECK(slow.outage->position.column == 1);

  const auto& flaky = cfg.routes[1];
  CHECK(flaky.then == stubborn::sequence_end::cycle);
  CHECK(flaky.expect == stubborn::expect_mode::send_continue);
  CHECK(flaky.continue_delay == 1500ms);
  CHECK_FALSE(flaky.outage.has_value());
  REQUIRE(flaky.replies.size() == 3);
  const auto& first = flaky.replies[0];
  CHECK(first.status == 503);
  CHECK(first.repeat == 2);
  REQUIRE(first.headers.size() == 1);
  CHECK(first.headers[0].name == "Retry-After");
  CHECK(first.delay.type == stubborn::delay_spec::kind::uniform);
  CHECK(first.delay.min == 100ms);
  CHECK(first.delay.max == 400ms);
  CHECK(first.processing_every == 100ms);
  CHECK(first.position.line == 29);
  const auto& second = flaky.replies[1];
  CHECK(second.status == 200);
  CHECK(second.repeat == 1);
  CHECK(second.body == "ok {{path.id}}");
  CHECK(second.source == stubborn::body_source::inline_text);
  CHECK(second.delay.type == stubborn::delay_spec::kind::lognormal);
  CHECK(second.delay.median == 200ms);
  CHECK(second.delay.sigma == 0.4);
  CHECK(second.bandwidth == 100);
  CHECK(second.position.line == 35);
  const auto& third = flaky.replies[2];
  CHECK(third.delay.sigma == 2.0);
  CHECK(third.delay.median == 1s);
  CHECK(third.fault == stubborn::fault_kind::truncate);
  CHECK(third.bandwidth == 64 * 1024);

  REQUIRE(cfg.outages.size() == 2);
  CHECK(cfg.outages[0].path == "/api/*");
  CHECK(cfg.outages[0].rate == 1.0);
  CHECK(cfg.outages[0].status == 503);
  CHECK(cfg.outages[0].fault == stubborn::fault_kind::none);
  CHECK(cfg.outages[0].position.line == 44);
  CHECK(cfg.outages[1].path == "/v1/{n}");
  CHECK(cfg.outages[1].rate == 0);
  CHECK(cfg.outages[1].every == 10s);
  CHECK(cfg.outages[1].duration == 10s);
  CHECK(cfg.outages[1].status == 504);
  CHECK(cfg.outages[1].position.line == 47);
}

TEST_CASE("every fault name maps to its fault_kind", "[config][scripted]") {
  const std::vector<std::pair<std::string, stubborn::fault_kind>> names = {
      {"reset", stubborn::fault_kind::reset},
      {"close", stubborn::fault_kind::close},
      {"empty", stubborn::fault_kind::empty},
      {"truncate", stubborn::fault_kind::truncate},
      {"garbage", stubborn::fault_kind::garbage},
      {"malformed-chunk", stubborn::fault_kind::malformed_chunk},
  };
  for (const auto& [name, kind] : names) {
    INFO(name);
    const config cfg = load_config_text(reply_table + "fault = \"" + name + "\"\n", "t.toml");
    CHECK(cfg.routes.at(0).reply.fault == kind);
  }
}

TEST_CASE("[[outage]] tables merge across files in file order", "[config][scripted]") {
  temp_dir dir;
  const std::string a = dir / "a.toml";
  const std::string b = dir / "b.toml";
  write_file(a, "[[outage]]\npath = \"/a/*\"\nrate = 1\n[[outage]]\npath = \"/b\"\nrate = 0.5\n");
  write_file(b, "[[route]]\npath = \"/\"\n[[outage]]\npath = \"/c\"\nrate = 0.1\n");
  const config cfg = load_config({a, b});
  REQUIRE(cfg.outages.size() == 3);
  CHECK(cfg.outages[0].path == "/a/*");
  CHECK(cfg.outages[1].path == "/b");
  CHECK(cfg.outages[2].path == "/c");
  CHECK(cfg.outages[2].position.file == b);
  CHECK(cfg.outages[2].position.line == 3);
}

TEST_CASE("every configs/*.toml loads without problems", "[config]") {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(STUBBORN_SOURCE_DIR "/configs")) {
    if (entry.path().extension() == ".toml") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  CHECK(files.size() >= 2);
  for (const auto& file : files) {
    INFO(file.string());
    CHECK(problems_of_paths({file.string()}).empty());
  }
}

TEST_CASE("configs/scripted.toml has the demo routes the README shows", "[config][scripted]") {
  const config cfg = load_config({STUBBORN_SOURCE_DIR "/configs/scripted.toml"});
  CHECK(cfg.server.listen.host == "127.0.0.1");
  CHECK(cfg.server.listen.port == 8080);
  CHECK(cfg.server.header_timeout == 2s);
  CHECK(cfg.server.max_body_bytes == 1024 * 1024);
  const auto find = [&](const std::string& path) -> const stubborn::route_spec* {
    for (const auto& r : cfg.routes) {
      if (r.path == path) return &r;
    }
    return nullptr;
  };
  REQUIRE(find("/gateway-timeout"));
  REQUIRE(find("/upload"));
  REQUIRE(find("/flaky"));
  const auto& gateway = *find("/gateway-timeout");
  CHECK(gateway.methods == std::vector<std::string>{"GET"});
  CHECK(gateway.reply.status == 504);
  CHECK(gateway.reply.delay.type == stubborn::delay_spec::kind::fixed);
  CHECK(gateway.reply.delay.fixed == 3s);
  const auto& upload = *find("/upload");
  CHECK(upload.methods == std::vector<std::string>{"PUT"});
  CHECK(upload.expect == stubborn::expect_mode::reject);
  CHECK(upload.reply.status == 417);
  const auto& flaky = *find("/flaky");
  REQUIRE(flaky.replies.size() == 2);
  CHECK(flaky.replies[0].status == 503);
  CHECK(flaky.replies[0].repeat == 2);
  REQUIRE(flaky.replies[0].headers.size() == 1);
  CHECK(flaky.replies[0].headers[0].name == "Retry-After");
  CHECK(flaky.replies[0].headers[0].value == "1");
  CHECK(flaky.replies[1].status == 200);
}

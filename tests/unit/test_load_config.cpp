#include <catch2/catch.hpp>

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
       {"t.toml:4:9: bad template in 'body': unknown placeholder {{bogus}}: use path.NAME, "
        "query.NAME, header.NAME, method or uri"}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nbody = \"\"\"\nline\n{{bogus}}\"\"\"\n",
       {"t.toml:4:8: bad template in 'body': unknown placeholder {{bogus}}: use path.NAME, "
        "query.NAME, header.NAME, method or uri"}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nheaders = { X-Id = \"<{{path.id}}>\" }\n",
       {"t.toml:4:22: bad template in header 'X-Id': {{path.id}}: the path has no parameter 'id' "
        "(it has none)"}},
      {"[[route]]\npath_regex = \"^/v(?P<ver>[0-9]+)/items$\"\n[route.reply]\n"
       "body = \"{{path.ver}} {{path.item}}\"\n",
       {"t.toml:4:22: bad template in 'body': {{path.item}}: the path has no parameter 'item' (it "
        "has: ver)"}},
      // Files and JSON are not templates.
      {"[[route]]\npath = \"/\"\n[route.reply]\njson = { a = \"{{bogus}}\" }\n", {}},
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

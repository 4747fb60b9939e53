#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "config/proxy_section.hpp"
#include "config/recording_section.hpp"
#include "config/route_json.hpp"
#include "control/control_plane.hpp"
#include "stubborn/config_error.hpp"
#include "stubborn/control.hpp"
#include "stubborn/load_config.hpp"
#include "stubborn/server.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;
using stubborn::config;
using stubborn::config_error;
using stubborn::load_config_text;
using stubborn::proxy_spec;
using stubborn::route_spec;

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

// Every problem of a route posted as JSON, as "j:line:col: message".
lines json_problems_of(const std::string& text) {
  try {
    stubborn::load_route_json(text, "j");
  } catch (const config_error& e) {
    lines out;
    for (const auto& p : e.problems()) out.push_back(p.to_string());
    return out;
  }
  return {};
}

// A route on /api/* whose [route.proxy] table holds `keys` (starting on line 4).
std::string proxy_route(const std::string& keys) {
  return "[[route]]\npath = \"/api/*\"\n[route.proxy]\n" + keys;
}

proxy_spec read_one(const std::string& keys, const std::string& base_dir = ".") {
  const config cfg = load_config_text(proxy_route(keys), "t.toml", base_dir);
  REQUIRE(cfg.routes.size() == 1);
  REQUIRE(cfg.routes[0].proxy.has_value());
  return *cfg.routes[0].proxy;
}

// A fresh folder under the system temp folder, removed with everything in it.
class temp_dir {
 public:
  temp_dir() {
    static std::atomic<unsigned> counter{0};
    std::random_device random;
    path_ = fs::temp_directory_path() /
            ("stubborn-proxy-test-" + std::to_string(random()) + "-" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const fs::path& path() const { return path_; }

  // Writes `name` in the folder; its full path.
  std::string write(const std::string& name, const std::string& text) const {
    const fs::path file = path_ / name;
    fs::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary);
    out << text;
    REQUIRE(out.good());
    return file.string();
  }

 private:
  fs::path path_;
};

}  // namespace

TEST_CASE("[route.proxy]: every key is read", "[config][proxy]") {
  temp_dir dir;
  dir.write("certs/ca.pem", "-----BEGIN CERTIFICATE-----\n");
  const proxy_spec p = read_one(R"(to = "https://api.example.com:8443/v1/"
strip_prefix = "/api"
connect_timeout = "1s"
timeout = "5s"
headers = { "X-Stub" = "1", "X-Count" = 2 }
remove = ["Cookie", "X-Debug"]
preserve_host = true
ca = "certs/ca.pem"
verify = false
delay = "10ms"
delay_reply = { min = "1ms", max = "2ms" }
fault = "truncate"
chunks = { count = 3, over = "30ms" }
status_map = { 404 = 200, 200 = 503 }
reply_headers = { "X-Proxied" = "yes" }
reply_remove = ["Server", "ETag"]
)",
                                dir.path().string());
  CHECK(p.to == "https://api.example.com:8443/v1/");
  CHECK(p.tls);
  CHECK(p.host == "api.example.com");
  CHECK(p.port == 8443);
  CHECK(p.base_path == "/v1");
  CHECK(p.strip_prefix == "/api");
  CHECK(p.connect_timeout == 1s);
  CHECK(p.timeout == 5s);
  REQUIRE(p.headers.size() == 2);
  CHECK(p.headers[0].name == "X-Count");  // toml++ keeps a table's keys sorted
  CHECK(p.headers[0].value == "2");
  CHECK(p.headers[1].name == "X-Stub");
  CHECK(p.headers[1].value == "1");
  CHECK(p.headers[1].position.line == 8);
  CHECK(p.remove == std::vector<std::string>{"Cookie", "X-Debug"});
  CHECK(p.preserve_host);
  CHECK(p.ca == (dir.path() / "certs" / "ca.pem").string());
  CHECK_FALSE(p.verify);
  CHECK(p.delay.type == stubborn::delay_spec::kind::fixed);
  CHECK(p.delay.fixed == 10ms);
  CHECK(p.delay_reply.type == stubborn::delay_spec::kind::uniform);
  CHECK(p.delay_reply.min == 1ms);
  CHECK(p.delay_reply.max == 2ms);
  CHECK(p.fault == stubborn::fault_kind::truncate);
  CHECK(p.chunks.count == 3);
  CHECK(p.chunks.over == 30ms);
  CHECK(p.bandwidth == 0);
  CHECK(p.status_map == std::vector<std::pair<int, int>>{{200, 503}, {404, 200}});
  REQUIRE(p.reply_headers.size() == 1);
  CHECK(p.reply_headers[0].name == "X-Proxied");
  CHECK(p.reply_headers[0].value == "yes");
  CHECK(p.reply_remove == std::vector<std::string>{"Server", "ETag"});
  CHECK(p.position.line == 3);
  CHECK(p.position.column == 1);

  const proxy_spec b = read_one("to = \"http://127.0.0.1:9000\"\nbandwidth = \"2KiB/s\"\n");
  CHECK(b.bandwidth == 2048);
  const proxy_spec faulty =
      read_one("to = \"http://127.0.0.1:9000\"\nfault = \"malformed-chunk\"\n");
  CHECK(faulty.fault == stubborn::fault_kind::malformed_chunk);
}

TEST_CASE("[route.proxy]: defaults of everything left out", "[config][proxy]") {
  const proxy_spec p = read_one("to = \"http://127.0.0.1:9000\"\n");
  CHECK(p.to == "http://127.0.0.1:9000");
  CHECK_FALSE(p.tls);
  CHECK(p.host == "127.0.0.1");
  CHECK(p.port == 9000);
  CHECK(p.base_path.empty());
  CHECK(p.strip_prefix.empty());
  CHECK(p.connect_timeout == 2s);
  CHECK(p.timeout == 30s);
  CHECK(p.headers.empty());
  CHECK(p.remove.empty());
  CHECK_FALSE(p.preserve_host);
  CHECK(p.ca.empty());
  CHECK(p.verify);
  CHECK(p.delay.type == stubborn::delay_spec::kind::none);
  CHECK(p.delay_reply.type == stubborn::delay_spec::kind::none);
  CHECK(p.fault == stubborn::fault_kind::none);
  CHECK(p.chunks.count == 0);
  CHECK(p.bandwidth == 0);
  CHECK(p.status_map.empty());
  CHECK(p.reply_headers.empty());
  CHECK(p.reply_remove.empty());

  // The route's own reply stays the default: the upstream's is relayed.
  const config cfg =
      load_config_text(proxy_route("to = \"http://127.0.0.1:9000\"\n"), "t.toml", ".");
  CHECK(cfg.routes[0].reply == stubborn::reply_spec{});
  CHECK(cfg.routes[0].replies.empty());
  CHECK(cfg.routes[0].name == "ANY /api/*");

  // Inline, as JSON writes it back.
  const config inline_cfg =
      load_config_text("[[route]]\npath = \"/x\"\nproxy = { to = \"https://h\" }\n", "t.toml", ".");
  REQUIRE(inline_cfg.routes[0].proxy);
  CHECK(inline_cfg.routes[0].proxy->port == 443);
  CHECK(inline_cfg.routes[0].proxy->position.line == 3);
  CHECK(inline_cfg.routes[0].proxy->position.column == 9);
}

TEST_CASE("[route.proxy]: 'to' is an http or https URL", "[config][proxy]") {
  struct url_case {
    std::string to;
    bool tls;
    std::string host;
    std::uint16_t port;
    std::string base_path;
  };
  const std::vector<url_case> good = {
      {"http://localhost", false, "localhost", 80, ""},
      {"http://localhost/", false, "localhost", 80, ""},
      {"https://h", true, "h", 443, ""},
      {"https://h:1", true, "h", 1, ""},
      {"http://h:65535", false, "h", 65535, ""},
      {"HTTP://Example.COM", false, "Example.COM", 80, ""},
      {"Https://example.com//", true, "example.com", 443, ""},
      {"http://[::1]:8080/x/y/", false, "::1", 8080, "/x/y"},
      {"http://[2001:db8::7]", false, "2001:db8::7", 80, ""},
      {"http://10.0.0.1:9000/base", false, "10.0.0.1", 9000, "/base"},
      {"http://my_service.internal:81/a%20b/c;v=1", false, "my_service.internal", 81,
       "/a%20b/c;v=1"},
  };
  for (const url_case& c : good) {
    INFO(c.to);
    const proxy_spec p = read_one("to = \"" + c.to + "\"\n");
    CHECK(p.to == c.to);
    CHECK(p.tls == c.tls);
    CHECK(p.host == c.host);
    CHECK(p.port == c.port);
    CHECK(p.base_path == c.base_path);
  }

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "'to' must be a URL like \"http://127.0.0.1:9000\", not an empty string"},
      {"ftp://h", "'to' must start with http:// or https://, not \"ftp://h\""},
      {"127.0.0.1:9000", "'to' must start with http:// or https://, not \"127.0.0.1:9000\""},
      {"http:/h", "'to' must start with http:// or https://, not \"http:/h\""},
      {"http://h /x", "'to' must not contain spaces or control characters"},
      {"http://user:pw@h",
       "'to' must not contain a user name or password (before '@'): \"http://user:pw@h\""},
      {"http://", "'to' has no host: \"http://\""},
      {"http://:80/x", "'to' has no host: \"http://:80/x\""},
      {"http://h:", "the port in 'to' must be 1..65535, not \"\""},
      {"http://h:0", "the port in 'to' must be 1..65535, not \"0\""},
      {"http://h:65536", "the port in 'to' must be 1..65535, not \"65536\""},
      {"http://h:8o", "the port in 'to' must be 1..65535, not \"8o\""},
      {"http://h:123456", "the port in 'to' must be 1..65535, not \"123456\""},
      {"http://::1:80",
       "an IPv6 address in 'to' must be written in brackets, e.g. \"http://[::1]:9000\", not "
       "\"http://::1:80\""},
      {"http://[::1", "the IPv6 address in 'to' has no closing ']': \"http://[::1\""},
      {"http://[::1]x",
       "in 'to', only ':' and a port may follow the IPv6 address: "
       "\"http://[::1]x\""},
      {"http://[zz]:80", "\"[zz]\" in 'to' is not an IPv6 address"},
      {"http://1.2.3.999", "\"1.2.3.999\" in 'to' is not an IPv4 address"},
      {"http://a..b",
       "\"a..b\" in 'to' is not a host name (letters, digits, '-' and '_' in "
       "labels separated by '.')"},
      {"http://-a.b",
       "\"-a.b\" in 'to' is not a host name (letters, digits, '-' and '_' in "
       "labels separated by '.')"},
      {"http://h/x?y=1",
       "'to' must not have a query ('?'): each request sends its own, in \"http://h/x?y=1\""},
      {"http://h?y",
       "'to' must not have a query ('?'): each request sends its own, in "
       "\"http://h?y\""},
      {"http://h/#f", "'to' must not have a fragment ('#'): \"http://h/#f\""},
      {"http://h/a%zz",
       "the path in 'to' cannot contain '%' (percent-encode it): "
       "\"http://h/a%zz\""},
      {"http://h/a\\\"b",
       "the path in 'to' cannot contain '\"' (percent-encode it): "
       "\"http://h/a\"b\""},
  };
  for (const auto& [to, message] : bad) {
    INFO(to);
    CHECK(problems_of(proxy_route("to = \"" + to + "\"\n")) == lines{"t.toml:4:6: " + message});
  }
  CHECK(problems_of(proxy_route("to = 9000\n")) ==
        lines{"t.toml:4:6: 'to' must be a string, not an integer"});
  CHECK(problems_of(proxy_route("strip_prefix = \"/a\"\n")) ==
        lines{"t.toml:3:1: [route.proxy] needs 'to': the upstream's URL, e.g. to = "
              "\"http://127.0.0.1:9000\""});
  CHECK(problems_of("[[route]]\npath = \"/x\"\nproxy = {}\n") ==
        lines{"t.toml:3:9: [route.proxy] needs 'to': the upstream's URL, e.g. to = "
              "\"http://127.0.0.1:9000\""});
  CHECK(problems_of("[[route]]\npath = \"/x\"\nproxy = \"http://h\"\n") ==
        lines{"t.toml:3:9: 'proxy' must be a table, written [route.proxy], not a string"});

  // The same parser reads `stubborn record --upstream`.
  proxy_spec p;
  CHECK(stubborn::parse_upstream_url("http://h:1/b/", p, "--upstream").empty());
  CHECK(p.base_path == "/b");
  CHECK(stubborn::parse_upstream_url("h:1", p, "--upstream") ==
        "--upstream must start with http:// or https://, not \"h:1\"");
}

TEST_CASE("[route.proxy]: each key's mistakes, where they are written", "[config][proxy]") {
  const std::string to = "to = \"http://127.0.0.1:9000\"\n";
  const std::vector<std::pair<std::string, lines>> cases = {
      {"tiemout = \"1s\"\n",
       {"t.toml:5:1: unknown key 'tiemout' in [route.proxy] (did you mean 'timeout'?)"}},
      {"strip-prefix = \"/a\"\n",
       {"t.toml:5:1: unknown key 'strip-prefix' in [route.proxy] (did you mean "
        "'strip_prefix'?)"}},
      {"header = { A = \"1\" }\n",
       {"t.toml:5:1: unknown key 'header' in [route.proxy] (did you mean 'headers'?)"}},
      {"strip_prefix = \"api\"\n",
       {"t.toml:5:16: 'strip_prefix' must be a path that starts with '/' and does not end with "
        "one, e.g. \"/api\", not \"api\""}},
      {"strip_prefix = \"/api/\"\n",
       {"t.toml:5:16: 'strip_prefix' must be a path that starts with '/' and does not end with "
        "one, e.g. \"/api\", not \"/api/\""}},
      {"strip_prefix = \"/\"\n",
       {"t.toml:5:16: 'strip_prefix' must be a path that starts with '/' and does not end with "
        "one, e.g. \"/api\", not \"/\""}},
      {"connect_timeout = \"0s\"\n", {"t.toml:5:19: 'connect_timeout' must be more than 0s"}},
      {"connect_timeout = 2\n",
       {"t.toml:5:19: 'connect_timeout' must be a duration string with a unit, e.g. \"10s\", "
        "not an integer"}},
      {"timeout = \"5\"\n",
       {"t.toml:5:11: 'timeout' must be a number with a unit (ms, s, m or h), e.g. \"10s\", not "
        "\"5\""}},
      {"timeout = \"0ms\"\n", {"t.toml:5:11: 'timeout' must be more than 0s"}},
      {"timeout = \"200h\"\n", {"t.toml:5:11: 'timeout' must be at most 168h (a week)"}},
      {"headers = { \"Content-Length\" = \"1\" }\n",
       {"t.toml:5:13: header 'Content-Length' is set by the server and cannot be configured"}},
      {"headers = { \"a b\" = \"1\" }\n",
       {"t.toml:5:13: header name 'a b' is not an HTTP token (letters, digits and "
        "!#$%&'*+-.^_`|~)"}},
      {"headers = [\"X\"]\n",
       {"t.toml:5:11: 'headers' must be a table, e.g. { \"X-Stub\" = \"1\" }, not an array"}},
      {"remove = \"Cookie\"\n",
       {"t.toml:5:10: 'remove' must be an array of header names, e.g. [\"Cookie\"], not a "
        "string"}},
      {"remove = [\"Cookie\", 1, \"bad name\", \"transfer-encoding\"]\n",
       {"t.toml:5:21: each 'remove' must be a string, not an integer",
        "t.toml:5:24: header name 'bad name' is not an HTTP token (letters, digits and "
        "!#$%&'*+-.^_`|~)",
        "t.toml:5:36: header 'transfer-encoding' is set by the server and cannot be "
        "configured"}},
      {"reply_remove = [\"Content-Length\"]\n",
       {"t.toml:5:17: header 'Content-Length' is set by the server and cannot be configured"}},
      {"reply_headers = { Connection = \"close\" }\n",
       {"t.toml:5:19: header 'Connection' is set by the server and cannot be configured"}},
      {"preserve_host = \"yes\"\n",
       {"t.toml:5:17: 'preserve_host' must be a boolean (true or false), not a string"}},
      {"verify = 0\n", {"t.toml:5:10: 'verify' must be a boolean (true or false), not an integer"}},
      {"delay = \"soon\"\n",
       {"t.toml:5:9: 'delay' must be a number with a unit (ms, s, m or h), e.g. \"10s\", not "
        "\"soon\""}},
      {"delay_reply = 5\n",
       {"t.toml:5:15: 'delay_reply' must be a duration like \"250ms\", a table { min = "
        "\"100ms\", max = \"400ms\" } or a table { median = \"200ms\", sigma = 0.4 }, not an "
        "integer"}},
      {"delay_reply = { min = \"2ms\", max = \"1ms\" }\n",
       {"t.toml:5:36: 'delay_reply.max' (\"1ms\") must not be less than 'delay_reply.min' "
        "(\"2ms\")"}},
      {"delay_reply = { median = \"2ms\", sigma = 9 }\n",
       {"t.toml:5:41: 'delay_reply.sigma' must be 0..5, not 9"}},
      {"delay_reply = { mni = \"2ms\" }\n",
       {"t.toml:5:17: unknown key 'mni' in 'delay_reply' (did you mean 'min'?)"}},
      {"delay_reply = { min = \"2ms\" }\n",
       {"t.toml:5:15: 'delay_reply' must be a duration like \"250ms\", a table { min = "
        "\"100ms\", max = \"400ms\" } or a table { median = \"200ms\", sigma = 0.4 }, not a "
        "table with 'min'"}},
      {"fault = \"explode\"\n",
       {"t.toml:5:9: 'fault' must be one of \"reset\", \"close\", \"empty\", \"truncate\", "
        "\"garbage\" or \"malformed-chunk\", not \"explode\""}},
      {"fault = \"rest\"\n",
       {"t.toml:5:9: 'fault' must be one of \"reset\", \"close\", \"empty\", \"truncate\", "
        "\"garbage\" or \"malformed-chunk\", not \"rest\" (did you mean 'reset'?)"}},
      {"chunks = { count = 0, over = \"1s\" }\n",
       {"t.toml:5:20: 'chunks.count' must be 1..10000, not 0"}},
      {"bandwidth = \"fast\"\n",
       {"t.toml:5:13: 'bandwidth' must be a number of bytes, optionally with a unit (KB, KiB, "
        "MB, MiB, GB, GiB), followed by \"/s\", e.g. \"64KiB/s\", not \"fast\""}},
      {"chunks = { count = 2, over = \"1s\" }\nbandwidth = 100\n",
       {"t.toml:6:13: [route.proxy] has 'chunks' or 'bandwidth', not both"}},
      {"bandwidth = 100\nchunks = { count = 2, over = \"1s\" }\n",
       {"t.toml:6:10: [route.proxy] has 'chunks' or 'bandwidth', not both"}},
      {"status_map = { 2xx = 503 }\n",
       {"t.toml:5:16: 'status_map' keys are upstream statuses \"100\"..\"599\", not \"2xx\""}},
      {"status_map = { 99 = 503, 600 = 200, 0200 = 200 }\n",
       {"t.toml:5:16: 'status_map' keys are upstream statuses \"100\"..\"599\", not \"99\"",
        "t.toml:5:26: 'status_map' keys are upstream statuses \"100\"..\"599\", not \"600\"",
        "t.toml:5:37: 'status_map' keys are upstream statuses \"100\"..\"599\", not \"0200\""}},
      {"status_map = { 200 = 600 }\n",
       {"t.toml:5:22: 'status_map.200' must be a final status 200..599, not 600"}},
      {"status_map = { 200 = 103 }\n",
       {"t.toml:5:22: 'status_map.200' must be a final status 200..599, not 103"}},
      {"status_map = { 200 = \"503\" }\n",
       {"t.toml:5:22: 'status_map.200' must be an integer, not a string"}},
      {"status_map = [200, 503]\n",
       {"t.toml:5:14: 'status_map' must be a table, e.g. { 200 = 503 }, not an array"}},
  };
  for (const auto& [keys, expected] : cases) {
    INFO(keys);
    CHECK(problems_of(proxy_route(to + keys)) == expected);
  }
}

TEST_CASE("[route.proxy]: ca and verify are for https upstreams, and ca must exist",
          "[config][proxy]") {
  temp_dir dir;
  dir.write("ca.pem", "-----BEGIN CERTIFICATE-----\n");
  const std::string base = dir.path().string();
  CHECK(problems_of(proxy_route("to = \"https://h\"\nca = \"ca.pem\"\nverify = true\n"), base)
            .empty());
  CHECK(problems_of(proxy_route("to = \"http://h\"\nca = \"ca.pem\"\nverify = false\n"), base) ==
        lines{"t.toml:5:6: 'ca' is only for an https:// upstream, and \"http://h\" is plain HTTP",
              "t.toml:6:10: 'verify' is only for an https:// upstream, and \"http://h\" is plain "
              "HTTP"});
  CHECK(problems_of(proxy_route("to = \"https://h\"\nca = \"missing.pem\"\n"), base) ==
        lines{"t.toml:5:6: cannot read 'ca' \"missing.pem\": No such file or directory"});
  CHECK(problems_of(proxy_route("to = \"https://h\"\nca = \"\"\n"), base) ==
        lines{"t.toml:5:6: 'ca' must be a file path"});
  // Resolved against the config file's folder, as [server.tls] paths are.
  const fs::path sub = dir.path() / "sub";
  fs::create_directories(sub);
  const proxy_spec p = read_one("to = \"https://h\"\nca = \"../ca.pem\"\n", sub.string());
  CHECK(p.ca == (dir.path() / "ca.pem").string());
}

TEST_CASE("a proxy route cannot script a reply of its own", "[config][proxy]") {
  const std::string head = "[[route]]\npath = \"/api/*\"\n";
  const std::string proxy = "[route.proxy]\nto = \"http://127.0.0.1:9000\"\n";
  const std::string cannot = "a proxy route relays its upstream's reply; ";
  const std::vector<std::pair<std::string, lines>> cases = {
      {head + proxy + "[route.reply]\nstatus = 201\n",
       {"t.toml:5:1: " + cannot + "[route.reply] cannot be used with [route.proxy]"}},
      {head + proxy + "[[route.replies]]\nstatus = 201\n",
       {"t.toml:5:1: " + cannot + "[[route.replies]] cannot be used with [route.proxy]"}},
      {head + "etag = true\nlast_modified = \"Sun, 06 Nov 1994 08:49:37 GMT\"\nranges = true\n" +
           proxy,
       {"t.toml:3:8: " + cannot + "'etag' cannot be used with [route.proxy]",
        "t.toml:4:17: " + cannot + "'last_modified' cannot be used with [route.proxy]",
        "t.toml:5:10: " + cannot + "'ranges' cannot be used with [route.proxy]"}},
      {head + "continue_delay = \"1s\"\n" + proxy,
       {"t.toml:3:18: " + cannot + "'continue_delay' cannot be used with [route.proxy]"}},
      {head + "expect = \"reject\"\n" + proxy,
       {"t.toml:3:10: " + cannot + "expect = \"reject\" cannot be used with [route.proxy]"}},
      {head + "then = \"cycle\"\n" + proxy + "[[route.replies]]\nstatus = 201\n",
       {"t.toml:3:8: " + cannot + "'then' cannot be used with [route.proxy]",
        "t.toml:6:1: " + cannot + "[[route.replies]] cannot be used with [route.proxy]"}},
      // Reported even when [route.proxy] itself has a problem.
      {head + "etag = true\n[route.proxy]\nto = \"ftp://x\"\n",
       {"t.toml:3:8: " + cannot + "'etag' cannot be used with [route.proxy]",
        "t.toml:5:6: 'to' must start with http:// or https://, not \"ftp://x\""}},
  };
  for (const auto& [text, expected] : cases) {
    INFO(text);
    CHECK(problems_of(text) == expected);
  }
}

TEST_CASE("a proxy route keeps its matchers and the failures layered before the upstream",
          "[config][proxy]") {
  const config cfg = load_config_text(R"(
[[route]]
name = "orders"
method = ["GET", "POST"]
path = "/api/orders/{id}"
query = { v = "2" }
headers = { "X-Tenant" = "a" }
body = { contains = "x" }
priority = 5
expect = "continue"
consumes = "application/json"
produces = ["application/json"]
require_length = true
[route.proxy]
to = "http://127.0.0.1:9000"
[route.outage]
rate = 0.5
[route.rate_limit]
requests = 10
[route.auth]
bearer = "t0ken"
)",
                                      "t.toml", ".");
  REQUIRE(cfg.routes.size() == 1);
  const route_spec& r = cfg.routes[0];
  CHECK(r.proxy);
  CHECK(r.outage);
  CHECK(r.rate_limit);
  CHECK(r.auth);
  CHECK(r.require_length);
  CHECK(r.consumes == std::vector<std::string>{"application/json"});
  CHECK(r.produces == std::vector<std::string>{"application/json"});
  CHECK(r.expect == stubborn::expect_mode::send_continue);
  CHECK(r.priority == 5);
}

TEST_CASE("a proxy route's JSON reads back the same, without a reply of its own",
          "[config][proxy][json]") {
  temp_dir dir;
  const std::string ca = dir.write("ca.pem", "-----BEGIN CERTIFICATE-----\n");
  const config cfg = load_config_text(proxy_route(R"(to = "https://[::1]:8443/v1"
strip_prefix = "/api"
connect_timeout = "1500ms"
timeout = "1m"
headers = { "X-Stub" = "1" }
remove = ["Cookie"]
preserve_host = true
ca = "ca.pem"
verify = false
delay = { median = "5ms", sigma = 0.5 }
delay_reply = "1s"
fault = "garbage"
chunks = { count = 2, over = "10ms" }
status_map = { 200 = 503, 201 = 202 }
reply_headers = { "X-Proxied" = "yes" }
reply_remove = ["Server"]
[route.outage]
rate = 0.25
)"),
                                      "t.toml", dir.path().string());
  const route_spec& route = cfg.routes.at(0);
  const json::object o = stubborn::route_to_json(route, stubborn::json_writing{true});
  INFO(json::serialize(o));
  CHECK_FALSE(o.contains("reply"));
  CHECK(o.contains("outage"));
  const json::object& proxy = o.at("proxy").as_object();
  CHECK(proxy.at("to") == "https://[::1]:8443/v1");
  CHECK(proxy.at("connect_timeout") == "1500ms");
  CHECK(proxy.at("timeout") == "1m");
  CHECK(proxy.at("ca") == json::value(ca));
  CHECK(proxy.at("status_map") == json::object{{"200", 503}, {"201", 202}});
  std::set<std::string> written;
  for (const auto& member : proxy) written.emplace(member.key());
  std::set<std::string> listed;
  for (const auto& row : stubborn::proxy_keys()) listed.emplace(row.name);
  listed.erase("bandwidth");  // excluded by chunks
  CHECK(written == listed);

  const route_spec back = stubborn::load_route_json(json::serialize(o), "j", ".");
  CHECK(back == route);
  CHECK(back.proxy->ca == ca);

  // Defaults are left out.
  const config plain = load_config_text(proxy_route("to = \"http://h:81\"\n"), "t.toml", ".");
  CHECK(json::serialize(stubborn::route_to_json(plain.routes[0])) ==
        R"({"name":"ANY /api/*","path":"/api/*","proxy":{"to":"http://h:81"}})");
}

TEST_CASE("a proxy route posted as JSON is checked like one in a file", "[config][proxy][json]") {
  const route_spec r = stubborn::load_route_json(
      R"({"name": "p", "path": "/x", "proxy": {"to": "http://h:1", "status_map": {"500": 200}}})",
      "j");
  REQUIRE(r.proxy);
  CHECK(r.proxy->port == 1);
  CHECK(r.proxy->status_map == std::vector<std::pair<int, int>>{{500, 200}});
  CHECK(json_problems_of(R"({"path": "/x",
 "proxy": {"to": "http://h:0", "tiemout": "1s"},
 "reply": {"status": 201}})") ==
        lines{"j:2:18: the port in 'to' must be 1..65535, not \"0\"",
              "j:2:32: unknown key 'tiemout' in [route.proxy] (did you mean 'timeout'?)",
              "j:3:11: a proxy route relays its upstream's reply; [route.reply] cannot be used "
              "with [route.proxy]"});
}

namespace {

constexpr const char* two_proxies = R"([server]
offline = true

[[route]]
name = "api"
path = "/api/*"
[route.proxy]
to = "http://127.0.0.1:9000"

[[route]]
path = "/x"
proxy = { to = "https://h" }

[[route]]
path = "/local"
)";

constexpr const char* offline_text =
    ", but the server is offline: strict replay never calls an upstream";

// What the problems of a config_error thrown by `f` say, one per line.
template <typename F>
lines thrown_by(F f) {
  try {
    f();
  } catch (const config_error& e) {
    lines out;
    for (const auto& p : e.problems()) out.push_back(p.to_string());
    return out;
  }
  return {};
}

}  // namespace

TEST_CASE("[server] offline = true refuses every route that proxies, at its [route.proxy]",
          "[config][proxy][offline]") {
  CHECK(
      problems_of(two_proxies) ==
      lines{std::string("t.toml:7:1: route 'api' proxies to http://127.0.0.1:9000") + offline_text,
            std::string("t.toml:12:9: route 'ANY /x' proxies to https://h") + offline_text});

  std::string online = two_proxies;
  online.replace(online.find("offline = true"), 14, "offline = false");
  const config cfg = load_config_text(online, "t.toml", ".");
  CHECK_FALSE(cfg.server.offline);
  CHECK(stubborn::offline_problems(cfg, false).empty());
  lines problems;
  for (const auto& p : stubborn::offline_problems(cfg, true)) problems.push_back(p.to_string());
  CHECK(
      problems ==
      lines{std::string("t.toml:7:1: route 'api' proxies to http://127.0.0.1:9000") + offline_text,
            std::string("t.toml:12:9: route 'ANY /x' proxies to https://h") + offline_text});

  CHECK(load_config_text("[server]\noffline = true\n", "t.toml", ".").server.offline);
  CHECK_FALSE(load_config_text("[[route]]\npath = \"/\"\n", "t.toml", ".").server.offline);
  CHECK(problems_of("[server]\noffline = \"yes\"\n") ==
        lines{"t.toml:2:11: 'offline' must be a boolean (true or false), not a string"});
  CHECK(problems_of("[server]\nofline = true\n") ==
        lines{"t.toml:2:1: unknown key 'ofline' in [server] (did you mean 'offline'?)"});

  // Across files: the problem is in the file of the route.
  temp_dir dir;
  const std::string a = dir.write("a.toml", "[server]\noffline = true\n");
  const std::string b = dir.write(
      "b.toml", "[[route]]\nname = \"up\"\npath = \"/\"\nproxy = { to = \"http://h\" }\n");
  lines across;
  try {
    stubborn::load_config({a, b});
  } catch (const config_error& e) {
    for (const auto& p : e.problems()) across.push_back(p.to_string());
  }
  CHECK(across == lines{b + ":4:9: route 'up' proxies to http://h" + offline_text});
}

TEST_CASE("offline from the command line: proxy routes refused at start, reload and runtime",
          "[config][proxy][offline]") {
  temp_dir dir;
  const std::string file = dir.write("s.toml", "[[route]]\nname = \"local\"\npath = \"/local\"\n");
  const std::string proxy_file = dir.write(
      "p.toml", "[[route]]\nname = \"up\"\npath = \"/up\"\nproxy = { to = \"http://h:1\" }\n");

  // The command line's value joins the files'.
  config flagged = stubborn::load_config({file});
  flagged.overrides.offline = true;
  CHECK_FALSE(flagged.server.offline);
  CHECK(stubborn::with_overrides(flagged).server.offline);
  CHECK(stubborn::with_overrides(stubborn::load_config({file})).server.offline == false);

  // At start.
  config proxied = stubborn::load_config({proxy_file});
  proxied.overrides.offline = true;
  CHECK(thrown_by([&] { stubborn::server s(proxied); }) ==
        lines{proxy_file + ":4:9: route 'up' proxies to http://h:1" + offline_text});

  stubborn::server server(flagged);
  REQUIRE(server.route_count() == 1);

  // Runtime routes, as TOML and as a route (what POST /__admin/routes adds).
  const stubborn::route_change toml = server.control().add_routes(
      "[[route]]\nname = \"rt\"\npath = \"/rt\"\n[route.proxy]\nto = \"http://h:2\"\n", "runtime");
  CHECK(toml.result == stubborn::route_change::outcome::invalid);
  CHECK(toml.problems ==
        lines{std::string("runtime:4:1: route 'rt' proxies to http://h:2") + offline_text});
  const stubborn::route_change posted = server.control().add_route(stubborn::load_route_json(
      R"({"name": "js", "path": "/js", "proxy": {"to": "http://h:3"}})", "POST /__admin/routes"));
  CHECK(posted.result == stubborn::route_change::outcome::invalid);
  CHECK(posted.problems ==
        lines{std::string("POST /__admin/routes:1:40: route 'js' proxies to http://h:3") +
              offline_text});
  CHECK(server.route_count() == 1);

  // A reload that brings a proxy route fails; the routes already loaded keep serving.
  dir.write("s.toml",
            "[[route]]\nname = \"local\"\npath = \"/local\"\n[[route]]\nname = \"up\"\n"
            "path = \"/up\"\nproxy = { to = \"http://h:4\" }\n");
  const stubborn::reload_result reloaded = server.reload();
  CHECK_FALSE(reloaded.ok);
  CHECK(reloaded.error == file + ":7:9: route 'up' proxies to http://h:4" + offline_text + "\n");
  CHECK(server.route_count() == 1);
  CHECK_FALSE(server.control().last_reload().ok);
}

TEST_CASE("[server] offline stays on through reloads until a restart", "[config][proxy][offline]") {
  temp_dir dir;
  const std::string file =
      dir.write("s.toml", "[server]\noffline = true\n[[route]]\nname = \"a\"\npath = \"/a\"\n");
  stubborn::server server(stubborn::load_config({file}));
  dir.write("s.toml",
            "[server]\noffline = false\n[[route]]\nname = \"a\"\npath = \"/a\"\n[[route]]\n"
            "name = \"up\"\npath = \"/up\"\nproxy = { to = \"http://h\" }\n");
  const stubborn::reload_result reloaded = server.reload();
  CHECK_FALSE(reloaded.ok);
  CHECK(reloaded.error == file + ":9:9: route 'up' proxies to http://h" + offline_text + "\n");
  CHECK(server.route_count() == 1);

  // Without the proxy route, the reload goes through, and still no proxy route can be added.
  dir.write("s.toml", "[server]\noffline = false\n[[route]]\nname = \"b\"\npath = \"/b\"\n");
  CHECK(server.reload().ok);
  const stubborn::route_change added = server.control().add_routes(
      "[[route]]\nname = \"rt\"\npath = \"/rt\"\nproxy = { to = \"http://h\" }\n", "runtime");
  CHECK(added.result == stubborn::route_change::outcome::invalid);

  // A server that starts online takes a reload that turns offline on.
  const std::string online = dir.write("o.toml", "[[route]]\nname = \"a\"\npath = \"/a\"\n");
  stubborn::server later(stubborn::load_config({online}));
  CHECK(later.control()
            .add_routes("[[route]]\nname = \"rt\"\npath = \"/rt\"\n"
                        "proxy = { to = \"http://h\" }\n",
                        "runtime")
            .ok());
  dir.write("o.toml", "[server]\noffline = true\n[[route]]\nname = \"a\"\npath = \"/a\"\n");
  const stubborn::reload_result turned = later.reload();
  CHECK_FALSE(turned.ok);
  CHECK(turned.error ==
        "runtime:4:9: route 'rt' proxies to http://h" + std::string(offline_text) + "\n");
}

TEST_CASE("[recording]: out and redact", "[config][proxy][recording]") {
  temp_dir dir;
  fs::create_directories(dir.path() / "rec");
  const std::string base = dir.path().string();
  const config defaults = load_config_text("[recording]\nout = \"rec/out.toml\"\n", "t.toml", base);
  REQUIRE(defaults.recording);
  CHECK(defaults.recording->out == (dir.path() / "rec" / "out.toml").string());
  CHECK(defaults.recording->redact ==
        std::vector<std::string>{"Authorization", "Cookie", "Set-Cookie"});
  CHECK(defaults.recording->position.line == 1);
  CHECK_FALSE(load_config_text("[[route]]\npath = \"/\"\n", "t.toml", base).recording);

  const config named = load_config_text(
      "[recording]\nout = \"out.toml\"\nredact = [\"X-Api-Key\", \"Cookie\"]\n", "t.toml", base);
  CHECK(named.recording->out == (dir.path() / "out.toml").string());
  CHECK(named.recording->redact == std::vector<std::string>{"X-Api-Key", "Cookie"});
  const config none =
      load_config_text("[recording]\nout = \"/tmp/x.toml\"\nredact = []\n", "t.toml", base);
  CHECK(none.recording->out == "/tmp/x.toml");
  CHECK(none.recording->redact.empty());

  const std::vector<std::pair<std::string, lines>> cases = {
      {"[recording]\nredact = [\"Cookie\"]\n",
       {"t.toml:1:1: [recording] needs 'out': the TOML file the routes are written to, e.g. out "
        "= \"recorded.toml\""}},
      {"[recording]\nout = \"\"\n", {"t.toml:2:7: 'out' must be a file path"}},
      {"[recording]\nout = \"nowhere/out.toml\"\n",
       {"t.toml:2:7: cannot write 'out' \"nowhere/out.toml\": its folder \"" + base +
        "/nowhere\" does not exist"}},
      {"[recording]\nout = \"rec\"\n",
       {"t.toml:2:7: 'out' \"rec\" is a folder: name the TOML file to write, e.g. "
        "\"recorded.toml\""}},
      {"[recording]\nout = 1\n", {"t.toml:2:7: 'out' must be a string, not an integer"}},
      {"[recording]\nout = \"o.toml\"\nredact = \"Cookie\"\n",
       {"t.toml:3:10: 'redact' must be an array of header names, e.g. [\"Authorization\"], not a "
        "string"}},
      {"[recording]\nout = \"o.toml\"\nredact = [\"a b\", 2]\n",
       {"t.toml:3:11: header name 'a b' is not an HTTP token (letters, digits and "
        "!#$%&'*+-.^_`|~)",
        "t.toml:3:18: each 'redact' must be a string, not an integer"}},
      {"[recording]\nout = \"o.toml\"\nreduct = []\n",
       {"t.toml:3:1: unknown key 'reduct' in [recording] (did you mean 'redact'?)"}},
      {"recording = 1\n",
       {"t.toml:1:13: 'recording' must be a table, written [recording], not "
        "an integer"}},
      {"[recordings]\n",
       {"t.toml:1:2: unknown key 'recordings' at the top level (did you mean 'recording'?)"}},
  };
  for (const auto& [text, expected] : cases) {
    INFO(text);
    CHECK(problems_of(text, base) == expected);
  }

  // Tables merge across files, each key set once.
  const std::string a = dir.write("a.toml", "[recording]\nout = \"a.out.toml\"\n");
  const std::string b = dir.write("b.toml", "[recording]\nredact = [\"X\"]\nout = \"b.toml\"\n");
  const std::string c = dir.write("c.toml", "[recording]\nredact = [\"X\"]\n");
  const config merged = stubborn::load_config({a, c});
  CHECK(merged.recording->out == (dir.path() / "a.out.toml").string());
  CHECK(merged.recording->redact == std::vector<std::string>{"X"});
  lines twice;
  try {
    stubborn::load_config({a, b});
  } catch (const config_error& e) {
    for (const auto& p : e.problems()) twice.push_back(p.to_string());
  }
  CHECK(twice == lines{b + ":3:1: 'out' in [recording] is already set at " + a + ":2:1"});

  // Routes posted as JSON cannot bring one.
  lines posted;
  try {
    stubborn::load_routes_json(R"({"route": [{"path": "/"}], "recording": {"out": "x.toml"}})",
                               "j");
  } catch (const config_error& e) {
    for (const auto& p : e.problems()) posted.push_back(p.to_string());
  }
  CHECK(posted == lines{"j:1:28: [recording] cannot be set here, only routes: it comes from the "
                        "configuration files"});
}

TEST_CASE("configs/proxy.toml: proxy routes with failures layered on them",
          "[config][proxy][offline]") {
  const std::string file = STUBBORN_SOURCE_DIR "/configs/proxy.toml";
  const config cfg = stubborn::load_config({file});
  std::size_t proxies = 0;
  for (const route_spec& route : cfg.routes) {
    if (!route.proxy) continue;
    ++proxies;
    CHECK(route.proxy->host == "127.0.0.1");
    CHECK(route.proxy->port == 9000);
  }
  CHECK(proxies == 5);
  CHECK(stubborn::offline_problems(cfg, true).size() == proxies);
  CHECK(stubborn::offline_problems(cfg, false).empty());
}

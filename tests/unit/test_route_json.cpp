#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>

#include <boost/json.hpp>

#include "config/admin_section.hpp"
#include "config/events_section.hpp"
#include "config/outage_section.hpp"
#include "config/proxy_section.hpp"
#include "config/rate_limit_section.hpp"
#include "config/reply_section.hpp"
#include "config/route_json.hpp"
#include "config/route_reading.hpp"
#include "config/server_section.hpp"
#include "config/tls_section.hpp"
#include "stubborn/load_config.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;
using stubborn::json_writing;
using stubborn::route_spec;

namespace {

// A route written as JSON (with its secrets) and read back.
route_spec round_trip(const route_spec& route, const std::string& base_dir) {
  const std::string text = json::serialize(stubborn::route_to_json(route, json_writing{true}));
  INFO(text);
  return stubborn::load_route_json(text, "round trip", base_dir);
}

template <typename Rows>
std::set<std::string> names_of(const Rows& rows) {
  std::set<std::string> names;
  for (const auto& row : rows) names.emplace(row.name);
  return names;
}

void add_keys(const json::object& o, std::set<std::string>& out) {
  for (const auto& member : o) out.emplace(member.key());
}

// Every key of every table set at least once, across two routes (some keys exclude others).
constexpr const char* every_key = R"(
[[route]]
name = "all-a"
method = ["GET", "POST"]
path = "/a/{id}"
query = { page = "2" }
headers = { "X-Key" = "k" }
body = { contains = "x" }
cookies = { session = "s1" }
form = { grant_type = "client_credentials" }
when = { all = [ { json_path = "$.total", gt = 100.5 }, { path = "id", one_of = ["1", 2] } ], any = [ { header = "X-Tier", equals = "gold", ignore_case = true } ], not = [ { xpath = "//coupon", present = true }, { body = true, json = { a = [1] } } ] }
scheme = "https"
client_cert = { subject = "CN=billing,O=Acme", san = "billing.internal" }
priority = 3
then = "cycle"
continue_delay = "1s"
outage = { rate = 0.5, every = "10s", duration = "1s", status = 500, fault = "reset" }
auth = { header = { name = "X-Token", value = "t-1" } }
etag = true
last_modified = "Sun, 06 Nov 1994 08:49:37 GMT"
ranges = true
produces = "application/json"
consumes = ["application/json", "text/plain"]
require_length = true
rate_limit = { requests = 5, per = "2s", burst = 7, key = "header:X-Key", algorithm = "token-bucket", headers = "x-ratelimit", max_keys = 50, reply = { status = 503, body = "slow" } }
state_key = "path:id"
max_state_keys = 64

[[route.replies]]
status = 201
reason = "Made"
headers = { "X-A" = "{{path.id}}" }
body = "hi {{path.id}}"
delay = "10ms"
interim = [ { status = 103, headers = { Link = "</a>" } } ]
processing_every = "5ms"
chunks = { count = 2, over = "10ms" }
repeat = 2

[[route.replies]]
body_file = "bodies/index.html"
delay = { min = "1ms", max = "2ms" }
bandwidth = "1KiB/s"
hang = true

[[route.replies]]
json = { a = 1, b = [1.5, "x"] }
delay = { median = "5ms", sigma = 0.5 }
fault = "truncate"

[[route.replies]]
redirect = { to = "/b/{{path.id}}", status = 308 }

[[route.replies]]
events = [ { data = "d {{path.id}}", event = "e", id = "1", retry = "3s", delay = "5ms" } ]
then = "hold"
heartbeat = "1s"

[[route]]
name = "all-b"
path_regex = "^/b/(?P<id>[0-9]+)$"
expect = "reject"
body = { json = { k = "v" } }
auth = { bearer = "s3cret" }
rate_limit = { requests = 1, algorithm = "fixed-window" }
[route.reply]
status = 404
)";

// Proxy routes: chunks and bandwidth exclude each other. 'ca' is appended (a file made here).
constexpr const char* every_websocket_key = R"(
[[route]]
name = "all-ws"
path = "/ws/{room}"
[route.websocket]
subprotocols = ["chat.v1", "chat.v2"]
on_open = [ { send = "hello {{path.room}}" }, { send_binary = "AAEC", delay = "10ms" },
            { ping = "p" }, { close = { code = 4000, reason = "bye" }, fault = "no-close-reply" },
            { fault = "drop", delay = "1s" } ]
every = { send = "tick", interval = "1s", delay = "5ms" }
close_after = "30s"
close_code = 1001
close_reason = "over"
max_message_bytes = "64KiB"
idle_timeout = "10s"
ping_every = "5s"
[[route.websocket.on_message]]
match = { equals = "ping" }
reply = [ { send = "pong {{message}}" } ]
repeat = 2
[[route.websocket.on_message]]
match = { json = { type = "x" } }
reply = []
[[route.websocket.on_message]]
match = {}
echo = true
)";

constexpr const char* every_proxy_key = R"(
[[route]]
name = "all-d"
path = "/d/*"
[route.proxy]
to = "https://127.0.0.1:9443/base"
strip_prefix = "/d"
connect_timeout = "1s"
timeout = "5s"
headers = { "X-Stub" = "1" }
remove = ["Cookie"]
preserve_host = true
verify = false
delay = "1ms"
delay_reply = { min = "1ms", max = "2ms" }
fault = "truncate"
chunks = { count = 2, over = "10ms" }
status_map = { 200 = 503 }
reply_headers = { "X-Proxied" = "1" }
reply_remove = ["Server"]

[[route]]
name = "all-e"
path = "/e"
proxy = { to = "http://127.0.0.1:9000", bandwidth = "1KiB/s" }
)";

// A PEM file under the system temp folder, removed at the end of the test.
class temp_pem {
 public:
  temp_pem()
      : path_(fs::temp_directory_path() /
              ("stubborn-route-json-" + std::to_string(std::random_device{}()) + ".pem")) {
    std::ofstream(path_) << "-----BEGIN CERTIFICATE-----\n";
  }
  ~temp_pem() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  temp_pem(const temp_pem&) = delete;
  temp_pem& operator=(const temp_pem&) = delete;
  std::string path() const { return path_.string(); }

 private:
  fs::path path_;
};

}  // namespace

TEST_CASE("every example config's routes read back the same from their JSON", "[config][json]") {
  const fs::path configs = fs::path(STUBBORN_SOURCE_DIR) / "configs";
  std::size_t routes = 0;
  for (const auto& entry : fs::directory_iterator(configs)) {
    if (entry.path().extension() != ".toml") continue;
    INFO(entry.path().filename().string());
    const stubborn::config cfg = stubborn::load_config({entry.path().string()});
    for (const route_spec& route : cfg.routes) {
      INFO(route.name);
      CHECK(round_trip(route, configs.string()) == route);
      ++routes;
    }
  }
  CHECK(routes > 40);
}

TEST_CASE("a route's JSON has every key its tables list", "[config][json]") {
  const std::string base = (fs::path(STUBBORN_SOURCE_DIR) / "configs").string();
  const temp_pem ca;
  const std::string text = std::string(every_key) + every_proxy_key + every_websocket_key +
                           "\n[[route]]\npath = \"/f\"\n[route.proxy]\n" +
                           "to = \"https://127.0.0.1:9443\"\nca = '" + ca.path() + "'\n";
  const stubborn::config cfg = stubborn::load_config_text(text, "every.toml", base);
  REQUIRE(cfg.routes.size() == 6);
  std::set<std::string> route_keys;
  std::set<std::string> websocket_keys;
  std::set<std::string> step_keys;
  std::set<std::string> answer_keys;
  std::set<std::string> reply_keys;
  std::set<std::string> proxy_keys;
  for (const route_spec& route : cfg.routes) {
    CHECK(round_trip(route, base) == route);
    const json::object o = stubborn::route_to_json(route, json_writing{true});
    add_keys(o, route_keys);
    if (const json::value* replies = o.if_contains("replies")) {
      for (const json::value& reply : replies->as_array()) add_keys(reply.as_object(), reply_keys);
    } else if (const json::value* websocket = o.if_contains("websocket")) {
      // A WebSocket route plays its script and writes no reply of its own.
      CHECK_FALSE(o.contains("reply"));
      const json::object& w = websocket->as_object();
      add_keys(w, websocket_keys);
      for (const json::value& step : w.at("on_open").as_array()) {
        add_keys(step.as_object(), step_keys);
      }
      add_keys(w.at("every").as_object(), step_keys);
      for (const json::value& answer : w.at("on_message").as_array()) {
        add_keys(answer.as_object(), answer_keys);
      }
    } else if (const json::value* proxy = o.if_contains("proxy")) {
      // A proxy route relays its upstream's reply and writes none of its own.
      CHECK_FALSE(o.contains("reply"));
      add_keys(proxy->as_object(), proxy_keys);
    } else {
      add_keys(o.at("reply").as_object(), reply_keys);
    }
  }
  CHECK(route_keys == names_of(stubborn::route_keys()));
  CHECK(reply_keys == names_of(stubborn::reply_keys()));
  CHECK(proxy_keys == names_of(stubborn::proxy_keys()));
  CHECK(websocket_keys == std::set<std::string>{"subprotocols", "on_open", "every", "close_after",
                                                "close_code", "close_reason", "on_message",
                                                "max_message_bytes", "idle_timeout", "ping_every"});
  CHECK(step_keys == std::set<std::string>{"send", "send_binary", "ping", "close", "fault", "delay",
                                           "interval"});
  CHECK(answer_keys == std::set<std::string>{"match", "reply", "echo", "repeat"});
  std::set<std::string> event_keys;
  const json::object with_events = stubborn::route_to_json(cfg.routes[0]);
  for (const json::value& reply : with_events.at("replies").as_array()) {
    if (const json::value* events = reply.as_object().if_contains("events")) {
      for (const json::value& event : events->as_array()) add_keys(event.as_object(), event_keys);
    }
  }
  CHECK(event_keys == names_of(stubborn::event_keys()));

  const json::object first = stubborn::route_to_json(cfg.routes[0], json_writing{true});
  std::set<std::string> limit_keys;
  add_keys(first.at("rate_limit").as_object(), limit_keys);
  CHECK(limit_keys == names_of(stubborn::rate_limit_keys()));
  std::set<std::string> outage_keys;
  add_keys(first.at("outage").as_object(), outage_keys);
  outage_keys.emplace("path");  // only server-wide [[outage]] tables have one
  CHECK(outage_keys == names_of(stubborn::outage_keys()));
}

TEST_CASE("a route's JSON names its credentials but keeps them secret", "[config][json]") {
  const stubborn::config cfg = stubborn::load_config_text(
      every_key, "every.toml", (fs::path(STUBBORN_SOURCE_DIR) / "configs").string());
  CHECK(stubborn::route_to_json(cfg.routes[0]).at("auth") == "header:X-Token");
  CHECK(stubborn::route_to_json(cfg.routes[1]).at("auth") == "bearer");
  CHECK(stubborn::route_to_json(cfg.routes[1], json_writing{true}).at("auth") ==
        json::object{{"bearer", "s3cret"}});
}

TEST_CASE("key tables describe every key", "[config]") {
  const auto check = [](const auto& rows) {
    std::set<std::string> names;
    for (const auto& row : rows) {
      INFO(row.name);
      CHECK(!row.name.empty());
      CHECK(!row.type.empty());
      CHECK(!row.doc.empty());
      CHECK(row.accepts != 0);
      CHECK(names.emplace(row.name).second);
    }
  };
  check(stubborn::route_keys());
  check(stubborn::reply_keys());
  check(stubborn::rate_limit_keys());
  check(stubborn::outage_keys());
  check(stubborn::server_keys());
  check(stubborn::admin_keys());
  check(stubborn::tls_keys());
  check(stubborn::tls_name_keys());
  check(stubborn::proxy_keys());
  check(stubborn::event_keys());
}

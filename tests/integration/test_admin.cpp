// The admin API over real sockets: journal and verification, routes at runtime, reset, token,
// its own listener, metrics, and reload (from the file, broken files, state kept, under load).

#include <catch2/catch.hpp>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "app_routes.hpp"
#include "harness.hpp"
#include "stubborn/load_config.hpp"
#include "text/utf8.hpp"

using namespace stubborn::testing;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

// The same text as a config file would hold: [admin] first, then the shared routes.
const std::string app_config = std::string("\n[admin]\njournal_body_bytes = 8\n") + app_routes;

std::string request(std::string_view method, std::string_view target, std::string_view body = {},
                    std::string_view extra = {}) {
  std::string r = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n";
  r += extra;
  if (!body.empty() || method == "POST" || method == "PUT") {
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return r + "\r\n" + std::string(body);
}

// Qualified: with std::string arguments, unqualified exchange() would find std::exchange.
http_response call(std::uint16_t port, std::string_view bytes, bool no_body = false) {
  return stubborn::testing::exchange(port, bytes, no_body);
}

json::value json_of(const http_response& response) {
  return json::parse(response.body);
}

json::array journal(std::uint16_t port, std::string_view query = {}) {
  http_response r = call(port, get("/__admin/requests" + std::string(query)));
  REQUIRE(r.status == 200);
  return json_of(r).at("requests").as_array();
}

std::int64_t count(std::uint16_t port, std::string_view query) {
  http_response r = call(port, get("/__admin/requests/count" + std::string(query)));
  REQUIRE(r.status == 200);
  return json_of(r).at("count").as_int64();
}

}  // namespace

TEST_CASE("the journal records what was received, and filters count it", "[admin]") {
  running_server server(app_config);
  const auto port = server.port();
  CHECK(call(port, get("/hello", "X-Test: a\r\n")).status == 200);
  CHECK(call(port,
             request("POST", "/orders?x=1", "{\"id\":12345}", "Content-Type: application/json\r\n"))
            .status == 201);
  CHECK(call(port, get("/nowhere")).status == 404);

  json::array all = journal(port);
  REQUIRE(all.size() == 3);
  const json::object& first = all[0].as_object();
  CHECK(first.at("method") == "GET");
  CHECK(first.at("path") == "/hello");
  CHECK(first.at("route") == "hello");
  CHECK(first.at("status") == 200);
  CHECK(first.at("headers").at("X-Test") == "a");
  CHECK(first.at("client").as_string().starts_with("127.0.0.1:"));
  if (server.over_tls()) {
    CHECK(first.at("tls").at("version").as_string().starts_with("TLSv1."));
  } else {
    CHECK_FALSE(first.contains("tls"));  // over plain HTTP
  }
  const json::object& order = all[1].as_object();
  CHECK(order.at("target") == "/orders?x=1");
  CHECK(order.at("body") == "{\"id\":12");  // journal_body_bytes = 8
  CHECK(order.at("body_bytes") == 12);
  CHECK(order.at("body_truncated") == true);
  CHECK(order.at("status") == 201);
  CHECK(all[2].at("route").is_null());
  CHECK(all[2].at("status") == 404);

  CHECK(count(port, "?route=hello") == 1);
  CHECK(count(port, "?method=POST") == 1);
  CHECK(count(port, "?status=4xx") == 1);
  CHECK(count(port, "?status=201") == 1);
  CHECK(count(port, "?path=/hel*") == 1);
  CHECK(count(port, "?route=none") == 1);
  CHECK(journal(port, "?limit=1").at(0).at("path") == "/nowhere");
  CHECK(count(port, "?since=2999-01-01T00:00:00Z") == 0);
  CHECK(count(port, "?since=2000-01-01T00:00:00.5Z") == 3);
  CHECK(call(port, get("/__admin/requests?colour=red")).status == 400);
  CHECK(call(port, get("/__admin/requests?status=abc")).status == 400);

  // /unmatched explains the miss.
  http_response unmatched = call(port, get("/__admin/unmatched"));
  json::array misses = json_of(unmatched).at("requests").as_array();
  REQUIRE(misses.size() == 1);
  CHECK(misses[0].at("path") == "/nowhere");
  CHECK_FALSE(misses[0].at("nearest").as_string().empty());

  // The admin API's own requests are not in the journal.
  CHECK(count(port, "") == 3);
  CHECK(call(port, request("DELETE", "/__admin/requests")).status == 200);
  CHECK(count(port, "") == 0);
}

TEST_CASE("reset puts sequences, rate limits and the journal back to the start", "[admin]") {
  running_server server(app_config);
  const auto port = server.port();
  CHECK(call(port, get("/steps")).body == "one");
  CHECK(call(port, get("/steps")).body == "two");
  CHECK(call(port, get("/limited")).status == 200);
  CHECK(call(port, get("/limited")).status == 429);
  CHECK(call(port, request("GET", "/__admin/reset")).status == 405);
  http_response reset = call(port, request("POST", "/__admin/reset"));
  CHECK(reset.status == 200);
  CHECK(reset.header("Content-Type") == "application/json");
  CHECK(count(port, "") == 0);
  CHECK(call(port, get("/steps")).body == "one");
  CHECK(call(port, get("/limited")).status == 200);
}

TEST_CASE("routes at runtime: listed, added, replaced and deleted; they rank first", "[admin]") {
  running_server server(app_config);
  const auto port = server.port();
  json::array listed = json_of(call(port, get("/__admin/routes"))).at("routes").as_array();
  REQUIRE(listed.size() == 4);
  CHECK(listed[0].at("name") == "hello");
  CHECK(listed[0].at("source") == "file");
  CHECK(listed[0].at("reply").at("body") == "hello");

  // Same path and priority as the file route "hello": the runtime route wins.
  http_response added = call(
      port,
      request(
          "POST", "/__admin/routes",
          R"({"name":"down","method":"GET","path":"/hello","reply":{"status":503,"body":"down"}})"));
  CHECK(added.status == 201);
  CHECK(json_of(added).at("source") == "runtime");
  CHECK(call(port, get("/hello")).status == 503);
  CHECK(json_of(call(port, get("/__admin/routes/down"))).at("reply").at("status") == 503);

  // Validated like the file: every problem, with its position.
  http_response bad = call(port, request("POST", "/__admin/routes",
                                         R"({"path":"/x","reply":{"status":1000,"bogus":1}})"));
  CHECK(bad.status == 400);
  CHECK(json_of(bad).at("problems").as_array().size() == 2);
  CHECK(call(port, request("POST", "/__admin/routes", "{not json")).status == 400);
  // A name that is taken.
  CHECK(call(port, request("POST", "/__admin/routes", R"({"name":"hello","path":"/y"})")).status ==
        409);

  http_response replaced =
      call(port, request("PUT", "/__admin/routes/down",
                         R"({"method":"GET","path":"/hello","reply":{"status":502}})"));
  CHECK(replaced.status == 200);
  CHECK(call(port, get("/hello")).status == 502);
  CHECK(call(port, request("PUT", "/__admin/routes/hello", R"({"path":"/hello"})")).status == 409);
  CHECK(call(port, request("DELETE", "/__admin/routes/hello")).status == 409);
  CHECK(call(port, request("DELETE", "/__admin/routes/down")).status == 200);
  CHECK(call(port, get("/hello")).body == "hello");
  CHECK(call(port, request("DELETE", "/__admin/routes/down")).status == 404);

  CHECK(call(port, request("PUT", "/__admin/routes/new", R"({"path":"/new","reply":{"body":"n"}})"))
            .status == 201);
  CHECK(call(port, get("/new")).body == "n");
  CHECK(call(port, request("DELETE", "/__admin/routes")).status == 200);
  CHECK(call(port, get("/new")).status == 404);
  CHECK(call(port, request("PATCH", "/__admin/routes")).status == 405);
}

TEST_CASE("admin token: 401 without it, 403 with a wrong one", "[admin]") {
  running_server server(R"(
[admin]
token = "s3cret"
[[route]]
path = "/x"
)");
  http_response missing = call(server.port(), get("/__admin/status"));
  CHECK(missing.status == 401);
  CHECK(missing.header("WWW-Authenticate").starts_with("Bearer"));
  CHECK(call(server.port(), get("/__admin/status", "Authorization: Bearer nope\r\n")).status ==
        403);
  http_response ok =
      call(server.port(), get("/__admin/status", "Authorization: Bearer s3cret\r\n"));
  CHECK(ok.status == 200);
  CHECK(json_of(ok).at("routes") == 1);
}

TEST_CASE("admin on its own listener; disabled, its paths are ordinary paths", "[admin]") {
  running_server own(R"(
[admin]
listen = "127.0.0.1:0"
prefix = "/_stub"
[[route]]
path = "/x"
)");
  REQUIRE(own.get().admin_port() != own.port());
  CHECK(call(own.get().admin_port(), get("/_stub/status")).status == 200);
  CHECK(call(own.get().admin_port(), get("/x")).status == 404);
  CHECK(call(own.port(), get("/_stub/status")).status == 404);  // a route miss
  CHECK(call(own.port(), get("/x")).status == 200);

  running_server off(R"(
[admin]
enabled = false
[[route]]
path = "/__admin/status"
[route.reply]
body = "mine"
)");
  CHECK(call(off.port(), get("/__admin/status")).body == "mine");
}

TEST_CASE("admin paths: absolute-form targets, HEAD, unknown endpoints", "[admin]") {
  running_server server(app_config);
  http_response absolute =
      call(server.port(), "GET http://t/__admin/status HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(absolute.status == 200);
  http_response head =
      call(server.port(), "HEAD /__admin/status HTTP/1.1\r\nHost: t\r\n\r\n", true);
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  CHECK(call(server.port(), get("/__admin/nothing")).status == 404);
  CHECK(call(server.port(), get("/__adminx")).status == 404);  // not the prefix
}

TEST_CASE("metrics: requests by route and status, latency histogram, rate limits", "[admin]") {
  running_server server(app_config);
  const auto port = server.port();
  for (int i = 0; i < 3; ++i) call(port, get("/hello"));
  call(port, get("/limited"));
  call(port, get("/limited"));
  call(port, get("/missing"));
  http_response metrics = call(port, get("/__admin/metrics"));
  CHECK(metrics.status == 200);
  CHECK(metrics.header("Content-Type").starts_with("text/plain; version=0.0.4"));
  const std::string& m = metrics.body;
  CHECK(m.find("stubborn_requests_total{route=\"hello\",status=\"200\"} 3\n") != std::string::npos);
  CHECK(m.find("stubborn_requests_total{route=\"limited\",status=\"429\"} 1\n") !=
        std::string::npos);
  CHECK(m.find("stubborn_requests_total{route=\"\",status=\"404\"} 1\n") != std::string::npos);
  CHECK(m.find("stubborn_rate_limited_total{route=\"limited\"} 1\n") != std::string::npos);
  CHECK(m.find("stubborn_request_duration_seconds_count{route=\"hello\"} 3\n") !=
        std::string::npos);
  CHECK(m.find("stubborn_request_duration_seconds_bucket{route=\"hello\",le=\"+Inf\"} 3\n") !=
        std::string::npos);
  CHECK(m.find("stubborn_open_connections ") != std::string::npos);
  CHECK(m.find("stubborn_reloads_total 0\n") != std::string::npos);
}

TEST_CASE("metrics: busy rate-limit keys dropped at max_keys are counted", "[admin]") {
  running_server server(R"(
[server.rate_limit]
requests = 1000
per = "1s"

[[route]]
name = "by-key"
path = "/by-key"
[route.reply]
body = "ok"
[route.rate_limit]
requests = 1
per = "1h"
key = "header:X-Key"
max_keys = 16
)");
  const auto port = server.port();
  // Each key's bucket stays in use for an hour: past 16 keys, each new one drops a busy one.
  for (int i = 0; i < 40; ++i) {
    CHECK(
        call(port, request("GET", "/by-key", {}, "X-Key: k" + std::to_string(i) + "\r\n")).status ==
        200);
  }
  const std::string m = call(port, get("/__admin/metrics")).body;
  const std::string prefix =
      "stubborn_rate_limit_evictions_total{limit=\"route\",route=\"by-key\"} ";
  const auto at = m.find(prefix);
  REQUIRE(at != std::string::npos);
  const long evicted = std::stol(m.substr(at + prefix.size()));
  CHECK(evicted >= 40 - 16);
  CHECK(evicted <= 40);
  CHECK(m.find("stubborn_rate_limit_evictions_total{limit=\"server\"} 0\n") != std::string::npos);
}

TEST_CASE("reload: the file is re-read; a broken file keeps the old table and says why",
          "[admin][reload]") {
  temp_file file(app_config);
  running_server server(stubborn::load_config({file.path.string()}));
  const auto port = server.port();
  CHECK(call(port, get("/steps")).body == "one");

  // "steps" unchanged keeps its place in the sequence; "hello" changed.
  std::string edited = app_config;
  edited.replace(edited.find("body = \"hello\""), 14, "body = \"HELLO\"");
  file.write(edited);
  http_response reloaded = call(port, request("POST", "/__admin/reload"));
  CHECK(reloaded.status == 200);
  CHECK(call(port, get("/hello")).body == "HELLO");
  CHECK(call(port, get("/steps")).body == "two");

  file.write(edited + "\n[[route]]\npath = 42\n");
  http_response refused = call(port, request("POST", "/__admin/reload"));
  CHECK(refused.status == 422);
  CHECK(json_of(refused).at("error").as_string().find("'path' must be") != json::string::npos);
  CHECK(call(port, get("/hello")).body == "HELLO");
  json::value status = json_of(call(port, get("/__admin/status")));
  CHECK(status.at("last_reload").at("ok") == false);
  CHECK(status.at("last_reload").at("failures") == 1);
  CHECK(status.at("last_reload").at("reloads") == 1);

  file.write(edited);
  CHECK(server.get().reload().ok);
  CHECK(json_of(call(port, get("/__admin/status"))).at("last_reload").at("ok") == true);
}

TEST_CASE("status shows the [server.tls] settings, and never a key's contents", "[admin][tls]") {
  running_server plain(app_config);
  CHECK(json_of(call(plain.port(), get("/__admin/status"))).as_object().contains("tls") ==
        plain.over_tls());
  running_server https("[server.tls]\nlisten = \"127.0.0.1:0\"\nmin_version = \"1.3\"\n" +
                       app_config);
  const json::value status = json_of(call(https.port(), get("/__admin/status")));
  const json::object& tls = status.at("tls").as_object();
  CHECK(tls.at("listen") == "127.0.0.1:0");
  CHECK(tls.at("min_version") == "1.3");
  CHECK(tls.at("client_auth") == "none");
  CHECK_FALSE(tls.contains("key"));
}

TEST_CASE("reload under load: no request fails or is lost while the table changes",
          "[admin][reload]") {
  temp_file file(app_config);
  running_server server(stubborn::load_config({file.path.string()}));
  const auto port = server.port();
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      try {
        raw_client client(port);
        while (!stop.load()) {
          client.send(get("/hello"));
          http_response r = client.read_response();
          (r.status == 200 && (r.body == "hello" || r.body == "HELLO") ? ok : failed).fetch_add(1);
        }
      } catch (const std::exception&) {
        failed.fetch_add(1);
      }
    });
  }
  std::string edited = app_config;
  edited.replace(edited.find("body = \"hello\""), 14, "body = \"HELLO\"");
  for (int i = 0; i < 20; ++i) {
    file.write(i % 2 ? app_config : edited);
    CHECK(server.get().reload().ok);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  for (auto& t : clients) t.join();
  CHECK(failed.load() == 0);
  CHECK(ok.load() > 100);
  // Every request the clients saw answered is in the server's own count.
  http_response metrics = call(port, get("/__admin/metrics"));
  const std::string line =
      "stubborn_requests_total{route=\"hello\",status=\"200\"} " + std::to_string(ok.load()) + "\n";
  CHECK(metrics.body.find(line) != std::string::npos);
}

TEST_CASE("journal = 0: no journal endpoints, metrics still count", "[admin]") {
  running_server server(R"(
[admin]
journal = 0
[[route]]
name = "x"
path = "/x"
)");
  CHECK(call(server.port(), get("/x")).status == 200);
  CHECK(call(server.port(), get("/__admin/requests")).status == 409);
  CHECK(call(server.port(), get("/__admin/requests/count")).status == 409);
  CHECK(call(server.port(), get("/__admin/unmatched")).status == 409);
  http_response metrics = call(server.port(), get("/__admin/metrics"));
  CHECK(metrics.body.find("stubborn_requests_total{route=\"x\",status=\"200\"} 1\n") !=
        std::string::npos);
}

TEST_CASE("journal bodies: UTF-8 text as body, overlongs and surrogates as body_base64",
          "[admin][utf8]") {
  running_server server(R"(
[[route]]
name = "echo"
method = "POST"
path = "/echo"
)");
  const auto port = server.port();
  const std::string text = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF";
  const std::string overlong = "a\xC0\x80z";          // NUL in two bytes (RFC 3629 §3)
  const std::string overlong3 = "a\xE0\x80\xAFz";     // '/' in three bytes
  const std::string surrogate = "a\xED\xA0\x80z";     // U+D800 (RFC 3629 §3)
  const std::string too_high = "a\xF4\x90\x80\x80z";  // U+110000
  const std::vector<std::string> bodies = {text, overlong, overlong3, surrogate, too_high};
  for (const std::string& body : bodies) {
    CHECK(call(port, request("POST", "/echo", body)).status == 200);
  }

  http_response r = call(port, get("/__admin/requests"));
  REQUIRE(r.status == 200);
  // The reply itself is UTF-8 JSON (RFC 8259 §8.1): none of the ill-formed bytes got through.
  for (const std::string& bad : {overlong, overlong3, surrogate, too_high}) {
    CHECK(r.body.find(bad.substr(1, bad.size() - 2)) == std::string::npos);
  }
  json::error_code ec;
  json::value journal_json = json::parse(r.body, ec);
  REQUIRE_FALSE(ec);
  const json::array& all = journal_json.at("requests").as_array();
  REQUIRE(all.size() == 5);
  CHECK(all[0].at("body").as_string() == text);
  CHECK_FALSE(all[0].as_object().contains("body_base64"));
  CHECK(all[1].at("body_base64") == "YcCAeg==");
  CHECK(all[2].at("body_base64") == "YeCAr3o=");
  CHECK(all[3].at("body_base64") == "Ye2ggHo=");
  CHECK(all[4].at("body_base64") == "YfSQgIB6");
  for (std::size_t i = 1; i < all.size(); ++i) {
    CHECK_FALSE(all[i].as_object().contains("body"));
    CHECK(all[i].at("body_bytes").to_number<std::size_t>() == bodies[i].size());
  }
}

TEST_CASE("journal: header values, targets and filter errors that are not UTF-8 stay valid JSON",
          "[admin][utf8]") {
  running_server server(R"(
[[route]]
name = "x"
path = "/x"
)");
  const auto port = server.port();
  // obs-text in a field value is allowed (RFC 9110 §5.5), and Latin-1 is what it usually is.
  CHECK(call(port, get("/x", "X-Name: caf\xE9\r\nX-Name: \xC0\x80\r\nX-Ok: \xE2\x82\xAC\r\n"))
            .status == 200);
  CHECK(call(port, get("/nowhere\xE9?q=\xFF")).status == 404);

  http_response r = call(port, get("/__admin/requests"));
  REQUIRE(r.status == 200);
  CHECK(stubborn::is_valid_utf8(r.body));
  json::value parsed = json::parse(r.body);
  const json::array& all = parsed.at("requests").as_array();
  REQUIRE(all.size() == 2);
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(all[0].at("headers").at("X-Name").as_string() == "caf" + fffd + ", " + fffd + fffd);
  CHECK(all[0].at("headers").at("X-Ok").as_string() == "\xE2\x82\xAC");
  CHECK(all[1].at("target").as_string() == "/nowhere" + fffd + "?q=" + fffd);
  CHECK(all[1].at("path").as_string() == "/nowhere" + fffd);
  // The path filter still sees the bytes as they came.
  CHECK(count(port, "?path=/nowhere%E9") == 1);

  http_response unmatched = call(port, get("/__admin/unmatched"));
  REQUIRE(unmatched.status == 200);
  CHECK(stubborn::is_valid_utf8(unmatched.body));
  CHECK_NOTHROW(json::parse(unmatched.body));

  http_response refused = call(port, get("/__admin/requests?limit=%FF"));
  CHECK(refused.status == 400);
  CHECK(stubborn::is_valid_utf8(refused.body));
  CHECK(json::parse(refused.body).at("error").as_string() ==
        "limit must be a number, not '" + fffd + "'");
}

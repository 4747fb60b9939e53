// The control API without HTTP (server::control()): runtime routes from specs and from TOML,
// reset, reload and its status, the journal with filters, counts and metrics; and the control
// layer's threading: a reload in progress holds no I/O thread, and stop() drains for the
// drain_timeout a reload set.

#include <catch2/catch.hpp>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <stdexcept>
#include <thread>

#include "app_routes.hpp"
#include "control/control_plane.hpp"
#include "harness.hpp"
#include "stubborn/control.hpp"
#include "stubborn/load_config.hpp"

using namespace stubborn::testing;
using namespace std::chrono_literals;
namespace json = boost::json;
namespace fs = std::filesystem;
using outcome = stubborn::route_change::outcome;

namespace {

const char* const app_config = app_routes;

std::string request(std::string_view method, std::string_view target, std::string_view body = {}) {
  std::string r = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return r + "\r\n" + std::string(body);
}

http_response call(std::uint16_t port, std::string_view bytes) {
  return stubborn::testing::exchange(port, bytes);
}

stubborn::route_spec code_route(std::string name, std::string path, int status, std::string body) {
  stubborn::route_spec spec;
  spec.name = std::move(name);
  spec.methods = {"GET"};
  spec.path = std::move(path);
  spec.reply.status = status;
  spec.reply.body = std::move(body);
  spec.reply.source = stubborn::body_source::inline_text;
  return spec;
}

}  // namespace

TEST_CASE("control API: runtime routes from specs are added, replaced and removed", "[control]") {
  running_server server(app_config);
  const auto port = server.port();
  stubborn::server_control& control = server.get().control();

  // Same path and priority as the file route "hello": the runtime route ranks first.
  stubborn::route_spec down = code_route("down", "/hello", 503, "down");
  stubborn::route_change added = control.add_route(down);
  CHECK(added.result == outcome::added);
  CHECK(added.ok());
  CHECK(added.names == std::vector<std::string>{"down"});
  http_response r = call(port, get("/hello"));
  CHECK(r.status == 503);
  CHECK(r.body == "down");

  CHECK(control.add_route(down).result == outcome::name_taken);
  CHECK(control.add_route(code_route("hello", "/x", 200, "x")).result == outcome::name_taken);
  stubborn::route_change unnamed = control.add_route(code_route("", "/x", 200, "x"));
  CHECK(unnamed.result == outcome::invalid);
  CHECK_FALSE(unnamed.ok());
  CHECK(unnamed.problems == std::vector<std::string>{"a runtime route needs a name"});

  down.reply.status = 502;
  CHECK(control.put_route(down).result == outcome::replaced);
  CHECK(call(port, get("/hello")).status == 502);
  CHECK(control.put_route(code_route("hello", "/hello", 500, "")).result == outcome::file_route);
  CHECK(control.put_route(code_route("fresh", "/fresh", 200, "f")).result == outcome::added);
  CHECK(call(port, get("/fresh")).body == "f");

  const std::vector<stubborn::route_spec> runtime = control.runtime_routes();
  REQUIRE(runtime.size() == 2);
  CHECK(runtime[0].name == "fresh");  // the newest first
  CHECK(runtime[1].name == "down");

  CHECK(control.remove_route("hello").result == outcome::file_route);
  CHECK(control.remove_route("nowhere").result == outcome::not_found);
  stubborn::route_change removed = control.remove_route("down");
  CHECK(removed.result == outcome::removed);
  CHECK(removed.removed == 1);
  CHECK(call(port, get("/hello")).body == "hello");

  stubborn::route_change cleared = control.clear_routes();
  CHECK(cleared.result == outcome::removed);
  CHECK(cleared.removed == 1);
  CHECK(control.runtime_routes().empty());
  CHECK(call(port, get("/fresh")).status == 404);
  CHECK(server.get().route_count() == 4);

  // The admin API sees the same routes.
  REQUIRE(control.add_route(code_route("seen", "/seen", 200, "s")).ok());
  json::value listed = json::parse(call(port, get("/__admin/routes/seen")).body);
  CHECK(listed.at("source") == "runtime");
}

TEST_CASE("control API: routes from TOML text are checked like a file's, all or nothing",
          "[control]") {
  running_server server(app_config);
  const auto port = server.port();
  stubborn::server_control& control = server.get().control();

  stubborn::route_change change = control.add_routes(R"(
[[route]]
name = "a"
path = "/a"
[route.reply]
body = "A"

[[route]]
path = "/b"
[route.reply]
status = 204
)",
                                                     "extra.toml");
  CHECK(change.result == outcome::added);
  CHECK(change.names.size() == 2);
  CHECK(call(port, get("/a")).body == "A");
  CHECK(call(port, get("/b")).status == 204);
  REQUIRE(control.runtime_routes().size() == 2);
  CHECK(control.runtime_routes()[0].name == "a");  // in the text's order, before older ones

  stubborn::route_change bad = control.add_routes("[[route]]\npath = 42\n", "bad.toml");
  CHECK(bad.result == outcome::invalid);
  REQUIRE(bad.problems.size() == 1);
  CHECK(bad.problems[0].rfind("bad.toml:2:", 0) == 0);
  CHECK(bad.problems[0].find("'path' must be a string") != std::string::npos);

  stubborn::route_change other = control.add_routes(
      "[server]\nthreads = 3\n\n[[route]]\nname = \"c\"\npath = \"/c\"\n", "other.toml");
  CHECK(other.result == outcome::invalid);
  REQUIRE(other.problems.size() == 1);
  CHECK(other.problems[0].rfind("other.toml:1:", 0) == 0);
  CHECK(other.problems[0].find("only [[route]] tables can be added at runtime, not 'server'") !=
        std::string::npos);
  CHECK(call(port, get("/c")).status == 404);  // nothing of it was added

  CHECK(control.add_routes("", "empty.toml").result == outcome::invalid);
  CHECK(control.add_routes("[[route]]\nname = \"hello\"\npath = \"/h\"\n", "taken.toml").result ==
        outcome::name_taken);
  CHECK(control.runtime_routes().size() == 2);
}

TEST_CASE("control API: the journal with filters, counts, and clearing it", "[control]") {
  running_server server(app_config);
  const auto port = server.port();
  stubborn::server_control& control = server.get().control();
  CHECK(call(port, get("/hello")).status == 200);
  CHECK(call(port, get("/hello")).status == 200);
  CHECK(call(port, request("POST", "/orders", "{\"id\":1}")).status == 201);
  CHECK(call(port, get("/nowhere")).status == 404);
  CHECK(call(port, get("/__admin/status")).status == 200);  // not the user's traffic

  const std::vector<stubborn::journal_entry> all = control.journal();
  REQUIRE(all.size() == 4);
  CHECK(all[0].method == "GET");
  CHECK(all[0].path == "/hello");
  CHECK(all[0].route == "hello");
  CHECK(all[0].status == 200);
  CHECK(all[0].client.rfind("127.0.0.1:", 0) == 0);
  CHECK(all[2].body == "{\"id\":1}");
  CHECK(all[2].status == 201);
  CHECK(all[3].route.empty());
  CHECK(all[3].status == 404);

  stubborn::journal_query query;
  query.route = "hello";
  CHECK(control.count(query) == 2);
  query = {};
  query.method = "POST";
  CHECK(control.count(query) == 1);
  query = {};
  query.path = "/hel*";
  CHECK(control.count(query) == 2);
  query = {};
  query.status_class = 4;
  CHECK(control.count(query) == 1);
  query = {};
  query.route = "none";
  CHECK(control.count(query) == 1);
  query = {};
  query.since = std::chrono::system_clock::now() + 1h;
  CHECK(control.count(query) == 0);

  query = {};
  query.unmatched = true;
  const std::vector<stubborn::journal_entry> misses = control.journal(query);
  REQUIRE(misses.size() == 1);
  CHECK(misses[0].path == "/nowhere");
  CHECK_FALSE(misses[0].miss.empty());

  query = {};
  query.limit = 1;
  const std::vector<stubborn::journal_entry> newest = control.journal(query);
  REQUIRE(newest.size() == 1);
  CHECK(newest[0].path == "/nowhere");
  CHECK(control.count(query) == 4);  // a count ignores the limit

  control.clear_journal();
  CHECK(control.count() == 0);
  CHECK(control.journal().empty());
}

TEST_CASE("control API: reset puts sequences and rate limits back and empties the journal",
          "[control]") {
  running_server server(app_config);
  const auto port = server.port();
  stubborn::server_control& control = server.get().control();
  CHECK(call(port, get("/steps")).body == "one");
  CHECK(call(port, get("/steps")).body == "two");
  CHECK(call(port, get("/limited")).status == 200);
  CHECK(call(port, get("/limited")).status == 429);
  CHECK(control.count() == 4);
  control.reset();
  CHECK(control.count() == 0);
  CHECK(call(port, get("/steps")).body == "one");
  CHECK(call(port, get("/limited")).status == 200);
}

TEST_CASE("control API: reload and its status", "[control][reload]") {
  temp_file file(app_config);
  running_server server(stubborn::load_config({file.path.string()}));
  const auto port = server.port();
  stubborn::server_control& control = server.get().control();
  stubborn::reload_status before = control.last_reload();
  CHECK(before.ok);
  CHECK(before.reloads == 0);
  CHECK(before.failures == 0);
  CHECK(before.at.time_since_epoch().count() == 0);

  std::string edited = app_config;
  edited.replace(edited.find("body = \"hello\""), 14, "body = \"HELLO\"");
  file.write(edited);
  stubborn::reload_status done = control.reload();
  CHECK(done.ok);
  CHECK(done.reloads == 1);
  CHECK(done.at.time_since_epoch().count() != 0);
  CHECK(call(port, get("/hello")).body == "HELLO");

  file.write(edited + "\n[[route]]\npath = 42\n");
  stubborn::reload_status refused = control.reload();
  CHECK_FALSE(refused.ok);
  CHECK(refused.error.find("'path' must be a string") != std::string::npos);
  CHECK(refused.failures == 1);
  CHECK(refused.reloads == 1);
  CHECK(control.last_reload().failures == 1);
  CHECK(call(port, get("/hello")).body == "HELLO");

  // Runtime routes survive a reload.
  REQUIRE(control.add_route(code_route("extra", "/extra", 200, "e")).ok());
  file.write(app_config);
  CHECK(control.reload().ok);
  CHECK(call(port, get("/extra")).body == "e");
  CHECK(call(port, get("/hello")).body == "hello");

  running_server in_code(app_config);
  stubborn::reload_status none = in_code.get().control().reload();
  CHECK_FALSE(none.ok);
  CHECK(none.error == "no config files to re-read: the config was given in code");
}

TEST_CASE("control API: metrics summed over the threads", "[control]") {
  running_server server(app_config);
  const auto port = server.port();
  stubborn::server_control& control = server.get().control();
  for (int i = 0; i < 3; ++i) CHECK(call(port, get("/hello")).status == 200);
  CHECK(call(port, get("/limited")).status == 200);
  CHECK(call(port, get("/limited")).status == 429);
  CHECK(call(port, get("/missing")).status == 404);
  const stubborn::server_metrics m = control.metrics();
  CHECK(m.requests("hello") == 3);
  CHECK(m.requests("limited") == 2);
  CHECK(m.requests("") == 1);
  CHECK(m.requests("steps") == 0);
  CHECK(m.route_count == 4);
  CHECK(m.reloads == 0);
  CHECK_FALSE(m.server_rate_limit_evictions);
  REQUIRE(m.route_rate_limit_evictions.size() == 1);
  CHECK(m.route_rate_limit_evictions[0].first == "limited");
  for (const auto& [name, route] : m.routes) {
    if (name == "limited") CHECK(route.rate_limited == 1);
  }
}

TEST_CASE("control API: closed once the server has stopped", "[control]") {
  running_server server(app_config);
  server.get().stop(0ms);
  CHECK_THROWS_AS(server.get().control().journal(), std::logic_error);
  CHECK_THROWS_AS(server.get().control().reload(), std::logic_error);
  CHECK(server.get().control().last_reload().ok);  // a published value: still readable
}

TEST_CASE("a reload in progress holds no I/O thread: the admin API and routes answer meanwhile",
          "[control][reload]") {
  temp_file file(app_config);
  running_server server(stubborn::load_config({file.path.string()}));
  const auto port = server.port();
  auto& plane = dynamic_cast<stubborn::control_plane&>(server.get().control());
  // The hook holds the reload open on the control thread, after the files were read.
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  plane.reload_hook = [&entered, released] {
    entered.set_value();
    released.wait();
  };
  auto reloading = std::async(std::launch::async,
                              [port] { return call(port, request("POST", "/__admin/reload")); });
  REQUIRE(entered.get_future().wait_for(10s) == std::future_status::ready);

  // raw_client gives up after 5 s: with the reload held longer, any of these that waited for
  // it would throw.
  http_response status = call(port, get("/__admin/status"));
  CHECK(status.status == 200);
  CHECK(json::parse(status.body).at("last_reload").at("reloads") == 0);
  CHECK(call(port, get("/__admin/metrics")).status == 200);
  CHECK(call(port, get("/__admin/requests")).status == 200);
  CHECK(call(port, get("/__admin/routes")).status == 200);
  CHECK(call(port, request("POST", "/__admin/reset")).status == 200);
  CHECK(call(port, get("/hello")).body == "hello");
  stubborn::server_control& control = server.get().control();
  CHECK(control.last_reload().reloads == 0);
  CHECK(control.count() == 1);
  CHECK(control.metrics().requests("hello") == 1);

  release.set_value();
  CHECK(reloading.get().status == 200);
  plane.reload_hook = nullptr;
  CHECK(json::parse(call(port, get("/__admin/status")).body).at("last_reload").at("reloads") == 1);
}

TEST_CASE("stop() drains for the drain_timeout a reload set", "[control][drain]") {
  const std::string slow = R"(
[[route]]
name = "slow"
path = "/slow"
[route.reply]
interim = [ { status = 103 } ]
delay = "20s"
body = "late"
)";
  temp_file file("[server]\ndrain_timeout = \"30s\"\n" + slow);
  running_server server(stubborn::load_config({file.path.string()}));
  file.write("[server]\ndrain_timeout = \"300ms\"\n" + slow);
  REQUIRE(server.get().control().reload().ok);

  raw_client client(server.port(), 10s);
  client.send(get("/slow"));
  // The 103 says the request is in flight: the drain has a request to wait for.
  CHECK(client.read_response().status == 103);
  const auto began = std::chrono::steady_clock::now();
  server.get().stop();
  const auto took = std::chrono::steady_clock::now() - began;
  CHECK(took >= 250ms);
  CHECK(took < 10s);  // the 30 s of the first config, or the 20 s delay, would be over this
}

TEST_CASE("a listener that cannot bind makes start() throw, naming the address", "[control]") {
  running_server holder(app_config);  // holds a port
  const std::string taken = "127.0.0.1:" + std::to_string(holder.port());

  stubborn::config admin_taken =
      stubborn::load_config_text("[admin]\nlisten = \"" + taken + "\"\n" + app_config, "t.toml");
  admin_taken.overrides.listen = stubborn::listen_address{"127.0.0.1", 0};
  admin_taken.overrides.threads = 2;
  stubborn::server first(admin_taken);
  try {
    first.start();
    FAIL("start() did not throw");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()).rfind("cannot listen on " + taken + " ([admin] listen): ", 0) == 0);
    CHECK(e.code().value() == EADDRINUSE);
  }
  CHECK(first.control().last_reload().ok);  // the server object is still whole

  stubborn::config main_taken = stubborn::load_config_text(app_config, "t.toml");
  main_taken.overrides.listen = stubborn::listen_address{"127.0.0.1", holder.port()};
  stubborn::server second(main_taken);
  try {
    second.start();
    FAIL("start() did not throw");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()).rfind("cannot listen on " + taken + ": ", 0) == 0);
  }
  CHECK(call(holder.port(), get("/hello")).body == "hello");
}

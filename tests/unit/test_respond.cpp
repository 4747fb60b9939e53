// respond() without sockets: every derived status, and the order in which the decisions apply,
// asserted on the plan's status, head lines and body.

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "respond/respond.hpp"
#include "route_fixture.hpp"
#include "stubborn/load_config.hpp"

using namespace std::chrono_literals;
using stubborn::connection_header;
using stubborn::response;
using stubborn::testing::fake_request;

namespace {

constexpr std::string_view test_date = "Sun, 06 Nov 1994 08:49:37 GMT";

// The injected clock: tests move it; respond() reads it only when a choice needs the time.
std::chrono::steady_clock::time_point fake_now;
std::chrono::steady_clock::time_point read_fake_now() {
  return fake_now;
}

struct responder {
  std::shared_ptr<const stubborn::route_table> table;
  stubborn::connection_facts facts;
  stubborn::respond_scratch scratch;
  response plan;
  std::string head;  // the plan's head as written, with test_date

  explicit responder(const std::string& toml)
      : table(stubborn::route_table::compile(stubborn::load_config_text(toml, "t.toml"))) {
    fake_now = std::chrono::steady_clock::now();
    facts.clock.now = &read_fake_now;
  }

  const response& ask(const fake_request& request) {
    stubborn::respond(request.view, *table, facts, scratch, plan);
    head.clear();
    stubborn::append_head(plan.head, test_date, head);
    return plan;
  }
  const response& ask(std::string method, std::string target,
                      std::vector<std::pair<std::string, std::string>> headers = {},
                      std::string body = {}) {
    // Kept alive with the plan: the plan's views may point into the request.
    last_ = std::make_unique<fake_request>(std::move(method), std::move(target), std::move(headers),
                                           std::move(body));
    return ask(*last_);
  }
  // True if the head has this exact line.
  bool has_line(std::string_view line) const {
    return head.find("\r\n" + std::string(line) + "\r\n") != std::string::npos;
  }
  // True if the head has a line for this header name.
  bool has_header(std::string_view name) const {
    return head.find("\r\n" + std::string(name) + ":") != std::string::npos;
  }
  std::string status_line() const { return head.substr(0, head.find("\r\n")); }

 private:
  std::unique_ptr<fake_request> last_;
};

const char* const rules_config = R"(
[[route]]
path = "/bearer"
auth = { bearer = "s3cret" }
[route.reply]
body = "in"

[[route]]
method = ["POST", "PATCH"]
path = "/upload"
require_length = true
consumes = ["application/json", "text/csv"]
[route.reply]
status = 201

[[route]]
path = "/json"
produces = ["application/json"]
[route.reply]
json = { ok = true }

[[route]]
method = ["GET", "PUT", "POST"]
path = "/doc/{id}"
etag = true
last_modified = "Sun, 06 Nov 1994 08:49:37 GMT"
ranges = true
[route.reply]
body = "0123456789"
[route.reply.headers]
Content-Type = "text/plain"
Cache-Control = "max-age=60"
Vary = "Accept-Encoding"
Expires = "Thu, 01 Dec 2094 16:00:00 GMT"
Content-Location = "/doc/{{path.id}}"
X-Other = "kept off a 304"

[[route]]
method = "POST"
path = "/ordered"
auth = { bearer = "t" }
require_length = true
consumes = ["application/json"]
produces = ["application/json"]
[route.reply]
body = "reply"
)";

}  // namespace

TEST_CASE("respond: 401 carries the challenge", "[respond]") {
  responder r(rules_config);
  const response& p = r.ask("GET", "/bearer");
  CHECK(p.status == 401);
  CHECK(r.status_line() == "HTTP/1.1 401 Unauthorized");
  CHECK(r.has_line("WWW-Authenticate: Bearer realm=\"stubborn\""));
  CHECK(r.has_line("Date: " + std::string(test_date)));
  CHECK(p.body == "Unauthorized: this route needs credentials\n");
  CHECK(r.has_line("Content-Length: " + std::to_string(p.body.size())));
  CHECK(p.is_plain());
  CHECK(p.route != nullptr);
}

TEST_CASE("respond: 403 for wrong credentials, without a challenge", "[respond]") {
  responder r(rules_config);
  const response& p = r.ask("GET", "/bearer", {{"Authorization", "Bearer wrong"}});
  CHECK(p.status == 403);
  CHECK_FALSE(r.has_header("WWW-Authenticate"));
  CHECK(p.body == "Forbidden: the credentials were not accepted\n");
  CHECK(r.ask("GET", "/bearer", {{"Authorization", "Bearer s3cret"}}).status == 200);
  CHECK(r.plan.body == "in");
}

TEST_CASE("respond: 411 for a chunked body where a length is required", "[respond]") {
  responder r(rules_config);
  const response& p =
      r.ask("POST", "/upload",
            {{"Content-Type", "application/json"}, {"Transfer-Encoding", "chunked"}}, "{}");
  CHECK(p.status == 411);
  CHECK(p.body == "Length Required: send the body with a Content-Length\n");
}

TEST_CASE("respond: 415 says what would do in Accept-Post and Accept-Patch", "[respond]") {
  responder r(rules_config);
  const response& post = r.ask("POST", "/upload", {{"Content-Type", "text/plain"}}, "hi");
  CHECK(post.status == 415);
  CHECK(r.has_line("Accept-Post: application/json, text/csv"));
  CHECK_FALSE(r.has_header("Accept-Patch"));
  CHECK(post.body == "Unsupported Media Type: send one of application/json, text/csv\n");
  r.ask("PATCH", "/upload", {{"Content-Type", "text/plain"}}, "hi");
  CHECK(r.plan.status == 415);
  CHECK(r.has_line("Accept-Patch: application/json, text/csv"));
  CHECK_FALSE(r.has_header("Accept-Post"));
  CHECK(r.ask("POST", "/upload", {{"Content-Type", "text/csv"}}, "a,b").status == 201);
}

TEST_CASE("respond: 406 when Accept excludes what the route produces", "[respond]") {
  responder r(rules_config);
  const response& p = r.ask("GET", "/json", {{"Accept", "text/html"}});
  CHECK(p.status == 406);
  CHECK(p.body == "Not Acceptable: this route produces application/json\n");
  CHECK(r.ask("GET", "/json", {{"Accept", "application/*"}}).status == 200);
}

TEST_CASE("respond: 304 repeats the lines its 200 would send (RFC 9110 §15.4.5)", "[respond]") {
  responder r(rules_config);
  r.ask("GET", "/doc/7");
  REQUIRE(r.plan.status == 200);
  const std::string etag_line = r.head.substr(r.head.find("ETag: ") + 6);
  const std::string etag = etag_line.substr(0, etag_line.find("\r\n"));
  const response& p = r.ask("GET", "/doc/7", {{"If-None-Match", etag}});
  CHECK(p.status == 304);
  CHECK(r.status_line() == "HTTP/1.1 304 Not Modified");
  CHECK(r.has_line("Cache-Control: max-age=60"));
  CHECK(r.has_line("Vary: Accept-Encoding"));
  CHECK(r.has_line("Expires: Thu, 01 Dec 2094 16:00:00 GMT"));
  CHECK(r.has_line("Content-Location: /doc/7"));
  CHECK(r.has_line("ETag: " + etag));
  CHECK(r.has_line("Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT"));
  CHECK(r.has_line("Date: " + std::string(test_date)));
  CHECK_FALSE(r.has_header("X-Other"));
  CHECK_FALSE(r.has_header("Content-Type"));
  CHECK_FALSE(r.has_header("Content-Length"));
  CHECK_FALSE(r.has_header("Accept-Ranges"));
  CHECK(p.body.empty());
  CHECK(r.head.ends_with("\r\n\r\n"));
}

TEST_CASE("respond: 412 when If-Match names another entity", "[respond]") {
  responder r(rules_config);
  const response& p = r.ask("PUT", "/doc/1", {{"If-Match", "\"stale\""}}, "x");
  CHECK(p.status == 412);
  CHECK(p.body == "Precondition Failed\n");
  CHECK(r.has_header("ETag"));
  CHECK(r.has_line("Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT"));
}

TEST_CASE("respond: 206 for a single range", "[respond]") {
  responder r(rules_config);
  const response& p = r.ask("GET", "/doc/1", {{"Range", "bytes=2-4"}});
  CHECK(p.status == 206);
  CHECK(r.status_line() == "HTTP/1.1 206 Partial Content");
  CHECK(p.body == "234");
  CHECK(p.body_from_table);  // a view into the route's static body: sent without a copy
  CHECK(r.has_line("Content-Range: bytes 2-4/10"));
  CHECK(r.has_line("Content-Length: 3"));
  CHECK(r.has_line("Content-Type: text/plain"));
  CHECK(r.has_line("Accept-Ranges: bytes"));
  CHECK(r.has_line("Cache-Control: max-age=60"));
  CHECK(r.has_header("ETag"));
}

TEST_CASE("respond: 206 multipart/byteranges for several ranges", "[respond]") {
  responder r(rules_config);
  const response& p = r.ask("GET", "/doc/1", {{"Range", "bytes=0-1,8-"}});
  CHECK(p.status == 206);
  const std::string type_line = "\r\nContent-Type: multipart/byteranges; boundary=";
  const auto type_at = r.head.find(type_line);
  REQUIRE(type_at != std::string::npos);
  const std::string boundary_line = r.head.substr(type_at + type_line.size());
  const std::string boundary = boundary_line.substr(0, boundary_line.find("\r\n"));
  CHECK_FALSE(r.has_line("Content-Type: text/plain"));  // the parts carry it
  const std::string expected =
      "\r\n--" + boundary +
      "\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/10\r\n\r\n01"
      "\r\n--" +
      boundary +
      "\r\nContent-Type: text/plain\r\nContent-Range: bytes 8-9/10\r\n\r\n89"
      "\r\n--" +
      boundary + "--\r\n";
  CHECK(p.body == expected);
  CHECK(r.has_line("Content-Length: " + std::to_string(expected.size())));
  CHECK_FALSE(p.body_from_table);
}

TEST_CASE("respond: 416 for a range past the end", "[respond]") {
  responder r(rules_config);
  const response& p = r.ask("GET", "/doc/1", {{"Range", "bytes=50-60"}});
  CHECK(p.status == 416);
  CHECK(r.has_line("Content-Range: bytes */10"));
  CHECK(p.body == "Range Not Satisfiable\n");
}

TEST_CASE("respond: auth, then 411, then 415, then 406, then the reply", "[respond][order]") {
  responder r(rules_config);
  const std::pair<std::string, std::string> chunked{"Transfer-Encoding", "chunked"};
  const std::pair<std::string, std::string> html{"Accept", "text/html"};
  const std::pair<std::string, std::string> token{"Authorization", "Bearer t"};
  CHECK(r.ask("POST", "/ordered", {chunked, html, {"Content-Type", "text/plain"}}, "x").status ==
        401);
  CHECK(r.ask("POST", "/ordered", {token, chunked, html, {"Content-Type", "text/plain"}}, "x")
            .status == 411);
  CHECK(r.ask("POST", "/ordered", {token, html, {"Content-Type", "text/plain"}}, "x").status ==
        415);
  CHECK(
      r.ask("POST", "/ordered", {token, html, {"Content-Type", "application/json"}}, "{}").status ==
      406);
  CHECK(r.ask("POST", "/ordered", {token, {"Content-Type", "application/json"}}, "{}").status ==
        200);
  CHECK(r.plan.body == "reply");
}

TEST_CASE("respond: validators before ranges", "[respond][order]") {
  responder r(rules_config);
  r.ask("GET", "/doc/1");
  const std::string etag_line = r.head.substr(r.head.find("ETag: ") + 6);
  const std::string etag = etag_line.substr(0, etag_line.find("\r\n"));
  CHECK(r.ask("GET", "/doc/1", {{"If-None-Match", etag}, {"Range", "bytes=0-1"}}).status == 304);
  CHECK(r.ask("GET", "/doc/1", {{"If-Match", "\"x\""}, {"Range", "bytes=0-1"}}).status == 412);
}

TEST_CASE("respond: an If-Range that no longer matches gives the whole body", "[respond][order]") {
  responder r(rules_config);
  const response& p = r.ask("GET", "/doc/1", {{"Range", "bytes=0-1"}, {"If-Range", "\"old\""}});
  CHECK(p.status == 200);
  CHECK(p.body == "0123456789");
  CHECK(r.has_line("Content-Length: 10"));
  CHECK_FALSE(r.has_header("Content-Range"));
  CHECK(r.has_line("Accept-Ranges: bytes"));
  // A matching date does give the range.
  CHECK(r.ask("GET", "/doc/1",
              {{"Range", "bytes=0-1"}, {"If-Range", "Sun, 06 Nov 1994 08:49:37 GMT"}})
            .status == 206);
  // A HEAD describes the whole body and sends none.
  const response& head = r.ask("HEAD", "/doc/1");
  CHECK(head.status == 200);
  CHECK(r.has_line("Content-Length: 10"));
  CHECK(head.body_to_send().empty());
}

TEST_CASE("respond: a route's rate limit speaks instead of the server's", "[respond][order]") {
  responder r(R"(
[server.rate_limit]
requests = 100
per = "1m"
headers = "x-ratelimit"

[[route]]
path = "/plain"

[[route]]
path = "/own"
[route.rate_limit]
requests = 1
per = "1m"
)");
  const response& plain = r.ask("GET", "/plain");
  CHECK(plain.status == 200);
  CHECK(r.has_line("X-RateLimit-Limit: 100"));
  CHECK(r.ask("GET", "/own").status == 200);
  CHECK(r.has_line("RateLimit-Policy: \"default\";q=1;w=60"));
  CHECK_FALSE(r.has_header("X-RateLimit-Limit"));
  const response& limited = r.ask("GET", "/own");
  CHECK(limited.status == 429);
  CHECK(limited.rate_limited);
  CHECK(limited.route != nullptr);
  CHECK(r.has_header("Retry-After"));
  CHECK_FALSE(r.has_header("X-RateLimit-Limit"));
}

TEST_CASE("respond: a server-wide outage answers before matching", "[respond][order]") {
  responder r(R"(
[[outage]]
path = "/api/*"
every = "60s"
duration = "10s"
status = 503

[[route]]
path = "/api/users"
[route.reply]
body = "users"
)");
  fake_now += 1s;  // inside the window
  const response& down = r.ask("GET", "/api/users");
  CHECK(down.status == 503);
  CHECK(down.route == nullptr);
  CHECK(down.plan.retry_after == 9);
  CHECK(r.has_line("Retry-After: 9"));
  CHECK_FALSE(down.is_plain());  // Retry-After: the writer's scripted path sends it
  CHECK(r.ask("GET", "/missing").status == 404);  // outside the outage's path
  fake_now += 20s;                                // after the window
  const response& up = r.ask("GET", "/api/users");
  CHECK(up.status == 200);
  CHECK(up.body == "users");
}

TEST_CASE("respond: CONNECT, the * target and unknown methods before matching",
          "[respond][order]") {
  responder r(R"(
[[route]]
path = "/"
method = ["GET", "POST"]
)");
  const response& connect = r.ask("CONNECT", "/");
  CHECK(connect.status == 501);
  CHECK(connect.close_after);
  CHECK(r.has_line("Connection: close"));
  CHECK(connect.route == nullptr);

  const response& options = r.ask("OPTIONS", "*");
  CHECK(options.status == 200);
  CHECK(r.has_line("Allow: GET, HEAD, POST"));
  CHECK_FALSE(options.close_after);

  const response& star = r.ask("GET", "*");
  CHECK(star.status == 400);
  CHECK(star.close_after);

  const response& unknown = r.ask("BREW", "/");
  CHECK(unknown.status == 501);
  CHECK(unknown.route == nullptr);
  CHECK_FALSE(unknown.close_after);
}

TEST_CASE("respond: a 408 reply closes the connection", "[respond][order]") {
  responder r(R"(
[[route]]
path = "/timeout"
[route.reply]
status = 408
)");
  const response& p = r.ask("GET", "/timeout");
  CHECK(p.status == 408);
  CHECK(p.close_after);
  CHECK(r.has_line("Connection: close"));
}

TEST_CASE("respond: 404 and 405 explain themselves", "[respond]") {
  responder r(R"(
[[route]]
name = "users"
path = "/users"
method = "POST"
)");
  const response& missing = r.ask("GET", "/user");
  CHECK(missing.status == 404);
  CHECK(missing.route == nullptr);
  CHECK_FALSE(missing.miss.empty());
  CHECK(missing.body == missing.miss);
  const response& wrong = r.ask("GET", "/users");
  CHECK(wrong.status == 405);
  CHECK(r.has_line("Allow: POST"));
}

TEST_CASE("respond: a plain static reply is pre-rendered, sent from the table", "[respond]") {
  responder r(R"(
[[route]]
path = "/hello"
[route.reply]
body = "hello"
headers = { X-A = "1" }
)");
  const response& p = r.ask("GET", "/hello");
  REQUIRE(p.plan.reply != nullptr);
  CHECK(p.is_plain());
  CHECK(p.head.start.data() == p.plan.reply->head_start().data());
  CHECK(p.head.fields.data() == p.plan.reply->static_headers().data());
  CHECK(p.head.extra.empty());
  CHECK(p.body_from_table);
  CHECK(p.body.data() == p.plan.reply->static_body().data());
  CHECK(r.head == "HTTP/1.1 200 OK\r\nServer: stubborn\r\nDate: " + std::string(test_date) +
                      "\r\nContent-Type: text/plain; charset=utf-8\r\nX-A: 1\r\n"
                      "Content-Length: 5\r\n\r\n");
}

TEST_CASE("respond: the connection line follows version, wishes and draining", "[respond]") {
  responder r(R"(
[[route]]
path = "/"
)");
  fake_request old("GET", "/");
  old.view.version = 10;
  r.ask(old);
  CHECK(r.plan.close_after);
  r.facts.wants_keep_alive = true;
  r.ask(old);
  CHECK(r.has_line("Connection: keep-alive"));
  CHECK_FALSE(r.plan.close_after);
  r.facts.draining = true;
  r.ask(old);
  CHECK(r.has_line("Connection: close"));
  CHECK(r.plan.close_after);
}

TEST_CASE("respond: a sequence steps, and delays and faults leave the fast path", "[respond]") {
  responder r(R"(
[[route]]
path = "/seq"
[[route.replies]]
status = 503
[[route.replies]]
body = "ok"
delay = "1s"
[[route.replies]]
fault = "reset"
)");
  const response& first = r.ask("GET", "/seq");
  CHECK(first.status == 503);
  CHECK(first.is_plain());
  const response& second = r.ask("GET", "/seq");
  CHECK(second.status == 200);
  CHECK(second.plan.delay == 1s);
  CHECK_FALSE(second.is_plain());
  CHECK(second.body == "ok");
  const response& third = r.ask("GET", "/seq");
  CHECK(third.plan.fault == stubborn::fault_kind::reset);
  CHECK_FALSE(third.is_plain());
}

TEST_CASE("respond: Expect: 100-continue is refused with the route's reply, or delayed",
          "[respond][expect]") {
  responder r(R"(
[[route]]
method = "PUT"
path = "/locked"
expect = "reject"
[route.reply]
status = 401
delay = "5s"

[[route]]
method = "PUT"
path = "/slow"
continue_delay = "300ms"
)");
  fake_request locked("PUT", "/locked", {{"Expect", "100-continue"}});
  const auto refused =
      stubborn::respond_to_expectation(locked.view, *r.table, r.facts, r.scratch, r.plan);
  CHECK(refused.reject);
  CHECK(r.plan.status == 401);
  CHECK(r.plan.close_after);
  CHECK(r.plan.head.connection == connection_header::close);
  CHECK(r.plan.plan.delay == 0ms);  // answered at once
  CHECK(r.plan.route != nullptr);

  fake_request slow("PUT", "/slow", {{"Expect", "100-continue"}});
  const auto held =
      stubborn::respond_to_expectation(slow.view, *r.table, r.facts, r.scratch, r.plan);
  CHECK_FALSE(held.reject);
  CHECK(held.delay == 300ms);
}

// ---- state_key: each key value has its own sequence, outage window and rate-limit bucket ----

namespace {

const char* const keyed_config = R"(
[[route]]
path = "/seq"
state_key = "header:X-Test-Id"
replies = [{ status = 503, repeat = 2 }, { status = 200 }]

[[route]]
path = "/limited"
state_key = "query:test"
[route.reply]
status = 200
[route.rate_limit]
requests = 1
per = "10s"
burst = 1

[[route]]
path = "/down"
state_key = "cookie:run"
outage = { every = "10s", duration = "2s", status = 503 }
[route.reply]
status = 200

[[route]]
path = "/t/{id}/next"
state_key = "path:id"
max_state_keys = 2
replies = [{ status = 201 }, { status = 202 }]
then = "repeat-last"
)";

int status_for(responder& r, std::string target,
               std::vector<std::pair<std::string, std::string>> headers = {}) {
  return r.ask("GET", std::move(target), std::move(headers)).status;
}

}  // namespace

TEST_CASE("state_key: each header value walks its own sequence", "[respond][state_key]") {
  responder r(keyed_config);
  auto a = [&] { return status_for(r, "/seq", {{"X-Test-Id", "a"}}); };
  auto b = [&] { return status_for(r, "/seq", {{"X-Test-Id", "b"}}); };
  CHECK(a() == 503);
  CHECK(b() == 503);
  CHECK(a() == 503);
  CHECK(a() == 200);  // a's third request
  CHECK(b() == 503);  // b is still at its second
  CHECK(b() == 200);
  // A request without the key counts against the route's own state.
  CHECK(status_for(r, "/seq") == 503);
  CHECK(status_for(r, "/seq") == 503);
  CHECK(status_for(r, "/seq") == 200);
}

TEST_CASE("state_key: each query value has its own rate-limit bucket", "[respond][state_key]") {
  responder r(keyed_config);
  CHECK(status_for(r, "/limited?test=one") == 200);
  CHECK(status_for(r, "/limited?test=one") == 429);
  CHECK(status_for(r, "/limited?test=two") == 200);
  CHECK(status_for(r, "/limited?test=two") == 429);
  CHECK(status_for(r, "/limited") == 200);
  fake_now += 10s;
  CHECK(status_for(r, "/limited?test=one") == 200);
}

TEST_CASE("state_key: a cookie value's outage window starts at its first request",
          "[respond][state_key]") {
  responder r(keyed_config);
  CHECK(status_for(r, "/down", {{"Cookie", "run=early"}}) == 503);
  fake_now += 3s;  // early's window is over; late's begins now
  CHECK(status_for(r, "/down", {{"Cookie", "run=early"}}) == 200);
  CHECK(status_for(r, "/down", {{"Cookie", "theme=x; run=late"}}) == 503);
  fake_now += 8s;  // early: 11 s in, its second window; late: 8 s in, up
  CHECK(status_for(r, "/down", {{"Cookie", "run=early"}}) == 503);
  CHECK(status_for(r, "/down", {{"Cookie", "run=late"}}) == 200);
}

TEST_CASE("state_key: past max_state_keys the least recently used key starts over",
          "[respond][state_key]") {
  responder r(keyed_config);
  CHECK(status_for(r, "/t/a/next") == 201);
  CHECK(status_for(r, "/t/b/next") == 201);
  CHECK(status_for(r, "/t/a/next") == 202);  // a is now the most recently used
  CHECK(status_for(r, "/t/c/next") == 201);  // drops b
  CHECK(status_for(r, "/t/a/next") == 202);  // a kept its place
  CHECK(status_for(r, "/t/b/next") == 201);  // b starts over (and drops c)
  const auto& route = r.table->route(3);
  REQUIRE(route.keyed);
  CHECK(route.keyed->evictions() == 2);
  CHECK(route.keyed->size() == 2);
}

TEST_CASE("state_key: reset_key drops one key on every route", "[respond][state_key]") {
  responder r(keyed_config);
  CHECK(status_for(r, "/seq", {{"X-Test-Id", "k"}}) == 503);
  CHECK(status_for(r, "/seq", {{"X-Test-Id", "k"}}) == 503);
  CHECK(status_for(r, "/limited?test=k") == 200);
  CHECK(status_for(r, "/seq", {{"X-Test-Id", "other"}}) == 503);
  CHECK(r.table->reset_key("k") == 2);
  CHECK(status_for(r, "/seq", {{"X-Test-Id", "k"}}) == 503);  // from the start again
  CHECK(status_for(r, "/limited?test=k") == 200);             // a full bucket again
  CHECK(status_for(r, "/seq", {{"X-Test-Id", "other"}}) == 503);
  CHECK(status_for(r, "/seq", {{"X-Test-Id", "other"}}) == 200);  // untouched
  CHECK(r.table->reset_key("nobody") == 0);
}

TEST_CASE("state_key: a limit keyed by client is counted per client within each state key",
          "[respond][state_key]") {
  responder r(R"(
[[route]]
path = "/x"
state_key = "header:X-Test-Id"
[route.reply]
status = 200
[route.rate_limit]
requests = 1
per = "10s"
burst = 1
key = "header:X-Client"
)");
  auto ask = [&](std::string test, std::string client) {
    return status_for(r, "/x", {{"X-Test-Id", test}, {"X-Client", client}});
  };
  CHECK(ask("t1", "c1") == 200);
  CHECK(ask("t1", "c1") == 429);
  CHECK(ask("t1", "c2") == 200);
  CHECK(ask("t2", "c1") == 200);
  CHECK(r.table->reset_key("t1") == 1);  // the route held t1...
  CHECK(ask("t1", "c1") == 200);         // ...but its buckets are forgotten
}

TEST_CASE("keyed_states: bounded, most recently used kept, forget and clear", "[state_key]") {
  stubborn::keyed_states states(3);
  const auto now = std::chrono::steady_clock::now();
  auto a = states.acquire("a", now);
  a->script.planned = 5;
  states.acquire("b", now);
  states.acquire("c", now);
  CHECK(states.acquire("a", now + 1s)->script.planned == 5);  // same state, start unchanged
  CHECK(states.acquire("a", now + 1s)->start == now);
  states.acquire("d", now);  // drops b, the least recently used
  CHECK(states.size() == 3);
  CHECK(states.evictions() == 1);
  CHECK(states.acquire("b", now)->script.planned == 0);  // back, fresh (drops c)
  CHECK(states.forget("a"));
  CHECK_FALSE(states.forget("a"));
  CHECK(a->script.planned == 5);  // a holder keeps its state alive
  states.clear();
  CHECK(states.size() == 0);
  // Long values are cut to 256 bytes.
  const std::string long_key(300, 'x');
  auto first = states.acquire(long_key, now);
  CHECK(states.acquire(long_key.substr(0, 256) + "yy", now) == first);
}

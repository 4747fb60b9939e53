// Templates that read the request body, the clock and the route's counter, over real sockets:
// {{json.PATH}}, {{xpath.PATH}}, {{form.X}}, {{cookie.X}}, {{body}}, {{now}} and its forms,
// {{uuid}}, {{counter}}; JSON replies whose strings are placeholders; templates in sequences,
// redirects and routes added through the admin API.

#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <chrono>
#include <ctime>
#include <regex>
#include <set>

#include "harness.hpp"

using namespace stubborn::testing;
namespace json = boost::json;

namespace {

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
http_response call(std::uint16_t port, std::string_view bytes) {
  return stubborn::testing::exchange(port, bytes);
}

json::value json_of(const http_response& response) {
  json::error_code ec;
  json::value value = json::parse(response.body, ec);
  INFO(response.body);
  REQUIRE_FALSE(ec);
  return value;
}

std::string text_of(const json::value& value) {
  const json::string& s = value.as_string();
  return std::string(s.data(), s.size());
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const std::string order = R"({"order":{"id":"A-17","total":100.5,"lines":2},)"
                          R"("items":[{"sku":"S1","qty":2},{"sku":"S2","qty":1}]})";

const std::regex uuid_v4("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");

}  // namespace

TEST_CASE("templates echo values from a JSON body", "[templates]") {
  running_server server(R"(
[[route]]
method = "POST"
path = "/echo"
[route.reply]
headers = { X-Order = "{{json.order.id}}" }
body = "order {{json.order.id}} first {{json.items[0].sku}} lines {{json.order.lines}} [{{json.nope}}]"

[[route]]
method = "POST"
path = "/orders"
[route.reply]
status = 201
json = { id = "{{json.order.id}}", total = "{{json.order.total}}", order = "{{json.order}}", skus = ["{{json.items[0].sku}}", "{{json.items[1].sku}}"], coupon = "{{json.coupon}}", note = "got {{json.order.id}}" }

[[route]]
method = "POST"
path = "/raw"
[route.reply]
headers = { Content-Type = "application/json" }
body = '{"echo": "{{body}}"}'
)");
  const auto port = server.port();
  const std::string type = "Content-Type: application/json\r\n";

  http_response echo = call(port, request("POST", "/echo", order, type));
  CHECK(echo.status == 200);
  CHECK(echo.body == "order A-17 first S1 lines 2 []");
  CHECK(echo.header("X-Order") == "A-17");
  CHECK(echo.header("Content-Length") == std::to_string(echo.body.size()));

  http_response created = call(port, request("POST", "/orders", order, type));
  CHECK(created.status == 201);
  CHECK(created.header("Content-Type") == "application/json");
  CHECK(created.header("Content-Length") == std::to_string(created.body.size()));
  const json::value reply = json_of(created);
  CHECK(text_of(reply.at("id")) == "A-17");
  CHECK(reply.at("total").as_double() == 100.5);  // a number, not a string
  CHECK(reply.at("order") == json::parse(R"({"id":"A-17","total":100.5,"lines":2})"));
  CHECK(reply.at("skus") == json::parse(R"(["S1","S2"])"));
  CHECK(reply.at("coupon").is_null());
  CHECK(text_of(reply.at("note")) == "got A-17");

  // Another body, another reply: nothing is cached between requests.
  http_response other =
      call(port, request("POST", "/orders", R"({"order":{"id":"B-2"},"items":[]})", type));
  const json::value second = json_of(other);
  CHECK(text_of(second.at("id")) == "B-2");
  CHECK(second.at("total").is_null());
  CHECK(second.at("skus") == json::parse("[null,null]"));

  // Not JSON: the placeholders are empty (null in a JSON reply), the reply still goes out.
  http_response not_json = call(port, request("POST", "/orders", "id=1"));
  CHECK(not_json.status == 201);
  CHECK(json_of(not_json).at("id").is_null());

  // {{body}} in a JSON-typed text body is escaped as a JSON string.
  http_response raw = call(port, request("POST", "/raw", "say \"hi\"\n"));
  CHECK(json_of(raw).at("echo") == "say \"hi\"\n");
}

TEST_CASE("templates read XML bodies, forms and cookies", "[templates]") {
  running_server server(R"(
[[route]]
method = "POST"
path = "/xml"
[route.reply]
headers = { Content-Type = "application/xml" }
body = "<ack><id>{{xpath./order/id}}</id><sku>{{xpath.//item/@sku}}</sku><n>{{xpath.count(//item)}}</n></ack>"

[[route]]
method = "POST"
path = "/token"
[route.reply]
json = { grant = "{{form.grant_type}}", scope = "{{form.scope}}", missing = "{{form.nope}}" }

[[route]]
path = "/me"
[route.reply]
body = "session={{cookie.session}} theme={{cookie.theme}} none=[{{cookie.none}}]"
)");
  const auto port = server.port();

  http_response xml =
      call(port,
           request("POST", "/xml", "<order><id>42</id><item sku=\"S1\"/><item sku=\"S2\"/></order>",
                   "Content-Type: application/xml\r\n"));
  CHECK(xml.body == "<ack><id>42</id><sku>S1</sku><n>2</n></ack>");
  CHECK(call(port, request("POST", "/xml", "not xml")).body ==
        "<ack><id></id><sku></sku><n></n></ack>");

  http_response urlencoded =
      call(port, request("POST", "/token", "grant_type=client_credentials&scope=read+write%21",
                         "Content-Type: application/x-www-form-urlencoded; charset=UTF-8\r\n"));
  json::value token = json_of(urlencoded);
  CHECK(text_of(token.at("grant")) == "client_credentials");
  CHECK(text_of(token.at("scope")) == "read write!");
  CHECK(token.at("missing").is_null() == false);  // a form value is a string, empty if absent
  CHECK(text_of(token.at("missing")).empty());

  const std::string multipart =
      "--b0undary\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\npassword\r\n"
      "--b0undary\r\nContent-Disposition: form-data; name=\"scope\"; filename=\"s.txt\"\r\n"
      "Content-Type: text/plain\r\n\r\nall\r\n--b0undary--\r\n";
  json::value parts =
      json_of(call(port, request("POST", "/token", multipart,
                                 "Content-Type: multipart/form-data; boundary=b0undary\r\n")));
  CHECK(text_of(parts.at("grant")) == "password");
  CHECK(text_of(parts.at("scope")) == "all");

  CHECK(call(port, request("GET", "/me", {}, "Cookie: theme=dark; session=s1\r\n")).body ==
        "session=s1 theme=dark none=[]");
  CHECK(call(port, request("GET", "/me", {}, "Cookie: a=1\r\nCookie: session=\"q\"\r\n")).body ==
        "session=q theme= none=[]");
  CHECK(call(port, get("/me")).body == "session= theme= none=[]");
}

TEST_CASE("{{now}} and its forms give the time of the reply", "[templates]") {
  running_server server(R"(
[[route]]
path = "/time"
[route.reply]
headers = { X-Http = "{{now.http}}", X-Epoch = "{{now.epoch}}" }
json = { now = "{{now}}", ms = "{{now.epoch_ms}}", s = "{{now.epoch}}" }
)");
  const auto port = server.port();
  const std::int64_t before = now_ms();
  http_response r = call(port, get("/time"));
  const std::int64_t after = now_ms();
  REQUIRE(r.status == 200);
  const json::value reply = json_of(r);

  const std::int64_t ms = reply.at("ms").as_int64();
  CHECK(ms >= before);
  CHECK(ms <= after);
  CHECK(reply.at("s").as_int64() == ms / 1000);
  CHECK(r.header("X-Epoch") == std::to_string(ms / 1000));

  // RFC 3339, UTC, milliseconds: the same instant as the number.
  const std::string now = text_of(reply.at("now"));
  REQUIRE(std::regex_match(now, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
  std::tm tm{};
  tm.tm_year = std::stoi(now.substr(0, 4)) - 1900;
  tm.tm_mon = std::stoi(now.substr(5, 2)) - 1;
  tm.tm_mday = std::stoi(now.substr(8, 2));
  tm.tm_hour = std::stoi(now.substr(11, 2));
  tm.tm_min = std::stoi(now.substr(14, 2));
  tm.tm_sec = std::stoi(now.substr(17, 2));
  CHECK(static_cast<std::int64_t>(timegm(&tm)) * 1000 + std::stoi(now.substr(20, 3)) == ms);

  // The Date format, for the same second.
  char expected[64];
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::strftime(expected, sizeof expected, "%a, %d %b %Y %H:%M:%S GMT", std::gmtime(&seconds));
  CHECK(r.header("X-Http") == expected);
}

TEST_CASE("{{uuid}} differs between requests; {{counter}} counts and restarts on reset",
          "[templates]") {
  running_server server(R"(
[admin]

[[route]]
path = "/id"
[route.reply]
headers = { X-Request-Id = "{{uuid}}" }
body = "{{uuid}}"

[[route]]
path = "/count"
[route.reply]
json = { n = "{{counter}}", text = "call {{counter}}" }

[[route]]
path = "/other"
[route.reply]
body = "{{counter}}"
)");
  const auto port = server.port();

  std::set<std::string> seen;
  for (int i = 0; i < 5; ++i) {
    http_response r = call(port, get("/id"));
    CHECK(std::regex_match(r.body, uuid_v4));
    CHECK(std::regex_match(r.header("X-Request-Id"), uuid_v4));
    seen.insert(r.body);
    seen.insert(r.header("X-Request-Id"));
  }
  CHECK(seen.size() == 10);

  for (int i = 1; i <= 3; ++i) {
    json::value reply = json_of(call(port, get("/count")));
    CHECK(reply.at("n") == i);
    CHECK(text_of(reply.at("text")) == "call " + std::to_string(i));
  }
  CHECK(call(port, get("/other")).body == "1");  // counted per route
  CHECK(call(port, request("POST", "/__admin/reset")).status == 200);
  CHECK(json_of(call(port, get("/count"))).at("n") == 1);
  CHECK(call(port, get("/other")).body == "1");
  const std::string after_reset = call(port, get("/id")).body;
  CHECK(seen.count(after_reset) == 0);  // no seed: a reset gives no UUID out twice
}

TEST_CASE("UUIDs repeat under [server] seed", "[templates]") {
  const std::string config =
      "[server]\nseed = 42\n[[route]]\npath = \"/id\"\n[route.reply]\nbody = \"{{uuid}}\"\n";
  std::vector<std::string> first;
  {
    running_server server(config);
    for (int i = 0; i < 3; ++i) first.push_back(call(server.port(), get("/id")).body);
  }
  CHECK(std::set<std::string>(first.begin(), first.end()).size() == 3);
  running_server again(config);
  for (int i = 0; i < 3; ++i) {
    CHECK(call(again.port(), get("/id")).body == first[static_cast<std::size_t>(i)]);
  }
}

TEST_CASE("templates work in replies entries, redirects and admin-added routes", "[templates]") {
  running_server server(R"(
[admin]

[[route]]
method = "POST"
path = "/steps"
[[route.replies]]
body = "first {{json.id}}"
[[route.replies]]
json = { second = "{{json.id}}", n = "{{counter}}" }

[[route]]
path = "/old/{id}"
[route.reply]
redirect = { to = "/new/{{path.id}}?session={{cookie.session}}&n={{counter}}", status = 307 }
)");
  const auto port = server.port();
  CHECK(call(port, request("POST", "/steps", R"({"id":"x1"})")).body == "first x1");
  json::value second = json_of(call(port, request("POST", "/steps", R"({"id":"x2"})")));
  CHECK(text_of(second.at("second")) == "x2");
  CHECK(second.at("n") == 2);  // the route has answered twice

  http_response moved = call(port, request("GET", "/old/7", {}, "Cookie: session=s9\r\n"));
  CHECK(moved.status == 307);
  CHECK(moved.header("Location") == "/new/7?session=s9&n=1");

  // The admin API's JSON form: the same templates, the same checks.
  http_response added =
      call(port, request("POST", "/__admin/routes",
                         R"({"name":"echo","method":"POST","path":"/runtime/{kind}",)"
                         R"("reply":{"json":{"kind":"{{path.kind}}","id":"{{json.order.id}}",)"
                         R"("lines":"{{json.order.lines}}","n":"{{counter}}"},)"
                         R"("headers":{"X-Sku":"{{json.items[1].sku}}"}}})"));
  REQUIRE(added.status == 201);
  http_response runtime = call(port, request("POST", "/runtime/book", order));
  CHECK(runtime.header("X-Sku") == "S2");
  const json::value reply = json_of(runtime);
  CHECK(text_of(reply.at("kind")) == "book");
  CHECK(text_of(reply.at("id")) == "A-17");
  CHECK(reply.at("lines") == 2);
  CHECK(reply.at("n") == 1);
  // The route reads back as written.
  const json::value listed = json_of(call(port, get("/__admin/routes/echo")));
  CHECK(text_of(listed.at("reply").at("json").at("id")) == "{{json.order.id}}");

  http_response bad =
      call(port, request("POST", "/__admin/routes",
                         R"({"path":"/bad","reply":{"json":{"id":"{{json.a!}}"}}})"));
  CHECK(bad.status == 400);
  CHECK(bad.body.find("bad JSON path in {{json.a!}}") != std::string::npos);
}

TEST_CASE("templated JSON bodies get their own ETag and ranges", "[templates]") {
  running_server server(R"(
[[route]]
path = "/tagged"
etag = true
ranges = true
[route.reply]
json = { q = "{{query.q}}", n = "{{counter}}" }
)");
  const auto port = server.port();
  http_response a = call(port, get("/tagged?q=a"));
  http_response b = call(port, get("/tagged?q=b"));
  CHECK(a.body == R"({"n":1,"q":"a"})");  // TOML tables keep their keys sorted
  CHECK(b.body == R"({"n":2,"q":"b"})");
  CHECK(a.header("Content-Length") == std::to_string(a.body.size()));
  CHECK_FALSE(a.header("ETag").empty());
  CHECK(a.header("ETag") != b.header("ETag"));

  // The range is cut from the body rendered for this request.
  http_response part = call(port, get("/tagged?q=c", "Range: bytes=0-5\r\n"));
  CHECK(part.status == 206);
  CHECK(part.body == R"({"n":3)");
  CHECK(part.header("Content-Range") == "bytes 0-5/15");
}

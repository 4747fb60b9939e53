// Matching on what the request carries, over real sockets: cookies, form fields (urlencoded and
// multipart), and [route.when] conditions with every subject and operator, any/all/not, the 404
// explanation, head-only decisions (Expect: 100-continue) and routes added through the admin API.

#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "harness.hpp"

using namespace stubborn::testing;
namespace json = boost::json;

namespace {

std::string post(std::string_view target, std::string_view body, std::string_view content_type,
                 std::string_view extra_headers = {}) {
  std::string r = "POST " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n";
  if (!content_type.empty()) r += "Content-Type: " + std::string(content_type) + "\r\n";
  r.append(extra_headers);
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  return r.append(body);
}

std::string post_json(std::string_view target, std::string_view body) {
  return post(target, body, "application/json");
}

http_response call(std::uint16_t port, std::string_view bytes) {
  return stubborn::testing::exchange(port, bytes);
}

bool has(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("cookies: each cookie sent with its value, from any Cookie line", "[conditions]") {
  running_server s(R"(
[[route]]
path = "/profile"
cookies = { session = "s1", theme = "dark mode" }
[route.reply]
body = "profile"

[[route]]
path = "/profile"
[route.reply]
status = 401
body = "log in"
)");
  const auto port = s.port();
  CHECK(call(port, get("/profile", "Cookie: session=s1; theme=\"dark mode\"\r\n")).body ==
        "profile");
  CHECK(call(port, get("/profile", "Cookie: a=b;theme=dark mode\r\nCookie: session=s1\r\n")).body ==
        "profile");
  CHECK(call(port, get("/profile", "Cookie: session=s2; theme=dark mode\r\n")).status == 401);
  CHECK(call(port, get("/profile", "Cookie: Session=s1; theme=dark mode\r\n")).status == 401);
  CHECK(call(port, get("/profile")).status == 401);
}

TEST_CASE("form: urlencoded (any charset) and multipart fields, decoded", "[conditions]") {
  running_server s(R"(
[[route]]
method = "POST"
path = "/oauth/token"
form = { grant_type = "client_credentials", scope = "read write" }
[route.reply]
json = { access_token = "t1" }
)");
  const auto port = s.port();
  const std::string urlencoded = "grant_type=client_credentials&scope=read+write&x=%41";
  CHECK(call(port, post("/oauth/token", urlencoded, "application/x-www-form-urlencoded")).status ==
        200);
  CHECK(call(port,
             post("/oauth/token", urlencoded, "Application/X-WWW-Form-Urlencoded; charset=UTF-8"))
            .status == 200);
  CHECK(call(port, post("/oauth/token", "grant_type=client_credentials&scope=read%20write",
                        "application/x-www-form-urlencoded"))
            .status == 200);
  // The same text as JSON or plain text is no form.
  CHECK(call(port, post("/oauth/token", urlencoded, "text/plain")).status == 404);
  CHECK(call(port, post("/oauth/token", "grant_type=password&scope=read+write",
                        "application/x-www-form-urlencoded"))
            .status == 404);

  const std::string multipart =
      "--XyZ\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"scope\"\r\n\r\nread write\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
      "Content-Type: text/plain\r\n\r\nhello\r\n--XyZ--\r\n";
  CHECK(call(port, post("/oauth/token", multipart, "multipart/form-data; boundary=XyZ")).status ==
        200);
  CHECK(call(port, post("/oauth/token", multipart, "multipart/form-data; boundary=Other")).status ==
        404);
  http_response miss =
      call(port, post("/oauth/token", "grant_type=password", "application/x-www-form-urlencoded"));
  CHECK(has(miss.body,
            "form field 'grant_type' is \"password\", wanted equals "
            "\"client_credentials\""));
  CHECK(has(miss.body, "form field 'scope' is absent"));
}

TEST_CASE("when: all, any and not over JSON bodies, headers and query", "[conditions]") {
  running_server s(R"(
[[route]]
name = "big-order"
method = "POST"
path = "/orders"
[route.when]
all = [ { json_path = "$.order.total", gt = 100 },
        { json_path = "$.items[*].sku", equals = "A1" } ]
any = [ { header = "X-Tier", equals = "gold" }, { query = "vip", present = true } ]
not = [ { json_path = "$.coupon", present = true } ]
[route.reply]
body = "big"

[[route]]
name = "order"
method = "POST"
path = "/orders"
[route.reply]
body = "normal"
)");
  const auto port = s.port();
  const std::string big = R"({"order":{"total":150},"items":[{"sku":"B2"},{"sku":"A1"}]})";
  CHECK(call(port, post("/orders", big, "application/json", "X-Tier: gold\r\n")).body == "big");
  CHECK(call(port, post("/orders?vip", big, "text/plain")).body == "big");
  CHECK(call(port, post("/orders?vip=1", big, "")).body == "big");
  // No `any` holds.
  CHECK(call(port, post("/orders", big, "application/json", "X-Tier: silver\r\n")).body ==
        "normal");
  // An `all` fails: the total, or no element with the sku.
  CHECK(call(port, post("/orders?vip", R"({"order":{"total":100},"items":[{"sku":"A1"}]})",
                        "application/json"))
            .body == "normal");
  CHECK(call(port, post("/orders?vip", R"({"order":{"total":101},"items":[{"sku":"A2"}]})",
                        "application/json"))
            .body == "normal");
  // A `not` holds.
  CHECK(call(port,
             post("/orders?vip", R"({"order":{"total":150},"items":[{"sku":"A1"}],"coupon":null})",
                  "application/json"))
            .body == "normal");
  // Not JSON: json_path conditions fail.
  CHECK(call(port, post("/orders?vip", "total=150", "application/json")).body == "normal");
}

TEST_CASE("when: operators, numbers by value, ignore_case, several values", "[conditions]") {
  running_server s(R"(
[[route]]
name = "eq-number"
path = "/eq"
when = { all = [ { json_path = "$.n", equals = 100 } ] }
[route.reply]
body = "number"

[[route]]
name = "eq-string"
path = "/eq"
when = { all = [ { json_path = "$.n", equals = "100" } ] }
[route.reply]
body = "string"

[[route]]
name = "eq-object"
path = "/eq"
when = { all = [ { json_path = "$.n", equals = { a = [1, 2] } } ] }
[route.reply]
body = "object"

[[route]]
path = "/contains"
when = { all = [ { header = "User-Agent", contains = "curl", ignore_case = true } ] }
[route.reply]
body = "curl"

[[route]]
path = "/regex"
when = { all = [ { query = "id", regex = "^[0-9]{3}$" } ] }
[route.reply]
body = "three digits"

[[route]]
path = "/one-of"
when = { all = [ { json_path = "$..status", one_of = ["OPEN", "held"], ignore_case = true } ] }
[route.reply]
body = "one of"

[[route]]
path = "/range"
when = { all = [ { json_path = "$.price", ge = 10 }, { json_path = "$.price", lt = 20.5 },
                 { json_path = "$.date", le = "2026-12-31" } ] }
[route.reply]
body = "in range"

[[route]]
path = "/json"
when = { all = [ { json_path = "$.customer", json = { tags = ["vip"] } } ] }
[route.reply]
body = "contains json"

[[route]]
path = "/absent"
when = { all = [ { json_path = "$.coupon", present = false } ] }
[route.reply]
body = "no coupon"

[[route]]
path = "/body"
when = { all = [ { body = true, contains = "needle" }, { header = "X-Count", gt = 9 } ] }
[route.reply]
body = "body and header"
)");
  const auto port = s.port();
  CHECK(call(port, post_json("/eq", R"({"n":100})")).body == "number");
  CHECK(call(port, post_json("/eq", R"({"n":100.0})")).body == "number");
  CHECK(call(port, post_json("/eq", R"({"n":1e2})")).body == "number");
  CHECK(call(port, post_json("/eq", R"({"n":"100"})")).body == "string");
  CHECK(call(port, post_json("/eq", R"({"n":{"a":[1,2.0]}})")).body == "object");
  CHECK(call(port, post_json("/eq", R"({"n":{"a":[1,2],"b":0}})")).status == 404);

  CHECK(call(port, get("/contains", "User-Agent: CURL/8.0\r\n")).body == "curl");
  CHECK(call(port, get("/contains", "User-Agent: wget\r\n")).status == 404);
  CHECK(call(port, get("/regex?id=123")).body == "three digits");
  CHECK(call(port, get("/regex?id=1234")).status == 404);

  CHECK(
      call(port, post_json("/one-of", R"({"a":{"b":{"status":"closed"}},"status":"Open"})")).body ==
      "one of");
  CHECK(call(port, post_json("/one-of", R"({"status":"closed"})")).status == 404);

  CHECK(call(port, post_json("/range", R"({"price":10,"date":"2026-01-01"})")).body == "in range");
  CHECK(call(port, post_json("/range", R"({"price":20.4,"date":"2026-12-31"})")).body ==
        "in range");
  CHECK(call(port, post_json("/range", R"({"price":20.5,"date":"2026-01-01"})")).status == 404);
  CHECK(call(port, post_json("/range", R"({"price":"15","date":"2026-01-01"})")).status == 404);
  CHECK(call(port, post_json("/range", R"({"price":15,"date":"2027-01-01"})")).status == 404);

  CHECK(call(port, post_json("/json", R"({"customer":{"id":7,"tags":["new","vip"]}})")).body ==
        "contains json");
  CHECK(call(port, post_json("/json", R"({"customer":{"tags":["new"]}})")).status == 404);

  CHECK(call(port, post_json("/absent", R"({"order":1})")).body == "no coupon");
  CHECK(call(port, post_json("/absent", "not json at all")).body == "no coupon");
  CHECK(call(port, post_json("/absent", R"({"coupon":"X"})")).status == 404);

  CHECK(call(port, post("/body", "a needle here", "text/plain", "X-Count: 10\r\n")).body ==
        "body and header");
  CHECK(call(port, post("/body", "a needle here", "text/plain", "X-Count: 9\r\n")).status == 404);
  CHECK(call(port, post("/body", "a needle here", "text/plain", "X-Count: ten\r\n")).status == 404);
}

TEST_CASE("when: XML bodies through XPath, cookies and path parameters", "[conditions]") {
  running_server s(R"(
[[route]]
path = "/soap/{service}"
[route.when]
all = [ { xpath = "/Envelope/Body/GetQuote/symbol", equals = "ACME" },
        { xpath = "//item/@qty", gt = 5 },
        { path = "service", one_of = ["quotes", "prices"] },
        { cookie = "region", equals = "eu" } ]
[route.reply]
body = "quote"

[[route]]
path_regex = "^/users/(?P<id>[0-9]+)$"
when = { all = [ { path = "id", lt = 100 } ] }
[route.reply]
body = "small id"
)");
  const auto port = s.port();
  const std::string xml =
      "<?xml version=\"1.0\"?><Envelope><Body><GetQuote><symbol>ACME</symbol>"
      "<item qty=\"2\"/><item qty=\"7\"/></GetQuote></Body></Envelope>";
  CHECK(call(port, post("/soap/quotes", xml, "text/xml", "Cookie: region=eu\r\n")).body == "quote");
  CHECK(call(port, post("/soap/pric%65s", xml, "text/xml", "Cookie: region=eu\r\n")).body ==
        "quote");
  CHECK(call(port, post("/soap/other", xml, "text/xml", "Cookie: region=eu\r\n")).status == 404);
  CHECK(call(port, post("/soap/quotes", xml, "text/xml", "Cookie: region=us\r\n")).status == 404);
  http_response not_xml =
      call(port, post("/soap/quotes", "<Envelope>", "text/xml", "Cookie: region=eu\r\n"));
  CHECK(not_xml.status == 404);
  CHECK(has(not_xml.body, "finds nothing: the body is not XML"));

  CHECK(call(port, get("/users/42")).body == "small id");
  CHECK(call(port, get("/users/420")).status == 404);
}

TEST_CASE("when: a 404 names the condition that failed and the value found", "[conditions]") {
  running_server s(R"(
[[route]]
name = "big-order"
method = "POST"
path = "/orders"
[route.when]
all = [ { json_path = "$.order.total", gt = 100 } ]
any = [ { header = "X-Tier", equals = "gold" } ]
not = [ { json_path = "$.coupon", present = true } ]
[route.reply]
body = "big"
)");
  const auto port = s.port();
  http_response miss =
      call(port, post_json("/orders", R"({"order":{"total":80},"coupon":"SAVE10"})"));
  CHECK(miss.status == 404);
  CHECK(has(miss.body, "Nearest route: \"big-order\""));
  CHECK(has(miss.body, "$.order.total is 80, wanted gt 100"));
  CHECK(has(miss.body, "none of 'any' holds"));
  CHECK(has(miss.body, "header 'X-Tier' is absent, wanted equals \"gold\""));
  CHECK(has(miss.body, "$.coupon is \"SAVE10\", which 'not' excludes (present = true)"));
  http_response not_json = call(port, post_json("/orders", "{oops"));
  CHECK(has(not_json.body, "$.order.total finds nothing: the body is not JSON, wanted gt 100"));
}

TEST_CASE("when: Expect: 100-continue is decided on the head; body conditions may still hold",
          "[conditions]") {
  running_server s(R"(
[[route]]
method = "POST"
path = "/upload"
when = { all = [ { header = "X-Refuse", present = true } ] }
expect = "reject"
[route.reply]
status = 417
body = "refused"

[[route]]
method = "POST"
path = "/upload"
when = { all = [ { json_path = "$.kind", equals = "big" } ] }
expect = "reject"
[route.reply]
status = 413
body = "too big"

[[route]]
method = "POST"
path = "/upload"
[route.reply]
body = "stored"
)");
  const auto port = s.port();
  // A header condition decides on the head: refused without reading the body.
  raw_client refused(port);
  refused.send(
      "POST /upload HTTP/1.1\r\nHost: t\r\nX-Refuse: 1\r\nExpect: 100-continue\r\n"
      "Content-Length: 5\r\n\r\n");
  CHECK(refused.read_response().status == 417);
  // A body condition might hold: the first route is taken on the head alone.
  raw_client maybe(port);
  maybe.send(
      "POST /upload HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  CHECK(maybe.read_response().status == 413);
  // Without an expectation, the body decides.
  CHECK(call(port, post_json("/upload", R"({"kind":"small"})")).body == "stored");
  CHECK(call(port, post_json("/upload", R"({"kind":"big"})")).status == 413);
}

TEST_CASE("when: routes added through the admin API, and listed as written", "[conditions]") {
  running_server s(R"(
[[route]]
path = "/orders"
[route.reply]
body = "file"
)");
  const auto port = s.port();
  const std::string route = R"({"name":"gold","path":"/orders","cookies":{"session":"s1"},)"
                            R"("when":{"all":[{"json_path":"$.total","gt":100}],)"
                            R"("any":[{"header":"X-Tier","equals":"GOLD","ignore_case":true}]},)"
                            R"("reply":{"body":"gold"}})";
  std::string add =
      "POST /__admin/routes HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(route.size()) + "\r\n\r\n" + route;
  REQUIRE(call(port, add).status == 201);
  CHECK(call(port, post_json("/orders", R"({"total":101})")).body == "file");
  CHECK(call(port, post("/orders", R"({"total":101})", "application/json",
                        "X-Tier: gold\r\nCookie: session=s1\r\n"))
            .body == "gold");
  http_response listed = call(port, get("/__admin/routes/gold"));
  REQUIRE(listed.status == 200);
  const json::value shown = json::parse(listed.body);
  CHECK(shown.at("when").at("all").at(0).at("json_path") == "$.total");
  CHECK(shown.at("when").at("all").at(0).at("gt") == 100);
  CHECK(shown.at("when").at("any").at(0).at("ignore_case") == true);
  CHECK(shown.at("cookies").at("session") == "s1");

  const std::string bad = R"({"path":"/x","when":{"all":[{"json_path":"order","gt":1}]}})";
  http_response refused = call(port,
                               "POST /__admin/routes HTTP/1.1\r\nHost: t\r\n"
                               "Content-Length: " +
                                   std::to_string(bad.size()) + "\r\n\r\n" + bad);
  CHECK(refused.status == 400);
  CHECK(has(refused.body, "bad json_path"));
}

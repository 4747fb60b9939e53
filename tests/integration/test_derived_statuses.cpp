// Statuses a route derives from the request, over real sockets: 401/403, 411, 415, 406,
// 304/412, 206/416 and redirects; and the order in which the checks apply.

#include <catch2/catch.hpp>

#include <chrono>

#include "harness.hpp"

using namespace stubborn::testing;

namespace {

const char* const rules_config = R"(
[[route]]
path = "/bearer"
auth = { bearer = "s3cret" }
[route.reply]
body = "in"

[[route]]
path = "/basic"
[route.auth]
basic = "Aladdin:open sesame"
[route.reply]
body = "in"

[[route]]
path = "/key"
auth = { header = { name = "X-Api-Key", value = "k1" } }
[route.reply]
body = "in"

[[route]]
method = "POST"
path = "/upload"
require_length = true
consumes = ["application/json"]
[route.reply]
status = 201

[[route]]
path = "/json"
produces = ["application/json"]
[route.reply]
json = { ok = true }

[[route]]
method = ["GET", "PUT", "POST"]
path = "/doc"
etag = true
last_modified = "Sun, 06 Nov 1994 08:49:37 GMT"
[route.reply]
body = "0123456789"

[[route]]
path = "/hello/{name}"
etag = true
[route.reply]
body = "hello {{path.name}}"

[[route]]
path = "/file"
ranges = true
etag = true
[route.reply]
headers = { Content-Type = "text/plain" }
body = "abcdefghijklmnopqrstuvwxyz"

[[route]]
path = "/old/{id}"
[route.reply]
redirect = { to = "/new/{{path.id}}", status = 308 }

[[route]]
path = "/moved"
[route.reply]
redirect = { to = "/elsewhere" }

[[route]]
path = "/ordered"
method = "POST"
auth = { bearer = "t" }
require_length = true
consumes = ["application/json"]
produces = ["application/json"]
[route.reply]
delay = "2s"
body = "slow"
)";

std::string post(std::string_view target, std::string_view headers, std::string_view body) {
  return std::string("POST ") + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" +
         std::string(headers) + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         std::string(body);
}

std::string chunked_post(std::string_view target, std::string_view headers) {
  return std::string("POST ") + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" +
         std::string(headers) + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
}

}  // namespace

TEST_CASE("auth: 401 with a challenge, 403 for wrong credentials", "[integration][rules]") {
  running_server s(rules_config);
  auto r = exchange(s.port(), get("/bearer"));
  CHECK(r.status == 401);
  CHECK(r.header("WWW-Authenticate") == "Bearer realm=\"stubborn\"");
  r = exchange(s.port(), get("/bearer", "Authorization: Bearer wrong\r\n"));
  CHECK(r.status == 403);
  CHECK_FALSE(r.has_header("WWW-Authenticate"));
  r = exchange(s.port(), get("/bearer", "Authorization: bearer s3cret\r\n"));
  CHECK(r.status == 200);
  CHECK(r.body == "in");

  r = exchange(s.port(), get("/basic"));
  CHECK(r.status == 401);
  CHECK(r.header("WWW-Authenticate") == "Basic realm=\"stubborn\", charset=\"UTF-8\"");
  r = exchange(s.port(), get("/basic", "Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"));
  CHECK(r.status == 200);
  r = exchange(s.port(), get("/basic", "Authorization: Basic QWxhZGRpbjpvcGVu\r\n"));
  CHECK(r.status == 403);

  r = exchange(s.port(), get("/key"));
  CHECK(r.status == 401);
  CHECK_FALSE(r.has_header("WWW-Authenticate"));
  r = exchange(s.port(), get("/key", "x-api-key: k2\r\n"));
  CHECK(r.status == 403);
  r = exchange(s.port(), get("/key", "X-Api-Key: k1\r\n"));
  CHECK(r.status == 200);
}

TEST_CASE("411 for a chunked body, 415 for an unlisted Content-Type", "[integration][rules]") {
  running_server s(rules_config);
  auto r = exchange(s.port(), chunked_post("/upload", "Content-Type: application/json\r\n"));
  CHECK(r.status == 411);
  r = exchange(s.port(), post("/upload", "Content-Type: text/plain\r\n", "hi"));
  CHECK(r.status == 415);
  CHECK(r.header("Accept-Post") == "application/json");
  r = exchange(s.port(), post("/upload", "", "hi"));
  CHECK(r.status == 415);
  r = exchange(s.port(),
               post("/upload", "Content-Type: Application/JSON; charset=utf-8\r\n", "{}"));
  CHECK(r.status == 201);
  // No body: nothing to judge.
  r = exchange(s.port(), post("/upload", "", ""));
  CHECK(r.status == 201);
}

TEST_CASE("406 when Accept excludes what the route produces", "[integration][rules]") {
  running_server s(rules_config);
  CHECK(exchange(s.port(), get("/json")).status == 200);
  CHECK(exchange(s.port(), get("/json", "Accept: */*\r\n")).status == 200);
  CHECK(exchange(s.port(), get("/json", "Accept: application/*\r\n")).status == 200);
  auto r = exchange(s.port(), get("/json", "Accept: text/html\r\n"));
  CHECK(r.status == 406);
  CHECK(r.body.find("application/json") != std::string::npos);
  CHECK(exchange(s.port(), get("/json", "Accept: application/json;q=0, */*\r\n")).status == 406);
}

TEST_CASE("ETag and Last-Modified give 304 and 412", "[integration][rules]") {
  running_server s(rules_config);
  auto r = exchange(s.port(), get("/doc"));
  REQUIRE(r.status == 200);
  const std::string etag = r.header("ETag");
  CHECK(etag.size() > 2);
  CHECK(r.header("Last-Modified") == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(r.body == "0123456789");

  r = exchange(s.port(), get("/doc", "If-None-Match: \"a\", W/" + etag + "\r\n"));
  CHECK(r.status == 304);
  CHECK(r.body.empty());
  CHECK(r.header("ETag") == etag);
  CHECK(r.has_header("Date"));
  CHECK(r.header("Last-Modified") == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK_FALSE(r.has_header("Content-Length"));

  // The 304 leaves the connection usable: a second request on it gets its reply.
  raw_client c(s.port());
  c.send(get("/doc", "If-None-Match: *\r\n") + get("/doc"));
  CHECK(c.read_response().status == 304);
  CHECK(c.read_response().body == "0123456789");

  r = exchange(s.port(), get("/doc", "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"));
  CHECK(r.status == 304);
  r = exchange(s.port(), get("/doc", "If-Modified-Since: Sat, 05 Nov 1994 08:49:37 GMT\r\n"));
  CHECK(r.status == 200);
  r = exchange(s.port(), get("/doc",
                             "If-None-Match: \"nope\"\r\n"
                             "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"));
  CHECK(r.status == 200);

  const std::string put_stale =
      "PUT /doc HTTP/1.1\r\nHost: t\r\nIf-Match: \"stale\"\r\n"
      "Content-Length: 1\r\n\r\nx";
  CHECK(exchange(s.port(), put_stale).status == 412);
  const std::string put_fresh =
      "PUT /doc HTTP/1.1\r\nHost: t\r\nIf-Match: " + etag + "\r\nContent-Length: 1\r\n\r\nx";
  CHECK(exchange(s.port(), put_fresh).status == 200);
  CHECK(exchange(s.port(),
                 post("/doc", "If-Unmodified-Since: Sat, 05 Nov 1994 08:49:37 GMT\r\n", "x"))
            .status == 412);
  CHECK(exchange(s.port(), post("/doc", "If-None-Match: *\r\n", "x")).status == 412);
}

TEST_CASE("a templated body gets its ETag per request", "[integration][rules]") {
  running_server s(rules_config);
  auto a = exchange(s.port(), get("/hello/ann"));
  auto b = exchange(s.port(), get("/hello/bob"));
  CHECK(a.body == "hello ann");
  CHECK(a.header("ETag") != b.header("ETag"));
  CHECK(
      exchange(s.port(), get("/hello/ann", "If-None-Match: " + a.header("ETag") + "\r\n")).status ==
      304);
  CHECK(
      exchange(s.port(), get("/hello/bob", "If-None-Match: " + a.header("ETag") + "\r\n")).status ==
      200);
}

TEST_CASE("ranges: 206, multipart/byteranges, 416, If-Range", "[integration][rules]") {
  running_server s(rules_config);
  auto r = exchange(s.port(), get("/file"));
  CHECK(r.status == 200);
  CHECK(r.header("Accept-Ranges") == "bytes");
  const std::string etag = r.header("ETag");

  r = exchange(s.port(), get("/file", "Range: bytes=0-4\r\n"));
  CHECK(r.status == 206);
  CHECK(r.header("Content-Range") == "bytes 0-4/26");
  CHECK(r.header("Content-Type") == "text/plain");
  CHECK(r.body == "abcde");

  CHECK(exchange(s.port(), get("/file", "Range: bytes=-3\r\n")).body == "xyz");
  CHECK(exchange(s.port(), get("/file", "Range: bytes=24-\r\n")).body == "yz");

  r = exchange(s.port(), get("/file", "Range: bytes=0-1, 24-25\r\n"));
  CHECK(r.status == 206);
  const std::string type = r.header("Content-Type");
  REQUIRE(type.rfind("multipart/byteranges; boundary=", 0) == 0);
  const std::string boundary = type.substr(type.find('=') + 1);
  CHECK(r.body == "\r\n--" + boundary +
                      "\r\nContent-Type: text/plain\r\nContent-Range: bytes "
                      "0-1/26\r\n\r\nab\r\n--" +
                      boundary +
                      "\r\nContent-Type: text/plain\r\n"
                      "Content-Range: bytes 24-25/26\r\n\r\nyz\r\n--" +
                      boundary + "--\r\n");

  r = exchange(s.port(), get("/file", "Range: bytes=30-40\r\n"));
  CHECK(r.status == 416);
  CHECK(r.header("Content-Range") == "bytes */26");

  // Malformed: ignored, the whole body.
  r = exchange(s.port(), get("/file", "Range: bytes=9-3\r\n"));
  CHECK(r.status == 200);
  CHECK(r.body.size() == 26);

  r = exchange(s.port(), get("/file", "Range: bytes=0-0\r\nIf-Range: " + etag + "\r\n"));
  CHECK(r.status == 206);
  CHECK(r.body == "a");
  r = exchange(s.port(), get("/file", "Range: bytes=0-0\r\nIf-Range: \"old\"\r\n"));
  CHECK(r.status == 200);
  CHECK(r.body.size() == 26);

  // HEAD ignores Range and describes the whole body.
  r = exchange(s.port(), "HEAD /file HTTP/1.1\r\nHost: t\r\nRange: bytes=0-0\r\n\r\n", true);
  CHECK(r.status == 200);
  CHECK(r.header("Content-Length") == "26");
}

TEST_CASE("redirects set the status and a rendered Location", "[integration][rules]") {
  running_server s(rules_config);
  auto r = exchange(s.port(), get("/old/42"));
  CHECK(r.status == 308);
  CHECK(r.header("Location") == "/new/42");
  r = exchange(s.port(), get("/moved"));
  CHECK(r.status == 302);
  CHECK(r.header("Location") == "/elsewhere");
}

TEST_CASE("checks run in order and answer before the reply's delay", "[integration][rules]") {
  running_server s(rules_config);
  const auto start = std::chrono::steady_clock::now();
  // Everything wrong at once: auth comes first.
  CHECK(exchange(s.port(), chunked_post("/ordered", "Accept: text/html\r\n")).status == 401);
  CHECK(exchange(s.port(), chunked_post("/ordered",
                                        "Authorization: Bearer t\r\n"
                                        "Accept: text/html\r\n"))
            .status == 411);
  CHECK(exchange(s.port(), post("/ordered",
                                "Authorization: Bearer t\r\n"
                                "Content-Type: text/plain\r\nAccept: text/html\r\n",
                                "x"))
            .status == 415);
  CHECK(exchange(s.port(), post("/ordered",
                                "Authorization: Bearer t\r\n"
                                "Content-Type: application/json\r\n"
                                "Accept: text/html\r\n",
                                "{}"))
            .status == 406);
  // The reply itself waits 2 s; the four refusals did not.
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1500));
}

TEST_CASE("a 304 repeats the caching headers its 200 would send", "[integration][rules]") {
  // RFC 9110 §15.4.5: Cache-Control, Content-Location, Date, ETag, Expires and Vary.
  running_server s(R"(
[[route]]
path = "/cached/{id}"
etag = true
last_modified = "Sun, 06 Nov 1994 08:49:37 GMT"
[route.reply]
body = "cached"
[route.reply.headers]
Cache-Control = "max-age=60"
Vary = "Accept-Encoding"
Expires = "Thu, 01 Dec 2094 16:00:00 GMT"
Content-Location = "/cached/{{path.id}}"
X-Other = "not on a 304"
)");
  auto full = exchange(s.port(), get("/cached/7"));
  REQUIRE(full.status == 200);
  auto r = exchange(s.port(), get("/cached/7", "If-None-Match: " + full.header("ETag") + "\r\n"));
  CHECK(r.status == 304);
  CHECK(r.header("Cache-Control") == "max-age=60");
  CHECK(r.header("Vary") == "Accept-Encoding");
  CHECK(r.header("Expires") == "Thu, 01 Dec 2094 16:00:00 GMT");
  CHECK(r.header("Content-Location") == "/cached/7");
  CHECK(r.header("ETag") == full.header("ETag"));
  CHECK(r.header("Last-Modified") == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(r.has_header("Date"));
  CHECK_FALSE(r.has_header("X-Other"));
  CHECK_FALSE(r.has_header("Content-Type"));
  CHECK_FALSE(r.has_header("Content-Length"));
  CHECK(r.body.empty());
}

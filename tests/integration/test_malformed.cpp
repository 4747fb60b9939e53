// Bad requests over raw sockets: the right status, a close where the protocol requires it, and no
// crash or hang. Each case is followed by a canary request on a new connection.

#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace stubborn::testing;
using namespace std::chrono_literals;

namespace {

const char* routes = R"(
[server]
max_header_bytes = 4096
max_body_bytes = 1024

[[route]]
path = "/ok"
[route.reply]
body = "ok"
)";

struct bad_case {
  const char* name;
  std::string bytes;
  int status;
};

}  // namespace

TEST_CASE("malformed requests get 400/505/4xx and a close", "[malformed]") {
  running_server s(routes);
  const std::vector<bad_case> cases = {
      {"garbage line", "\x01\x02 hello\r\n\r\n", 400},
      {"no version", "GET /ok\r\nHost: t\r\n\r\n", 400},
      {"lower-case version", "GET /ok http/1.1\r\nHost: t\r\n\r\n", 400},
      {"malformed version", "GET /ok HTTP/1.1x\r\nHost: t\r\n\r\n", 400},
      {"two-digit version", "GET /ok HTTP/11.1\r\nHost: t\r\n\r\n", 400},
      {"HTTP/2.0 (RFC 9110 §15.6.6)", "GET /ok HTTP/2.0\r\nHost: t\r\n\r\n", 505},
      {"HTTP/3.0", "GET /ok HTTP/3.0\r\nHost: t\r\n\r\n", 505},
      {"HTTP/0.9 style version", "GET /ok HTTP/0.9\r\nHost: t\r\n\r\n", 505},
      {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
      {"bare LF request line", "GET /ok HTTP/1.1\nHost: t\r\n\r\n", 400},
      {"space in target", "GET /o k HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"missing Host on 1.1 (RFC 9112 §3.2)", "GET /ok HTTP/1.1\r\n\r\n", 400},
      {"two Host lines", "GET /ok HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"obs-fold (RFC 9112 §5.2)", "GET /ok HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", 400},
      {"space before first field", "GET /ok HTTP/1.1\r\n Host: t\r\n\r\n", 400},
      {"CL and TE (RFC 9112 §6.3)",
       "POST /ok HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
       400},
      {"TE then CL",
       "POST /ok HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc",
       400},
      {"TE not ending in chunked",
       "POST /ok HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
      {"chunked twice",
       "POST /ok HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
      {"unknown coding before chunked",
       "POST /ok HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
      {"TE on HTTP/1.0", "POST /ok HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"bad Content-Length", "POST /ok HTTP/1.1\r\nHost: t\r\nContent-Length: 1x\r\n\r\n", 400},
      {"differing Content-Lengths",
       "POST /ok HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
      {"bad chunk size", "POST /ok HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
       400},
      {"body over max_body_bytes", "POST /ok HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n",
       413},
      {"head over max_header_bytes",
       "GET /ok HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(5000, 'a') + "\r\n\r\n", 431},
      {"request line over the limit", "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n", 414},
      {"request line over the limit, complete",
       "GET /" + std::string(8200, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n", 414},
      {"too many header fields",
       "GET /ok HTTP/1.1\r\nHost: t\r\n" +
           [] {
             std::string h;
             for (int i = 0; i < 101; ++i) h += "X-" + std::to_string(i) + ": v\r\n";
             return h;
           }() +
           "\r\n",
       431},
      {"CONNECT (not a proxy)", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
       501},
      {"asterisk target with GET", "GET * HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"unknown expectation", "GET /ok HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\n\r\n", 417},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      raw_client client(s.port());
      client.send(c.bytes);
      auto r = client.read_response();
      CHECK(r.status == c.status);
      CHECK(r.version == "HTTP/1.1");
      CHECK(r.header("Connection") == "close");
      CHECK(client.read_until_close(3s).second != connection_end::timeout);
      // The server is still fine.
      CHECK(exchange(s.port(), get("/ok")).body == "ok");
    }
  }
}

TEST_CASE("a request line of 8,000 octets is accepted (RFC 9112 §3)", "[malformed]") {
  running_server s(R"(
[[route]]
path = "/*"
[route.reply]
body = "long"
)");
  auto r = exchange(s.port(), get("/" + std::string(8000, 'a')));
  CHECK(r.status == 200);
  CHECK(r.body == "long");
}

TEST_CASE("unknown methods get 501, OPTIONS * gets Allow", "[malformed]") {
  running_server s(R"(
[[route]]
method = ["GET", "PURGE"]
path = "/ok"
[route.reply]
body = "ok"
[[route]]
method = "POST"
path = "/other"
)");
  raw_client c(s.port());
  c.send("BREW /ok HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(c.read_response().status == 501);
  c.send("get /ok HTTP/1.1\r\nHost: t\r\n\r\n");  // methods are case-sensitive
  CHECK(c.read_response().status == 501);
  c.send("PURGE /ok HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(c.read_response().body == "ok");
  c.send("OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n");
  auto options = c.read_response();
  CHECK(options.status == 200);
  CHECK(options.header("Allow") == "GET, HEAD, POST, PURGE");
  CHECK(options.header("Content-Length") == "0");
  c.send(get("/ok"));
  CHECK(c.read_response().body == "ok");  // the connection stayed in step
}

TEST_CASE("leading empty lines before a request are ignored (RFC 9112 §2.2)", "[malformed]") {
  running_server s(routes);
  auto r = exchange(s.port(), "\r\n\r\n" + get("/ok"));
  CHECK(r.status == 200);
  CHECK(r.body == "ok");
}

TEST_CASE("a later HTTP/1.x minor version is served as HTTP/1.1 (RFC 9110 §6.2)", "[malformed]") {
  running_server s(routes);
  auto r = exchange(s.port(), "GET /ok HTTP/1.2\r\nHost: t\r\n\r\n");
  CHECK(r.status == 200);
  CHECK(r.version == "HTTP/1.1");
}

TEST_CASE("a client closing mid-request does not disturb the server", "[malformed]") {
  running_server s(routes);
  {
    raw_client c(s.port());
    c.send("POST /ok HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc");
  }
  {
    raw_client c(s.port());
    c.send("GET /ok HTT");
    c.shutdown_send();
    auto [data, end] = c.read_until_close(3s);
    CHECK(end != connection_end::timeout);
  }
  CHECK(exchange(s.port(), get("/ok")).body == "ok");
}

TEST_CASE("Expect: 100-continue gets a 100 before the body", "[malformed]") {
  running_server s(routes);
  raw_client c(s.port());
  c.send("POST /ok HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
  auto interim = c.read_response();
  CHECK(interim.status == 100);
  c.send("abc");
  CHECK(c.read_response().body == "ok");
}

TEST_CASE("max_requests_per_connection closes after that many replies", "[malformed]") {
  running_server s(R"(
[server]
max_requests_per_connection = 2

[[route]]
path = "/ok"
[route.reply]
body = "ok"
)");
  raw_client c(s.port());
  c.send(get("/ok") + get("/ok") + get("/ok"));
  auto first = c.read_response();
  CHECK_FALSE(first.has_header("Connection"));
  auto second = c.read_response();
  CHECK(second.header("Connection") == "close");
  auto [rest, end] = c.read_until_close(3s);
  CHECK(rest.empty());  // the third request is not answered on this connection
  CHECK(end == connection_end::clean_close);
}

TEST_CASE("max_uri_bytes and max_headers are configurable", "[malformed]") {
  running_server s(R"(
[server]
max_uri_bytes = 300
max_headers = 3

[[route]]
path = "/*"
)");
  CHECK(exchange(s.port(), get("/" + std::string(290, 'a'))).status == 200);
  CHECK(exchange(s.port(), get("/" + std::string(310, 'a'))).status == 414);
  CHECK(exchange(s.port(), get("/", "A: 1\r\nB: 2\r\n")).status == 200);
  CHECK(exchange(s.port(), get("/", "A: 1\r\nB: 2\r\nC: 3\r\n")).status == 431);
}

TEST_CASE("max_connections refuses connections beyond the limit and keeps serving", "[malformed]") {
  running_server s(R"(
[server]
max_connections = 1

[[route]]
path = "/ok"
[route.reply]
body = "ok"
)");
  raw_client first(s.port());
  first.send(get("/ok"));
  REQUIRE(first.read_response().body == "ok");  // counted as open from here on
  raw_client second(s.port());
  auto [data, end] = second.read_until_close(3s);
  CHECK(data.empty());
  CHECK(end != connection_end::timeout);
  first.send(get("/ok"));
  CHECK(first.read_response().body == "ok");
}

TEST_CASE("line feeds inside chunk data are data, however the chunks arrive", "[malformed]") {
  // The bare-LF check looks only at bytes the parser left unconsumed (chunk and trailer lines);
  // chunk data full of LFs, sent a byte at a time, must still be served.
  running_server server(R"(
[[route]]
method = "POST"
path = "/ok"
body = { equals = "a\nb\n\nc\n" }
[route.reply]
body = "ok"
)");
  const std::string request =
      "POST /ok HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\na\nb\r\n4\r\n\n\nc\n\r\n0\r\n\r\n";
  raw_client whole(server.port());
  whole.send(request);
  http_response r = whole.read_response();
  CHECK(r.status == 200);
  CHECK(r.body == "ok");
  raw_client trickle(server.port());
  for (char c : request) trickle.send(std::string_view(&c, 1));
  http_response t = trickle.read_response();
  CHECK(t.status == 200);
  CHECK(t.body == "ok");
  // And a bare LF after a chunk's data is refused at once, not after the body timeout.
  raw_client bad(server.port(), 2s);
  bad.send("POST /ok HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n");
  auto [bytes, end] = bad.read_until_close(2s);
  CHECK(bytes.rfind("HTTP/1.1 400 ", 0) == 0);
  CHECK(end != connection_end::timeout);
}

TEST_CASE(
    "a chunk line with a bare LF is 400, whatever else is wrong with it and however it is split",
    "[malformed][chunked]") {
  // RFC 9112 §7.1. Beast reads a chunk line up to its CRLF: sent at once, the line below is also a
  // size over max_body_bytes (which alone would be 413); cut before its CRLF, only the bare LF
  // is there to see. The answer must be the same either way.
  running_server server(R"(
[server]
max_body_bytes = 1000
body_timeout = "20s"

[[route]]
method = "POST"
path = "/ok"
[route.reply]
body = "ok"
)");
  const std::string request =
      "POST /ok HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\nedfer\nB9d x\r\nmore";
  for (std::size_t cut = 1; cut <= request.size(); ++cut) {
    INFO("cut at " << cut);
    raw_client client(server.port(), 3s);  // far below body_timeout
    client.send(std::string_view(request).substr(0, cut));
    if (cut < request.size()) client.send(std::string_view(request).substr(cut));
    http_response r;
    try {
      r = client.read_response();
    } catch (const std::exception& e) {
      FAIL(e.what());
    }
    CHECK(r.status == 400);
    CHECK(r.body.find("bad chunked body") != std::string::npos);
  }
  // With a CRLF where the LF was, the size alone is over the limit.
  raw_client client(server.port(), 3s);
  client.send(
      "POST /ok HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\nedfe\r\nmore");
  CHECK(client.read_response().status == 413);
}

TEST_CASE("a chunk extension's unterminated quoted string is 400 at once, however it is split",
          "[malformed][chunked]") {
  // RFC 9110 §5.6.4: a quoted string cannot hold CR or LF, so the chunk line is malformed as soon
  // as its line end has arrived (RFC 9112 §7.1.1); waiting for a closing quote in the chunk data
  // would end in a 408 after body_timeout instead.
  running_server server(R"(
[server]
body_timeout = "20s"

[[route]]
method = "POST"
path = "/ok"
[route.reply]
body = "ok"
)");
  const std::string head = "POST /ok HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  struct broken {
    std::string body;
    std::string line;  // the chunk line that is bad: the 400 may come once it is all sent
  };
  const std::vector<broken> cases = {
      {"5;a=\"b\r\nhello\r\n0\r\n\r\n", "5;a=\"b\r\n"},
      {"5\r\nhello\r\n3;name=\"x\\\r\nabc\r\n0\r\n\r\n", "3;name=\"x\\\r\n"},
      {"0;a=\"b\r\n\r\n", "0;a=\"b\r\n"},
  };
  for (const broken& c : cases) {
    const std::string request = head + c.body;
    const std::size_t line_end = request.find(c.line) + c.line.size();
    for (std::size_t cut = 1; cut <= request.size(); ++cut) {
      INFO(Catch::Detail::stringify(c.body) << ", cut at " << cut);
      raw_client client(server.port(), 3s);  // far below body_timeout
      client.send(std::string_view(request).substr(0, cut));
      // From the bad line's end on, the 400 comes without the rest of the body.
      if (cut < line_end) client.send(std::string_view(request).substr(cut));
      http_response r;
      try {
        r = client.read_response();
      } catch (const std::exception& e) {
        FAIL(e.what());
      }
      CHECK(r.status == 400);
      CHECK(r.body.find("bad chunked body") != std::string::npos);
      CHECK(r.header("Connection") == "close");
    }
  }
  // Well-formed quoted strings, escapes included, are fine in one piece or in two.
  const std::string good = head + "5;a=\"b\\\"c\";d=\"\"\r\nhello\r\n0;z=\"q\"\r\n\r\n";
  for (std::size_t cut = 1; cut <= good.size(); cut += 7) {
    INFO("cut at " << cut);
    raw_client client(server.port(), 3s);
    client.send(std::string_view(good).substr(0, cut));
    client.send(std::string_view(good).substr(cut));
    CHECK(client.read_response().body == "ok");
  }
}

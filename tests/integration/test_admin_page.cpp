// The admin page and the journal's event stream over real sockets: the page and its headers,
// the token as a header or ?token= (page and stream only), events for requests made after
// connecting, filters, the backlog, the bound on open streams, HTTP/1.0, and drain. The route
// state and the counts since the last reset that the page shows are checked here too.

#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

using namespace stubborn::testing;
using namespace std::chrono_literals;
namespace json = boost::json;
using clock_type = std::chrono::steady_clock;

namespace {

const std::string routes = R"(
[[route]]
name = "hello"
path = "/hello"
[route.reply]
body = "hi"

[[route]]
name = "other"
path = "/other"
[route.reply]
status = 202

[[route]]
name = "steps"
method = "POST"
path = "/steps"
[[route.replies]]
status = 503
[[route.replies]]
status = 200
)";

const std::string with_token = "[admin]\ntoken = \"s3cret\"\n" + routes;

http_response call(std::uint16_t port, std::string_view bytes, bool no_body = false) {
  return stubborn::testing::exchange(port, bytes, no_body);
}

std::string post(std::string_view target) {
  return "POST " + std::string(target) + " HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";
}

// A journal stream read as it arrives.
class stream_client {
 public:
  stream_client(std::uint16_t port, std::string_view target, std::string_view headers = {},
                std::string_view version = "HTTP/1.1")
      : client_(port) {
    client_.send("GET " + std::string(target) + " " + std::string(version) + "\r\nHost: t\r\n" +
                 std::string(headers) + "\r\n");
  }

  // The head, up to its blank line.
  std::string head() { return until("\r\n\r\n"); }
  // Everything received up to and including `marker`; throws if it does not come in time.
  std::string until(std::string_view marker, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = clock_type::now() + timeout;
    for (;;) {
      if (const auto at = buffer_.find(marker); at != std::string::npos) {
        std::string out = buffer_.substr(0, at + marker.size());
        buffer_.erase(0, at + marker.size());
        return out;
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
      if (left <= 0ms) throw std::runtime_error("timed out waiting for: " + std::string(marker));
      char chunk[4096];
      const long n = client_.receive_some(chunk, sizeof chunk, left);
      if (n <= 0 && n != -2) {
        throw std::runtime_error("stream ended before: " + std::string(marker) +
                                 "; received: " + buffer_);
      }
      if (n > 0) buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  // The stream is open and its start is read: what the journal gets from now on is sent.
  void opened() {
    const std::string h = head();
    REQUIRE(h.find(" 200 ") != std::string::npos);
    until(": stubborn journal stream\n\n");
  }
  // Everything until the connection ends, and how it ended.
  std::pair<std::string, connection_end> rest(std::chrono::milliseconds timeout = 5s) {
    const auto deadline = clock_type::now() + timeout;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
      if (left <= 0ms) return {std::move(buffer_), connection_end::timeout};
      char chunk[4096];
      const long n = client_.receive_some(chunk, sizeof chunk, left);
      if (n > 0) {
        buffer_.append(chunk, static_cast<std::size_t>(n));
      } else if (n == 0) {
        return {std::move(buffer_), connection_end::clean_close};
      } else if (n == -1) {
        return {std::move(buffer_), connection_end::reset};
      }
    }
  }

 private:
  raw_client client_;
  std::string buffer_;
};

// The JSON of the first event's data line in `text`.
json::object first_event(const std::string& text) {
  const auto at = text.find("data: ");
  REQUIRE(at != std::string::npos);
  const auto end = text.find('\n', at);
  return json::parse(text.substr(at + 6, end - at - 6)).as_object();
}

}  // namespace

TEST_CASE("the admin page is one HTML page with a strict policy", "[admin][admin-page]") {
  running_server server(routes);
  const auto port = server.port();
  for (const char* target : {"/__admin/", "/__admin"}) {
    http_response page = call(port, get(target));
    CHECK(page.status == 200);
    CHECK(page.header("Content-Type") == "text/html; charset=utf-8");
    CHECK(page.body.starts_with("<!DOCTYPE html>"));
    CHECK(page.body.find("new EventSource(") != std::string::npos);
    // Self-contained: nothing is loaded from elsewhere.
    CHECK(page.body.find("src=\"http") == std::string::npos);
    CHECK(page.body.find("href=\"http") == std::string::npos);
    CHECK(page.body.find("//cdn") == std::string::npos);
    // The browser's icon request would land in the journal: the page names an empty one.
    CHECK(page.body.find("<link rel=\"icon\" href=\"data:,\">") != std::string::npos);
    const std::string csp = page.header("Content-Security-Policy");
    CHECK(csp.starts_with("default-src 'none'; script-src 'sha256-"));
    CHECK(csp.find("connect-src 'self'") != std::string::npos);
    CHECK(csp.find("unsafe-inline") == std::string::npos);
    CHECK(page.header("Referrer-Policy") == "no-referrer");
    CHECK(page.header("Cache-Control") == "no-store");
  }
  http_response head = call(port, "HEAD /__admin/ HTTP/1.1\r\nHost: t\r\n\r\n", true);
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  http_response wrong = call(port, post("/__admin/"));
  CHECK(wrong.status == 405);
  CHECK(wrong.header("Allow") == "GET, HEAD");
}

TEST_CASE("with a token, the page and the stream take it as a header or as ?token=",
          "[admin][admin-page][admin-stream]") {
  running_server server(with_token);
  const auto port = server.port();
  const std::string bearer = "Authorization: Bearer s3cret\r\n";

  CHECK(call(port, get("/__admin/")).status == 401);
  CHECK(call(port, get("/__admin/", bearer)).status == 200);
  CHECK(call(port, get("/__admin/?token=s3cret")).status == 200);
  CHECK(call(port, get("/__admin/?token=wrong")).status == 403);
  CHECK(call(port, get("/__admin/?token=")).status == 401);
  http_response missing = call(port, get("/__admin/requests/stream"));
  CHECK(missing.status == 401);
  CHECK(missing.header("WWW-Authenticate").starts_with("Bearer"));
  CHECK(call(port, get("/__admin/requests/stream?token=wrong")).status == 403);
  // A token in the query is for the page and the stream only: the API wants the header.
  CHECK(call(port, get("/__admin/status?token=s3cret")).status == 401);
  CHECK(call(port, get("/__admin/requests?token=s3cret")).status == 401);
  CHECK(call(port, post("/__admin/reset?token=s3cret")).status == 401);
  // The token is never echoed.
  CHECK(call(port, get("/__admin/?token=wrong")).body.find("wrong") == std::string::npos);

  {
    stream_client by_header(port, "/__admin/requests/stream", bearer);
    by_header.opened();
  }
  stream_client by_query(port, "/__admin/requests/stream?token=s3cret&route=hello");
  by_query.opened();
  CHECK(call(port, get("/hello")).status == 200);
  const json::object event = first_event(by_query.until("\n\n"));
  CHECK(event.at("path") == "/hello");
}

TEST_CASE("the stream sends each request made after it opened, as /requests lists it",
          "[admin][admin-stream]") {
  running_server server(routes);
  const auto port = server.port();
  CHECK(call(port, get("/hello?before=1")).status == 200);

  stream_client stream(port, "/__admin/requests/stream");
  const std::string head = stream.head();
  CHECK(head.find("Content-Type: text/event-stream; charset=utf-8\r\n") != std::string::npos);
  CHECK(head.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
  CHECK(head.find("Cache-Control: no-store\r\n") != std::string::npos);
  CHECK(head.find("Content-Length") == std::string::npos);
  stream.until(": stubborn journal stream\n\n");

  CHECK(call(port, get("/hello?after=1", "X-Mark: <b>1</b>\r\n")).status == 200);
  CHECK(call(port, get("/nowhere")).status == 404);
  const std::string first = stream.until("\n\n");
  CHECK(first.find("id: ") != std::string::npos);
  const json::object event = first_event(first);
  CHECK(event.at("target") == "/hello?after=1");
  CHECK(event.at("headers").at("X-Mark") == "<b>1</b>");
  CHECK(event.at("route") == "hello");
  CHECK(event.at("status") == 200);
  // The same object as /__admin/requests gives for that entry, and its id in the id: line.
  http_response listed = call(port, get("/__admin/requests?path=/hello&limit=1"));
  const json::value same = json::parse(listed.body).at("requests").at(0);
  CHECK(json::value(event) == same);
  CHECK(first.find("id: " + std::to_string(same.at("id").to_number<std::uint64_t>()) + "\n") !=
        std::string::npos);
  // A request no route took comes with the nearest route, as /__admin/unmatched says it.
  const json::object miss = first_event(stream.until("\n\n"));
  CHECK(miss.at("path") == "/nowhere");
  CHECK(miss.at("route").is_null());
  CHECK_FALSE(miss.at("nearest").as_string().empty());
}

TEST_CASE("the stream takes the journal's filters, and limit sends recent entries first",
          "[admin][admin-stream]") {
  running_server server(routes);
  const auto port = server.port();
  CHECK(call(port, get("/other")).status == 202);
  CHECK(call(port, get("/hello?old=1")).status == 200);
  CHECK(call(port, get("/hello?old=2")).status == 200);

  CHECK(call(port, get("/__admin/requests/stream?colour=red")).status == 400);
  CHECK(call(port, get("/__admin/requests/stream?status=abc")).status == 400);

  // The newest entry the filters admit, then new ones that pass them.
  stream_client stream(port, "/__admin/requests/stream?route=hello&status=2xx&limit=1");
  stream.head();
  const std::string backlog = stream.until("\n\n", 5s);
  CHECK(backlog.find("retry: ") != std::string::npos);
  CHECK(first_event(stream.until("\n\n")).at("target") == "/hello?old=2");
  CHECK(call(port, get("/other")).status == 202);
  CHECK(call(port, post("/hello")).status == 200);
  CHECK(call(port, get("/hello?new=1")).status == 200);
  const std::string next = stream.until("\"target\":\"/hello?new=1\"");
  CHECK(next.find("/other") == std::string::npos);
  CHECK(next.find("\"method\":\"POST\"") != std::string::npos);

  stream_client posts(port, "/__admin/requests/stream?method=POST&path=/st*");
  posts.opened();
  CHECK(call(port, post("/hello")).status == 200);
  CHECK(call(port, post("/steps")).status == 503);
  const json::object step = first_event(posts.until("\n\n"));
  CHECK(step.at("path") == "/steps");
  CHECK(step.at("status") == 503);
}

TEST_CASE("a drain ends a journal stream at once with the last chunk",
          "[admin][admin-stream][drain]") {
  auto server = std::make_unique<running_server>(routes);
  stream_client stream(server->port(), "/__admin/requests/stream");
  stream.opened();
  const auto start = clock_type::now();
  std::jthread stopper([&] { server->get().stop(10s); });
  auto [rest, end] = stream.rest(5s);
  // The end of the chunk read so far; heartbeats do not come this soon; then the last chunk,
  // and the connection ends.
  CHECK(rest == "\r\n0\r\n\r\n");
  CHECK(end == connection_end::clean_close);
  CHECK(clock_type::now() - start < 5s);  // the drain did not wait for its timeout
  stopper.join();
}

TEST_CASE("over HTTP/1.0 the stream has no chunks and ends with the connection",
          "[admin][admin-stream]") {
  running_server server(routes);
  stream_client stream(server.port(), "/__admin/requests/stream", {}, "HTTP/1.0");
  const std::string head = stream.head();
  CHECK(head.starts_with("HTTP/1.1 200 "));
  CHECK(head.find("Transfer-Encoding") == std::string::npos);
  CHECK(stream.until(": stubborn journal stream\n\n") ==
        "retry: 2000\n: stubborn journal stream\n\n");
  CHECK(call(server.port(), get("/hello")).status == 200);
  CHECK(stream.until("\n\n").starts_with("id: "));
}

TEST_CASE("open journal streams are bounded; a stream whose client left frees its place",
          "[admin][admin-stream]") {
  running_server server(routes);
  const auto port = server.port();
  std::vector<std::unique_ptr<stream_client>> open;
  for (int i = 0; i < 16; ++i) {
    open.push_back(std::make_unique<stream_client>(port, "/__admin/requests/stream"));
    open.back()->opened();
  }
  http_response refused = call(port, get("/__admin/requests/stream"));
  CHECK(refused.status == 503);
  CHECK(refused.header("Retry-After") == "5");
  CHECK(json::parse(call(port, get("/__admin/status")).body).at("journal_streams") == 16);

  open.pop_back();  // the client closes: the server notices and gives the place back
  const auto deadline = clock_type::now() + 5s;
  while (clock_type::now() < deadline &&
         json::parse(call(port, get("/__admin/status")).body).at("journal_streams") != 15) {
    std::this_thread::sleep_for(10ms);  // polling an observable count, bounded by the deadline
  }
  stream_client again(port, "/__admin/requests/stream");
  again.opened();
}

TEST_CASE("routes show their state, and status counts replies since the last reset",
          "[admin][admin-page]") {
  running_server server(routes);
  const auto port = server.port();
  CHECK(call(port, get("/hello")).status == 200);
  CHECK(call(port, get("/hello")).status == 200);
  CHECK(call(port, post("/steps")).status == 503);
  CHECK(call(port, get("/nowhere")).status == 404);

  json::value status = json::parse(call(port, get("/__admin/status")).body);
  const json::object& since = status.at("since_reset").as_object();
  CHECK(since.at("requests") == 4);
  CHECK(since.at("2xx") == 2);
  CHECK(since.at("4xx") == 1);
  CHECK(since.at("5xx") == 1);

  json::array listed = json::parse(call(port, get("/__admin/routes")).body).at("routes").as_array();
  REQUIRE(listed.size() == 3);
  CHECK(listed[0].at("name") == "hello");
  CHECK(listed[0].at("state").at("hits") == 2);
  CHECK_FALSE(listed[0].at("state").as_object().contains("sequence"));
  const json::object& steps = listed[2].at("state").as_object();
  CHECK(steps.at("hits") == 1);
  CHECK(steps.at("sequence").at("replies") == 2);
  CHECK(steps.at("sequence").at("next") == 1);
  CHECK(json::parse(call(port, get("/__admin/routes/steps")).body).at("state").at("hits") == 1);

  CHECK(call(port, post("/__admin/reset")).status == 200);
  status = json::parse(call(port, get("/__admin/status")).body);
  CHECK(status.at("since_reset").at("requests") == 0);
  CHECK(status.at("since_reset").at("5xx") == 0);
  listed = json::parse(call(port, get("/__admin/routes")).body).at("routes").as_array();
  CHECK(listed[0].at("state").at("hits") == 0);
  CHECK(listed[2].at("state").at("sequence").at("next") == 0);
}

// The pure parts of derived statuses: constant-time compare, ETags and their lists,
// HTTP dates, Range parsing, Accept and Content-Type matching, and the config keys' messages.

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "respond/route_rules.hpp"
#include "routing/request.hpp"
#include "stubborn/config_error.hpp"
#include "stubborn/load_config.hpp"

using namespace stubborn;

namespace {

std::vector<std::string> problems_of(const std::string& text) {
  try {
    load_config_text(text, "t.toml", ".");
  } catch (const config_error& e) {
    std::vector<std::string> out;
    for (const auto& p : e.problems()) out.push_back(p.to_string());
    return out;
  }
  return {};
}

std::string ranges_text(std::string_view header, std::uint64_t length) {
  std::vector<byte_range> ranges;
  switch (parse_range(header, length, ranges)) {
    case range_outcome::ignore:
      return "ignore";
    case range_outcome::unsatisfiable:
      return "416";
    case range_outcome::satisfiable:
      break;
  }
  std::string out;
  for (const auto& r : ranges) {
    out += (out.empty() ? "" : ",") + std::to_string(r.first) + "-" + std::to_string(r.last);
  }
  return out;
}

request_view with_headers(std::string_view method, std::span<const header_field> headers) {
  request_view r;
  r.method = method;
  r.headers = headers;
  return r;
}

}  // namespace

TEST_CASE("constant-time compare needs equal length and content", "[unit][rules]") {
  CHECK(constant_time_equals("secret", "secret"));
  CHECK_FALSE(constant_time_equals("secreT", "secret"));
  CHECK_FALSE(constant_time_equals("secret1", "secret"));
  CHECK_FALSE(constant_time_equals("secre", "secret"));
  CHECK_FALSE(constant_time_equals("", "secret"));
  // A received value that repeats the secret is still a different length.
  CHECK_FALSE(constant_time_equals("secretsecret", "secret"));
}

TEST_CASE("ETags are strong, stable, and compared per RFC 9110 §8.8.3.2", "[unit][rules]") {
  const std::string tag = body_etag("hello");
  CHECK(tag.front() == '"');
  CHECK(tag.back() == '"');
  CHECK(tag == body_etag("hello"));
  CHECK(tag != body_etag("hellO"));
  const std::string weak = "W/" + tag;
  CHECK(etag_list_matches("*", tag, etag_comparison::strong));
  CHECK(etag_list_matches(tag, tag, etag_comparison::strong));
  CHECK(etag_list_matches("\"x\", " + tag, tag, etag_comparison::weak));
  CHECK(etag_list_matches(weak, tag, etag_comparison::weak));
  CHECK_FALSE(etag_list_matches(weak, tag, etag_comparison::strong));
  CHECK_FALSE(etag_list_matches("\"x\", \"y\"", tag, etag_comparison::weak));
  CHECK_FALSE(etag_list_matches("\"x\"", "", etag_comparison::weak));
  CHECK(etag_list_matches(" , " + tag + " ,", tag, etag_comparison::weak));
}

TEST_CASE("HTTP dates in all three formats", "[unit][rules]") {
  const std::int64_t t = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
  CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == t);
  CHECK(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == t);
  CHECK(parse_http_date("Sun Nov  6 08:49:37 1994") == t);
  CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC"));
  CHECK_FALSE(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"));
  CHECK_FALSE(parse_http_date("yesterday"));
  CHECK_FALSE(parse_http_date(""));
}

TEST_CASE("Range parsing per RFC 9110 §14.1.2", "[unit][rules]") {
  CHECK(ranges_text("bytes=0-9", 100) == "0-9");
  CHECK(ranges_text("bytes=90-200", 100) == "90-99");
  CHECK(ranges_text("bytes=95-", 100) == "95-99");
  CHECK(ranges_text("bytes=-10", 100) == "90-99");
  CHECK(ranges_text("bytes=-500", 100) == "0-99");
  CHECK(ranges_text("BYTES=0-0, 5-6", 100) == "0-0,5-6");
  CHECK(ranges_text("bytes=0-1,,200-300, 3-4", 100) == "0-1,3-4");
  CHECK(ranges_text("bytes=100-", 100) == "416");
  CHECK(ranges_text("bytes=-0", 100) == "416");
  CHECK(ranges_text("bytes=0-0", 0) == "416");
  CHECK(ranges_text("bytes=5-1", 100) == "ignore");
  CHECK(ranges_text("bytes=abc", 100) == "ignore");
  CHECK(ranges_text("bytes=-", 100) == "ignore");
  CHECK(ranges_text("bytes=", 100) == "ignore");
  CHECK(ranges_text("items=0-1", 100) == "ignore");
  CHECK(ranges_text("bytes=1-2-3", 100) == "ignore");
  std::string many = "bytes=0-0";
  for (int i = 1; i < 100; ++i) many += "," + std::to_string(i) + "-" + std::to_string(i);
  CHECK(ranges_text(many, 1000) == "ignore");
}

TEST_CASE("Accept admits by the most specific media range", "[unit][rules]") {
  const std::vector<std::string> json = {"application/json"};
  CHECK(accept_admits("", json));
  CHECK(accept_admits("application/json", json));
  CHECK(accept_admits("Application/JSON; charset=utf-8", json));
  CHECK(accept_admits("*/*", json));
  CHECK(accept_admits("application/*", json));
  CHECK(accept_admits("text/html, */*;q=0.1", json));
  CHECK_FALSE(accept_admits("text/html", json));
  CHECK_FALSE(accept_admits("text/*", json));
  CHECK_FALSE(accept_admits("application/json;q=0", json));
  CHECK_FALSE(accept_admits("*/*, application/json; q=0.0", json));
  CHECK_FALSE(accept_admits("application/*;q=0, */*", json));
  CHECK(accept_admits("application/*;q=0, application/json", json));
  const std::vector<std::string> two = {"application/json", "text/csv"};
  CHECK(accept_admits("text/csv", two));
  CHECK_FALSE(accept_admits("text/html", two));
}

TEST_CASE("Content-Type is listed by its media type", "[unit][rules]") {
  const std::vector<std::string> json = {"application/json"};
  CHECK(content_type_listed("application/json", json));
  CHECK(content_type_listed("Application/Json ; charset=utf-8", json));
  CHECK_FALSE(content_type_listed("text/plain", json));
  CHECK_FALSE(content_type_listed("", json));
}

TEST_CASE("conditions follow the precedence of RFC 9110 §13.2.2", "[unit][rules]") {
  const std::string tag = body_etag("x");
  const std::int64_t modified = 784111777;
  auto eval = [&](std::string_view method, std::vector<header_field> headers) {
    return evaluate_conditions(with_headers(method, headers), tag, modified);
  };
  using c = condition_outcome;
  CHECK(eval("GET", {}) == c::proceed);
  CHECK(eval("GET", {{"If-None-Match", tag}}) == c::not_modified);
  CHECK(eval("HEAD", {{"If-None-Match", "W/" + tag}}) == c::not_modified);
  CHECK(eval("GET", {{"If-None-Match", "\"other\""}}) == c::proceed);
  CHECK(eval("PUT", {{"If-None-Match", "*"}}) == c::precondition_failed);
  CHECK(eval("PUT", {{"If-Match", "\"other\""}}) == c::precondition_failed);
  CHECK(eval("PUT", {{"If-Match", tag}}) == c::proceed);
  CHECK(eval("DELETE", {{"If-Match", "W/" + tag}}) == c::precondition_failed);
  CHECK(eval("GET", {{"If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"}}) == c::not_modified);
  CHECK(eval("GET", {{"If-Modified-Since", "Sat, 05 Nov 1994 08:49:37 GMT"}}) == c::proceed);
  CHECK(eval("GET", {{"If-Modified-Since", "garbage"}}) == c::proceed);
  // If-None-Match wins over If-Modified-Since.
  CHECK(eval("GET", {{"If-None-Match", "\"other\""},
                     {"If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"}}) == c::proceed);
  CHECK(eval("POST", {{"If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"}}) == c::proceed);
  CHECK(eval("POST", {{"If-Unmodified-Since", "Sat, 05 Nov 1994 08:49:37 GMT"}}) ==
        c::precondition_failed);
  CHECK(eval("POST", {{"If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"}}) == c::proceed);
  // If-Match present: If-Unmodified-Since is not evaluated.
  CHECK(eval("POST", {{"If-Match", tag},
                      {"If-Unmodified-Since", "Sat, 05 Nov 1994 08:49:37 GMT"}}) == c::proceed);
}

TEST_CASE("If-Range matches a strong ETag or the exact date", "[unit][rules]") {
  const std::string tag = body_etag("x");
  CHECK(if_range_matches(tag, tag, std::nullopt));
  CHECK_FALSE(if_range_matches("W/" + tag, tag, std::nullopt));
  CHECK_FALSE(if_range_matches("\"other\"", tag, std::nullopt));
  CHECK(if_range_matches("Sun, 06 Nov 1994 08:49:37 GMT", "", 784111777));
  CHECK_FALSE(if_range_matches("Sun, 06 Nov 1994 08:49:38 GMT", "", 784111777));
  CHECK_FALSE(if_range_matches("Sun, 06 Nov 1994 08:49:37 GMT", tag, std::nullopt));
}

TEST_CASE("multipart/byteranges parts carry Content-Type and Content-Range", "[unit][rules]") {
  const std::vector<byte_range> ranges = {{0, 1}, {4, 5}};
  CHECK(multipart_byteranges("abcdef", ranges, "text/plain", "B") ==
        "\r\n--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/6\r\n\r\nab"
        "\r\n--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 4-5/6\r\n\r\nef"
        "\r\n--B--\r\n");
  CHECK(content_range_line(nullptr, 6) == "Content-Range: bytes */6\r\n");
}

TEST_CASE("auth checks bearer, basic and header credentials", "[unit][rules]") {
  route_spec spec;
  spec.auth = auth_spec{auth_kind::basic, "", "Aladdin:open sesame", {}};
  auto rules = compiled_rules::compile(spec, {});
  CHECK(rules.any);
  auto check = [&](std::vector<header_field> headers) {
    return rules.check_auth(with_headers("GET", headers));
  };
  CHECK(check({}) == auth_result::missing);
  CHECK(check({{"Authorization", "Bearer x"}}) == auth_result::missing);
  CHECK(check({{"Authorization", "basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="}}) == auth_result::granted);
  CHECK(check({{"Authorization", "Basic QWxhZGRpbjpvcGVuIHNlc2FtZR=="}}) == auth_result::wrong);
  CHECK(check({{"Authorization", "Basic !!"}}) == auth_result::wrong);
  spec.auth = auth_spec{auth_kind::bearer, "", "t0k3n", {}};
  rules = compiled_rules::compile(spec, {});
  CHECK(check({{"authorization", "Bearer t0k3n"}}) == auth_result::granted);
  CHECK(check({{"Authorization", "Bearer t0k3"}}) == auth_result::wrong);
  CHECK(rules.challenge() == "WWW-Authenticate: Bearer realm=\"stubborn\"\r\n");
  spec.auth = auth_spec{auth_kind::header, "X-Api-Key", "k", {}};
  rules = compiled_rules::compile(spec, {});
  CHECK(check({{"x-api-key", "k"}}) == auth_result::granted);
  CHECK(check({{"X-Api-Key", "K"}}) == auth_result::wrong);
  CHECK(check({}) == auth_result::missing);
  CHECK(rules.challenge().empty());
}

TEST_CASE("derived-status keys: exact load messages", "[unit][rules][config]") {
  struct error_case {
    std::string text;
    std::vector<std::string> expected;
  };
  const std::vector<error_case> cases = {
      {"[[route]]\npath = \"/\"\n[route.auth]\nbearer = \"a\"\nbasic = \"u:p\"\n",
       {"t.toml:5:9: [route.auth] takes one of 'bearer', 'basic' and 'header', not both "
        "'bearer' and 'basic'"}},
      {"[[route]]\npath = \"/\"\n[route.auth]\nbearr = \"a\"\n",
       {"t.toml:4:1: unknown key 'bearr' in [route.auth] (did you mean 'bearer'?)"}},
      {"[[route]]\npath = \"/\"\nauth = {}\n",
       {"t.toml:3:8: [route.auth] needs one of 'bearer', 'basic' or 'header'"}},
      {"[[route]]\npath = \"/\"\nauth = { basic = \"user\" }\n",
       {"t.toml:3:18: 'basic' must be \"user:password\", not \"user\""}},
      {"[[route]]\npath = \"/\"\nauth = { header = { name = \"X-Key\" } }\n",
       {"t.toml:3:19: [route.auth] 'header' needs a 'name' and a 'value'"}},
      {"[[route]]\npath = \"/\"\nlast_modified = \"yesterday\"\n",
       {"t.toml:3:17: 'last_modified' must be an IMF-fixdate like \"Sun, 06 Nov 1994 08:49:37 "
        "GMT\", not \"yesterday\""}},
      {"[[route]]\npath = \"/\"\nproduces = [\"json\"]\n",
       {"t.toml:3:13: 'produces' lists media types like \"application/json\" (no wildcards or "
        "parameters), not \"json\""}},
      {"[[route]]\npath = \"/\"\netag = \"yes\"\n",
       {"t.toml:3:8: 'etag' must be a boolean (true or false), not a string"}},
      {"[[route]]\npath = \"/\"\nrange = true\n",
       {"t.toml:3:1: unknown key 'range' in [[route]] (did you mean 'ranges'?)"}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nstatus = 302\n",
       {"t.toml:4:10: a 302 reply needs a Location: add headers = { Location = \"...\" } or "
        "redirect = { to = \"...\" }"}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nredirect = { to = \"/x\", status = 304 }\n",
       {"t.toml:4:34: a redirect status must be 301, 302, 303, 307 or 308, not 304"}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nstatus = 301\nredirect = { to = \"/x\" }\n",
       {"t.toml:4:10: a reply with 'redirect' takes its status from 'redirect.status'; leave "
        "'status' out"}},
      {"[[route]]\npath = \"/{id}\"\n[route.reply]\nredirect = { to = \"/x/{{path.nope}}\" }\n",
       {}},
      {"[[route]]\npath = \"/\"\n[route.reply]\nredirect = { status = 308 }\n",
       {"t.toml:4:12: a redirect needs 'to': the Location, e.g. { to = \"/new\" }"}},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    if (c.expected.empty()) {
      CHECK_FALSE(problems_of(c.text).empty());
    } else {
      CHECK(problems_of(c.text) == c.expected);
    }
  }
  CHECK(problems_of("[[route]]\npath = \"/\"\n[route.reply]\nstatus = 304\n").empty());
  CHECK(problems_of("[[route]]\npath = \"/{id}\"\nauth = { bearer = \"t\" }\netag = true\n"
                    "ranges = true\nlast_modified = \"Sun, 06 Nov 1994 08:49:37 GMT\"\n"
                    "produces = \"application/json\"\nconsumes = [\"application/json\"]\n"
                    "require_length = true\n[route.reply]\n"
                    "redirect = { to = \"/new/{{path.id}}\", status = 308 }\n")
            .empty());
}

#include <catch2/catch.hpp>

#include "routing/path_pattern.hpp"

using stubborn::path_pattern;

namespace {

bool matches(const char* pattern, const char* path) {
  std::string_view captures[stubborn::max_path_params];
  return path_pattern::compile(pattern).match(path, captures);
}

}  // namespace

TEST_CASE("literal paths match exactly", "[path]") {
  CHECK(matches("/hello", "/hello"));
  CHECK_FALSE(matches("/hello", "/hello/"));
  CHECK_FALSE(matches("/hello", "/hell"));
  CHECK_FALSE(matches("/hello", "/hello/x"));
  CHECK(matches("/", "/"));
  CHECK_FALSE(matches("/", "/a"));
  CHECK(matches("/a/b/", "/a/b/"));
  CHECK_FALSE(matches("/a/b/", "/a/b"));
}

TEST_CASE("literal segments compare percent-decoded", "[path]") {
  CHECK(matches("/a b", "/a%20b"));
  CHECK(matches("/caf%C3%A9", "/caf%c3%a9"));
  CHECK_FALSE(matches("/a b", "/a+b"));
}

TEST_CASE("{name} captures exactly one non-empty segment", "[path]") {
  auto p = path_pattern::compile("/users/{id}/files/{file}");
  REQUIRE(p.param_names() == std::vector<std::string>{"id", "file"});
  std::string_view captures[stubborn::max_path_params];
  REQUIRE(p.match("/users/42/files/a%20b", captures));
  CHECK(captures[0] == "42");
  CHECK(captures[1] == "a%20b");
  CHECK_FALSE(p.match("/users//files/x", captures));
  CHECK_FALSE(p.match("/users/1/2/files/x", captures));
  CHECK_FALSE(p.match("/users/1/files/x/y", captures));
}

TEST_CASE("a trailing /* matches anything below", "[path]") {
  CHECK(matches("/static/*", "/static/a"));
  CHECK(matches("/static/*", "/static/a/b/c.css"));
  CHECK(matches("/static/*", "/static/"));
  CHECK_FALSE(matches("/static/*", "/static"));
  CHECK_FALSE(matches("/static/*", "/staticx/a"));
  CHECK(matches("/*", "/"));
  CHECK(matches("/*", "/anything/at/all"));
}

TEST_CASE("bad patterns are refused with an offset", "[path]") {
  auto offset_of = [](const char* pattern) -> std::size_t {
    try {
      path_pattern::compile(pattern);
    } catch (const stubborn::path_pattern_error& e) {
      return e.offset;
    }
    return 9999;
  };
  CHECK(offset_of("users") == 0);
  CHECK(offset_of("/a?b=1") == 2);
  CHECK(offset_of("/a/*/b") == 3);
  CHECK(offset_of("/a/x{id}") == 4);
  CHECK(offset_of("/a/{i d}") == 5);
  CHECK(offset_of("/a/{id}/{id}") == 8);
  CHECK(offset_of("/a/{}") == 3);
  CHECK(offset_of("/ok/{id}/*") == 9999);
}

TEST_CASE("percent decoding helpers", "[path]") {
  CHECK(stubborn::equals_percent_decoded("a%2Fb", "a/b"));
  CHECK(stubborn::equals_percent_decoded("a+b", "a b", true));
  CHECK_FALSE(stubborn::equals_percent_decoded("a+b", "a b", false));
  CHECK(stubborn::equals_percent_decoded("%zz", "%zz"));  // malformed escapes stand for themselves
  CHECK(stubborn::equals_percent_decoded("%4", "%4"));
  std::string out;
  stubborn::append_percent_decoded("x%41+y", out, true);
  CHECK(out == "xA y");
}

// Reading one cookie from a Cookie header value (RFC 6265 §5.4).

#include <catch2/catch.hpp>
#include <string>

#include "text/cookies.hpp"

using namespace stubborn;

namespace {

// The value found, or "<absent>".
std::string cookie(std::string_view header, std::string_view name) {
  std::string_view value;
  if (!find_cookie_in(header, name, value)) return "<absent>";
  return std::string(value);
}

}  // namespace

TEST_CASE("Cookies: the value of each cookie in `a=1; b=2`", "[unit][cookies]") {
  CHECK(cookie("session=s1; theme=dark", "session") == "s1");
  CHECK(cookie("session=s1; theme=dark", "theme") == "dark");
  CHECK(cookie("session=s1", "session") == "s1");
  CHECK(cookie("session=s1; theme=dark", "lang") == "<absent>");
  CHECK(cookie("", "session") == "<absent>");
}

TEST_CASE("Cookies: names are case-sensitive and whole", "[unit][cookies]") {
  CHECK(cookie("Session=S; session=s", "session") == "s");
  CHECK(cookie("Session=S; session=s", "Session") == "S");
  CHECK(cookie("xsession=1; sessionx=2", "session") == "<absent>");
  CHECK(cookie("a=session=1", "session") == "<absent>");
}

TEST_CASE("Cookies: spacing is tolerated, and the first match wins", "[unit][cookies]") {
  CHECK(cookie("a=1;b=2", "b") == "2");
  CHECK(cookie("a=1 ;  b = 2 ", "b") == "2");
  CHECK(cookie("\ta=1;\tb=2\t", "a") == "1");
  CHECK(cookie("id=first; id=second", "id") == "first");
  CHECK(cookie("a=1;;; b=2;", "b") == "2");
}

TEST_CASE("Cookies: quotes around a value are removed, other characters kept", "[unit][cookies]") {
  CHECK(cookie("token=\"abc def\"; x=1", "token") == "abc def");
  CHECK(cookie("token=\"\"", "token") == "");
  CHECK(cookie("token=\"", "token") == "\"");
  CHECK(cookie("token=\"abc", "token") == "\"abc");
  CHECK(cookie("token=a=b==", "token") == "a=b==");
  CHECK(cookie("empty=; b=2", "empty") == "");
}

TEST_CASE("Cookies: pieces without '=' are not cookies", "[unit][cookies]") {
  CHECK(cookie("flag; b=2", "flag") == "<absent>");
  CHECK(cookie("flag; b=2", "b") == "2");
}

TEST_CASE("Cookies: the value points into the header, not a copy", "[unit][cookies]") {
  const std::string header = "a=1; b=22";
  std::string_view value;
  REQUIRE(find_cookie_in(header, "b", value));
  CHECK(value.data() == header.data() + 7);
  CHECK(value.size() == 2);
}

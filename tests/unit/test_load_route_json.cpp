#include <catch2/catch.hpp>

#include <string>

#include "json_token_scanner.hpp"

TEST_CASE("json_token_scanner finds keys and values in document order", "[config][json]") {
  stubborn::json_token_scanner scanner("{\"a\": [1, \"x\\\"y\"],\n \"\xc3\xa9\": true}");
  const auto at = [](const stubborn::json_token& t) {
    return std::to_string(t.begin.line) + ":" + std::to_string(t.begin.column) + "-" +
           std::to_string(t.end.line) + ":" + std::to_string(t.end.column);
  };
  CHECK(at(scanner.next()) == "1:1-1:2");    // {
  CHECK(at(scanner.next()) == "1:2-1:5");    // "a"
  CHECK(at(scanner.next()) == "1:7-1:8");    // [
  CHECK(at(scanner.next()) == "1:8-1:9");    // 1
  CHECK(at(scanner.next()) == "1:11-1:17");  // "x\"y"
  CHECK(at(scanner.next()) == "2:2-2:5");    // "é"
  CHECK(at(scanner.next()) == "2:7-2:11");   // true
  CHECK(at(scanner.next()) == "2:12-2:12");  // the end
  CHECK(at(scanner.next()) == "2:12-2:12");
  const auto p = stubborn::json_token_scanner::position_of("ab\ncd", 4);
  CHECK(p.line == 2);
  CHECK(p.column == 2);
}

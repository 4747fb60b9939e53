#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace stubborn {

/// A 1-based line and column in a text; columns count code points, as toml++ does.
struct text_position {
  std::uint32_t line = 1;
  std::uint32_t column = 1;
};

/// Where one JSON token is written: from its first character to just past its last.
struct json_token {
  text_position begin;
  text_position end;
};

/// Walks JSON text and gives the place of each key and each value in document order, which is
/// the order in which boost::json::basic_parser reports them (a container's place is its `{` or
/// `[`). Boost.JSON reports no positions; this supplies them. It checks nothing: on text that is
/// not JSON it still moves forward and stops at the end, and the parser reports the error.
class json_token_scanner {
 public:
  explicit json_token_scanner(std::string_view text) : text_(text) {}

  /// The next key or value; at the end of the text, an empty token there.
  json_token next();

  /// The line and column of the byte at `offset` (or of the end, if `offset` is past it).
  static text_position position_of(std::string_view text, std::size_t offset);

 private:
  void advance();

  std::string_view text_;
  std::size_t pos_ = 0;
  text_position here_;
};

}  // namespace stubborn

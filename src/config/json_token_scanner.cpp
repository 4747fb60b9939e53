#include "config/json_token_scanner.hpp"

namespace stubborn {
namespace {

// RFC 8259 §2: insignificant whitespace, and the separators between tokens.
bool is_space_or_separator(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == ':' || c == '}' ||
         c == ']';
}

// Where a number or a literal (true, false, null) ends.
bool ends_bare_token(char c) {
  return is_space_or_separator(c) || c == '{' || c == '[' || c == '"';
}

}  // namespace

void json_token_scanner::advance() {
  const auto byte = static_cast<unsigned char>(text_[pos_++]);
  if (byte == '\n') {
    ++here_.line;
    here_.column = 1;
  } else if ((byte & 0xC0) != 0x80) {
    ++here_.column;  // a UTF-8 continuation byte belongs to the code point before it
  }
}

json_token json_token_scanner::next() {
  while (pos_ < text_.size() && is_space_or_separator(text_[pos_])) advance();
  json_token token{here_, here_};
  if (pos_ == text_.size()) return token;
  const char c = text_[pos_];
  if (c == '{' || c == '[') {
    advance();
  } else if (c == '"') {
    advance();
    while (pos_ < text_.size()) {
      const char in_string = text_[pos_];
      advance();
      if (in_string == '"') break;
      if (in_string == '\\' && pos_ < text_.size()) advance();
    }
  } else {
    // At least one character, so that anything unexpected is stepped over.
    do {
      advance();
    } while (pos_ < text_.size() && !ends_bare_token(text_[pos_]));
  }
  token.end = here_;
  return token;
}

text_position json_token_scanner::position_of(std::string_view text, std::size_t offset) {
  json_token_scanner scanner(text.substr(0, offset < text.size() ? offset : text.size()));
  while (scanner.pos_ < scanner.text_.size()) scanner.advance();
  return scanner.here_;
}

}  // namespace stubborn

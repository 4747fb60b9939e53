#include "config/nesting_scanner.hpp"

#include <vector>

namespace stubborn {
namespace {

// Where TOML text would nest tables deeper than `limit`, found without building anything.
// toml++ 3.3 caps arrays and inline tables at 256 levels but not dotted keys and table headers:
// `a.b.c...` with some 30,000 parts overflows the stack inside toml::parse, so this must run
// before it. It follows just enough of the grammar to tell keys from values and to skip strings
// and comments; after a syntax error it may lose track, which toml::parse then reports.
class nesting_scanner {
 public:
  nesting_scanner(std::string_view text, int limit) : text_(text), limit_(limit) {}

  // The 1-based line and column where the limit is first exceeded, if it is.
  std::optional<std::pair<std::uint32_t, std::uint32_t>> find() {
    while (pos_ < text_.size() && !too_deep_) {
      if (stack_.empty() && at_line_start_) {
        line_start();
        continue;
      }
      const char c = text_[pos_];
      if (c == '\n') {
        advance();
        if (stack_.empty()) at_line_start_ = true;
      } else if (c == '#') {
        while (pos_ < text_.size() && text_[pos_] != '\n') advance();
      } else if (c == '"' || c == '\'') {
        skip_string();
      } else if (in_key_) {
        key_char(c);
      } else {
        value_char(c);
      }
    }
    if (!too_deep_) return std::nullopt;
    return std::pair{line_, column_};
  }

 private:
  struct frame {
    char kind;  // '[' array or '{' inline table
    int depth;  // array: depth of its elements; inline table: its own depth
  };

  void advance() {
    const auto byte = static_cast<unsigned char>(text_[pos_++]);
    if (byte == '\n') {
      ++line_;
      column_ = 1;
    } else if ((byte & 0xC0) != 0x80) {
      ++column_;  // toml++ counts columns in code points
    }
  }

  void reach(int depth) {
    if (depth > limit_) too_deep_ = true;
  }

  void line_start() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) advance();
    at_line_start_ = false;
    if (pos_ < text_.size() && text_[pos_] == '[') {
      table_header();
      return;
    }
    // A key = value line (or an empty line, or a comment): keys first, inside the current table.
    in_key_ = true;
    key_base_ = table_depth_;
    key_dots_ = 0;
  }

  // `[a.b]` puts the table at depth 2; `[[a.b]]` puts an array at 2 and its element at 3.
  void table_header() {
    advance();
    bool array_of_tables = false;
    if (pos_ < text_.size() && text_[pos_] == '[') {
      array_of_tables = true;
      advance();
    }
    int depth = 1;
    while (pos_ < text_.size() && text_[pos_] != ']' && text_[pos_] != '\n') {
      if (text_[pos_] == '"' || text_[pos_] == '\'') {
        skip_string();
        continue;
      }
      if (text_[pos_] == '.') reach(++depth);
      if (too_deep_) return;
      advance();
    }
    table_depth_ = depth + (array_of_tables ? 1 : 0);
    reach(table_depth_);
    // The rest of the line: "]]", spaces, a comment; nothing that nests.
    in_key_ = false;
    while (pos_ < text_.size() && text_[pos_] != '\n' && text_[pos_] != '#') advance();
  }

  void key_char(char c) {
    if (c == '.') {
      ++key_dots_;
      reach(key_base_ + key_dots_ + 1);
      if (too_deep_) return;
    } else if (c == '=') {
      in_key_ = false;
      value_depth_ = key_base_ + key_dots_ + 1;
      reach(value_depth_);
      if (too_deep_) return;
    } else if (c == '}' && !stack_.empty() && stack_.back().kind == '{') {
      stack_.pop_back();  // `{}` or a trailing position after ','
      in_key_ = false;
    }
    advance();
  }

  void value_char(char c) {
    if (c == '[') {
      reach(value_depth_);
      stack_.push_back({'[', value_depth_ + 1});
      value_depth_ += 1;
    } else if (c == '{') {
      stack_.push_back({'{', value_depth_});
      in_key_ = true;
      key_base_ = value_depth_;
      key_dots_ = 0;
    } else if (c == ',' && !stack_.empty()) {
      if (stack_.back().kind == '{') {
        in_key_ = true;
        key_base_ = stack_.back().depth;
        key_dots_ = 0;
      } else {
        value_depth_ = stack_.back().depth;
      }
    } else if ((c == ']' || c == '}') && !stack_.empty()) {
      stack_.pop_back();
    }
    if (too_deep_) return;
    advance();
  }

  // "...", '...', """...""" or '''...''' (with up to two extra closing quotes, as TOML allows).
  void skip_string() {
    const char quote = text_[pos_];
    const bool multi_line =
        text_.substr(pos_, 3) == std::string_view(quote == '"' ? "\"\"\"" : "'''");
    const std::size_t open = multi_line ? 3 : 1;
    for (std::size_t i = 0; i < open; ++i) advance();
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '\\' && quote == '"') {
        advance();
        if (pos_ < text_.size()) advance();
        continue;
      }
      if (c == '\n' && !multi_line) return;  // unterminated: toml::parse reports it
      if (c == quote) {
        if (!multi_line) {
          advance();
          return;
        }
        if (text_.substr(pos_, 3) == std::string_view(quote == '"' ? "\"\"\"" : "'''")) {
          for (int i = 0; i < 3; ++i) advance();
          for (int i = 0; i < 2 && pos_ < text_.size() && text_[pos_] == quote; ++i) advance();
          return;
        }
      }
      advance();
    }
  }

  std::string_view text_;
  int limit_;
  std::size_t pos_ = 0;
  std::uint32_t line_ = 1;
  std::uint32_t column_ = 1;
  bool too_deep_ = false;
  bool at_line_start_ = true;
  bool in_key_ = false;
  int table_depth_ = 0;  // depth of the table the last [header] opened; the root is 0
  int key_base_ = 0;     // depth of the table the current key is in
  int key_dots_ = 0;
  int value_depth_ = 0;  // depth of the value being read
  std::vector<frame> stack_;
};

}  // namespace

std::optional<std::pair<std::uint32_t, std::uint32_t>> find_deep_nesting(std::string_view text,
                                                                         int limit) {
  return nesting_scanner(text, limit).find();
}

}  // namespace stubborn

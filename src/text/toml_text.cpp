#include "text/toml_text.hpp"

#include <algorithm>

namespace stubborn {

namespace {

bool is_control(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

// TOML 1.0, "String": the escapes every basic string knows; other controls as \u00XX.
void append_escaped(char c, std::string& out) {
  switch (c) {
    case '"':
      out += "\\\"";
      return;
    case '\\':
      out += "\\\\";
      return;
    case '\b':
      out += "\\b";
      return;
    case '\t':
      out += "\\t";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\f':
      out += "\\f";
      return;
    case '\r':
      out += "\\r";
      return;
    default:
      break;
  }
  if (is_control(c)) {
    constexpr std::string_view hex = "0123456789ABCDEF";
    const auto u = static_cast<unsigned char>(c);
    out += "\\u00";
    out.push_back(hex[u >> 4]);
    out.push_back(hex[u & 0xf]);
    return;
  }
  out.push_back(c);
}

}  // namespace

std::string toml_string(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (char c : s) append_escaped(c, out);
  out.push_back('"');
  return out;
}

std::string toml_multiline_string(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  // A line feed right after the opening delimiter is trimmed by the parser, so one is written
  // there and the text starts on its own line.
  out += "\"\"\"\n";
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\n' || c == '\t') {
      out.push_back(c);
    } else if (c == '"') {
      // A quote followed by another, or by the closing delimiter, is escaped: no run of three
      // can end the string early, and the last character is never a bare quote.
      if (i + 1 == s.size() || s[i + 1] == '"') {
        out += "\\\"";
      } else {
        out.push_back('"');
      }
    } else {
      // CR is escaped too: a parser may turn a raw CRLF into LF.
      append_escaped(c, out);
    }
  }
  out += "\"\"\"";
  return out;
}

std::string toml_literal_string(std::string_view s) {
  const bool plain = std::none_of(s.begin(), s.end(),
                                  [](char c) { return c == '\'' || (is_control(c) && c != '\t'); });
  if (!plain) return toml_string(s);
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('\'');
  out.append(s);
  out.push_back('\'');
  return out;
}

std::string toml_key(std::string_view s) {
  const bool bare = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
  return bare ? std::string(s) : toml_string(s);
}

}  // namespace stubborn

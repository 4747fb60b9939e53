#include "text/form_fields.hpp"

namespace stubborn {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `+` is a space, `%xx` a byte; a `%` not followed by two hex digits stays as written.
std::string form_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
               hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

void read_urlencoded(std::string_view body, std::vector<form_field>& out) {
  while (!body.empty()) {
    const std::size_t amp = body.find('&');
    const std::string_view piece = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    if (piece.empty()) continue;
    const std::size_t eq = piece.find('=');
    if (eq == std::string_view::npos) {
      out.push_back({form_decode(piece), std::string()});
    } else {
      out.push_back({form_decode(piece.substr(0, eq)), form_decode(piece.substr(eq + 1))});
    }
  }
}

// The parameters after a media type or a Content-Disposition value: `; name=value` or
// `; name="quoted \" value"`. Calls `found(name, value)` for each until it returns true.
template <typename Found>
void read_parameters(std::string_view text, Found found) {
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t semicolon = text.find(';', at);
    if (semicolon == std::string_view::npos) return;
    at = semicolon + 1;
    while (at < text.size() && is_space(text[at])) ++at;
    const std::size_t name_start = at;
    while (at < text.size() && text[at] != '=' && text[at] != ';') ++at;
    const std::string_view name = trim(text.substr(name_start, at - name_start));
    if (at >= text.size() || text[at] != '=') continue;
    ++at;
    while (at < text.size() && is_space(text[at])) ++at;
    std::string value;
    if (at < text.size() && text[at] == '"') {
      ++at;
      while (at < text.size() && text[at] != '"') {
        if (text[at] == '\\' && at + 1 < text.size()) ++at;
        value += text[at++];
      }
      if (at < text.size()) ++at;  // the closing quote
    } else {
      const std::size_t value_start = at;
      while (at < text.size() && text[at] != ';') ++at;
      value = std::string(trim(text.substr(value_start, at - value_start)));
    }
    if (found(name, std::move(value))) return;
  }
}

// One line of `text` from `at`, ended by CRLF or a bare LF; false when no line end is left.
bool read_line(std::string_view text, std::size_t& at, std::string_view& line) {
  const std::size_t lf = text.find('\n', at);
  if (lf == std::string_view::npos) return false;
  std::size_t end = lf;
  if (end > at && text[end - 1] == '\r') --end;
  line = text.substr(at, end - at);
  at = lf + 1;
  return true;
}

// After a delimiter: `--` closes the body, otherwise optional padding and a line end open a
// part. False when the body is closed or damaged.
bool next_part_starts(std::string_view body, std::size_t& at) {
  if (body.substr(at, 2) == "--") return false;
  std::string_view rest;
  if (!read_line(body, at, rest)) return false;
  return trim(rest).empty();
}

void read_multipart(std::string_view boundary, std::string_view body,
                    std::vector<form_field>& out) {
  const std::string delimiter = "--" + std::string(boundary);
  const std::string delimiter_after_newline = "\n" + delimiter;
  // The first delimiter opens the body or a line (anything before it is a preamble).
  std::size_t at = 0;
  if (body.substr(0, delimiter.size()) == delimiter) {
    at = delimiter.size();
  } else {
    const std::size_t found = body.find(delimiter_after_newline);
    if (found == std::string_view::npos) return;
    at = found + delimiter_after_newline.size();
  }
  while (next_part_starts(body, at)) {
    std::string name;
    bool named = false;
    std::string_view line;
    for (;;) {
      if (!read_line(body, at, line)) return;  // the headers never ended
      if (line.empty()) break;
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      if (!iequals(trim(line.substr(0, colon)), "Content-Disposition")) continue;
      read_parameters(line.substr(colon + 1), [&](std::string_view key, std::string value) {
        if (!iequals(key, "name")) return false;
        name = std::move(value);
        named = true;
        return true;
      });
    }
    // The content ends at the line end before the next delimiter; that line end belongs to the
    // delimiter.
    const std::size_t found = body.find(delimiter_after_newline, at);
    if (found == std::string_view::npos) return;  // truncated: this part is not kept
    std::size_t end = found;
    if (end > at && body[end - 1] == '\r') --end;
    if (named) out.push_back({std::move(name), std::string(body.substr(at, end - at))});
    at = found + delimiter_after_newline.size();
  }
}

}  // namespace

bool read_form_fields(std::string_view content_type, std::string_view body,
                      std::vector<form_field>& out) {
  const std::string_view media_type = trim(content_type.substr(0, content_type.find(';')));
  if (iequals(media_type, "application/x-www-form-urlencoded")) {
    read_urlencoded(body, out);
    return true;
  }
  if (!iequals(media_type, "multipart/form-data")) return false;
  std::string boundary;
  read_parameters(content_type, [&](std::string_view key, std::string value) {
    if (!iequals(key, "boundary")) return false;
    boundary = std::move(value);
    return true;
  });
  if (!boundary.empty()) read_multipart(boundary, body, out);
  return true;
}

}  // namespace stubborn

#include "response_checker.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>

namespace stubborn::fuzz {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c)) return true;
  return c != '\0' && std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// RFC 9110 §5.5: field-vchar / SP / HTAB, obs-text allowed.
bool is_field_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return c == '\t' || (u >= 0x20 && u != 0x7f);
}

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The statuses the session answers a broken request with, always closing afterwards (501 is
// not among them: an unknown method is answered and the connection kept).
bool is_rejection(int status) {
  switch (status) {
    case 400:
    case 408:
    case 413:
    case 414:
    case 417:
    case 431:
    case 505:
      return true;
    default:
      return false;
  }
}

struct head {
  int status = 0;
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
  bool close = false;
  int dates = 0;
  std::optional<std::string_view> method;  // X-Method, echoed by every route of the fuzz table
};

class checker {
 public:
  checker(std::string_view output, std::string_view input) : out_(output), in_(input) {}

  std::string run() {
    std::size_t finals = 0;
    bool closed = false;
    while (pos_ < out_.size()) {
      if (closed) return at("bytes after a response with Connection: close");
      head h;
      if (auto why = read_head(h); !why.empty()) return why;
      if (h.status >= 100 && h.status < 200) {
        // RFC 9110 §15.2: interim responses have no content and no framing.
        if (h.content_length || h.chunked) return at("1xx response with framing headers");
        if (h.close) return at("1xx response with Connection: close");
        continue;
      }
      ++finals;
      if (h.status == 204 && (h.content_length || h.chunked)) {
        return at("204 with Content-Length or Transfer-Encoding (RFC 9110 §8.6, RFC 9112 §6.1)");
      }
      if (h.status >= 200 && h.status < 500 && h.dates != 1) {
        return at("final response without exactly one Date (RFC 9110 §6.6.1)");
      }
      if (is_rejection(h.status) && !h.close) return at("rejection that keeps the connection");
      bool bodyless = h.status == 204 || h.status == 304 || (h.method && *h.method == "HEAD");
      if (!bodyless) {
        if (h.chunked) {
          if (auto why = skip_chunked(); !why.empty()) return why;
        } else if (h.content_length) {
          // A reply the server wrote itself (no route echoed X-Method) does not say which
          // method it answers: a 404/405, or any of them when the input has a HEAD request
          // (`HEAD *` gets a 400 without a body, as HEAD requires).
          bool ambiguous = !h.method && (h.status == 404 || h.status == 405 ||
                                         in_.find("HEAD ") != std::string_view::npos);
          if (auto why = skip_length(*h.content_length, ambiguous); !why.empty()) return why;
        } else {
          return at("response with a body but neither Content-Length nor chunked");
        }
      }
      if (h.close) closed = true;
    }
    // Every final response answers one request, and each request line names an HTTP version;
    // one more for a rejection of bytes that never made a request line.
    std::size_t requests = 0;
    for (std::size_t p = in_.find("HTTP/"); p != std::string_view::npos;
         p = in_.find("HTTP/", p + 1)) {
      ++requests;
    }
    if (finals > requests + 1) return "more final responses than requests";
    return {};
  }

 private:
  std::string at(std::string_view what) const {
    return std::string(what) + " (at output byte " + std::to_string(pos_) + ")";
  }

  std::string read_head(head& h) {
    std::size_t eol = out_.find("\r\n", pos_);
    if (eol == std::string_view::npos) return at("incomplete status line");
    std::string_view line = out_.substr(pos_, eol - pos_);
    // RFC 9112 §4: HTTP-version SP 3DIGIT SP [ reason-phrase ]
    if (line.size() < 13 || line.substr(0, 9) != "HTTP/1.1 " || !is_digit(line[9]) ||
        !is_digit(line[10]) || !is_digit(line[11]) || line[12] != ' ') {
      return at("malformed status line");
    }
    for (char c : line.substr(13)) {
      if (!is_field_char(c)) return at("bad character in the reason phrase");
    }
    h.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    if (h.status < 100) return at("status below 100");
    pos_ = eol + 2;
    for (;;) {
      eol = out_.find("\r\n", pos_);
      if (eol == std::string_view::npos) return at("incomplete header block");
      if (eol == pos_) {
        pos_ += 2;
        return {};
      }
      line = out_.substr(pos_, eol - pos_);
      std::size_t colon = line.find(':');
      if (colon == 0 || colon == std::string_view::npos) return at("header line without a name");
      std::string_view name = line.substr(0, colon);
      for (char c : name) {
        if (!is_tchar(c)) return at("header name is not a token");
      }
      std::string_view value = line.substr(colon + 1);
      for (char c : value) {
        if (!is_field_char(c)) return at("control character in a header value");
      }
      value = trim(value);
      if (iequals(name, "Content-Length")) {
        if (h.content_length) return at("two Content-Length headers");
        if (value.empty() || value.size() > 18) return at("bad Content-Length");
        std::uint64_t n = 0;
        for (char c : value) {
          if (!is_digit(c)) return at("bad Content-Length");
          n = n * 10 + static_cast<std::uint64_t>(c - '0');
        }
        h.content_length = n;
      } else if (iequals(name, "Transfer-Encoding")) {
        if (h.chunked || !iequals(value, "chunked")) return at("unexpected Transfer-Encoding");
        h.chunked = true;
      } else if (iequals(name, "Connection")) {
        if (iequals(value, "close"))
          h.close = true;
        else if (!iequals(value, "keep-alive"))
          return at("unexpected Connection value");
      } else if (iequals(name, "Date")) {
        ++h.dates;
      } else if (iequals(name, "X-Method")) {
        h.method = value;
      }
      pos_ = eol + 2;
    }
  }

  std::string skip_length(std::uint64_t length, bool ambiguous) {
    std::size_t left = out_.size() - pos_;
    if (ambiguous) {
      // If the reply answered HEAD, no body follows it.
      bool body_fits =
          left >= length && (left == length || out_.substr(pos_ + length, 9) == "HTTP/1.1 ");
      if (!body_fits) return {};
    }
    if (left < length) return at("body shorter than Content-Length");
    pos_ += static_cast<std::size_t>(length);
    return {};
  }

  std::string skip_chunked() {
    for (;;) {
      std::size_t eol = out_.find("\r\n", pos_);
      if (eol == std::string_view::npos || eol == pos_) return at("bad chunk-size line");
      std::uint64_t size = 0;
      for (char c : out_.substr(pos_, eol - pos_)) {
        int v = hex_value(c);
        if (v < 0 || size > (std::uint64_t{1} << 40)) return at("bad chunk size");
        size = size * 16 + static_cast<std::uint64_t>(v);
      }
      pos_ = eol + 2;
      if (size == 0) break;
      if (out_.size() - pos_ < size + 2) return at("chunk cut short");
      pos_ += static_cast<std::size_t>(size);
      if (out_.substr(pos_, 2) != "\r\n") return at("chunk data not followed by CRLF");
      pos_ += 2;
    }
    if (out_.substr(pos_, 2) != "\r\n") return at("chunked body without its final CRLF");
    pos_ += 2;
    return {};
  }

  std::string_view out_;
  std::string_view in_;
  std::size_t pos_ = 0;
};

}  // namespace

std::string check_responses(std::string_view output, std::string_view input) {
  return checker(output, input).run();
}

std::string normalize_for_comparison(std::string_view output) {
  constexpr std::string_view interim = "HTTP/1.1 100 Continue\r\n\r\n";
  std::string result;
  result.reserve(output.size());
  std::size_t pos = 0;
  bool line_start = true;
  while (pos < output.size()) {
    // An interim reply starts a line, or follows a body that did not end with one ("hello" +
    // "HTTP/1.1 100 Continue"); then the final response (or the end) comes next.
    if (output.substr(pos, interim.size()) == interim) {
      const std::string_view after = output.substr(pos + interim.size());
      if (line_start || after.empty() || after.starts_with("HTTP/1.")) {
        pos += interim.size();
        line_start = true;
        continue;
      }
    }
    if (line_start && output.substr(pos, 6) == "Date: ") {
      std::size_t eol = output.find("\r\n", pos);
      if (eol == std::string_view::npos) eol = output.size();
      result.append("Date: -");
      pos = eol;
      line_start = false;
      continue;
    }
    char c = output[pos++];
    result.push_back(c);
    line_start = c == '\n';
  }
  return result;
}

}  // namespace stubborn::fuzz

#include "wire/request_parser.hpp"

#include <algorithm>
#include <cstring>

namespace stubborn {

namespace http = boost::beast::http;

namespace {

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls `f` for each element of a comma-separated list (RFC 9110 §5.6.1), empty ones skipped.
template <class F>
void for_each_list_item(std::string_view list, F&& f) {
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    std::string_view item = trim_ows(list.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace

bool chunk_line_breaks_quote(std::string_view pending) {
  if (pending.starts_with("\r\n")) pending.remove_prefix(2);
  // Judged only once the whole line is here, as Beast judges the rest of it (the chunk size
  // against the body limit first): the answer must not depend on how the bytes were split.
  const std::size_t lf = pending.find('\n');
  if (lf == std::string_view::npos) return false;
  bool quoted = false;
  for (std::size_t i = 0; i < lf; ++i) {
    const char c = pending[i];
    if (!quoted) {
      if (c == '\r') return false;  // the line ends here; Beast checks the rest of it
      quoted = c == '"';
    } else if (c == '\r') {
      return true;
    } else if (c == '"') {
      quoted = false;
    } else if (c == '\\') {
      // RFC 9110 §5.6.4: a quoted-pair escapes HTAB, SP, VCHAR or obs-text, never CR or LF.
      if (++i == lf || pending[i] == '\r') return true;
    }
  }
  return quoted;  // the LF came inside the quoted string
}

bool is_valid_host(std::string_view host) {
  // RFC 9110 §7.2: Host = uri-host [ ":" port ]; RFC 3986 §3.2.2: IP-literal / IPv4 / reg-name.
  auto is_hex = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  };
  auto is_alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  std::size_t i = 0;
  if (!host.empty() && host.front() == '[') {
    std::size_t close = host.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (i = 1; i < close; ++i) {
      char c = host[i];
      if (!is_alnum(c) && (c == '\0' || std::strchr(":.-_~!$&'()*+,;=", c) == nullptr)) {
        return false;
      }
    }
    i = close + 1;
  } else {
    for (; i < host.size() && host[i] != ':'; ++i) {
      char c = host[i];
      if (c == '%') {
        if (i + 2 >= host.size() || !is_hex(host[i + 1]) || !is_hex(host[i + 2])) return false;
        i += 2;
      } else if (!is_alnum(c) && (c == '\0' || std::strchr("-._~!$&'()*+,;=", c) == nullptr)) {
        return false;
      }
    }
  }
  if (i == host.size()) return true;
  if (host[i] != ':') return false;
  for (++i; i < host.size(); ++i) {
    if (host[i] < '0' || host[i] > '9') return false;
  }
  return true;
}

void request_storage::clear(std::size_t keep_capacity) {
  // A large request must not pin its memory for the life of a keep-alive connection.
  if (head.capacity() > keep_capacity) head = std::string();
  if (body.capacity() > keep_capacity) body = std::string();
  head.clear();
  body.clear();
  field_refs.clear();
  fields.clear();
  method = target = {};
  version = 11;
  expect_continue = connection_close = connection_keep_alive = false;
}

request_view request_storage::view() const {
  request_view v;
  v.method = at(method);
  v.target = at(target);
  split_target(v.target, v.path, v.query);
  v.version = version;
  fields.clear();
  for (const auto& f : field_refs) fields.push_back({at(f.name), at(f.value)});
  v.headers = fields;
  v.body = body;
  return v;
}

bool split_target(std::string_view target, std::string_view& path, std::string_view& query) {
  path = {};
  query = {};
  std::string_view rest = target;
  if (rest.empty()) return false;
  if (rest.front() != '/') {
    if (rest == "*") {
      path = rest;
      return true;
    }
    // absolute-form (RFC 9112 §3.2.2): route by its path.
    std::size_t scheme_end = rest.find("://");
    if (scheme_end == std::string_view::npos || scheme_end == 0) return false;
    for (std::size_t i = 0; i < scheme_end; ++i) {
      char c = rest[i];
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                (i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'));
      if (!ok) return false;
    }
    rest.remove_prefix(scheme_end + 3);
    std::size_t path_start = rest.find_first_of("/?");
    if (path_start == std::string_view::npos) {
      path = "/";
      return true;
    }
    rest.remove_prefix(path_start);
    if (rest.front() == '?') {
      path = "/";
      query = rest.substr(1);
      return true;
    }
  }
  std::size_t q = rest.find('?');
  path = rest.substr(0, q);
  if (q != std::string_view::npos) query = rest.substr(q + 1);
  return true;
}

head_check check_request_head(char* data, std::size_t size, std::size_t max_target,
                              std::size_t& skip, std::size_t& scanned) {
  skip = 0;
  if (scanned == 0) {
    // RFC 9112 §2.2: ignore at least one empty line before the request line; a few are allowed.
    std::size_t empty_lines = 0;
    while (skip < size && empty_lines < 8) {
      if (data[skip] == '\n') {
        ++skip;
      } else if (data[skip] == '\r' && skip + 1 < size && data[skip + 1] == '\n') {
        skip += 2;
      } else if (data[skip] == '\r' && skip + 1 == size) {
        return head_check::incomplete;
      } else {
        break;
      }
      ++empty_lines;
    }
    if (skip > 0) return head_check::incomplete;  // caller drops them and calls again
    // The method is checked as it arrives, so a TLS handshake or other binary junk is refused at
    // once instead of waiting for a line end that never comes.
    // Only as far as the line limit reaches, so a long line is 414 however it was split.
    const std::size_t method_scan = std::min(size, max_target + 64);
    for (std::size_t i = 0; i < method_scan && data[i] != ' '; ++i) {
      if (!is_tchar(data[i]) && !(data[i] == '\r' || data[i] == '\n'))
        return head_check::bad_request;
    }
    auto* nl = static_cast<char*>(std::memchr(data, '\n', size));
    // Room for the method and version around the target before calling the line too long.
    if (!nl) return size > max_target + 64 ? head_check::uri_too_long : head_check::incomplete;
    std::size_t line_end = static_cast<std::size_t>(nl - data);
    // Judged as if the line had come in pieces: without its LF, a line this long is 414 above,
    // so it is 414 here too, whatever else is wrong with it.
    if (line_end > max_target + 64) return head_check::uri_too_long;
    if (line_end == 0 || data[line_end - 1] != '\r') return head_check::bad_request;
    std::string_view line(data, line_end - 1);
    std::size_t sp1 = line.find(' ');
    if (sp1 == 0 || sp1 == std::string_view::npos) return head_check::bad_request;
    for (std::size_t i = 0; i < sp1; ++i) {
      if (!is_tchar(line[i])) return head_check::bad_request;
    }
    std::size_t sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return head_check::bad_request;
    if (sp2 - sp1 - 1 > max_target) return head_check::uri_too_long;
    std::string_view version = line.substr(sp2 + 1);
    // RFC 9112 §2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive.
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
        version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
      return head_check::bad_request;
    }
    if (version[5] != '1') return head_check::bad_version;
    // RFC 9110 §6.2: a later 1.x minor version is answered as the highest we speak.
    if (version[7] > '1') data[sp2 + 1 + 7] = '1';
    scanned = line_end;
  }
  // RFC 9112 §5.2: obs-fold is rejected here (Beast would unfold it silently), and so is
  // whitespace before the first field (§2.2). The head goes to the parser only once it is
  // complete: Beast parses the first bytes it is given field by field and consumes what it has
  // parsed, so a head handed over in pieces would move under `scanned` (letting obs-fold through)
  // and could be judged differently depending on where the client's writes were cut.
  constexpr std::size_t head_complete = static_cast<std::size_t>(-1) / 2;
  std::size_t pos = scanned;
  while (pos < size) {
    auto* nl = static_cast<char*>(std::memchr(data + pos, '\n', size - pos));
    if (!nl) {
      pos = size;  // no line break yet: the next call starts where this one stopped
      break;
    }
    std::size_t at = static_cast<std::size_t>(nl - data);
    if (at + 1 >= size || (data[at + 1] == '\r' && at + 2 >= size)) {
      pos = at;  // look again at this line break when more bytes arrive
      break;
    }
    char next = data[at + 1];
    if (next == ' ' || next == '\t') return head_check::bad_request;
    if (next == '\n' || (next == '\r' && data[at + 2] == '\n')) {
      scanned = head_complete;  // the empty line ending the head
      return head_check::ok;
    }
    if (next == '\r') return head_check::bad_request;  // RFC 9112 §2.2: a bare CR
    pos = at + 1;
  }
  scanned = pos;
  return pos >= head_complete ? head_check::ok : head_check::incomplete;
}

std::size_t request_parser::put(boost::asio::const_buffer buffer, error_code& ec) {
  const std::size_t used = basic_parser::put(buffer, ec);
  // Beast 1.81 scans a chunk extension's quoted string up to the end of all it was given, past
  // the line's CRLF, and asks for more until it finds a closing quote: a request would wait for
  // its body timeout instead of being told at once that the line is malformed.
  if (ec == http::error::need_more && is_header_done() && chunked()) {
    const std::string_view rest(static_cast<const char*>(buffer.data()) + used,
                                buffer.size() - used);
    if (chunk_line_breaks_quote(rest)) ec = http::error::bad_chunk_extension;
  }
  return used;
}

void request_parser::reject(int status, std::string_view why, error_code& ec) {
  rejection_ = {status, why};
  ec = http::error::bad_value;
}

std::uint32_t request_parser::copy(string_view text) {
  auto offset = static_cast<std::uint32_t>(storage_.head.size());
  storage_.head.append(text.data(), text.size());
  return offset;
}

void request_parser::on_request_impl(verb, string_view method_str, string_view target, int version,
                                     error_code& ec) {
  storage_.method = {copy(method_str), static_cast<std::uint32_t>(method_str.size())};
  storage_.target = {copy(target), static_cast<std::uint32_t>(target.size())};
  storage_.version = static_cast<unsigned>(version);
  std::string_view path, query;
  // CONNECT carries an authority-form target (RFC 9112 §3.2.3); the session refuses it anyway.
  if (method_str != "CONNECT" &&
      !split_target(std::string_view(target.data(), target.size()), path, query)) {
    return reject(400, "bad request target", ec);
  }
  // RFC 9112 §3.2: no form of request-target has a fragment; a client must strip it.
  if (target.find('#') != string_view::npos) reject(400, "fragment in the request target", ec);
}

void request_parser::on_field_impl(field name, string_view name_string, string_view value,
                                   error_code& ec) {
  request_storage::field_ref ref;
  ref.name = {copy(name_string), static_cast<std::uint32_t>(name_string.size())};
  ref.value = {copy(value), static_cast<std::uint32_t>(value.size())};
  storage_.field_refs.push_back(ref);
  if (storage_.field_refs.size() > max_headers_) return reject(431, "too many header fields", ec);
  // The header block has its own budget; the request line is limited separately (414).
  header_bytes_ += name_string.size() + value.size() + 4;
  if (header_bytes_ > max_header_bytes_) return reject(431, "Request Header Fields Too Large", ec);
  std::string_view v(value.data(), value.size());
  switch (name) {
    case field::host:
      ++host_count_;
      // RFC 9112 §3.2: a Host with an invalid field value gets 400.
      if (!is_valid_host(v)) return reject(400, "invalid Host header", ec);
      break;
    case field::content_length:
      // RFC 9112 §6.3: both framings present is a smuggling attempt or a broken intermediary.
      if (saw_transfer_encoding_)
        return reject(400, "both Content-Length and Transfer-Encoding", ec);
      saw_content_length_ = true;
      break;
    case field::transfer_encoding: {
      if (saw_content_length_) return reject(400, "both Content-Length and Transfer-Encoding", ec);
      if (storage_.version < 11) {
        return reject(400, "Transfer-Encoding in an HTTP/1.0 request", ec);  // RFC 9112 §6.1
      }
      if (saw_transfer_encoding_) return reject(400, "Transfer-Encoding sent twice", ec);
      saw_transfer_encoding_ = true;
      std::string_view last;
      bool unknown = false;
      unsigned chunked = 0;
      for_each_list_item(v, [&](std::string_view coding) {
        last = coding;
        if (boost::beast::iequals(coding, "chunked"))
          ++chunked;
        else
          unknown = true;
      });
      // RFC 9112 §6.3: chunked must be the final coding, once, or the length is unknowable.
      if (chunked != 1 || !boost::beast::iequals(last, "chunked")) {
        return reject(400, "Transfer-Encoding does not end in a single chunked", ec);
      }
      if (unknown) return reject(501, "unsupported transfer coding", ec);  // RFC 9112 §6.1
      break;
    }
    case field::connection:
      for_each_list_item(v, [&](std::string_view option) {
        if (boost::beast::iequals(option, "close"))
          storage_.connection_close = true;
        else if (boost::beast::iequals(option, "keep-alive"))
          storage_.connection_keep_alive = true;
      });
      break;
    case field::expect:
      // RFC 9110 §10.1.1: 100-continue is the only expectation defined, and an HTTP/1.0
      // request's 100-continue must be ignored (such a client may not understand 1xx).
      if (boost::beast::iequals(trim_ows(v), "100-continue")) {
        if (storage_.version >= 11) storage_.expect_continue = true;
      } else {
        return reject(417, "unsupported expectation", ec);
      }
      break;
    default:
      break;
  }
}

void request_parser::on_header_impl(error_code& ec) {
  // RFC 9112 §3.2: an HTTP/1.1 request without exactly one Host gets 400.
  if (storage_.version >= 11 && host_count_ != 1) {
    return reject(400, host_count_ == 0 ? "missing Host header" : "more than one Host header", ec);
  }
}

void request_parser::on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                                       error_code&) {
  if (content_length && *content_length <= (1u << 20)) storage_.body.reserve(*content_length);
}

std::size_t request_parser::on_body_impl(string_view body, error_code&) {
  storage_.body.append(body.data(), body.size());
  return body.size();
}

void request_parser::on_chunk_header_impl(std::uint64_t, string_view, error_code&) {}

std::size_t request_parser::on_chunk_body_impl(std::uint64_t, string_view body, error_code&) {
  storage_.body.append(body.data(), body.size());
  return body.size();
}

}  // namespace stubborn

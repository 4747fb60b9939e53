// An upstream's URL, as [route.proxy] 'to' and `stubborn record --upstream` write it:
// http:// or https://, a host, an optional port and an optional base path (RFC 3986 §3).
#include <arpa/inet.h>

#include <algorithm>
#include <string>

#include "config/toml_reading.hpp"
#include "stubborn/load_config.hpp"

namespace stubborn {
namespace {

bool is_alpha_digit(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// RFC 3986 §3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@", and '/' between
// segments. The index of the first character that cannot be in a path, or npos.
std::size_t bad_path_char(std::string_view path) {
  constexpr std::string_view allowed = "-._~!$&'()*+,;=:@/";
  for (std::size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c == '%') {
      if (i + 2 >= path.size() || !is_hex(path[i + 1]) || !is_hex(path[i + 2])) return i;
      i += 2;
      continue;
    }
    if (!is_alpha_digit(c) && allowed.find(c) == std::string_view::npos) return i;
  }
  return std::string_view::npos;
}

// A host name as resolvers take it: dot-separated labels of letters, digits, '-' and '_' (service
// names in container networks have underscores, which RFC 1123 names do not).
bool is_host_name(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (std::string_view rest = host;;) {
    const std::size_t dot = rest.find('.');
    const std::string_view label = rest.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    if (!std::all_of(label.begin(), label.end(),
                     [](char c) { return is_alpha_digit(c) || c == '-' || c == '_'; })) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    rest.remove_prefix(dot + 1);
  }
}

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && iequal(text.substr(0, prefix.size()), prefix);
}

}  // namespace

std::string parse_upstream_url(std::string_view text, proxy_spec& out, std::string_view subject) {
  const std::string quoted = concat("\"", text, "\"");
  if (text.empty()) {
    return concat(subject, " must be a URL like \"http://127.0.0.1:9000\", not an empty string");
  }
  if (has_control(text) || text.find(' ') != std::string_view::npos ||
      text.find('\t') != std::string_view::npos) {
    return concat(subject, " must not contain spaces or control characters");
  }
  // RFC 3986 §3.1: schemes are case-insensitive.
  bool tls = false;
  std::string_view rest;
  if (starts_with_nocase(text, "http://")) {
    rest = text.substr(7);
  } else if (starts_with_nocase(text, "https://")) {
    tls = true;
    rest = text.substr(8);
  } else {
    return concat(subject, " must start with http:// or https://, not ", quoted);
  }
  const std::size_t authority_end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, authority_end);
  std::string_view path =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) {
    return concat(subject, " must not contain a user name or password (before '@'): ", quoted);
  }
  std::string_view host;
  std::string_view port;
  bool has_port = false;
  bool bracketed = false;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return concat("the IPv6 address in ", subject, " has no closing ']': ", quoted);
    }
    host = authority.substr(1, close - 1);
    bracketed = true;
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return concat("in ", subject,
                      ", only ':' and a port may follow the IPv6 address: ", quoted);
      }
      port = after.substr(1);
      has_port = true;
    }
  } else {
    const std::size_t colon = authority.find(':');
    if (colon != std::string_view::npos &&
        authority.find(':', colon + 1) != std::string_view::npos) {
      return concat("an IPv6 address in ", subject,
                    " must be written in brackets, e.g. \"http://[::1]:9000\", not ", quoted);
    }
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      has_port = true;
    }
  }
  if (host.empty()) return concat(subject, " has no host: ", quoted);
  const std::string host_text(host);
  unsigned char address[16];
  if (bracketed) {
    if (inet_pton(AF_INET6, host_text.c_str(), address) != 1) {
      return concat("\"[", host, "]\" in ", subject, " is not an IPv6 address");
    }
  } else if (std::all_of(host.begin(), host.end(),
                         [](char c) { return (c >= '0' && c <= '9') || c == '.'; })) {
    // All digits and dots: meant as an IPv4 address, so it must be one (not a name to resolve).
    if (inet_pton(AF_INET, host_text.c_str(), address) != 1) {
      return concat("\"", host, "\" in ", subject, " is not an IPv4 address");
    }
  } else if (!is_host_name(host)) {
    return concat("\"", host, "\" in ", subject,
                  " is not a host name (letters, digits, '-' and '_' in labels separated by '.')");
  }
  std::uint16_t port_number = tls ? 443 : 80;
  if (has_port) {
    const bool digits =
        !port.empty() && port.size() <= 5 &&
        std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
    const long n = digits ? std::stol(std::string(port)) : 0;
    if (!digits || n < 1 || n > 65535) {
      return concat("the port in ", subject, " must be 1..65535, not \"", port, "\"");
    }
    port_number = static_cast<std::uint16_t>(n);
  }
  if (const std::size_t query = path.find('?'); query != std::string_view::npos) {
    return concat(subject, " must not have a query ('?'): each request sends its own, in ", quoted);
  }
  if (const std::size_t fragment = path.find('#'); fragment != std::string_view::npos) {
    return concat(subject, " must not have a fragment ('#'): ", quoted);
  }
  if (const std::size_t bad = bad_path_char(path); bad != std::string_view::npos) {
    return concat("the path in ", subject, " cannot contain '", path.substr(bad, 1),
                  "' (percent-encode it): ", quoted);
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  out.to = std::string(text);
  out.tls = tls;
  out.host = host_text;
  out.port = port_number;
  out.base_path = std::string(path);
  return {};
}

}  // namespace stubborn

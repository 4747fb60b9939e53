#include "config/redis_url.hpp"

#include <charconv>

namespace stubborn {

namespace {

// Percent-decodes a user or password (RFC 3986 §2.1); false on a bad escape.
bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, value, 16);
    if (ec != std::errc{} || end != in.data() + i + 3) return false;
    out += static_cast<char>(value);
    i += 2;
  }
  return true;
}

bool read_db(std::string_view text, unsigned& db) {
  if (text.empty()) return true;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), db);
  return ec == std::errc{} && end == text.data() + text.size() && db < 1'000'000;
}

constexpr std::string_view example =
    "e.g. \"redis://127.0.0.1:6379/0\", \"redis://:password@host:6379\" or "
    "\"unix:///run/redis/redis.sock?db=1\"";

}  // namespace

std::string redis_endpoint::where() const {
  return unix_path.empty() ? host + ":" + std::to_string(port) : unix_path;
}

std::string parse_redis_url(std::string_view url, redis_endpoint& out) {
  out = {};
  std::string_view rest;
  bool unix_socket = false;
  if (url.starts_with("redis://")) {
    rest = url.substr(8);
  } else if (url.starts_with("unix://")) {
    rest = url.substr(7);
    unix_socket = true;
  } else if (url.starts_with("rediss://")) {
    return "'redis' over TLS (rediss://) is not supported; use redis:// on a trusted network "
           "or a unix:// socket";
  } else {
    return std::string("'redis' must be a redis:// or unix:// URL, ") + std::string(example);
  }
  // Credentials end at the last '@' (a password may hold '@' only percent-encoded, but be kind).
  if (const std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const std::size_t colon = credentials.find(':');
    const std::string_view user = credentials.substr(0, colon);
    const std::string_view password =
        colon == std::string_view::npos ? std::string_view{} : credentials.substr(colon + 1);
    if (!percent_decode(user, out.user) || !percent_decode(password, out.password)) {
      return "'redis' has a bad %-escape in its user or password";
    }
    if (colon == std::string_view::npos) {
      // "redis://secret@host": the one field is the password, as redis-cli reads it.
      out.password = out.user;
      out.user.clear();
    }
  }
  if (unix_socket) {
    const std::size_t query = rest.find('?');
    out.unix_path = std::string(rest.substr(0, query));
    if (out.unix_path.empty() || out.unix_path.front() != '/') {
      return std::string("'redis' needs an absolute socket path after unix://, ") +
             std::string(example);
    }
    if (query != std::string_view::npos) {
      const std::string_view q = rest.substr(query + 1);
      if (!q.starts_with("db=") || !read_db(q.substr(3), out.db)) {
        return "'redis' takes only ?db=N after a socket path";
      }
    }
    return {};
  }
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos && !read_db(rest.substr(slash + 1), out.db)) {
    return "'redis' has a bad database number after the '/': 0..999999";
  }
  std::string_view port_text;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return "'redis' has an IPv6 address without its ']'";
    out.host = std::string(authority.substr(1, close - 1));
    authority = authority.substr(close + 1);
    if (authority.starts_with(':'))
      port_text = authority.substr(1);
    else if (!authority.empty())
      return "'redis' has text after the IPv6 address's ']'";
  } else {
    const std::size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty()) {
    return std::string("'redis' needs a host, ") + std::string(example);
  }
  if (!port_text.empty() || authority.ends_with(':')) {
    unsigned port = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      return "'redis' has a bad port: 1..65535";
    }
    out.port = static_cast<unsigned short>(port);
  }
  return {};
}

}  // namespace stubborn

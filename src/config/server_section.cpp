// The [server] table ([server.tls] is read by tls_section). Adding a key: a field in server_config
// (include/stubborn/config.hpp) and one row below, e.g.
//   {"linger", string_kind, duration_type, "\"0s\"", "wait this long before closing",
//    [](toml_reader& r, const toml::node& v, server_config& s) {
//      return r.read_duration(v, "linger", true, s.linger);
//    },
//    nullptr},
#include "config/server_section.hpp"

#include <array>
#include <cstdint>
#include <limits>

#include "config/rate_limit_section.hpp"
#include "config/tls_section.hpp"
#include "config/toml_reading.hpp"
#include "stubborn/load_config.hpp"

namespace stubborn {
namespace {

using row = key_row<server_config, server_config>;

constexpr std::size_t min_header_bytes = 1024;
constexpr std::size_t min_uri_bytes = 256;
constexpr std::size_t max_header_bytes = 64 * 1024 * 1024;
constexpr std::int64_t max_threads = 1024;

constexpr std::string_view duration_type = "a duration string with a unit, e.g. \"10s\"";
constexpr std::string_view size_type = "an integer or a size string, e.g. \"16KiB\"";

bool read_timeout(toml_reader& r, const toml::node& v, std::string_view key, bool zero_allowed,
                  std::chrono::milliseconds& out) {
  return r.read_duration(v, key, zero_allowed, out);
}

bool read_bytes(toml_reader& r, const toml::node& v, std::string_view key, std::size_t min,
                std::size_t max, std::size_t& out) {
  const std::size_t problems = r.problems().size();
  r.read_size(v, key, min, max, out);
  return r.problems().size() == problems;
}

// An integer in [min, max], else `message` followed by the value.
template <typename Out>
bool read_count(toml_reader& r, const toml::node& v, std::string_view key, std::int64_t min,
                std::int64_t max, std::string_view message, Out& out) {
  auto n = r.get_integer(v, key);
  if (!n) return false;
  if (*n < min || *n > max) {
    r.add(r.at(v), concat(message, std::to_string(*n)));
    return false;
  }
  out = static_cast<Out>(*n);
  return true;
}

constexpr std::int64_t no_max = std::numeric_limits<std::int64_t>::max();

constexpr std::array<row, 19> rows = {{
    {"listen", string_kind, "a string", "\"127.0.0.1:8080\"",
     "host:port or [v6]:port to listen on; port 0 picks a free one; \"\" = no plain HTTP",
     [](toml_reader& r, const toml::node& v, server_config& s) {
       if (v.as_string()->get().empty()) {
         // Only the HTTPS listener serves; the loader checks that [server.tls] is there.
         s.plain_listener = false;
         return true;
       }
       std::string problem = parse_listen_address(v.as_string()->get(), s.listen, "'listen'");
       if (problem.empty()) return true;
       r.add(r.at(v), std::move(problem));
       return false;
     },
     nullptr},
    {"threads", integer_kind, "an integer", "0", "worker threads; 0 = one per core",
     [](toml_reader& r, const toml::node& v, server_config& s) {
       return read_count(r, v, "threads", 0, max_threads,
                         "'threads' must be 0..1024 (0 = one per core), not ", s.threads);
     },
     nullptr},
    {"drain_timeout", string_kind, duration_type, "\"10s\"",
     "on SIGTERM, in-flight requests get this long",
     [](toml_reader& r, const toml::node& v, server_config& s) {
       return read_timeout(r, v, "drain_timeout", true, s.drain_timeout);
     },
     nullptr},
    {"idle_timeout", string_kind, duration_type, "\"60s\"",
     "an idle keep-alive connection is closed after this",
     [](toml_reader& r, const toml::node& v, server_config& s) {
       return read_timeout(r, v, "idle_timeout", false, s.idle_timeout);
     },
     nullptr},
    {"header_timeout", string_kind, duration_type, "\"10s\"",
     "a request head not complete by then gets 408",
     [](toml_reader& r, const toml::node& v, server_config& s) {
       return read_timeout(r, v, "header_timeout", false, s.header_timeout);
     },
     nullptr},
    {"body_timeout", string_kind, duration_type, "\"30s\"",
     "a request body that stalls this long gets 408",
     [](toml_reader& r, const toml::node& v, server_config& s) {
       return read_timeout(r, v, "body_timeout", false, s.body_timeout);
     },
     nullptr},
    {"max_header_bytes", integer_kind | string_kind, size_type, "\"16KiB\"",
     "request line plus header block; more gets 431",
     [](toml_reader& r, const toml::node& v, server_config& s) {
       return read_bytes(r, v, "max_header_bytes", min_header_bytes, max_header_bytes,
                         s.max_header_bytes);
     },
     nullptr},
    {"max_body_bytes", integer_kind | string_kind, size_type, "\"8MiB\"",
     "request body after de-chunking; more gets 413",
     [](toml_reader& r, const toml::node& v, server_config& s) {
       return read_bytes(r, v, "max_body_bytes", 0, std::numeric_limits<std::size_t>::max(),
                         s.max_body_bytes);
     },
     nullptr},
    {"max_connections", integer_kind, "an integer", "100000", "open connections at once",
     [](toml_reader& r, const toml::node& v, server_config& s) {
       return read_count(r, v, "max_connections", 1, no_max,
                         "'max_connections' must be at least 1, not ", s.max_connections);
     },
     nullptr},
    {"server_header", string_kind, "a string", "\"stubborn\"",
     "the Server header's value; \"\" sends none",
     [](toml_reader& r, const toml::node& v, server_config& s) {
       const std::string& text = v.as_string()->get();
       if (has_control(text)) {
         r.add(r.at(v), "'server_header' must not contain CR, LF, NUL or other control characters");
         return false;
       }
       s.server_header = text;
       return true;
     },
     nullptr},
    {"max_hang", string_kind, duration_type, "\"5m\"", "a reply with hang = true gives up then",
     [](toml_reader& r, const toml::node& v, server_config& s) {
       return read_timeout(r, v, "max_hang", false, s.max_hang);
     },
     nullptr},
    {"seed", integer_kind, "an integer", "", "makes every random choice repeatable",
     [](toml_reader& r, const toml::node& v, server_config& s) {
       std::uint64_t seed = 0;
       if (!read_count(r, v, "seed", 0, no_max, "'seed' must be 0 or more, not ", seed)) {
         return false;
       }
       s.seed = seed;
       return true;
     },
     nullptr},
    {"max_uri_bytes", integer_kind | string_kind, size_type, "\"8KiB\"",
     "request line; longer gets 414",
     [](toml_reader& r, const toml::node& v, server_config& s) {
       return read_bytes(r, v, "max_uri_bytes", min_uri_bytes, max_header_bytes, s.max_uri_bytes);
     },
     nullptr},
    {"max_headers", integer_kind, "an integer", "100", "header fields per request; more gets 431",
     [](toml_reader& r, const toml::node& v, server_config& s) {
       return read_count(r, v, "max_headers", 1, 10000, "'max_headers' must be 1..10000, not ",
                         s.max_headers);
     },
     nullptr},
    {"max_requests_per_connection", integer_kind, "an integer", "0",
     "then the connection closes; 0 = no limit",
     [](toml_reader& r, const toml::node& v, server_config& s) {
       return read_count(r, v, "max_requests_per_connection", 0, no_max,
                         "'max_requests_per_connection' must be 0 (no limit) or more, not ",
                         s.max_requests_per_connection);
     },
     nullptr},
    {"rate_limit", table_kind, "a table, written [server.rate_limit]", "",
     "a rate limit over every request",
     [](toml_reader& r, const toml::node& v, server_config& s) {
       s.rate_limit = read_rate_limit(r, v, "[server.rate_limit]");
       return s.rate_limit.has_value();
     },
     nullptr, key_shape{.table = [] { return describe(rate_limit_keys()); }}},
    {"tls", table_kind, "a table, written [server.tls]", "",
     "an HTTPS listener beside the plain one",
     [](toml_reader& r, const toml::node& v, server_config& s) {
       s.tls = read_tls(r, v);
       return s.tls.has_value();
     },
     nullptr, key_shape{.table = [] { return describe(tls_keys()); }}},
    {"access_log", string_kind, "a string", "", "JSON lines to this file; \"-\" = standard output",
     [](toml_reader& r, const toml::node& v, server_config& s) {
       const std::string& text = v.as_string()->get();
       if (text.empty() || has_control(text)) {
         r.add(r.at(v), "'access_log' must be a file path, or \"-\" for standard output");
         return false;
       }
       s.access_log = text;
       return true;
     },
     nullptr},
    {"offline", boolean_kind, "a boolean (true or false)", "false",
     "strict replay: no route may proxy and no outbound connection is made (as --offline)",
     [](toml_reader&, const toml::node& v, server_config& s) {
       s.offline = v.as_boolean()->get();
       return true;
     },
     nullptr},
}};

}  // namespace

std::span<const key_row<server_config, server_config>> server_keys() {
  return rows;
}

void read_server(toml_reader& reader, const toml::node& node, server_config& server,
                 std::map<std::string, source_position>& set_once) {
  const toml::table* table = node.as_table();
  if (!table) {
    reader.type_error(node, "'server'", "a table");
    return;
  }
  table_place place;
  place.where = "in [server]";
  place.set_once = &set_once;
  place.table = "[server]";
  read_keys<server_config, server_config>(reader, *table, rows, place, server);
}

}  // namespace stubborn

#pragma once
// Plain configuration structs: what load_config() produces and route_table::compile() consumes.
// No Boost and no toml++ here, so embedders can build a config in code.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace stubborn {

/// Where a value came from: "file:line:col" in error messages.
struct source_position {
  std::string file;
  std::uint32_t line = 0;
  std::uint32_t column = 0;
};

/// A header or query parameter: a name, a value, and where it was written.
struct name_value {
  std::string name;
  std::string value;
  source_position position;
};

/// Host and port to listen on; port 0 asks the kernel for any free port.
struct listen_address {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
};

/// The [server] table.
struct server_config {
  listen_address listen;
  unsigned threads = 0;  ///< 0 = number of cores
  std::chrono::milliseconds drain_timeout{10'000};   ///< SIGTERM: in-flight requests get this long
  std::chrono::milliseconds idle_timeout{60'000};    ///< keep-alive connection idle: closed
  std::chrono::milliseconds header_timeout{10'000};  ///< request head not complete: 408 + close
  std::chrono::milliseconds body_timeout{30'000};    ///< request body stalls: 408 + close
  std::size_t max_header_bytes = 16 * 1024;          ///< request line + header block
  std::size_t max_body_bytes = 8 * 1024 * 1024;      ///< request body, after de-chunking
  std::size_t max_connections = 100'000;             ///< open connections at once
  std::string server_header = "stubborn";            ///< value of the Server header ("" = none)
};

/// How a route matches the request body.
enum class body_match_kind { contains, equals, regex, json };

/// `body = { contains = "x" }` and friends; for json, `text` is the subset serialised as JSON.
struct body_matcher_spec {
  body_match_kind kind = body_match_kind::contains;
  std::string text;
  source_position position;
};

/// Where a reply's body came from (decides the default Content-Type).
enum class body_source { none, inline_text, file, json };

/// The [route.reply] table: one scripted reply.
struct reply_spec {
  int status = 200;
  std::string reason;             ///< empty = the registered phrase for `status`
  std::vector<name_value> headers;
  std::string body;               ///< template text (inline), file contents, or serialised JSON
  body_source source = body_source::none;
  std::string body_file;          ///< as written in the config, for messages
  source_position body_position;  ///< where body / body_file / json was written
  source_position position;       ///< the [route.reply] table itself
};

/// One [[route]]: matchers plus the reply.
struct route_spec {
  std::string name;                  ///< unique; "" in the file becomes "METHOD path" at load
  std::vector<std::string> methods;  ///< empty = any method
  std::string path;                  ///< exact, with {name} segments and an optional trailing /*
  std::string path_regex;            ///< RE2, instead of path; named groups become path params
  std::vector<name_value> query;     ///< each parameter present with exactly this value
  std::vector<name_value> headers;   ///< names case-insensitive, exact value
  std::optional<body_matcher_spec> body;
  int priority = 0;                  ///< higher wins; equal: earlier in the files wins
  reply_spec reply;
  source_position position;          ///< the [[route]] table
  source_position path_position;     ///< where path / path_regex was written
};

/// A whole validated configuration, possibly merged from several files.
struct config {
  server_config server;
  std::vector<route_spec> routes;  ///< in file order (files in the order given)
  std::vector<std::string> files;  ///< the TOML files read, in order
};

}  // namespace stubborn

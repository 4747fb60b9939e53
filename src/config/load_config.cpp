#include "stubborn/load_config.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <re2/re2.h>
#include <toml++/toml.h>
#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

#include "config/duration.hpp"
#include "respond/http_date.hpp"
#include "config/json_token_scanner.hpp"
#include "routing/path_pattern.hpp"
#include "respond/route_rules.hpp"
#include "stubborn/config_error.hpp"
#include "routing/templates.hpp"

namespace stubborn {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// toml++ builds nested values recursively, and so do we when converting `json` tables.
constexpr int max_nesting = 32;
// steady_clock counts nanoseconds in 64 bits: keep timers far from overflow.
constexpr std::chrono::milliseconds max_timeout = std::chrono::hours{168};
constexpr std::size_t min_header_bytes = 1024;
constexpr std::size_t min_uri_bytes = 256;
constexpr std::size_t max_header_bytes = 64 * 1024 * 1024;
constexpr std::int64_t max_threads = 1024;

constexpr std::array<std::string_view, 4> top_level_keys = {"server", "route", "outage", "admin"};
constexpr std::array<std::string_view, 6> admin_keys = {"enabled", "prefix",  "listen",
                                                       "token",   "journal", "journal_body_bytes"};
constexpr std::array<std::string_view, 17> server_keys = {
    "listen",          "threads",       "drain_timeout",    "idle_timeout",
    "header_timeout",  "body_timeout",  "max_header_bytes", "max_body_bytes",
    "max_connections", "server_header", "max_hang",         "seed",
    "max_uri_bytes",   "max_headers",   "max_requests_per_connection", "rate_limit",
    "access_log"};
constexpr std::array<std::string_view, 22> route_keys = {
    "name",     "method",   "path",          "path_regex", "query",         "headers",
    "body",     "priority", "reply",         "replies",    "then",          "continue_delay",
    "expect",   "outage",   "auth",          "etag",       "last_modified", "ranges",
    "produces", "consumes", "require_length", "rate_limit"};
constexpr std::array<std::string_view, 8> rate_limit_keys = {
    "requests", "per", "burst", "key", "algorithm", "headers", "max_keys", "reply"};
constexpr std::array<std::string_view, 2> rate_limit_algorithm_names = {"token-bucket",
                                                                        "fixed-window"};
constexpr std::array<std::string_view, 3> rate_limit_header_names = {"ietf", "x-ratelimit",
                                                                     "none"};
// [route.reply] is one reply: 'repeat' is reported on its own there, so it is not suggested.
constexpr std::array<std::string_view, 14> reply_keys = {
    "status", "reason",  "headers",          "body",  "body_file", "json",      "delay",
    "hang",   "interim", "processing_every", "fault", "chunks",    "bandwidth", "redirect"};
constexpr std::array<std::string_view, 15> sequence_reply_keys = {
    "status",  "reason",           "headers", "body",   "body_file", "json",   "delay",   "hang",
    "interim", "processing_every", "fault",   "chunks", "bandwidth", "repeat", "redirect"};
constexpr std::array<std::string_view, 3> auth_keys = {"bearer", "basic", "header"};
constexpr std::array<std::string_view, 2> auth_header_keys = {"name", "value"};
constexpr std::array<std::string_view, 2> redirect_keys = {"to", "status"};
constexpr std::array<std::string_view, 4> delay_keys = {"min", "max", "median", "sigma"};
constexpr std::array<std::string_view, 2> interim_keys = {"status", "headers"};
constexpr std::array<std::string_view, 2> chunks_keys = {"count", "over"};
constexpr std::array<std::string_view, 5> route_outage_keys = {"rate", "every", "duration",
                                                               "status", "fault"};
constexpr std::array<std::string_view, 6> server_outage_keys = {"path",     "rate",   "every",
                                                                "duration", "status", "fault"};
constexpr std::array<std::string_view, 6> fault_names = {"reset",    "close",   "empty",
                                                         "truncate", "garbage", "malformed-chunk"};
constexpr std::array<fault_kind, 6> fault_kinds = {
    fault_kind::reset,    fault_kind::close,   fault_kind::empty,
    fault_kind::truncate, fault_kind::garbage, fault_kind::malformed_chunk};
constexpr std::array<std::string_view, 2> then_names = {"repeat-last", "cycle"};
constexpr std::array<std::string_view, 2> expect_names = {"continue", "reject"};
constexpr std::int64_t max_chunk_count = 10'000;
constexpr double max_sigma = 5;
constexpr std::array<std::string_view, 4> body_matcher_keys = {"contains", "equals", "regex",
                                                               "json"};
constexpr std::array<std::string_view, 9> standard_methods = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
// The server frames every message and manages connections itself; a route must not interfere.
constexpr std::array<std::string_view, 3> server_owned_headers = {
    "Content-Length", "Transfer-Encoding", "Connection"};

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

// RFC 9110 §5.6.2: token = 1*tchar.
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           extra.find(c) != std::string_view::npos;
  });
}

// RFC 9110 §5.5: field values are visible characters, spaces and tabs; no CR, LF, NUL or CTL.
bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// Optimal string alignment distance: Levenshtein plus adjacent transpositions ("stauts").
std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size();
  const std::size_t m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = ascii_lower(a[i - 1]) == ascii_lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && ascii_lower(a[i - 1]) == ascii_lower(b[j - 2]) &&
          ascii_lower(a[i - 2]) == ascii_lower(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

// " (did you mean 'status'?)" when a known key is close enough to be the likely intent.
template <std::size_t N>
std::string suggestion(std::string_view unknown, const std::array<std::string_view, N>& known) {
  std::string_view best;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  for (std::string_view candidate : known) {
    const std::size_t distance = edit_distance(unknown, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  const std::size_t allowed = best.size() <= 4 ? 1 : 2;
  if (best_distance > allowed) return {};
  return " (did you mean '" + std::string(best) + "'?)";
}

template <std::size_t N>
bool is_known(std::string_view key, const std::array<std::string_view, N>& known) {
  return std::find(known.begin(), known.end(), key) != known.end();
}

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::string in_quotes(std::string_view s) {
  return "'" + std::string(s) + "'";
}

std::string position_text(const source_position& where) {
  return where.file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column);
}

// Shortest text that reads back as `d`: 0.4, not 0.400000.
std::string number_text(double d) {
  std::array<char, 32> buffer{};
  const auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), d);
  return std::string(buffer.data(), static_cast<std::size_t>(end - buffer.data()));
}

// "\"a\" or \"b\"", or "one of \"a\", \"b\" or \"c\"".
template <std::size_t N>
std::string choices_text(const std::array<std::string_view, N>& choices) {
  std::string text = N > 2 ? "one of " : "";
  for (std::size_t i = 0; i < N; ++i) {
    if (i > 0) text += i + 1 == N ? " or " : ", ";
    text += "\"" + std::string(choices[i]) + "\"";
  }
  return text;
}

// RFC 9110 §15.3.5, §15.3.6, §15.4.5: these statuses never carry content.
const char* no_content_section(int status) {
  return status == 204 ? "15.3.5" : status == 205 ? "15.3.6" : status == 304 ? "15.4.5" : nullptr;
}

// The first node nested deeper than max_nesting, or null.
const toml::node* too_deep(const toml::node& node, int depth) {
  if (depth > max_nesting) return &node;
  if (const toml::table* table = node.as_table()) {
    for (auto&& [key, value] : *table) {
      if (const toml::node* found = too_deep(value, depth + 1)) return found;
    }
  } else if (const toml::array* array = node.as_array()) {
    for (const toml::node& value : *array) {
      if (const toml::node* found = too_deep(value, depth + 1)) return found;
    }
  }
  return nullptr;
}

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

// Routes sent as JSON join a running server; its settings come from the files.
constexpr std::string_view server_not_here =
    "[server] cannot be set here, only routes: server settings come from the configuration files";

std::string too_deep_message() {
  return "values are nested more than " + std::to_string(max_nesting) + " levels deep";
}

bool read_whole_file(const fs::path& path, std::string& out, std::string& why) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    why = "it does not exist";
    return false;
  }
  if (fs::is_directory(status)) {
    why = "it is a folder";
    return false;
  }
  if (!fs::is_regular_file(status)) {
    // A FIFO, socket or device such as /dev/zero would block or never end.
    why = "it is not a regular file";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = std::strerror(errno);
    return false;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    why = "read error";
    return false;
  }
  out = std::move(buffer).str();
  return true;
}

// Compact JSON like json::serialize, except that doubles read as people write them: Boost 1.81
// would print 1.5 as "1.5E0" in every reply body.
void write_json(const json::value& value, std::string& out) {
  switch (value.kind()) {
    case json::kind::object: {
      out += '{';
      bool first = true;
      for (const json::key_value_pair& member : value.get_object()) {
        if (!first) out += ',';
        first = false;
        out += json::serialize(json::string(member.key()));
        out += ':';
        write_json(member.value(), out);
      }
      out += '}';
      return;
    }
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const json::value& element : value.get_array()) {
        if (!first) out += ',';
        first = false;
        write_json(element, out);
      }
      out += ']';
      return;
    }
    case json::kind::double_: {
      std::array<char, 32> buffer{};
      const auto [end, ec] =
          std::to_chars(buffer.data(), buffer.data() + buffer.size(), value.get_double());
      std::string_view text(buffer.data(), static_cast<std::size_t>(end - buffer.data()));
      out += text;
      // Keep it a float for JSON readers that tell 2 from 2.0.
      if (text.find_first_of(".e") == std::string_view::npos) out += ".0";
      return;
    }
    default:
      out += json::serialize(value);
      return;
  }
}

toml::source_region region_of(const json_token& token) {
  toml::source_region region;
  region.begin = {token.begin.line, token.begin.column};
  region.end = {token.end.line, token.end.column};
  return region;
}

// A boost::json::basic_parser handler that builds toml++ nodes, so that routes sent as JSON are
// read by the same code as routes in a file. Each node's place in the JSON text goes into
// `regions`, keyed by its address (stable: toml++ containers own their nodes through pointers).
// What TOML cannot hold (null, integers above 2^63 - 1, a key written twice) is a problem here,
// as toml::parse would make it one.
class json_to_toml {
 public:
  static constexpr std::size_t max_array_size = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t max_object_size = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t max_string_size = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t max_key_size = std::numeric_limits<std::size_t>::max();

  json_to_toml(std::string_view text, std::string name) : tokens_(text), name_(std::move(name)) {}

  std::unique_ptr<toml::node> root;
  std::unordered_map<const toml::node*, toml::source_region> regions;
  std::vector<std::pair<toml::source_region, std::string>> problems;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    open(toml::table{});
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    open_.pop_back();
    return true;
  }
  bool on_array_begin(json::error_code&) {
    open(toml::array{});
    return true;
  }
  bool on_array_end(std::size_t, json::error_code&) {
    open_.pop_back();
    return true;
  }
  bool on_key_part(json::string_view part, std::size_t, json::error_code&) {
    text_.append(part.data(), part.size());
    return true;
  }
  bool on_key(json::string_view part, std::size_t, json::error_code&) {
    text_.append(part.data(), part.size());
    key_ = toml::key(std::move(text_), region_of(tokens_.next()));
    text_.clear();
    return true;
  }
  bool on_string_part(json::string_view part, std::size_t, json::error_code&) {
    text_.append(part.data(), part.size());
    return true;
  }
  bool on_string(json::string_view part, std::size_t, json::error_code&) {
    text_.append(part.data(), part.size());
    place(toml::value<std::string>(std::move(text_)));
    text_.clear();
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t n, json::string_view, json::error_code&) {
    place(toml::value<std::int64_t>(n));
    return true;
  }
  bool on_uint64(std::uint64_t n, json::string_view, json::error_code&) {
    problems.emplace_back(region_of(tokens_.next()),
                          "integer " + std::to_string(n) + " is too large: at most " +
                              std::to_string(std::numeric_limits<std::int64_t>::max()));
    return true;
  }
  bool on_double(double d, json::string_view, json::error_code&) {
    if (!std::isfinite(d)) {
      problems.emplace_back(region_of(tokens_.next()), "number is too large for a double");
      return true;
    }
    place(toml::value<double>(d));
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    place(toml::value<bool>(b));
    return true;
  }
  bool on_null(json::error_code&) {
    problems.emplace_back(region_of(tokens_.next()),
                          "null is not allowed: leave the key out to get its default");
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  // Puts a new value where the parser is: the root, the next array element, or the last key's.
  template <typename Node>
  toml::node& place(Node&& node) {
    const toml::source_region region = region_of(tokens_.next());
    toml::node* placed = nullptr;
    if (open_.empty()) {
      root = std::make_unique<std::decay_t<Node>>(std::forward<Node>(node));
      placed = root.get();
    } else if (toml::array* array = open_.back()->as_array()) {
      array->push_back(std::forward<Node>(node));
      placed = &array->back();
    } else if (toml::table& table = *open_.back()->as_table(); table.contains(key_.str())) {
      const toml::source_position first = table.find(key_.str())->first.source().begin;
      problems.emplace_back(key_.source(), "key '" + std::string(key_.str()) +
                                               "' is already set at " +
                                               position_text({name_, first.line, first.column}));
      // The parser goes on inside a container written twice; what it holds is dropped.
      discarded_.push_back(std::make_unique<std::decay_t<Node>>(std::forward<Node>(node)));
      placed = discarded_.back().get();
    } else {
      placed = &table.insert(key_, std::forward<Node>(node)).first->second;
    }
    regions.emplace(placed, region);
    return *placed;
  }

  template <typename Container>
  void open(Container&& container) {
    open_.push_back(&place(std::forward<Container>(container)));
  }

  json_token_scanner tokens_;
  std::string name_;
  std::vector<toml::node*> open_;  // the containers being filled, innermost last
  toml::key key_;
  std::string text_;  // a string or key arriving in parts
  std::vector<std::unique_ptr<toml::node>> discarded_;
};

// "invalid JSON: ..." for what Boost.JSON stopped at, at `offset` in `text`.
std::string json_syntax_message(std::string_view text, std::size_t offset,
                                const json::error_code& ec) {
  if (ec == json::error::too_deep) return too_deep_message();
  if (ec == json::error::incomplete) return "invalid JSON: the text ends before the value does";
  if (ec == json::error::extra_data) return "invalid JSON: more text after the value";
  std::string message = "invalid JSON: " + ec.message();
  if (offset < text.size()) {
    const auto byte = static_cast<unsigned char>(text[offset]);
    if (byte > 0x20 && byte < 0x7f) {
      message += " at '" + std::string(1, static_cast<char>(byte)) + "'";
    } else {
      static constexpr char hex[] = "0123456789abcdef";
      message += " at byte 0x";
      message += hex[byte >> 4];
      message += hex[byte & 0xf];
    }
  }
  return message;
}

// Everything about one route that matters only while loading.
struct route_meta {
  std::size_t file_index = 0;
  bool explicit_name = false;
  source_position name_position;
};

struct indexed_problem {
  std::size_t file_index;
  config_problem problem;
};

class loader {
 public:
  // One file, or one folder of *.toml files taken in name order.
  void load_path(const std::string& path) {
    std::error_code ec;
    if (!fs::is_directory(path, ec)) {
      load_file(path);
      return;
    }
    std::vector<std::string> names;
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code type_ec;
      if (it->path().extension() == ".toml" && it->is_regular_file(type_ec)) {
        names.push_back(it->path().filename().string());
      }
    }
    if (ec) {
      begin_file(path, ".");
      add({path, 0, 0}, "cannot read folder: " + ec.message());
      return;
    }
    std::sort(names.begin(), names.end());
    if (names.empty()) {
      begin_file(path, ".");
      add({path, 0, 0}, "no *.toml files in this folder");
      return;
    }
    for (const std::string& name : names) load_file((fs::path(path) / name).string());
  }

  void load_file(const std::string& path) {
    fs::path base = fs::path(path).parent_path();
    begin_file(path, base.empty() ? fs::path(".") : base);
    std::string text;
    std::string why;
    if (!read_whole_file(path, text, why)) {
      add({path, 0, 0}, "cannot read file: " + why);
      return;
    }
    cfg_.files.push_back(path);
    parse_and_read(text);
  }

  void load_text(std::string_view text, const std::string& name, const fs::path& base_dir) {
    begin_file(name, base_dir);
    cfg_.files.push_back(name);
    parse_and_read(text);
  }

  // Routes written as JSON (see load_route_json): Boost.JSON parses, json_to_toml builds the
  // toml++ nodes a file would have given, with their JSON positions, and the file's code reads
  // them. A TOML syntax error stops its file; so do invalid JSON and what TOML cannot hold.
  void load_json(std::string_view text, const std::string& name, const fs::path& base_dir,
                 bool one_route) {
    begin_file(name, base_dir);
    json::parse_options options;
    // Deep enough for anything a file could hold (the {"route": [...]} form is one level deeper
    // than the file); too_deep() below is the exact check. Boost.JSON itself does not recurse.
    options.max_depth = max_nesting + 1;
    json::basic_parser<json_to_toml> parser(options, text, name);
    json::error_code ec;
    const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
    if (!ec && used < text.size()) ec = json::error::extra_data;
    if (ec) {
      const text_position where = json_token_scanner::position_of(text, used);
      add({file_, where.line, where.column}, json_syntax_message(text, used, ec));
      return;
    }
    json_to_toml& built = parser.handler();
    for (auto& [where, message] : built.problems) add(at(where), std::move(message));
    if (!built.problems.empty()) return;
    const std::unique_ptr<toml::node> root = std::move(built.root);
    json_regions_ = std::move(built.regions);
    read_json_root(*root, one_route);
    json_regions_.clear();
  }

  // The root as the equivalent file would have it: { route = [ ... ] }, then read like one.
  void read_json_root(toml::node& root, bool one_route) {
    const toml::source_region root_region = region(root);
    toml::table document;
    json_regions_[&document] = root_region;
    toml::table* object = root.as_table();
    toml::array* array = root.as_array();
    const bool routes_document = object && !one_route && object->contains("route");
    if (routes_document) {
      document = std::move(*object);
    } else if (object) {
      if (const auto server = object->find("server"); server != object->end()) {
        add(at(server->first), std::string(server_not_here));
        object->erase(server);
      }
      auto& routes = document.insert(toml::key("route", root_region), toml::array{}).first->second;
      json_regions_[&routes] = root_region;
      routes.as_array()->push_back(std::move(*object));
      json_regions_[&routes.as_array()->back()] = root_region;
    } else if (array && !one_route) {
      auto& routes =
          document.insert(toml::key("route", root_region), std::move(*array)).first->second;
      json_regions_[&routes] = root_region;
    } else {
      add(at(root),
          std::string(one_route ? "expected a route (a JSON object)"
                                : "expected a route (a JSON object) or an array of routes") +
              ", not " + std::string(type_name(root)));
      return;
    }
    if (const toml::node* deep = too_deep(document, 0)) {
      add(at(*deep), too_deep_message());
      return;
    }
    for (auto&& [key, value] : document) {
      if (key == "route") {
        read_routes(value);
      } else if (key == "server") {
        add(at(key), std::string(server_not_here));
      } else if (key == "outage") {
        add(at(key),
            "[[outage]] cannot be set here, only routes (a route's own outage is its 'outage' "
            "key)");
      } else {
        unknown_key(key, "at the top level", top_level_keys);
      }
    }
  }

  // Names the routes, sorts the problems and throws if there are any.
  config finish() {
    name_routes();
    if (problems_.empty()) return std::move(cfg_);
    std::stable_sort(problems_.begin(), problems_.end(),
                     [](const indexed_problem& a, const indexed_problem& b) {
                       return std::tie(a.file_index, a.problem.where.line, a.problem.where.column) <
                              std::tie(b.file_index, b.problem.where.line, b.problem.where.column);
                     });
    std::vector<config_problem> sorted;
    sorted.reserve(problems_.size());
    for (indexed_problem& p : problems_) sorted.push_back(std::move(p.problem));
    throw config_error(std::move(sorted));
  }

 private:
  void begin_file(const std::string& name, const fs::path& base_dir) {
    file_ = name;
    file_index_ = file_count_++;
    base_dir_ = base_dir;
  }

  void add(source_position where, std::string message) {
    problems_.push_back({file_index_, {std::move(where), std::move(message)}});
  }

  source_position at(const toml::source_region& region) const {
    return {file_, region.begin.line, region.begin.column};
  }
  source_position at(const toml::node& node) const { return at(region(node)); }
  source_position at(const toml::key& key) const { return at(key.source()); }

  // Where a node was written. toml++ gives nodes built in code (from JSON) no source region and
  // no way to set one, so theirs are kept in json_regions_; keys can carry their own.
  const toml::source_region& region(const toml::node& node) const {
    if (!json_regions_.empty()) {
      const auto found = json_regions_.find(&node);
      if (found != json_regions_.end()) return found->second;
    }
    return node.source();
  }

  // True when `a` was written before `b`: conflicts are reported at the later one.
  bool before(const toml::node& a, const toml::node& b) const {
    return region(a).begin < region(b).begin;
  }

  // Points into a string value when its source text is exactly the value between two quotes
  // (one line, ASCII, no escapes); otherwise at the value itself.
  source_position at_offset(const toml::node& node, std::string_view value,
                            std::size_t offset) const {
    source_position where = at(node);
    const toml::source_region& written = region(node);
    if (written.begin.line == written.end.line && written.end.column > written.begin.column &&
        written.end.column - written.begin.column == value.size() + 2 && is_ascii(value) &&
        offset <= value.size()) {
      where.column += static_cast<std::uint32_t>(1 + offset);
    }
    return where;
  }

  void type_error(const toml::node& node, std::string_view what, std::string_view expected) {
    add(at(node), std::string(what) + " must be " + std::string(expected) + ", not " +
                      std::string(type_name(node)));
  }

  template <std::size_t N>
  void unknown_key(const toml::key& key, std::string_view where,
                   const std::array<std::string_view, N>& known) {
    add(at(key), "unknown key " + in_quotes(key.str()) + " " + std::string(where) +
                     suggestion(key.str(), known));
  }

  const std::string* get_string(const toml::node& node, std::string_view key) {
    if (const auto* s = node.as_string()) return &s->get();
    type_error(node, in_quotes(key), "a string");
    return nullptr;
  }

  std::optional<std::int64_t> get_integer(const toml::node& node, std::string_view key) {
    if (const auto* i = node.as_integer()) return i->get();
    type_error(node, in_quotes(key), "an integer");
    return std::nullopt;
  }

  std::optional<bool> get_bool(const toml::node& node, std::string_view key) {
    if (const auto* b = node.as_boolean()) return b->get();
    type_error(node, in_quotes(key), "a boolean (true or false)");
    return std::nullopt;
  }

  // A float, or an integer taken as one (`rate = 1`).
  std::optional<double> get_number(const toml::node& node, std::string_view key) {
    if (const auto* d = node.as_floating_point()) return d->get();
    if (const auto* i = node.as_integer()) return static_cast<double>(i->get());
    type_error(node, in_quotes(key), "a number (a float or an integer)");
    return std::nullopt;
  }

  // One of a few fixed strings; the index into `choices`, with a suggestion when it is not.
  template <std::size_t N>
  std::optional<std::size_t> get_choice(const toml::node& node, std::string_view key,
                                        const std::array<std::string_view, N>& choices) {
    const auto* s = node.as_string();
    if (!s) {
      type_error(node, in_quotes(key), choices_text(choices));
      return std::nullopt;
    }
    const auto found = std::find(choices.begin(), choices.end(), s->get());
    if (found != choices.end()) return static_cast<std::size_t>(found - choices.begin());
    add(at(node), in_quotes(key) + " must be " + choices_text(choices) + ", not \"" + s->get() +
                      "\"" + suggestion(s->get(), choices));
    return std::nullopt;
  }

  // Query and header values: strings, or integers and booleans taken as their TOML text.
  std::optional<std::string> scalar_text(const toml::node& node, std::string_view what) {
    if (const auto* s = node.as_string()) return s->get();
    if (const auto* i = node.as_integer()) return std::to_string(i->get());
    if (const auto* b = node.as_boolean()) return std::string(b->get() ? "true" : "false");
    type_error(node, what, "a string, an integer or a boolean");
    return std::nullopt;
  }

  void parse_and_read(std::string_view text) {
    // The scanner may count a header like [route.reply] a level short (it cannot tell which
    // parts are arrays of tables), never long: with twice the limit it only stops what is
    // certainly too deep, before toml++ recurses into it; too_deep() below is the exact check.
    if (auto deep = nesting_scanner(text, 2 * max_nesting).find()) {
      add({file_, deep->first, deep->second}, too_deep_message());
      return;
    }
    toml::table root;
    try {
      root = toml::parse(text, std::string_view(file_));
    } catch (const toml::parse_error& e) {
      add(at(e.source()), std::string(e.description()));
      return;
    }
    if (const toml::node* deep = too_deep(root, 0)) {
      add(at(*deep), too_deep_message());
      return;
    }
    for (auto&& [key, value] : root) {
      if (key == "server") {
        read_server(value);
      } else if (key == "route") {
        read_routes(value);
      } else if (key == "outage") {
        read_server_outages(value);
      } else if (key == "admin") {
        read_admin(value);
      } else {
        unknown_key(key, "at the top level", top_level_keys);
      }
    }
  }

  // [server] and [admin] keys: known, and set only once across all files (else reported).
  template <std::size_t N>
  bool known_and_first(const toml::key& key, const std::string& name, std::string_view table,
                       const std::array<std::string_view, N>& known,
                       std::map<std::string, source_position>& seen) {
    if (!is_known(name, known)) {
      unknown_key(key, "in " + std::string(table), known);
      return false;
    }
    auto [first, inserted] = seen.emplace(name, at(key));
    if (!inserted) {
      add(at(key), in_quotes(name) + " in " + std::string(table) + " is already set at " +
                       position_text(first->second));
    }
    return inserted;
  }

  void read_server(const toml::node& node) {
    const toml::table* table = node.as_table();
    if (!table) {
      type_error(node, "'server'", "a table");
      return;
    }
    server_config& server = cfg_.server;
    for (auto&& [key, value] : *table) {
      const std::string name(key.str());
      if (!known_and_first(key, name, "[server]", server_keys, server_keys_set_)) continue;
      if (name == "listen") {
        read_listen(value);
      } else if (name == "threads") {
        if (auto n = get_integer(value, name)) {
          if (*n < 0 || *n > max_threads) {
            add(at(value),
                "'threads' must be 0..1024 (0 = one per core), not " + std::to_string(*n));
          } else {
            server.threads = static_cast<unsigned>(*n);
          }
        }
      } else if (name == "drain_timeout") {
        read_duration(value, name, true, server.drain_timeout);
      } else if (name == "idle_timeout") {
        read_duration(value, name, false, server.idle_timeout);
      } else if (name == "header_timeout") {
        read_duration(value, name, false, server.header_timeout);
      } else if (name == "body_timeout") {
        read_duration(value, name, false, server.body_timeout);
      } else if (name == "max_header_bytes") {
        read_size(value, name, min_header_bytes, max_header_bytes, server.max_header_bytes);
      } else if (name == "max_body_bytes") {
        read_size(value, name, 0, std::numeric_limits<std::size_t>::max(), server.max_body_bytes);
      } else if (name == "max_uri_bytes") {
        read_size(value, name, min_uri_bytes, max_header_bytes, server.max_uri_bytes);
      } else if (name == "max_headers") {
        if (auto n = get_integer(value, name)) {
          if (*n < 1 || *n > 10000) {
            add(at(value), "'max_headers' must be 1..10000, not " + std::to_string(*n));
          } else {
            server.max_headers = static_cast<std::size_t>(*n);
          }
        }
      } else if (name == "max_requests_per_connection") {
        if (auto n = get_integer(value, name)) {
          if (*n < 0) {
            add(at(value), "'max_requests_per_connection' must be 0 (no limit) or more, not " +
                               std::to_string(*n));
          } else {
            server.max_requests_per_connection = static_cast<std::size_t>(*n);
          }
        }
      } else if (name == "max_connections") {
        if (auto n = get_integer(value, name)) {
          if (*n < 1) {
            add(at(value), "'max_connections' must be at least 1, not " + std::to_string(*n));
          } else {
            server.max_connections = static_cast<std::size_t>(*n);
          }
        }
      } else if (name == "server_header") {
        if (const std::string* s = get_string(value, name)) {
          if (has_control(*s)) {
            add(at(value),
                "'server_header' must not contain CR, LF, NUL or other control characters");
          } else {
            server.server_header = *s;
          }
        }
      } else if (name == "max_hang") {
        read_duration(value, name, false, server.max_hang);
      } else if (name == "seed") {
        if (auto n = get_integer(value, name)) {
          if (*n < 0) {
            add(at(value), "'seed' must be 0 or more, not " + std::to_string(*n));
          } else {
            server.seed = static_cast<std::uint64_t>(*n);
          }
        }
      } else if (name == "rate_limit") {
        server.rate_limit = read_rate_limit(value, "[server.rate_limit]");
      } else if (name == "access_log") {
        if (const std::string* s = get_string(value, name)) {
          if (s->empty() || has_control(*s)) {
            add(at(value), "'access_log' must be a file path, or \"-\" for standard output");
          } else {
            server.access_log = *s;
          }
        }
      }
    }
  }

  void read_admin(const toml::node& node) {
    const toml::table* table = node.as_table();
    if (!table) {
      type_error(node, "'admin'", "a table, written [admin]");
      return;
    }
    admin_config& admin = cfg_.admin;
    for (auto&& [key, value] : *table) {
      const std::string name(key.str());
      if (!known_and_first(key, name, "[admin]", admin_keys, admin_keys_set_)) continue;
      if (name == "enabled") {
        if (auto b = get_bool(value, name)) admin.enabled = *b;
      } else if (name == "prefix") {
        const std::string* s = get_string(value, name);
        if (!s) continue;
        const bool bad_char = std::any_of(s->begin(), s->end(), [](char c) {
          return c == '?' || c == '#' || c == '%' || c == ' ' || static_cast<unsigned char>(c) < 0x20 ||
                 static_cast<unsigned char>(c) >= 0x7f;
        });
        if (s->size() < 2 || s->front() != '/' || s->back() == '/' || bad_char) {
          add(at(value), "'prefix' must be a path like \"/__admin\": starting with '/', not "
                         "ending with one, without spaces, '?', '#' or '%', not \"" + *s + "\"");
        } else {
          admin.prefix = *s;
        }
      } else if (name == "listen") {
        if (const std::string* s = get_string(value, name)) {
          listen_address address;
          std::string problem = parse_listen_address(*s, address, "'listen'");
          if (!problem.empty()) add(at(value), problem);
          else admin.listen = address;
        }
      } else if (name == "token") {
        if (const std::string* s = get_string(value, name)) {
          if (s->empty() || !is_token68(*s)) {
            add(at(value), "'token' must be a token68 (letters, digits and -._~+/, then any '='), "
                           "sent as Authorization: Bearer <token>");
          } else {
            admin.token = *s;
          }
        }
      } else if (name == "journal") {
        if (auto n = get_integer(value, name)) {
          if (*n < 0 || *n > 1'000'000) {
            add(at(value), "'journal' must be 0 (off)..1000000, not " + std::to_string(*n));
          } else {
            admin.journal = static_cast<std::size_t>(*n);
          }
        }
      } else if (name == "journal_body_bytes") {
        read_size(value, name, 0, 64 * 1024 * 1024, admin.journal_body_bytes);
      }
    }
  }

  void read_listen(const toml::node& node) {
    const std::string* text = get_string(node, "listen");
    if (!text) return;
    std::string problem = parse_listen_address(*text, cfg_.server.listen, "'listen'");
    if (!problem.empty()) add(at(node), problem);
  }

  bool read_duration(const toml::node& node, std::string_view key, bool zero_allowed,
                     std::chrono::milliseconds& out) {
    const auto* s = node.as_string();
    if (!s) {
      type_error(node, in_quotes(key), "a duration string with a unit, e.g. \"10s\"");
      return false;
    }
    const auto parsed = parse_duration(s->get());
    if (!parsed) {
      add(at(node), in_quotes(key) +
                        " must be a number with a unit (ms, s, m or h), e.g. \"10s\", "
                        "not \"" +
                        s->get() + "\"");
    } else if (*parsed > max_timeout) {
      add(at(node), in_quotes(key) + " must be at most 168h (a week)");
    } else if (!zero_allowed && parsed->count() == 0) {
      add(at(node), in_quotes(key) + " must be more than 0s");
    } else {
      out = *parsed;
      return true;
    }
    return false;
  }

  void read_size(const toml::node& node, std::string_view key, std::size_t min, std::size_t max,
                 std::size_t& out) {
    std::optional<std::size_t> bytes;
    if (const auto* i = node.as_integer()) {
      if (i->get() < 0) {
        add(at(node), in_quotes(key) + " must not be negative");
        return;
      }
      bytes = static_cast<std::size_t>(i->get());
    } else if (const auto* s = node.as_string()) {
      bytes = parse_size(s->get());
      if (!bytes) {
        add(at(node), in_quotes(key) +
                          " must be a number of bytes, optionally with a unit (KB, KiB, "
                          "MB, MiB, GB, GiB), e.g. \"16KiB\", not \"" +
                          s->get() + "\"");
        return;
      }
    } else {
      type_error(node, in_quotes(key), "an integer or a size string, e.g. \"16KiB\"");
      return;
    }
    if (*bytes < min) {
      add(at(node), in_quotes(key) + " must be at least " + std::to_string(min) + ", not " +
                        std::to_string(*bytes));
    } else if (*bytes > max) {
      add(at(node), in_quotes(key) + " must be at most " + std::to_string(max) + ", not " +
                        std::to_string(*bytes));
    } else {
      out = *bytes;
    }
  }

  void read_routes(const toml::node& node) {
    const toml::array* array = node.as_array();
    if (!array) {
      type_error(node, "'route'", "an array of tables, written [[route]]");
      return;
    }
    for (const toml::node& element : *array) {
      if (const toml::table* table = element.as_table()) {
        read_route(*table);
      } else {
        type_error(element, "each 'route'", "a table");
      }
    }
  }

  void read_route(const toml::table& table) {
    route_spec route;
    route_meta meta;
    meta.file_index = file_index_;
    route.position = at(table);
    const toml::node* path = nullptr;
    const toml::node* path_regex = nullptr;
    const toml::node* reply = nullptr;
    const toml::node* replies = nullptr;
    const toml::node* then = nullptr;
    const toml::node* continue_delay = nullptr;

    for (auto&& [key, value] : table) {
      const std::string name(key.str());
      if (name == "name") {
        if (const std::string* s = get_string(value, name)) {
          if (has_control(*s)) {
            add(at(value), "'name' must not contain control characters");
          } else if (!s->empty()) {
            route.name = *s;
            meta.explicit_name = true;
            meta.name_position = at(value);
          }
        }
      } else if (name == "method") {
        read_methods(value, route.methods);
      } else if (name == "path") {
        path = &value;
      } else if (name == "path_regex") {
        path_regex = &value;
      } else if (name == "query") {
        read_query(value, route.query);
      } else if (name == "headers") {
        read_match_headers(value, route.headers);
      } else if (name == "body") {
        read_body_matcher(value, route.body);
      } else if (name == "priority") {
        if (auto n = get_integer(value, name)) {
          if (*n < std::numeric_limits<int>::min() || *n > std::numeric_limits<int>::max()) {
            add(at(value), "'priority' must fit in 32 bits, not " + std::to_string(*n));
          } else {
            route.priority = static_cast<int>(*n);
          }
        }
      } else if (name == "reply") {
        reply = &value;
      } else if (name == "replies") {
        replies = &value;
      } else if (name == "then") {
        then = &value;
        if (auto index = get_choice(value, name, then_names)) {
          route.then = *index == 0 ? sequence_end::repeat_last : sequence_end::cycle;
        }
      } else if (name == "expect") {
        if (auto index = get_choice(value, name, expect_names)) {
          route.expect = *index == 0 ? expect_mode::send_continue : expect_mode::reject;
        }
      } else if (name == "continue_delay") {
        if (read_duration(value, name, true, route.continue_delay)) continue_delay = &value;
      } else if (name == "outage") {
        if (value.is_table()) {
          route.outage = read_outage(value, false);
        } else {
          type_error(value, "'outage'", "a table, written [route.outage]");
        }
      } else if (name == "auth") {
        route.auth = read_auth(value);
      } else if (name == "etag") {
        if (auto b = get_bool(value, name)) route.etag = *b;
      } else if (name == "ranges") {
        if (auto b = get_bool(value, name)) route.ranges = *b;
      } else if (name == "require_length") {
        if (auto b = get_bool(value, name)) route.require_length = *b;
      } else if (name == "last_modified") {
        read_last_modified(value, route.last_modified);
      } else if (name == "produces" || name == "consumes") {
        read_media_types(value, name, name == "produces" ? route.produces : route.consumes);
      } else if (name == "rate_limit") {
        route.rate_limit = read_rate_limit(value, "[route.rate_limit]");
      } else {
        unknown_key(key, "in [[route]]", route_keys);
      }
    }

    // Path parameters, for checking templates; unknown (nullopt) when the path itself is bad.
    std::optional<std::vector<std::string>> params;
    if (path && path_regex) {
      const toml::node& later = before(*path, *path_regex) ? *path_regex : *path;
      add(at(later), "a route has 'path' or 'path_regex', not both");
    } else if (path) {
      route.path_position = at(*path);
      if (const std::string* s = get_string(*path, "path")) {
        route.path = *s;
        params = path_params(*path, *s);
      }
    } else if (path_regex) {
      route.path_position = at(*path_regex);
      if (const std::string* s = get_string(*path_regex, "path_regex")) {
        route.path_regex = *s;
        params = regex_params(*path_regex, *s);
      }
    } else {
      add(route.position, "a route needs 'path' or 'path_regex'");
    }

    route.reply.position = route.position;
    if (reply && replies) {
      const toml::node& later = before(*reply, *replies) ? *replies : *reply;
      add(at(later), "a route has [route.reply] or [[route.replies]], not both");
    }
    if (reply) read_reply(*reply, params, false, route.reply);
    if (replies) read_replies(*replies, params, route.replies);
    if (then && !replies) {
      add(at(*then),
          "'then' is only for [[route.replies]]: it says what comes after the last reply");
    }
    // RFC 9110 §10.1.1: a refusal is the final reply, so there is no 100 Continue to hold back.
    if (continue_delay && route.expect == expect_mode::reject) {
      add(at(*continue_delay),
          "'continue_delay' does nothing with expect = \"reject\": no 100 Continue is sent");
    }

    cfg_.routes.push_back(std::move(route));
    route_meta_.push_back(std::move(meta));
  }

  void read_methods(const toml::node& node, std::vector<std::string>& out) {
    std::vector<const toml::node*> items;
    if (node.is_string()) {
      items.push_back(&node);
    } else if (const toml::array* array = node.as_array()) {
      if (array->empty()) {
        add(at(node), "'method' must not be an empty array (leave it out to match any method)");
        return;
      }
      for (const toml::node& item : *array) items.push_back(&item);
    } else {
      type_error(node, "'method'", "a string or an array of strings");
      return;
    }
    for (const toml::node* item : items) {
      const auto* s = item->as_string();
      if (!s) {
        type_error(*item, "each 'method'", "a string");
        continue;
      }
      const std::string& method = s->get();
      if (!is_token(method)) {
        add(at(*item), "method " + in_quotes(method) +
                           " is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)");
        continue;
      }
      // RFC 9110 §9.1: methods are case-sensitive, so "get" would never match a GET request.
      const auto standard = std::find_if(standard_methods.begin(), standard_methods.end(),
                                         [&](std::string_view m) { return iequal(m, method); });
      if (standard != standard_methods.end() && *standard != method) {
        add(at(*item), "method " + in_quotes(method) +
                           " never matches: methods are case-sensitive" + " (did you mean '" +
                           std::string(*standard) + "'?)");
        continue;
      }
      if (std::find(out.begin(), out.end(), method) != out.end()) {
        add(at(*item), "method " + in_quotes(method) + " is listed twice");
        continue;
      }
      out.push_back(method);
    }
  }

  std::optional<std::vector<std::string>> path_params(const toml::node& node,
                                                      const std::string& text) {
    try {
      return path_pattern::compile(text).param_names();
    } catch (const path_pattern_error& e) {
      add(at_offset(node, text, e.offset), "bad 'path': " + std::string(e.what()));
      return std::nullopt;
    }
  }

  std::optional<std::vector<std::string>> regex_params(const toml::node& node,
                                                       const std::string& text) {
    RE2 re(text, RE2::Quiet);
    if (!re.ok()) {
      add(at(node), "bad 'path_regex': " + re.error());
      return std::nullopt;
    }
    std::map<int, std::string> by_index;
    for (const auto& [name, index] : re.NamedCapturingGroups()) by_index[index] = name;
    if (by_index.size() > max_path_params) {
      add(at(node), "'path_regex' may have at most " + std::to_string(max_path_params) +
                        " named groups, not " + std::to_string(by_index.size()));
      return std::nullopt;
    }
    std::vector<std::string> names;
    for (auto& [index, name] : by_index) names.push_back(std::move(name));
    return names;
  }

  void read_query(const toml::node& node, std::vector<name_value>& out) {
    const toml::table* table = node.as_table();
    if (!table) {
      type_error(node, "'query'", "a table, e.g. { page = \"2\" }");
      return;
    }
    for (auto&& [key, value] : *table) {
      const std::string name(key.str());
      if (name.empty()) {
        add(at(key), "a query parameter name must not be empty");
        continue;
      }
      if (auto text = scalar_text(value, "query parameter " + in_quotes(name))) {
        out.push_back({name, std::move(*text), at(key)});
      }
    }
  }

  void read_match_headers(const toml::node& node, std::vector<name_value>& out) {
    const toml::table* table = node.as_table();
    if (!table) {
      type_error(node, "'headers'", "a table, e.g. { \"X-Api-Key\" = \"k1\" }");
      return;
    }
    for (auto&& [key, value] : *table) {
      const std::string name(key.str());
      if (!is_token(name)) {
        add(at(key), "header name " + in_quotes(name) +
                         " is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)");
        continue;
      }
      const auto same = std::find_if(out.begin(), out.end(),
                                     [&](const name_value& h) { return iequal(h.name, name); });
      if (same != out.end()) {
        add(at(key), "header " + in_quotes(name) + " is already matched at " +
                         position_text(same->position) + " (header names are case-insensitive)");
        continue;
      }
      auto text = scalar_text(value, "header " + in_quotes(name));
      if (!text) continue;
      if (has_control(*text)) {
        add(at(value), "header " + in_quotes(name) +
                           " must not contain CR, LF, NUL or other control characters");
        continue;
      }
      out.push_back({name, std::move(*text), at(key)});
    }
  }

  void read_body_matcher(const toml::node& node, std::optional<body_matcher_spec>& out) {
    const toml::table* table = node.as_table();
    if (!table) {
      type_error(node, "'body'", "a table, e.g. { contains = \"x\" }");
      return;
    }
    const toml::node* chosen = nullptr;
    std::string chosen_name;
    for (auto&& [key, value] : *table) {
      const std::string name(key.str());
      if (!is_known(name, body_matcher_keys)) {
        unknown_key(key, "in [route.body]", body_matcher_keys);
        continue;
      }
      if (chosen) {
        const bool later = before(*chosen, value);
        add(at(later ? value : *chosen),
            "'body' has one of 'contains', 'equals', 'regex' or "
            "'json', not both '" +
                chosen_name + "' and '" + name + "'");
        return;
      }
      chosen = &value;
      chosen_name = name;
    }
    if (!chosen) {
      if (table->empty()) {
        add(at(node), "'body' needs one of 'contains', 'equals', 'regex' or 'json'");
      }
      return;
    }

    body_matcher_spec spec;
    spec.position = at(*chosen);
    if (chosen_name == "json") {
      spec.kind = body_match_kind::json;
      auto text = to_json_text(*chosen);
      if (!text) return;
      spec.text = std::move(*text);
    } else {
      const std::string* s = get_string(*chosen, "body." + chosen_name);
      if (!s) return;
      spec.text = *s;
      if (chosen_name == "contains") {
        spec.kind = body_match_kind::contains;
      } else if (chosen_name == "equals") {
        spec.kind = body_match_kind::equals;
      } else {
        spec.kind = body_match_kind::regex;
        RE2 re(*s, RE2::Quiet);
        if (!re.ok()) {
          add(at(*chosen), "bad 'body.regex': " + re.error());
          return;
        }
      }
    }
    out = std::move(spec);
  }

  void read_replies(const toml::node& node, const std::optional<std::vector<std::string>>& params,
                    std::vector<reply_spec>& out) {
    const toml::array* array = node.as_array();
    if (!array) {
      type_error(node, "'replies'", "an array of tables, written [[route.replies]]");
      return;
    }
    if (array->empty()) {
      add(at(node), "'replies' must not be empty: write one [[route.replies]] table per reply");
      return;
    }
    for (const toml::node& element : *array) {
      reply_spec reply;
      reply.position = at(element);
      read_reply(element, params, true, reply);
      out.push_back(std::move(reply));
    }
  }

  // [route.reply], or one [[route.replies]] entry when `in_sequence`.
  void read_reply(const toml::node& node, const std::optional<std::vector<std::string>>& params,
                  bool in_sequence, reply_spec& reply) {
    const toml::table* table = node.as_table();
    if (!table) {
      if (in_sequence) {
        type_error(node, "each 'replies'", "a table");
      } else {
        type_error(node, "'reply'", "a table, written [route.reply]");
      }
      return;
    }
    reply.position = at(node);
    bool status_ok = true;
    const toml::node* status = nullptr;
    const toml::node* redirect = nullptr;
    bool has_delay = false;
    const toml::node* processing_every = nullptr;
    std::vector<std::pair<std::string, const toml::node*>> bodies;
    std::vector<std::pair<std::string, const toml::node*>> pacing;
    for (auto&& [key, value] : *table) {
      const std::string name(key.str());
      if (name == "status") {
        status = &value;
        status_ok = read_status(value, reply.status);
      } else if (name == "reason") {
        if (const std::string* s = get_string(value, name)) {
          if (has_control(*s)) {
            add(at(value), "'reason' must not contain CR, LF, NUL or other control characters");
          } else {
            reply.reason = *s;
          }
        }
      } else if (name == "headers") {
        read_reply_headers(value, params, reply.headers);
      } else if (name == "body" || name == "body_file" || name == "json") {
        bodies.emplace_back(name, &value);
      } else if (name == "delay") {
        has_delay = true;
        read_delay(value, reply.delay);
      } else if (name == "hang") {
        if (auto b = get_bool(value, name)) reply.hang = *b;
      } else if (name == "interim") {
        read_interims(value, reply.interim);
      } else if (name == "processing_every") {
        processing_every = &value;
        read_duration(value, name, false, reply.processing_every);
      } else if (name == "fault") {
        if (auto index = get_choice(value, name, fault_names)) {
          reply.fault = fault_kinds[*index];
        }
      } else if (name == "chunks") {
        pacing.emplace_back(name, &value);
        read_chunks(value, reply.chunks);
      } else if (name == "bandwidth") {
        pacing.emplace_back(name, &value);
        read_bandwidth(value, reply.bandwidth);
      } else if (name == "redirect") {
        redirect = &value;
        reply.redirect = read_redirect(value, params);
      } else if (name == "repeat" && in_sequence) {
        read_repeat(value, reply.repeat);
      } else if (name == "repeat") {
        add(at(key),
            "'repeat' belongs in [[route.replies]], a sequence of replies; [route.reply] is "
            "used for every request");
      } else if (in_sequence) {
        unknown_key(key, "in [[route.replies]]", sequence_reply_keys);
      } else {
        unknown_key(key, "in [route.reply]", reply_keys);
      }
    }
    if (processing_every && !has_delay) {
      add(at(*processing_every),
          "'processing_every' needs a 'delay': 102 Processing is sent only while a reply is "
          "delayed");
    }
    check_redirect(*table, status, redirect, status_ok, reply);
    if (pacing.size() == 2) {
      // The body goes out as timed chunks or as a throttled stream; the server does not mix them.
      const std::size_t later = before(*pacing[0].second, *pacing[1].second) ? 1 : 0;
      add(at(*pacing[later].second), "a reply has 'chunks' or 'bandwidth', not both");
    }
    const char* no_content = status_ok ? no_content_section(reply.status) : nullptr;
    if (no_content) {
      for (const auto& [what, value] : pacing) {
        add(at(*value), in_quotes(what) + " paces a body, and a " + std::to_string(reply.status) +
                            " reply cannot have one (RFC 9110 §" + no_content + ")");
      }
    }
    if (bodies.empty()) return;

    std::sort(bodies.begin(), bodies.end(),
              [&](const auto& a, const auto& b) { return before(*a.second, *b.second); });
    for (std::size_t i = 1; i < bodies.size(); ++i) {
      add(at(*bodies[i].second),
          "a reply has at most one of 'body', 'body_file' and 'json', not "
          "both '" +
              bodies[0].first + "' and '" + bodies[i].first + "'");
    }
    const auto& [kind, value] = bodies[0];
    reply.body_position = at(*value);
    if (no_content) {
      add(at(*value), "a " + std::to_string(reply.status) +
                          " reply cannot have a body (RFC 9110 §" + no_content + ")");
      return;
    }
    if (bodies.size() > 1) return;

    if (kind == "body") {
      const std::string* s = get_string(*value, "body");
      if (!s) return;
      if (params) check_template(*value, *s, *params, "'body'");
      reply.body = *s;
      reply.source = body_source::inline_text;
    } else if (kind == "body_file") {
      const std::string* s = get_string(*value, "body_file");
      if (!s) return;
      reply.body_file = *s;
      if (read_body_file(*value, *s, reply.body)) reply.source = body_source::file;
    } else {
      auto text = to_json_text(*value);
      if (!text) return;
      reply.body = std::move(*text);
      reply.source = body_source::json;
    }
  }

  // `delay = "250ms"`, `{ min = "100ms", max = "400ms" }` or `{ median = "200ms", sigma = 0.4 }`.
  void read_delay(const toml::node& node, delay_spec& out) {
    static const std::string forms =
        "a duration like \"250ms\", a table { min = \"100ms\", max = \"400ms\" } or a table "
        "{ median = \"200ms\", sigma = 0.4 }";
    if (node.is_string()) {
      std::chrono::milliseconds fixed{0};
      if (read_duration(node, "delay", true, fixed)) {
        out.type = delay_spec::kind::fixed;
        out.fixed = fixed;
      }
      return;
    }
    const toml::table* table = node.as_table();
    if (!table) {
      type_error(node, "'delay'", forms);
      return;
    }
    std::map<std::string, const toml::node*> parts;
    bool unknown = false;
    for (auto&& [key, value] : *table) {
      if (is_known(key.str(), delay_keys)) {
        parts.emplace(std::string(key.str()), &value);
      } else {
        unknown_key(key, "in 'delay'", delay_keys);
        unknown = true;
      }
    }
    if (unknown) return;
    const auto has = [&](const char* name) { return parts.count(name) != 0; };
    if (parts.size() == 2 && has("min") && has("max")) {
      delay_spec uniform;
      uniform.type = delay_spec::kind::uniform;
      const bool min_ok = read_duration(*parts["min"], "delay.min", true, uniform.min);
      const bool max_ok = read_duration(*parts["max"], "delay.max", true, uniform.max);
      if (!min_ok || !max_ok) return;
      if (uniform.max < uniform.min) {
        add(at(*parts["max"]), "'delay.max' (\"" + parts["max"]->as_string()->get() +
                                   "\") must not be less than 'delay.min' (\"" +
                                   parts["min"]->as_string()->get() + "\")");
        return;
      }
      out = uniform;
    } else if (parts.size() == 2 && has("median") && has("sigma")) {
      delay_spec lognormal;
      lognormal.type = delay_spec::kind::lognormal;
      const bool median_ok =
          read_duration(*parts["median"], "delay.median", false, lognormal.median);
      const auto sigma = get_number(*parts["sigma"], "delay.sigma");
      if (sigma && !(*sigma >= 0 && *sigma <= max_sigma)) {
        add(at(*parts["sigma"]), "'delay.sigma' must be 0..5, not " + number_text(*sigma));
        return;
      }
      if (!median_ok || !sigma) return;
      lognormal.sigma = *sigma;
      out = lognormal;
    } else {
      std::string found;
      for (const auto& [name, value] : parts) {
        if (!found.empty()) found += value == parts.rbegin()->second ? " and " : ", ";
        found += in_quotes(name);
      }
      add(at(node), "'delay' must be " + forms + ", not " +
                        (found.empty() ? "an empty table" : "a table with " + found));
    }
  }

  void read_interims(const toml::node& node, std::vector<interim_spec>& out) {
    const toml::array* array = node.as_array();
    if (!array) {
      type_error(node, "'interim'", "an array of tables, e.g. [ { status = 103 } ]");
      return;
    }
    for (const toml::node& element : *array) {
      const toml::table* table = element.as_table();
      if (!table) {
        type_error(element, "each 'interim'", "a table, e.g. { status = 103 }");
        continue;
      }
      interim_spec interim;
      interim.position = at(element);
      bool has_status = false;
      bool ok = true;
      bool unknown = false;
      for (auto&& [key, value] : *table) {
        const std::string name(key.str());
        if (name == "status") {
          has_status = true;
          ok = read_interim_status(value, interim.status) && ok;
        } else if (name == "headers") {
          // Sent as written: an interim response is not rendered per request.
          read_reply_headers(value, std::nullopt, interim.headers);
        } else {
          unknown_key(key, "in 'interim'", interim_keys);
          unknown = true;
        }
      }
      if (unknown) continue;
      if (!has_status) {
        add(at(element), "an interim response needs a 'status' (100..199), e.g. { status = 103 }");
        continue;
      }
      if (ok) out.push_back(std::move(interim));
    }
  }

  bool read_interim_status(const toml::node& node, int& out) {
    auto n = get_integer(node, "status");
    if (!n) return false;
    if (*n == 101) {
      add(at(node), "status 101: 101 Switching Protocols is reserved for protocol upgrades");
      return false;
    }
    if (*n < 100 || *n > 199) {
      add(at(node),
          "status " + std::to_string(*n) + " is out of range: an interim status must be 100..199");
      return false;
    }
    out = static_cast<int>(*n);
    return true;
  }

  void read_chunks(const toml::node& node, chunks_spec& out) {
    const toml::table* table = node.as_table();
    if (!table) {
      type_error(node, "'chunks'", "a table, e.g. { count = 10, over = \"2s\" }");
      return;
    }
    const toml::node* count = nullptr;
    const toml::node* over = nullptr;
    bool unknown = false;
    for (auto&& [key, value] : *table) {
      if (key == "count") {
        count = &value;
      } else if (key == "over") {
        over = &value;
      } else {
        unknown_key(key, "in 'chunks'", chunks_keys);
        unknown = true;
      }
    }
    if (unknown) return;
    if (!count || !over) {
      add(at(node), "'chunks' needs both 'count' and 'over', e.g. { count = 10, over = \"2s\" }");
      return;
    }
    chunks_spec chunks;
    bool ok = read_duration(*over, "chunks.over", true, chunks.over);
    if (auto n = get_integer(*count, "chunks.count")) {
      if (*n < 1 || *n > max_chunk_count) {
        add(at(*count), "'chunks.count' must be 1..10000, not " + std::to_string(*n));
        ok = false;
      } else {
        chunks.count = static_cast<unsigned>(*n);
      }
    } else {
      ok = false;
    }
    if (ok) out = chunks;
  }

  // Bytes per second: an integer, or a size as parse_size reads it followed by "/s".
  void read_bandwidth(const toml::node& node, std::uint64_t& out) {
    std::uint64_t bytes = 0;
    if (const auto* i = node.as_integer()) {
      if (i->get() <= 0) {
        add(at(node),
            "'bandwidth' must be more than 0 bytes per second, not " + std::to_string(i->get()));
        return;
      }
      bytes = static_cast<std::uint64_t>(i->get());
    } else if (const auto* s = node.as_string()) {
      const std::string_view text = s->get();
      std::optional<std::size_t> parsed;
      if (text.size() > 2 && text.substr(text.size() - 2) == "/s") {
        parsed = parse_size(text.substr(0, text.size() - 2));
      }
      if (!parsed) {
        add(at(node),
            "'bandwidth' must be a number of bytes, optionally with a unit (KB, KiB, MB, MiB, "
            "GB, GiB), followed by \"/s\", e.g. \"64KiB/s\", not \"" +
                s->get() + "\"");
        return;
      }
      if (*parsed == 0) {
        add(at(node), "'bandwidth' must be more than 0 bytes per second, not \"" + s->get() + "\"");
        return;
      }
      bytes = *parsed;
    } else {
      type_error(node, "'bandwidth'",
                 "a size per second, e.g. \"64KiB/s\", or an integer (bytes per second)");
      return;
    }
    out = bytes;
  }

  void read_repeat(const toml::node& node, unsigned& out) {
    auto n = get_integer(node, "repeat");
    if (!n) return;
    if (*n < 1 || *n > std::numeric_limits<unsigned>::max()) {
      add(at(node), "'repeat' must be 1.." + std::to_string(std::numeric_limits<unsigned>::max()) +
                        ", not " + std::to_string(*n));
      return;
    }
    out = static_cast<unsigned>(*n);
  }

  void read_server_outages(const toml::node& node) {
    const toml::array* array = node.as_array();
    if (!array) {
      type_error(node, "'outage'", "an array of tables, written [[outage]]");
      return;
    }
    for (const toml::node& element : *array) {
      if (!element.is_table()) {
        type_error(element, "each 'outage'", "a table");
        continue;
      }
      if (auto outage = read_outage(element, true)) cfg_.outages.push_back(std::move(*outage));
    }
  }

  // [route.outage], or a top-level [[outage]] (which also has a path) when `server_wide`.
  std::optional<outage_spec> read_outage(const toml::node& node, bool server_wide) {
    const toml::table& table = *node.as_table();
    outage_spec outage;
    outage.position = at(node);
    bool ok = true;
    bool unknown = false;
    bool window_ok = true;
    const toml::node* rate = nullptr;
    const toml::node* every = nullptr;
    const toml::node* duration = nullptr;
    const toml::node* path = nullptr;
    for (auto&& [key, value] : table) {
      const std::string name(key.str());
      if (name == "rate") {
        rate = &value;
        if (auto r = get_number(value, name)) {
          if (*r >= 0 && *r <= 1) {
            outage.rate = *r;
          } else {
            add(at(value), "'rate' must be 0..1 (a fraction of requests), not " + number_text(*r));
            ok = false;
          }
        } else {
          ok = false;
        }
      } else if (name == "every") {
        every = &value;
        window_ok = read_duration(value, name, false, outage.every) && window_ok;
      } else if (name == "duration") {
        duration = &value;
        window_ok = read_duration(value, name, false, outage.duration) && window_ok;
      } else if (name == "status") {
        ok = read_status(value, outage.status) && ok;
      } else if (name == "fault") {
        if (auto index = get_choice(value, name, fault_names)) {
          outage.fault = fault_kinds[*index];
        } else {
          ok = false;
        }
      } else if (name == "path" && server_wide) {
        path = &value;
      } else if (name == "path") {
        add(at(key),
            "'path' belongs in a top-level [[outage]]: [route.outage] covers its own route");
        unknown = true;
      } else {
        if (server_wide) {
          unknown_key(key, "in [[outage]]", server_outage_keys);
        } else {
          unknown_key(key, "in [route.outage]", route_outage_keys);
        }
        unknown = true;
      }
    }
    if (every && !duration) {
      add(at(*every), "'every' needs a 'duration': the outage lasts 'duration' once per 'every'");
      ok = false;
    } else if (duration && !every) {
      add(at(*duration),
          "'duration' needs an 'every': the outage lasts 'duration' once per 'every'");
      ok = false;
    } else if (every && duration && window_ok && outage.duration > outage.every) {
      add(at(*duration), "'duration' (\"" + duration->as_string()->get() +
                             "\") must not be longer than 'every' (\"" + every->as_string()->get() +
                             "\")");
      ok = false;
    } else if (!rate && !every && !unknown) {
      add(at(node), "an outage needs a 'rate', or 'every' and 'duration'");
      ok = false;
    }
    if (server_wide && !path) {
      // A misspelt 'path' has been reported as such already.
      if (!unknown) {
        add(at(node), "an [[outage]] needs a 'path': the path pattern it covers, e.g. \"/api/*\"");
      }
      ok = false;
    } else if (server_wide) {
      const std::string* s = get_string(*path, "path");
      try {
        if (s) path_pattern::compile(*s);
      } catch (const path_pattern_error& e) {
        add(at_offset(*path, *s, e.offset), "bad 'path': " + std::string(e.what()));
        s = nullptr;
      }
      if (s) {
        outage.path = *s;
      } else {
        ok = false;
      }
    }
    if (!ok || !window_ok || unknown) return std::nullopt;
    return outage;
  }

  // [route.rate_limit] / [server.rate_limit]: requests per period, by key; 429 beyond.
  std::optional<rate_limit_spec> read_rate_limit(const toml::node& node, std::string_view where) {
    const toml::table* table = node.as_table();
    if (!table) {
      type_error(node, "'rate_limit'", "a table, written " + std::string(where));
      return std::nullopt;
    }
    rate_limit_spec spec;
    spec.position = at(node);
    bool ok = true;
    const toml::node* requests = nullptr;
    const toml::node* burst = nullptr;
    auto positive = [&](const toml::node& value, std::string_view key, std::int64_t max,
                        std::uint64_t& out) {
      auto n = get_integer(value, key);
      if (!n) {
        ok = false;
      } else if (*n < 1 || *n > max) {
        add(at(value), in_quotes(key) + " must be 1.." + std::to_string(max) + ", not " +
                           std::to_string(*n));
        ok = false;
      } else {
        out = static_cast<std::uint64_t>(*n);
      }
    };
    for (auto&& [key, value] : *table) {
      const std::string name(key.str());
      if (name == "requests") {
        requests = &value;
        positive(value, name, 1'000'000'000, spec.requests);
      } else if (name == "burst") {
        burst = &value;
        positive(value, name, 1'000'000'000, spec.burst);
      } else if (name == "max_keys") {
        std::uint64_t n = 0;
        positive(value, name, 10'000'000, n);
        spec.max_keys = static_cast<std::size_t>(n);
      } else if (name == "per") {
        if (!read_duration(value, name, false, spec.per)) ok = false;
      } else if (name == "key") {
        if (!read_rate_limit_key(value, spec)) ok = false;
      } else if (name == "algorithm") {
        if (auto index = get_choice(value, name, rate_limit_algorithm_names)) {
          spec.algorithm = *index == 0 ? rate_limit_algorithm::token_bucket
                                       : rate_limit_algorithm::fixed_window;
        } else {
          ok = false;
        }
      } else if (name == "headers") {
        if (auto index = get_choice(value, name, rate_limit_header_names)) {
          spec.headers = static_cast<rate_limit_headers>(*index);
        } else {
          ok = false;
        }
      } else if (name == "reply") {
        auto reply = std::make_shared<reply_spec>();
        reply->status = 429;
        const std::size_t before = problems_.size();
        // No path parameters: the limit may be server-wide, and templates see the request only.
        read_reply(value, std::vector<std::string>{}, false, *reply);
        if (problems_.size() != before) ok = false;
        spec.reply = std::move(reply);
      } else {
        unknown_key(key, "in " + std::string(where), rate_limit_keys);
        ok = false;
      }
    }
    if (!requests && ok) {
      add(at(node), std::string(where) + " needs 'requests', e.g. requests = 10 (per \"1s\")");
      ok = false;
    }
    if (burst && spec.algorithm == rate_limit_algorithm::fixed_window) {
      add(at(*burst), "'burst' is for the token bucket; a fixed window admits 'requests' per "
                      "window");
      ok = false;
    }
    return ok ? std::optional(std::move(spec)) : std::nullopt;
  }

  // key = "global" | "ip" | "header:NAME" | "query:NAME".
  bool read_rate_limit_key(const toml::node& node, rate_limit_spec& spec) {
    const std::string* text = get_string(node, "key");
    if (!text) return false;
    const std::string_view s = *text;
    if (s == "global") {
      spec.key = rate_limit_key::global;
      return true;
    }
    if (s == "ip") {
      spec.key = rate_limit_key::ip;
      return true;
    }
    for (const auto& [prefix, kind] : {std::pair{std::string_view("header:"), rate_limit_key::header},
                                       std::pair{std::string_view("query:"), rate_limit_key::query}}) {
      if (s.substr(0, prefix.size()) != prefix) continue;
      const std::string_view name = s.substr(prefix.size());
      if (name.empty() || (kind == rate_limit_key::header && !is_token(name)) || has_control(name)) {
        add(at(node), "'key' needs a " +
                          std::string(kind == rate_limit_key::header ? "header" : "parameter") +
                          " name after \"" + std::string(prefix) + "\", e.g. \"" +
                          std::string(prefix) +
                          (kind == rate_limit_key::header ? "X-Api-Key" : "api_key") + "\"");
        return false;
      }
      spec.key = kind;
      spec.key_name = std::string(name);
      return true;
    }
    add(at(node), "'key' must be \"global\", \"ip\", \"header:NAME\" or \"query:NAME\", not \"" +
                      *text + "\"");
    return false;
  }

  // [route.auth]: exactly one of bearer = "token", basic = "user:pass", header = { name, value }.
  std::optional<auth_spec> read_auth(const toml::node& node) {
    const toml::table* table = node.as_table();
    if (!table) {
      type_error(node, "'auth'", "a table, written [route.auth]");
      return std::nullopt;
    }
    std::optional<auth_spec> auth;
    const toml::node* first = nullptr;
    std::string first_name;
    bool ok = true;
    std::vector<std::pair<std::string, const toml::node*>> entries;
    for (auto&& [key, value] : *table) {
      if (is_known(key.str(), auth_keys)) {
        entries.emplace_back(std::string(key.str()), &value);
      } else {
        unknown_key(key, "in [route.auth]", auth_keys);
        ok = false;
      }
    }
    // toml++ keeps keys sorted; the conflict is reported where the second one was written.
    std::sort(entries.begin(), entries.end(),
              [&](const auto& x, const auto& y) { return before(*x.second, *y.second); });
    for (const auto& [name, node_ptr] : entries) {
      const toml::node& value = *node_ptr;
      if (first) {
        add(at(value), "[route.auth] takes one of 'bearer', 'basic' and 'header', not both '" +
                           first_name + "' and '" + name + "'");
        ok = false;
        continue;
      }
      first = &value;
      first_name = name;
      auth_spec spec;
      spec.position = at(value);
      if (name == "header") {
        spec.kind = auth_kind::header;
        if (!read_auth_header(value, spec)) ok = false;
      } else {
        spec.kind = name == "bearer" ? auth_kind::bearer : auth_kind::basic;
        const std::string* secret = get_string(value, name);
        if (!secret) {
          ok = false;
        } else if (secret->empty() || has_control(*secret)) {
          add(at(value),
              in_quotes(name) + " must be a non-empty string without control characters");
          ok = false;
        } else if (name == "bearer" && !is_token68(*secret)) {
          // RFC 6750 §2.1: b64token, so that clients can send it as it is.
          add(at(value),
              "'bearer' must be a token68 (letters, digits and -._~+/, then any '='), "
              "not \"" +
                  *secret + "\"");
          ok = false;
        } else if (name == "basic" && secret->find(':') == std::string::npos) {
          // RFC 7617 §2: user-id ":" password; the user-id cannot contain a colon.
          add(at(value), "'basic' must be \"user:password\", not \"" + *secret + "\"");
          ok = false;
        }
        if (secret) spec.secret = *secret;
      }
      auth = std::move(spec);
    }
    if (!first && ok) {
      add(at(node), "[route.auth] needs one of 'bearer', 'basic' or 'header'");
      return std::nullopt;
    }
    return ok ? auth : std::nullopt;
  }

  bool read_auth_header(const toml::node& node, auth_spec& spec) {
    const toml::table* table = node.as_table();
    if (!table) {
      type_error(node, "'header'", "a table, e.g. { name = \"X-Api-Key\", value = \"k\" }");
      return false;
    }
    bool ok = true;
    const toml::node* name_node = nullptr;
    const toml::node* value_node = nullptr;
    for (auto&& [key, value] : *table) {
      if (key.str() == "name") {
        name_node = &value;
      } else if (key.str() == "value") {
        value_node = &value;
      } else {
        unknown_key(key, "in [route.auth] header", auth_header_keys);
        ok = false;
      }
    }
    if (!name_node || !value_node) {
      add(at(node), "[route.auth] 'header' needs a 'name' and a 'value'");
      return false;
    }
    if (const std::string* name = get_string(*name_node, "name")) {
      if (!is_token(*name)) {
        add(at(*name_node), "header name " + in_quotes(*name) +
                                " is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)");
        ok = false;
      }
      spec.header_name = *name;
    } else {
      ok = false;
    }
    if (const std::string* value = get_string(*value_node, "value")) {
      if (value->empty() || has_control(*value) || value->front() == ' ' || value->back() == ' ') {
        add(at(*value_node),
            "'value' must be a non-empty string without control characters or "
            "spaces at either end");
        ok = false;
      }
      spec.secret = *value;
    } else {
      ok = false;
    }
    return ok;
  }

  static bool is_token68(std::string_view s) {
    std::size_t i = 0;
    auto plain = [](char c) {
      return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
    };
    while (i < s.size() && plain(s[i])) ++i;
    if (i == 0) return false;
    while (i < s.size() && s[i] == '=') ++i;
    return i == s.size();
  }

  void read_last_modified(const toml::node& node, std::string& out) {
    const std::string* s = get_string(node, "last_modified");
    if (!s) return;
    // RFC 9110 §5.6.7: we send it as written, so it must be the preferred IMF-fixdate form.
    auto time = parse_http_date(*s);
    char formatted[http_date_length];
    if (time) format_http_date(static_cast<std::time_t>(*time), formatted);
    if (!time || s->size() != http_date_length ||
        std::string_view(formatted, http_date_length) != *s) {
      add(at(node),
          "'last_modified' must be an IMF-fixdate like "
          "\"Sun, 06 Nov 1994 08:49:37 GMT\", not \"" +
              *s + "\"");
      return;
    }
    out = *s;
  }

  // produces / consumes: "type/subtype" or an array of them, kept in lower case.
  void read_media_types(const toml::node& node, const std::string& key,
                        std::vector<std::string>& out) {
    std::vector<const toml::node*> items;
    if (node.is_string()) {
      items.push_back(&node);
    } else if (const toml::array* array = node.as_array()) {
      if (array->empty()) {
        add(at(node), in_quotes(key) + " must not be an empty array (leave it out instead)");
        return;
      }
      for (const toml::node& item : *array) items.push_back(&item);
    } else {
      type_error(node, in_quotes(key), "a string or an array of strings");
      return;
    }
    for (const toml::node* item : items) {
      const std::string* s = get_string(*item, "each " + in_quotes(key));
      if (!s) continue;
      const auto slash = s->find('/');
      const bool ok = slash != std::string::npos && is_token(s->substr(0, slash)) &&
                      is_token(s->substr(slash + 1)) && s->find('*') == std::string::npos;
      if (!ok) {
        add(at(*item), in_quotes(key) +
                           " lists media types like \"application/json\" "
                           "(no wildcards or parameters), not \"" +
                           *s + "\"");
        continue;
      }
      std::string lower;
      for (char c : *s) lower.push_back(ascii_lower(c));
      out.push_back(std::move(lower));
    }
  }

  // redirect = { to = "/new/{{path.id}}", status = 308 }
  std::optional<redirect_spec> read_redirect(
      const toml::node& node, const std::optional<std::vector<std::string>>& params) {
    const toml::table* table = node.as_table();
    if (!table) {
      type_error(node, "'redirect'", "a table, e.g. { to = \"/new\", status = 308 }");
      return std::nullopt;
    }
    redirect_spec redirect;
    redirect.position = at(node);
    bool ok = true;
    bool has_to = false;
    for (auto&& [key, value] : *table) {
      if (key.str() == "to") {
        has_to = true;
        const std::string* s = get_string(value, "to");
        if (!s) {
          ok = false;
        } else if (s->empty() || has_control(*s)) {
          add(at(value), "'to' must be a non-empty string without control characters");
          ok = false;
        } else if (params && !check_template(value, *s, *params, "'to'")) {
          ok = false;
        } else {
          redirect.to = *s;
        }
      } else if (key.str() == "status") {
        auto n = get_integer(value, "status");
        if (!n) {
          ok = false;
        } else if (*n != 301 && *n != 302 && *n != 303 && *n != 307 && *n != 308) {
          add(at(value),
              "a redirect status must be 301, 302, 303, 307 or 308, not " + std::to_string(*n));
          ok = false;
        } else {
          redirect.status = static_cast<int>(*n);
        }
      } else {
        unknown_key(key, "in 'redirect'", redirect_keys);
        ok = false;
      }
    }
    if (!has_to) {
      add(at(node), "a redirect needs 'to': the Location, e.g. { to = \"/new\" }");
      ok = false;
    }
    if (!ok) return std::nullopt;
    return redirect;
  }

  // A redirect owns the status and the Location; any other 3xx must bring its own Location.
  void check_redirect(const toml::table& table, const toml::node* status,
                      const toml::node* redirect, bool status_ok, const reply_spec& reply) {
    const bool has_location =
        std::any_of(reply.headers.begin(), reply.headers.end(),
                    [](const name_value& h) { return iequal(h.name, "Location"); });
    if (redirect) {
      if (status) {
        add(at(*status),
            "a reply with 'redirect' takes its status from 'redirect.status'; "
            "leave 'status' out");
      }
      if (has_location) {
        add(at(*redirect), "a reply has 'redirect' or a 'Location' header, not both");
      }
      return;
    }
    // RFC 9110 §15.4: a redirect names its target in Location (304 is not a redirect).
    if (status_ok && reply.status >= 300 && reply.status <= 399 && reply.status != 304 &&
        !has_location) {
      add(status ? at(*status) : at(table),
          "a " + std::to_string(reply.status) +
              " reply needs a Location: add headers = { "
              "Location = \"...\" } or redirect = { to = \"...\" }");
    }
  }

  bool read_status(const toml::node& node, int& out) {
    auto n = get_integer(node, "status");
    if (!n) return false;
    if (*n >= 100 && *n <= 199) {
      add(at(node), "status " + std::to_string(*n) +
                        ": 1xx responses are interim and sent by the server itself; a final "
                        "status must be 200..999");
      return false;
    }
    if (*n < 200 || *n > 999) {
      add(at(node), "status " + std::to_string(*n) +
                        " is out of range: a final status must be "
                        "200..999");
      return false;
    }
    out = static_cast<int>(*n);
    return true;
  }

  void read_reply_headers(const toml::node& node,
                          const std::optional<std::vector<std::string>>& params,
                          std::vector<name_value>& out) {
    const toml::table* table = node.as_table();
    if (!table) {
      type_error(node, "'headers'", "a table, e.g. { \"Content-Type\" = \"text/plain\" }");
      return;
    }
    for (auto&& [key, value] : *table) {
      const std::string name(key.str());
      if (!is_token(name)) {
        add(at(key), "header name " + in_quotes(name) +
                         " is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)");
        continue;
      }
      const auto owned = std::find_if(server_owned_headers.begin(), server_owned_headers.end(),
                                      [&](std::string_view h) { return iequal(h, name); });
      if (owned != server_owned_headers.end()) {
        add(at(key),
            "header " + in_quotes(name) + " is set by the server and cannot be configured");
        continue;
      }
      auto text = scalar_text(value, "header " + in_quotes(name));
      if (!text) continue;
      if (has_control(*text)) {
        add(at(value), "header " + in_quotes(name) +
                           " must not contain CR, LF, NUL or other control characters");
        continue;
      }
      if (params && !check_template(value, *text, *params, "header " + in_quotes(name))) continue;
      out.push_back({name, std::move(*text), at(key)});
    }
  }

  bool check_template(const toml::node& node, const std::string& text,
                      const std::vector<std::string>& params, const std::string& what) {
    try {
      compiled_template::compile(text, params);
      return true;
    } catch (const template_error& e) {
      add(at_offset(node, text, e.offset), "bad template in " + what + ": " + e.what());
      return false;
    }
  }

  bool read_body_file(const toml::node& node, const std::string& written, std::string& out) {
    const fs::path relative(written);
    if (written.empty()) {
      add(at(node), "'body_file' must not be empty");
      return false;
    }
    if (relative.is_absolute()) {
      add(at(node),
          "'body_file' must be relative to the config file's folder, not an absolute "
          "path: \"" +
              written + "\"");
      return false;
    }
    // Resolve symlinks on both sides, so a link pointing out of the folder is caught too.
    std::error_code ec;
    fs::path base = fs::weakly_canonical(base_dir_, ec);
    fs::path target;
    if (!ec) target = fs::weakly_canonical(base_dir_ / relative, ec);
    if (ec) {
      add(at(node), "cannot read 'body_file' \"" + written + "\": " + ec.message());
      return false;
    }
    if (base.filename().empty()) base = base.parent_path();
    const fs::path inside = target.lexically_relative(base);
    if (inside.empty() || *inside.begin() == "..") {
      add(at(node), "'body_file' \"" + written + "\" is outside the config file's folder");
      return false;
    }
    std::string why;
    if (!read_whole_file(target, out, why)) {
      add(at(node), "cannot read 'body_file' \"" + written + "\": " + why);
      return false;
    }
    return true;
  }

  std::optional<std::string> to_json_text(const toml::node& node) {
    json::value value;
    bool ok = true;
    to_json(node, value, ok);
    if (!ok) return std::nullopt;
    std::string text;
    write_json(value, text);
    return text;
  }

  void to_json(const toml::node& node, json::value& out, bool& ok) {
    switch (node.type()) {
      case toml::node_type::table: {
        json::object& object = out.emplace_object();
        for (auto&& [key, value] : *node.as_table()) to_json(value, object[key.str()], ok);
        return;
      }
      case toml::node_type::array: {
        json::array& array = out.emplace_array();
        for (const toml::node& value : *node.as_array()) {
          array.emplace_back(nullptr);
          to_json(value, array.back(), ok);
        }
        return;
      }
      case toml::node_type::string:
        out = node.as_string()->get();
        return;
      case toml::node_type::integer:
        out = node.as_integer()->get();
        return;
      case toml::node_type::floating_point: {
        const double d = node.as_floating_point()->get();
        if (!std::isfinite(d)) {
          add(at(node), "JSON has no infinity or NaN");
          ok = false;
          return;
        }
        out = d;
        return;
      }
      case toml::node_type::boolean:
        out = node.as_boolean()->get();
        return;
      default:
        add(at(node),
            "JSON has no dates or times: write " + std::string(type_name(node)) + " as a string");
        ok = false;
        return;
    }
  }

  // Explicit names must be unique; generated ones ("GET /users/{id}") get " #2", " #3"...
  void name_routes() {
    std::map<std::string, source_position> explicit_names;
    for (std::size_t i = 0; i < cfg_.routes.size(); ++i) {
      const route_meta& meta = route_meta_[i];
      if (!meta.explicit_name) continue;
      auto [first, inserted] = explicit_names.emplace(cfg_.routes[i].name, meta.name_position);
      if (!inserted) {
        problems_.push_back(
            {meta.file_index,
             {meta.name_position, "route name " + in_quotes(cfg_.routes[i].name) +
                                      " is already used at " + position_text(first->second)}});
      }
    }
    std::set<std::string> taken;
    for (const auto& [name, position] : explicit_names) taken.insert(name);
    for (std::size_t i = 0; i < cfg_.routes.size(); ++i) {
      if (route_meta_[i].explicit_name) continue;
      route_spec& route = cfg_.routes[i];
      std::string base;
      for (const std::string& method : route.methods) base += (base.empty() ? "" : ",") + method;
      if (base.empty()) base = "ANY";
      base += ' ';
      base += route.path_regex.empty() ? route.path : route.path_regex;
      std::string name = base;
      for (int n = 2; taken.count(name) != 0; ++n) name = base + " #" + std::to_string(n);
      taken.insert(name);
      route.name = std::move(name);
    }
  }

  config cfg_;
  std::vector<route_meta> route_meta_;  // parallel to cfg_.routes
  std::vector<indexed_problem> problems_;
  std::map<std::string, source_position> server_keys_set_;
  std::map<std::string, source_position> admin_keys_set_;
  std::string file_;
  std::size_t file_index_ = 0;
  std::size_t file_count_ = 0;
  fs::path base_dir_;
  std::unordered_map<const toml::node*, toml::source_region> json_regions_;
};

}  // namespace

config load_config(const std::vector<std::string>& paths) {
  if (paths.empty()) {
    throw config_error(std::vector<config_problem>{{{}, "no configuration file given"}});
  }
  loader l;
  for (const std::string& path : paths) l.load_path(path);
  config cfg = l.finish();
  cfg.sources = paths;
  return cfg;
}

config load_config_text(std::string_view text, const std::string& name,
                        const std::string& base_dir) {
  loader l;
  l.load_text(text, name, base_dir.empty() ? fs::path(".") : fs::path(base_dir));
  return l.finish();
}

route_spec load_route_json(std::string_view json_text, const std::string& source,
                           const std::string& base_dir) {
  loader l;
  l.load_json(json_text, source, base_dir.empty() ? fs::path(".") : fs::path(base_dir), true);
  return std::move(l.finish().routes.front());
}

std::vector<route_spec> load_routes_json(std::string_view json_text, const std::string& source,
                                         const std::string& base_dir) {
  loader l;
  l.load_json(json_text, source, base_dir.empty() ? fs::path(".") : fs::path(base_dir), false);
  return std::move(l.finish().routes);
}

}  // namespace stubborn

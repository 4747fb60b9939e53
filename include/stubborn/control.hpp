#pragma once
// The control API of a running server, for programs that embed it (an integration test, most
// often): runtime routes, reset, reload, the request journal and the metrics, without HTTP.
// The admin HTTP API is written on the same layer, so both see and change the same state.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "stubborn/config.hpp"

namespace stubborn {

/// Upper bounds of the latency histogram, in microseconds (then +Inf).
inline constexpr std::array<std::uint64_t, 14> latency_bounds_us = {
    100,    250,    500,     1'000,   2'500,     5'000,     10'000,
    25'000, 50'000, 100'000, 250'000, 1'000'000, 2'500'000, 10'000'000};

/// Counters for one route (or for requests no route took).
struct route_metrics {
  std::vector<std::pair<int, std::uint64_t>> statuses;  ///< status -> replies; 0 = no reply
  std::array<std::uint64_t, latency_bounds_us.size() + 1> latency{};  ///< per bucket, +Inf last
  std::uint64_t latency_sum_us = 0;
  std::uint64_t rate_limited = 0;           ///< 429s (or overrides) from a rate limit
  std::uint64_t faults = 0;                 ///< scripted faults and outages that broke the reply
  std::uint64_t websocket_opened = 0;       ///< upgraded connections that began their script
  std::uint64_t websocket_closed = 0;       ///< and those that ended
  std::uint64_t websocket_messages_in = 0;  ///< frames from clients (data and control)
  std::uint64_t websocket_messages_out = 0;

  /// Counts one reply.
  void count(int status, std::chrono::microseconds latency);
  /// Adds another thread's counters.
  void merge(const route_metrics& other);
  /// Replies counted, whatever their status.
  std::uint64_t total() const;
};

/// What the TLS handshake of a request's connection established, as the journal keeps it.
struct journal_tls {
  std::string sni;             ///< the server name the client sent ("" = none)
  std::string version;         ///< e.g. "TLSv1.3"
  std::string cipher;          ///< e.g. "TLS_AES_256_GCM_SHA384"
  std::string client_subject;  ///< the client certificate's subject ("" = none)
};

/// What a journal entry records.
enum class journal_kind {
  http,      ///< a request and its reply
  websocket  ///< one WebSocket message, either way, on a connection a route upgraded
};

/// A WebSocket message's facts (entries of kind websocket).
struct journal_websocket {
  bool in = true;  ///< from the client ("in") or to it ("out")
  int opcode = 1;  ///< RFC 6455 §5.2: 1 text, 2 binary, 8 close, 9 ping, 10 pong
  std::size_t size = 0;
};

/// One request (or WebSocket message) as the journal keeps it.
struct journal_entry {
  std::uint64_t id = 0;  ///< unique: thread index in the low 8 bits, the thread's count above
  std::chrono::system_clock::time_point time;  ///< when the request was complete
  std::string client;                          ///< "address:port" ("" on a UNIX socket)
  std::string method;
  std::string target;
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;                      ///< at most [admin] journal_body_bytes
  std::size_t body_bytes = 0;            ///< the whole body's size
  std::string route;                     ///< the route that answered; "" = none
  int status = 0;                        ///< the final status sent; 0 = none (a fault or a hang)
  std::string fault;                     ///< the fault that broke the reply, if any
  std::chrono::microseconds latency{0};  ///< request complete -> reply handed to the socket
  std::string miss;                      ///< no route: the nearest route and what differed
  bool over_tls = false;                 ///< the request came over HTTPS: `tls` holds its facts
  journal_tls tls;
  /// websocket: a message on the connection this entry's request upgraded (method, target,
  /// path, headers, client and route are the upgrade request's; status 101); `body` holds the
  /// payload's first journal_body_bytes and `body_bytes` its size.
  journal_kind kind = journal_kind::http;
  journal_websocket websocket;
};

/// Which journal entries to take; every field left empty matches anything. Made to be written
/// with designated initializers, `{.route = "r", .method = "GET", .path = "/x"}`: every member
/// has an initializer, so -Wextra has nothing to say about those left out.
struct journal_query {
  std::string route{};   ///< a route name, or "none" for requests no route took
  std::string method{};  ///< exact
  std::string path{};    ///< exact, or a prefix when it ends in '*'
  int status = 0;        ///< exact
  int status_class = 0;  ///< 4 takes 4xx
  std::optional<std::chrono::system_clock::time_point> since{};  ///< complete at or after
  std::size_t limit = 0;   ///< only the newest this many (after the other filters); 0 = all
  bool unmatched = false;  ///< only requests no route took
  /// Only entries of this kind: requests by default, so counts stay counts of requests;
  /// unset takes every entry.
  std::optional<journal_kind> kind = journal_kind::http;
  std::optional<bool> inbound{};  ///< WebSocket messages from the client (true) or to it (false)

  /// True if `entry` passes every filter (`limit` aside).
  bool admits(const journal_entry& entry) const;
};

/// The outcome of the last reload, and the counts since start.
struct reload_status {
  bool ok = true;
  std::string error;                           ///< the problems, one per line, when !ok
  std::chrono::system_clock::time_point at{};  ///< of the last attempt (epoch = never)
  std::uint64_t reloads = 0;                   ///< successful reloads so far
  std::uint64_t failures = 0;                  ///< failed ones
};

/// What a change to the runtime routes did.
struct route_change {
  enum class outcome {
    added,       ///< new runtime route(s), ranked before every other route
    replaced,    ///< a runtime route of that name was replaced
    removed,     ///< runtime route(s) removed (`removed` says how many)
    not_found,   ///< no route of that name
    file_route,  ///< the name is a file route's: edit the file to change it
    name_taken,  ///< add: a route of that name exists
    invalid,     ///< nothing changed; `problems` says why
  };
  outcome result = outcome::invalid;
  std::vector<std::string> problems;  ///< "source:line:col: message", when invalid
  std::vector<std::string> names;     ///< the routes added, replaced or removed
  std::size_t removed = 0;            ///< routes removed

  /// True if the routes changed (added, replaced or removed).
  bool ok() const {
    return result == outcome::added || result == outcome::replaced || result == outcome::removed;
  }
};

/// The server's metrics, summed over its I/O threads (what GET /__admin/metrics shows).
struct server_metrics {
  std::vector<std::pair<std::string, route_metrics>> routes;  ///< by name, sorted; "" = no route
  std::optional<std::uint64_t> server_rate_limit_evictions;   ///< with [server.rate_limit]
  std::vector<std::pair<std::string, std::uint64_t>> route_rate_limit_evictions;  ///< by route
  /// [cluster]: whether Redis answers every connection of this server (unset: not in a cluster).
  std::optional<bool> cluster_redis_up;
  /// Routes with state_key: keys dropped because max_state_keys were kept, by route.
  std::vector<std::pair<std::string, std::uint64_t>> route_state_key_evictions;
  std::size_t open_connections = 0;
  std::uint64_t refused_connections = 0;  ///< over max_connections
  /// TLS handshakes, with an HTTPS listener: completed with a new session, or resumed.
  std::uint64_t tls_handshakes_full = 0;
  std::uint64_t tls_handshakes_resumed = 0;
  /// Failed TLS handshakes by reason (OpenSSL's, or "timeout", "eof", "scripted", ...).
  std::vector<std::pair<std::string, std::uint64_t>> tls_handshake_failures;
  /// TLS ClientHellos sent to the plain listener (closed without a reply).
  std::uint64_t tls_on_plain_port = 0;
  bool tls = false;  ///< there is an HTTPS listener
  /// Proxy routes' upstream failures by cause ("refused", "reset", "closed", "invalid",
  /// "connect_timeout", "timeout", "tls", "offline"), each answered 502 or 504.
  std::vector<std::pair<std::string, std::uint64_t>> proxy_errors;
  std::uint64_t proxy_connections_opened = 0;  ///< connections opened to upstreams
  std::uint64_t reloads = 0;
  std::uint64_t reload_failures = 0;
  std::size_t route_count = 0;  ///< routes in the table now

  /// Replies counted for a route name ("" = no route), whatever their status.
  std::uint64_t requests(std::string_view route) const;
};

/// What writing the recording did (server_control::snapshot_recording).
struct recording_snapshot {
  enum class outcome {
    written,        ///< the file was replaced
    not_recording,  ///< the config has no [recording] table
    failed          ///< the file could not be written: `error` says why
  };
  outcome result = outcome::written;
  std::string file;           ///< [recording] out
  std::size_t routes = 0;     ///< routes written
  std::size_t exchanges = 0;  ///< exchanges recorded so far
  std::string error;          ///< why it failed

  /// True if the file was written.
  bool ok() const { return result == outcome::written; }
};

/// The control API of one server, from server::control(). Every call blocks until done and is
/// safe from any thread except the server's own I/O threads (it would wait on itself there:
/// std::logic_error). After server::stop() every call throws std::logic_error. The journal and
/// the metrics need the admin layer on ([admin] enabled, the default); without it they are empty.
class server_control {
 public:
  virtual ~server_control() = default;

  /// Adds a runtime route, ranked before every other route (the newest first). It needs a name
  /// no route has; the spec is used as given (a route from TOML is checked like a file's).
  virtual route_change add_route(route_spec spec) = 0;
  /// Adds the [[route]] tables of TOML text, checked exactly like a config file's (positions
  /// name `source`; body_file is read relative to the first config file's folder). Other
  /// tables are refused. All or nothing.
  virtual route_change add_routes(std::string_view toml, const std::string& source = "runtime") = 0;
  /// Adds the runtime route spec.name, or replaces it in place; a file route's name is refused.
  virtual route_change put_route(route_spec spec) = 0;
  /// Removes the runtime route `name`.
  virtual route_change remove_route(std::string_view name) = 0;
  /// Removes every runtime route; the file routes stay.
  virtual route_change clear_routes() = 0;
  /// The runtime routes, in the order they rank.
  virtual std::vector<route_spec> runtime_routes() const = 0;

  /// Puts sequences, outage windows and rate limits back to their start and empties the journal.
  virtual void reset() = 0;
  /// Drops one state key's sequences, outage windows and rate-limit buckets on every route
  /// with `state_key` (its next request starts over); the number of routes that held it.
  virtual std::size_t reset_key(std::string_view key) = 0;
  /// Re-reads the config files and swaps the new table in if they are valid (see server::reload).
  virtual reload_status reload() = 0;
  /// The outcome of the last reload; never waits for one in progress.
  virtual reload_status last_reload() const = 0;

  /// The journal's entries that `query` admits, oldest first.
  virtual std::vector<journal_entry> journal(const journal_query& query = {}) = 0;
  /// How many journal entries `query` admits (its `limit` aside).
  virtual std::size_t count(const journal_query& query = {}) = 0;
  /// Empties the journal.
  virtual void clear_journal() = 0;
  /// The metrics, summed over the I/O threads.
  virtual server_metrics metrics() = 0;

  /// Writes what the server has recorded so far to [recording] out, replacing the file (as
  /// POST /__admin/recordings/snapshot does). Runs on the control thread and waits for it.
  virtual recording_snapshot snapshot_recording() = 0;
};

}  // namespace stubborn

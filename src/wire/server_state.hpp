#pragma once
// The state every connection of a server shares: the current route table (swapped atomically on
// reload), server-wide connection counters and the recording of proxied exchanges.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "routing/route_table.hpp"

namespace stubborn {

class tls_context;
class recorder;
class cluster_health;

/// What proxy routes count: upstream failures by cause (each answered 502 or 504) and the
/// connections opened to upstreams (relaxed increments, none per reused connection).
struct proxy_counters {
  std::array<std::atomic<std::uint64_t>, 9> errors{};  ///< by upstream_failure
  std::atomic<std::uint64_t> connections_opened{0};
};

/// What the HTTPS listener counts (a new connection costs a relaxed increment; a failure, which
/// is rare and carries OpenSSL's reason, a lock).
class tls_counters {
 public:
  std::atomic<std::uint64_t> full{0};     ///< handshakes that made a new session
  std::atomic<std::uint64_t> resumed{0};  ///< handshakes that resumed one (a ticket)
  /// TLS ClientHellos sent to the plain listener (closed without a reply).
  std::atomic<std::uint64_t> client_hello_on_plain{0};

  /// Counts a failed handshake, by reason (OpenSSL's, or "timeout", "scripted", ...).
  void count_failure(std::string_view reason);
  /// The failures so far, by reason.
  std::vector<std::pair<std::string, std::uint64_t>> failures() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::uint64_t, std::less<>> failures_;
};

/// The size of a cache line: what two threads must not both write, nor one write while the other
/// reads on every request.
inline constexpr std::size_t cache_line_bytes = 64;

/// What every connection shares: the current route table and server-wide counters. What every
/// request reads (`draining`, the table's generation) sits on cache lines of its own, apart from
/// the counters every connection's open and close write from any thread, so that connections
/// coming and going do not take those lines away from the threads serving requests.
class server_state {
 public:
  explicit server_state(std::shared_ptr<const route_table> table);

  /// The current table; swapped atomically by replace().
  std::shared_ptr<const route_table> table() const;
  /// Increments when the table changes, so sessions refresh their copy cheaply.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  /// Where the generation is kept (the test of this class's cache-line layout looks).
  const void* generation_address() const { return &generation_; }
  /// Installs a new table; requests in flight finish on the one they started with.
  void replace(std::shared_ptr<const route_table> table);

  /// Read by every request; written once, when the server stops.
  alignas(cache_line_bytes) std::atomic<bool> draining{false};
  /// Written when a connection opens and closes, on whichever thread serves it.
  alignas(cache_line_bytes) std::atomic<std::size_t> open_connections{0};
  std::atomic<std::uint64_t> refused_connections{0};
  tls_counters tls;
  proxy_counters proxy;
  /// Strict replay ([server] offline or --offline, fixed at start): no outbound connection.
  bool offline = false;
  /// What proxy routes relay is recorded here ([recording]); null when not recording. Made at
  /// start and kept for the server's life: a reload does not change it.
  std::shared_ptr<recorder> recording;
  /// [cluster]: whether Redis answers every connection of this server; null: not in a cluster.
  /// Made at start, kept for the server's life (a reload does not join or leave a cluster).
  std::shared_ptr<cluster_health> cluster;

  /// The HTTPS listener's OpenSSL state (null without one); a new connection takes it once.
  std::shared_ptr<const tls_context> current_tls_context() const;
  /// Installs the state built by a reload: connections already open keep theirs.
  void replace_tls_context(std::shared_ptr<const tls_context> context);

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const route_table> table_;
  std::shared_ptr<const tls_context> tls_context_;
  // Read by every request; the mutex above is taken by every new TLS connection.
  alignas(cache_line_bytes) std::atomic<std::uint64_t> generation_{1};
};

}  // namespace stubborn

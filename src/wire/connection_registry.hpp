#pragma once
// The live connections of one I/O thread: their deadlines, drain and forced close.

#include <chrono>
#include <cstddef>
#include <vector>

namespace stubborn {

class cluster_link;

class thread_observer;
class access_log;
class upstream_pool;

/// How the server tells a protocol that it is draining (SIGTERM, a stop): the protocol sets
/// `call` while it can end the connection gracefully (a WebSocket's close 1001) and clears it
/// before it returns; unset, a drain closes the connection at once. Called on the connection's
/// own thread.
struct drain_hook {
  void (*call)(void* context) = nullptr;
  void* context = nullptr;
};

/// A connection as its thread's registry sees it: a slot in the deadline array, and the ways
/// to end it early. The registry calls these only from the connection's own thread, and never
/// per request.
class registered_connection {
 public:
  /// The deadline has passed: stop waiting.
  virtual void expire() = 0;
  /// The server starts draining: an idle connection closes now, a busy one after its reply.
  virtual void drain() = 0;
  /// Closes the connection now.
  virtual void force_close() = 0;

 protected:
  registered_connection() = default;
  ~registered_connection() = default;
  registered_connection(const registered_connection&) = delete;
  registered_connection& operator=(const registered_connection&) = delete;
  /// This connection's entry in the registry's deadline array (which remove() of another
  /// connection may move).
  std::size_t registry_slot() const { return registry_slot_; }

 private:
  friend class connection_registry;
  std::size_t registry_slot_ = 0;
};

/// The live connections of one I/O thread: deadlines (checked by a periodic sweep, so a
/// request costs a store, not a timer operation) and drain. Touched only from its own thread.
///
/// Deadlines live in one dense array, not in the connections: the sweep then reads contiguous
/// memory (16 bytes a connection) instead of chasing a pointer into every one, which with
/// 10,000 idle connections cost 2 % of a core on its own.
class connection_registry {
 public:
  using clock = std::chrono::steady_clock;

  /// Registers a connection with no deadline yet, and tells it its slot.
  void add(registered_connection* c);
  /// Forgets a connection; the one that takes over its slot is told so.
  void remove(registered_connection* c);
  /// The deadline of the connection in `slot`.
  clock::time_point& deadline(std::size_t slot) { return entries_[slot].deadline; }
  /// Times out connections whose deadline has passed; refreshes the coarse clock.
  void sweep();
  /// Closes idle connections; busy ones close after their current reply.
  void begin_drain();
  /// Closes every connection now.
  void close_all();
  /// The clock as of the last sweep (deadlines are this coarse: one sweep interval).
  clock::time_point now() const { return now_; }
  /// Connections registered now.
  std::size_t size() const { return entries_.size(); }

  /// This thread's metrics and journal; null when nothing observes (e.g. in fuzz targets).
  thread_observer* observer = nullptr;
  /// The access log and this thread's index in it; null when off.
  stubborn::access_log* access_log = nullptr;
  unsigned thread_index = 0;
  /// This thread's idle connections to proxy routes' upstreams; null: none are kept.
  upstream_pool* upstreams = nullptr;
  /// This thread's link to the cluster's shared state ([cluster]); null: not in a cluster.
  cluster_link* cluster = nullptr;

  /// How often sweep() should run.
  static constexpr std::chrono::milliseconds sweep_interval{50};

 private:
  struct entry {
    clock::time_point deadline;
    registered_connection* owner;
  };
  std::vector<entry> entries_;
  clock::time_point now_ = clock::now();
};

}  // namespace stubborn

#pragma once
// One connection: read with limits, match, render, write, keep-alive rules. Runs as one C++20
// coroutine on the io_context (one thread) that owns the socket, so no strand and no locks.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "wire/connection_socket.hpp"
#include "wire/request_parser.hpp"
#include "routing/route_table.hpp"
#include "wire/server_state.hpp"

namespace stubborn {

class session;
class thread_observer;
class access_log;
class admin_service;

/// The live sessions of one I/O thread: deadlines (checked by a periodic sweep, so a request
/// costs a store, not a timer operation) and drain. Touched only from its own thread.
///
/// Deadlines live in one dense array, not in the sessions: the sweep then reads contiguous
/// memory (16 bytes a session) instead of chasing a pointer into every session, which with
/// 10,000 idle connections cost 2 % of a core on its own.
class connection_registry {
 public:
  using clock = std::chrono::steady_clock;

  /// Registers a session with no deadline yet; returns its slot, which remove() of another
  /// session may change (the session is told through its registry_slot_ member).
  void add(session* s);
  void remove(session* s);
  /// The deadline of the session in `slot`.
  clock::time_point& deadline(std::size_t slot) { return entries_[slot].deadline; }
  /// Times out sessions whose deadline has passed; refreshes the coarse clock.
  void sweep();
  /// Closes idle sessions; busy ones close after their current reply.
  void begin_drain();
  /// Closes every session now.
  void close_all();
  /// The clock as of the last sweep (deadlines are this coarse: one sweep interval).
  clock::time_point now() const { return now_; }
  std::size_t size() const { return entries_.size(); }

  /// This thread's metrics and journal; null when nothing observes (e.g. in fuzz targets).
  thread_observer* observer = nullptr;
  /// The access log and this thread's index in it; null when off.
  stubborn::access_log* access_log = nullptr;
  unsigned thread_index = 0;

  /// How often sweep() should run.
  static constexpr std::chrono::milliseconds sweep_interval{50};

 private:
  struct entry {
    clock::time_point deadline;
    session* owner;
  };
  std::vector<entry> entries_;
  clock::time_point now_ = clock::now();
};

/// What a listener serves: routes, and the admin API under its prefix (when `admin` is set), or
/// the admin API only (its own [admin] listen).
struct listener_role {
  admin_service* admin = nullptr;
  bool admin_only = false;
};

/// Runs one connection to its end; owns the session in the coroutine frame.
boost::asio::awaitable<void> serve_connection(connection_socket socket,
                                              server_state* state,
                                              connection_registry* registry,
                                              listener_role role = {});

}  // namespace stubborn

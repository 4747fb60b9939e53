#pragma once
// One connection as the parts that serve it share it: the transport, the route table it is on,
// what it is doing (its phase) and that phase's deadline, kept in its thread's registry, and how
// it is being ended. The session reads requests on it, the reply writer and the executor write
// on it, and a protocol that takes it over after a 101 keeps it: it stays registered to the end,
// so drain and a forced close still reach it.

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "routing/route_table.hpp"
#include "wire/connection_registry.hpp"
#include "wire/peer_address.hpp"
#include "wire/server_state.hpp"
#include "wire/transport.hpp"

namespace stubborn {

/// What a connection is doing, which decides its deadline and what drain does to it.
enum class connection_phase {
  handshake,
  idle,
  head,
  body,
  handling,
  writing,
  waiting,
  streaming,  ///< an event stream waits for its next event or heartbeat, or is held
  lingering,
  taken_over
};

/// One connection over `Transport`: its transport, table, phase and deadline. The transport's
/// calls are direct calls: the hot path has no virtual call (the registry's calls below come only
/// from its sweep and drain).
template <class Transport>
class connection_core final : public registered_connection {
  static_assert(transport<Transport>);

 public:
  /// Registers the connection with its thread's registry, on the server's current table.
  connection_core(Transport connection, server_state& server, connection_registry& connections)
      : transport(std::move(connection)), state(server), registry(connections) {
    registry.add(this);
    refresh_table();
  }
  ~connection_core() { registry.remove(this); }

  /// Called by the registry's sweep when the deadline has passed: stop waiting.
  void expire() override {
    timed_out = true;
    if (phase_ == connection_phase::taken_over) {
      // A protocol may wait on more than the transport: closing it fails every later operation
      // too, so the protocol ends whatever it does next.
      transport.close();
      return;
    }
    transport.cancel();
    if (timer) timer->cancel();
    if (cancel_also) cancel_also(cancel_also_context);
  }
  /// Called when the server starts draining: idle connections, those still in their TLS
  /// handshake (no request accepted yet), and those a protocol took over close now (unless the
  /// protocol ends them itself: see protocol_drain); busy ones after their reply.
  void drain() override {
    draining = true;
    if (phase_ == connection_phase::taken_over && protocol_drain.call) {
      protocol_drain.call(protocol_drain.context);
    } else if (phase_ == connection_phase::idle || phase_ == connection_phase::handshake ||
               phase_ == connection_phase::taken_over) {
      expire();
    } else if (phase_ == connection_phase::streaming) {
      // An event stream has no last reply to wait for: its wait ends now, and it ends its body
      // cleanly (a held stream waits in a read, which is cancelled too).
      if (timer) timer->cancel();
      transport.cancel();
    }
  }
  /// Called when the server stops: ends whatever the connection waits for.
  void force_close() override {
    forced = true;
    expire();
  }

  /// The server or this connection is closing down: the reply in flight is the last.
  bool closing() const { return draining || state.draining.load(std::memory_order_relaxed); }

  /// Picks up a table installed by a reload; true when it changed.
  bool refresh_table() {
    const std::uint64_t generation = state.generation();
    if (generation == table_generation_) return false;
    table = state.table();
    table_generation_ = generation;
    return true;
  }
  /// The [server] settings of the table in use.
  const server_config& server() const { return table->server(); }

  /// What the connection does now.
  connection_phase phase() const { return phase_; }
  /// Enters `p`, which must end within `timeout`.
  void set_phase(connection_phase p, std::chrono::milliseconds timeout) {
    phase_ = p;
    deadline() = registry.now() + timeout;
  }
  /// The phase and deadline that a wait or a write stands in for, put back when it ends.
  struct saved_phase {
    connection_phase phase;
    connection_registry::clock::time_point deadline;
  };
  saved_phase save_phase() { return {phase_, deadline()}; }
  void restore_phase(const saved_phase& saved) {
    phase_ = saved.phase;
    deadline() = saved.deadline;
  }
  /// Enters the waiting phase for `duration` with the timer ready; the sweep must not take a
  /// long wait for a stalled connection, so the deadline is the wait plus idle_timeout.
  saved_phase begin_wait(std::chrono::milliseconds duration) {
    if (!timer) timer = std::make_unique<boost::asio::steady_timer>(transport.get_executor());
    saved_phase saved = save_phase();
    set_phase(connection_phase::waiting, duration + server().idle_timeout);
    return saved;
  }
  /// An event stream waits (`duration`, or with no deadline while a held stream reads); drain
  /// ends the wait. The timer is ready; the phase before is returned, to restore.
  saved_phase begin_streaming(std::optional<std::chrono::milliseconds> duration) {
    if (!timer) timer = std::make_unique<boost::asio::steady_timer>(transport.get_executor());
    saved_phase saved = save_phase();
    phase_ = connection_phase::streaming;
    deadline() = duration ? registry.now() + *duration + server().idle_timeout
                          : connection_registry::clock::time_point::max();
    return saved;
  }
  /// A protocol has the connection now: it keeps its own time, so there is no deadline.
  void hand_over() {
    phase_ = connection_phase::taken_over;
    deadline() = connection_registry::clock::time_point::max();
  }

  Transport transport;
  /// The peer's address, read (getpeername) only when an ip rate limit, the journal or the
  /// access log first needs it: a connection that needs none of them pays no system call.
  connection_peer peer{transport};
  server_state& state;
  connection_registry& registry;
  std::shared_ptr<const route_table> table;
  /// Made on first use (delays, pacing, a TLS handshake's deadline): on the heap, since an idle
  /// connection holds little else.
  std::unique_ptr<boost::asio::steady_timer> timer;
  bool timed_out = false;  ///< the deadline passed (or drain or stop ended a wait)
  bool draining = false;   ///< this connection closes after the reply in flight
  bool forced = false;     ///< the server is stopping: no reply, no lingering close
  /// Something else the connection waits for (a proxy route's upstream), stopped with the
  /// transport when the deadline passes or the server stops.
  void (*cancel_also)(void* context) = nullptr;
  void* cancel_also_context = nullptr;
  /// Set by a protocol that took the connection over and ends it gracefully on drain.
  drain_hook protocol_drain;
  /// Requests read on this connection so far (for max_requests_per_connection).
  std::size_t requests_served = 0;
  /// Whether the connection has read any bytes yet (only its first can start a ClientHello).
  bool read_before = false;

 private:
  connection_registry::clock::time_point& deadline() { return registry.deadline(registry_slot()); }

  connection_phase phase_ = connection_phase::idle;
  std::uint64_t table_generation_ = 0;
};

}  // namespace stubborn

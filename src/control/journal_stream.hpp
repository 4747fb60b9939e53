#pragma once
// GET /__admin/requests/stream: the request journal as Server-Sent Events. The admin API answers
// with a head and hands the connection to this handler, which writes one event per journal entry
// as the entries arrive. It reads the journal the way the admin API does (each I/O thread's ring
// copied on that thread, only the entries it has not seen), every poll_interval, so the
// threads that serve requests never wait for it and the hot path is not touched. A reader that
// falls behind does not grow memory: entries the journal drops before they are sent are counted
// in a `dropped` event, and a reader that takes nothing for write_timeout is closed on.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>

#include "stubborn/control.hpp"

namespace stubborn {

class control_plane;
class connection_handler;

/// How many journal streams may be open at once, over the whole server.
inline constexpr std::size_t max_journal_streams = 16;

/// Counts the open journal streams against max_journal_streams (shared by the admin API's
/// threads without a lock).
class journal_stream_slots {
 public:
  /// Takes a slot; false when every slot is taken.
  bool try_take();
  /// Gives a slot back (a stream ended, or its reply was never sent).
  void give_back() { open_.fetch_sub(1, std::memory_order_relaxed); }
  std::size_t open() const { return open_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::size_t> open_{0};
};

/// What one stream sends.
struct journal_stream_options {
  journal_query filter;     ///< the same filters as GET /__admin/requests (`limit` aside)
  std::size_t backlog = 0;  ///< first the newest this many entries already in the journal
  bool chunked = true;      ///< HTTP/1.1: chunked framing; HTTP/1.0: the body ends at the close
  std::chrono::milliseconds poll_interval{100};
  std::chrono::milliseconds heartbeat{15'000};
  std::chrono::milliseconds write_timeout{30'000};
};

/// The handler that writes a journal stream's body, holding a taken slot until it ends.
std::shared_ptr<connection_handler> make_journal_stream(control_plane& control,
                                                        journal_stream_options options,
                                                        journal_stream_slots& slots);

}  // namespace stubborn

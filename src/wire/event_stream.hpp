#pragma once
// What a Server-Sent Events reply sends next, and when: the events of its plan at their times,
// each in a chunk of its own (or as they are on an HTTP/1.0 close-delimited body), paced by
// `bandwidth`, cut by `fault = "truncate"` or broken by `"malformed-chunk"`, then the end of the
// body or heartbeats while the stream is held. No I/O and no timers here: the session waits
// until wake_at() in its own frame and writes what advance() appended, so a held stream costs
// its timer and this object, never a coroutine frame of its own.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "respond/respond.hpp"

namespace stubborn {

/// The schedule of one event stream on a connection (reused from stream to stream).
class event_stream {
 public:
  using clock = std::chrono::steady_clock;
  /// What comes after advance().
  enum class step {
    wait,   ///< call advance() again at wake_at()
    hold,   ///< nothing more is due: wait for the client or the server to go
    done,   ///< the body is complete; the connection may go on
    broken  ///< a fault: close the connection now
  };

  /// Starts the stream of `plan` (a reply with events) whose head was queued at `start`.
  void start(const response& plan, clock::time_point start);
  /// Appends what is due at `now` to `out` and says what comes next.
  step advance(clock::time_point now, std::string& out);
  /// When advance() has more to send (after step::wait).
  clock::time_point wake_at() const { return wake_; }
  /// Ends the stream early (the server drains): the rest of the event under way, then the end
  /// of the body.
  void finish(std::string& out);

 private:
  // Appends body bytes [pos_, to), one chunk per event; `claimed` (truncate) is where the
  // chunk being cut claims to end.
  void send(std::size_t to, std::string& out);
  void append_chunk(std::string_view bytes, std::size_t claimed, std::string& out);

  const compiled_events* events_ = nullptr;
  std::string_view body_;
  std::span<const std::uint32_t> ends_;
  std::size_t next_ = 0;     // the next event not yet due
  std::size_t current_ = 0;  // the event the byte at pos_ belongs to
  std::size_t pos_ = 0;      // body bytes sent
  std::size_t target_ = 0;   // body bytes due
  std::size_t cut_ = 0;      // truncate: the stream stops here (0 = never)
  std::size_t slice_ = 0;    // bandwidth: bytes per 50 ms (0 = unpaced)
  clock::time_point due_{};  // when event next_ (or the next heartbeat) is due
  clock::time_point wake_{};
  bool chunked_ = true;
  bool malformed_ = false;  // the first chunk's size line is broken
  bool empty_ = false;      // fault = "empty": the head only
  bool holding_ = false;
};

}  // namespace stubborn

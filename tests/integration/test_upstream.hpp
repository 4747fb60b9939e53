#pragma once
// A scripted upstream for proxy tests: a real TCP server on 127.0.0.1:0 with its own thread and
// io_context. It counts the connections it accepts, keeps the raw bytes of every request it
// reads, and answers each request as the test's script says: a normal reply, or one of the ways
// a real upstream fails (slow, stalled, reset, closed, garbage). Every wait it offers is bounded.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stubborn::testing {

/// How a scripted reply's body is framed on the wire.
enum class upstream_framing {
  content_length,   ///< Content-Length: n, then the body (keep-alive)
  chunked,          ///< Transfer-Encoding: chunked, one chunk per piece (keep-alive)
  close_delimited,  ///< no length: the body ends when the connection closes
  none              ///< no framing field added; the body written as it is (e.g. for 204/304)
};

/// What the upstream does with one request.
enum class upstream_behaviour {
  reply,                ///< reads the request and its body, waits `delay`, writes the reply
  stall_after_head,     ///< reads the request, writes the reply head, then sends nothing more
  reset_after_head,     ///< reads the request head only, then resets (SO_LINGER 0)
  close_without_reply,  ///< reads the request, then closes cleanly without a byte
  reset_mid_body,       ///< writes the head and half the body (Content-Length), then resets
  raw,                  ///< reads the request, writes `raw_pieces` one write each, then closes
  early_reply           ///< after the request head, the whole reply without reading the body
};

/// One answer of the script.
struct upstream_reply {
  upstream_behaviour behaviour = upstream_behaviour::reply;
  int status = 200;
  std::string reason = "OK";
  std::vector<std::pair<std::string, std::string>> headers;  ///< besides the framing field
  std::string body;
  upstream_framing framing = upstream_framing::content_length;
  std::chrono::milliseconds delay{0};  ///< before the reply head
  /// "100 Continue" once the request head is read (if it has Expect: 100-continue), before
  /// the body is read.
  bool send_continue = false;
  std::size_t piece_bytes = 0;                  ///< the body in writes of this size (0 = one)
  std::chrono::milliseconds piece_interval{0};  ///< pause between two pieces
  /// After at least this many body bytes are written, wait for release() (at most 10 s).
  std::size_t hold_after = static_cast<std::size_t>(-1);
  bool close_after = false;             ///< close after this reply (sends Connection: close)
  std::vector<std::string> raw_pieces;  ///< for upstream_behaviour::raw
};

/// One request as the upstream read it.
struct upstream_request {
  std::string head;      ///< request line and header lines, with the blank line, as received
  std::string raw_body;  ///< the body bytes as received (chunked framing kept)
  std::string body;      ///< the body, de-chunked
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::size_t connection = 0;  ///< 1 for the first connection accepted, and so on

  /// The first field with this name (case-insensitive), or "".
  std::string header(std::string_view name) const;
  /// How many fields have this name (case-insensitive).
  std::size_t count(std::string_view name) const;
  bool has_header(std::string_view name) const { return count(name) != 0; }
};

/// A scripted HTTP/1.1 upstream on 127.0.0.1:0, started at construction, stopped at destruction.
class test_upstream {
 public:
  test_upstream();
  ~test_upstream();
  test_upstream(const test_upstream&) = delete;
  test_upstream& operator=(const test_upstream&) = delete;

  /// The port it listens on.
  std::uint16_t port() const { return port_; }
  /// "http://127.0.0.1:PORT".
  std::string url() const;
  /// The answer used when the script is empty (at first: 200 "upstream", Content-Length).
  void set_default(upstream_reply reply);
  /// Appends one answer to the script; each request takes the next one.
  void push(upstream_reply reply);
  /// Connections accepted so far.
  std::size_t connections() const;
  /// Requests read so far (their heads, and their bodies where the answer reads them).
  std::size_t requests() const;
  /// Every request read so far, in order.
  std::vector<upstream_request> received() const;
  /// Waits until `count` requests were read; false if `timeout` passed first.
  bool wait_for_requests(std::size_t count, std::chrono::milliseconds timeout) const;
  /// Waits until at least `count` request body bytes (over all requests) arrived.
  bool wait_for_body_bytes(std::size_t count, std::chrono::milliseconds timeout) const;
  /// Lets a reply held by `hold_after` go on.
  void release();
  /// Stops accepting, closes every connection and joins the thread (idempotent).
  void stop();

  struct state;

 private:
  std::unique_ptr<state> state_;
  std::uint16_t port_ = 0;
};

/// A port on 127.0.0.1 that nothing listens on (bound to 0, then closed): connecting is refused.
std::uint16_t unused_port();

/// A listener on 127.0.0.1 whose accept queue is full and never accepted from: a new connection
/// attempt gets no answer, as from a host that does not reply.
class full_backlog_listener {
 public:
  full_backlog_listener();
  ~full_backlog_listener();
  full_backlog_listener(const full_backlog_listener&) = delete;
  full_backlog_listener& operator=(const full_backlog_listener&) = delete;
  std::uint16_t port() const { return port_; }
  /// True if a probe connection got no answer within 200 ms (the queue is really full).
  bool unanswered() const { return unanswered_; }

 private:
  int listener_ = -1;
  std::vector<int> fillers_;
  std::uint16_t port_ = 0;
  bool unanswered_ = false;
};

}  // namespace stubborn::testing

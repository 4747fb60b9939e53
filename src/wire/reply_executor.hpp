#pragma once
// The executor: the one place that carries out a reply plan on a connection, over any transport.
// It owns the time around a reply (delays, 102 heartbeats, chunk pacing, bandwidth, hang), the
// faults (reset, close, garbage, empty, truncate, malformed chunk), a handler's asynchronous
// reply and the 101 before a hand-over, and the lingering close. A plan with nothing to wait for
// is only queued (queue_plan); a delay-only one is awaited by the session in its own frame, so
// that waiting connections cost no coroutine frame (see is_delay_only).

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <memory>
#include <string_view>

#include "control/request_observation.hpp"
#include "respond/http_date.hpp"
#include "respond/respond.hpp"
#include "wire/connection_core.hpp"
#include "wire/reply_writer.hpp"

namespace stubborn {

struct protocol_hand_over;
class request_handler;

/// Writes plans on one connection; reply_executor.cpp instantiates it for the transports.
template <class Transport>
class reply_executor {
 public:
  /// Writes through `writer` on `core`, and records what it sent in `served`.
  reply_executor(connection_core<Transport>& core, reply_writer<Transport>& writer,
                 request_outcome& served)
      : core_(core), writer_(writer), served_(served) {}

  /// Queues a plan that is written at once: its head, with the Date value, and its body.
  void queue_plan(const response& plan) {
    served_.status = plan.status;
    append_head(plan.head, current_http_date(), writer_.text());
    writer_.queue_body(plan.body_to_send(), plan.body_from_table);
  }
  /// A delay (or none) before an ordinary reply: no fault, hang, 102s or pacing. The session
  /// waits for it in its own frame, between begin_delayed() and end_delayed(), so that waiting
  /// connections cost no coroutine frame of their own.
  static bool is_delay_only(const response& plan) {
    if (plan.plan.fault != fault_kind::none || plan.plan.reply == nullptr) return false;
    if (plan.plan.reply->events()) return false;
    const reply_spec& script = plan.script();
    return !script.hang && script.processing_every.count() == 0 && script.chunks.count == 0 &&
           script.bandwidth == 0;
  }
  /// A reply with events that sends a head: the session streams it (see event_stream). The
  /// faults that answer with no head at all (reset, close, garbage) go to execute_scripted.
  static bool is_event_stream(const response& plan) {
    if (plan.plan.reply == nullptr || plan.plan.reply->events() == nullptr) return false;
    const fault_kind fault = plan.plan.fault;
    return fault != fault_kind::reset && fault != fault_kind::close && fault != fault_kind::garbage;
  }
  /// Starts a delay-only plan (or an event stream): queues its interim responses; returns the delay
  /// to wait for.
  std::chrono::milliseconds begin_delayed(const response& plan) {
    served_.fault = fault_kind::none;
    served_.status = 0;  // until the head is written
    writer_.text().append(plan.interim());
    return plan.plan.delay;
  }
  /// Ends a delay-only plan after its wait: queues its head and body.
  void end_delayed(response& plan) {
    writer_.queue_body(queue_head(plan, body_framing::content_length),
                       plan.plan.reply->is_static());
  }
  /// Queues the head of a plan that may have waited (with the Date as of now, and "Connection:
  /// close" if the server began to drain meanwhile) and returns its body, still to be queued.
  std::string_view queue_head(response& plan, body_framing framing) {
    // The server began to drain during the wait: say so in this last reply.
    if (core_.closing()) plan.close_connection();
    served_.status = plan.status;
    plan.set_framing(framing);
    append_head(plan.head, current_http_date(), writer_.text());
    return plan.body_to_send();
  }
  /// Writes a scripted plan: interim responses, delay and 102s, faults, hang, pacing. `in` is
  /// the connection's read buffer (a hang reads into it). False when the connection is over.
  boost::asio::awaitable<bool> execute_scripted(response& plan, boost::beast::flat_buffer& in);
  /// Awaits `handler`'s reply to `request` and queues it; after a 101, returns the protocol to
  /// hand the connection to (the bytes still to be filled in), else null.
  boost::asio::awaitable<std::unique_ptr<protocol_hand_over>> execute_handler(
      request_handler& handler, const request_view& request, bool head_only,
      connection_header connection);
  /// Waits `duration` (sending 102 Processing every `processing_every`, when set); false if the
  /// connection broke or the server stops.
  boost::asio::awaitable<bool> wait_for(std::chrono::milliseconds duration,
                                        std::chrono::milliseconds processing_every);
  /// Closes in stages after the last reply (RFC 9112 §9.6), discarding what the client sends.
  boost::asio::awaitable<void> linger_close(boost::beast::flat_buffer& in);
  /// Ends the connection now: with a reset (RST) or a close (FIN).
  void abort(bool reset) { core_.transport.abort(reset); }

 private:
  boost::asio::awaitable<void> hang(boost::beast::flat_buffer& in, std::chrono::milliseconds limit);
  boost::asio::awaitable<bool> send_paced_body(std::string_view body, const reply_spec& script);

  connection_core<Transport>& core_;
  reply_writer<Transport>& writer_;
  request_outcome& served_;
};

}  // namespace stubborn

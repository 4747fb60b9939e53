#pragma once
// respond(): the one decision of what to answer a request, as a complete plan for the writer.
// Pure: it matches, applies the server's and the route's limits, outages, derived statuses and
// the sequence step, and builds every header line; it touches no socket and no timer. The only
// shared state it changes is the table's (sequence counters, rate-limit buckets).

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "respond/reply_plan.hpp"
#include "routing/route_table.hpp"

namespace stubborn {

struct request_view;
class request_handler;
struct compiled_proxy;
struct compiled_websocket;

/// std::chrono::steady_clock::now(), as a function whose address may be taken.
std::chrono::steady_clock::time_point steady_now();

/// std::chrono::system_clock::now(), as a function whose address may be taken.
std::chrono::system_clock::time_point system_now();

/// Where respond() reads the time from, only when a choice needs it (outages, sequences with
/// randomness, rate limits; the wall clock for replies with {{now}}): a plain static reply never
/// asks.
struct time_source {
  std::chrono::steady_clock::time_point (*now)() = &steady_now;
  std::chrono::system_clock::time_point (*wall_now)() = &system_now;
};

/// The peer's address, asked for only by an ip-keyed rate limit (a system call the first time).
struct client_ip_source {
  void* context = nullptr;
  std::string_view (*get)(void* context) = nullptr;
  std::string_view operator()() const { return get ? get(context) : std::string_view{}; }
};

/// What a route's request asks of the cluster's shared state (Redis) before respond() can plan
/// it: set in `response::ask` when the table shares state and no answer was given yet.
struct shared_ask {
  const compiled_route* route = nullptr;  ///< null: nothing to ask
  std::string_view key;                   ///< the state key's value ("" = the route's own state)
  std::string_view limit_key;             ///< the rate limit's own key (a client), "" = global
  bool limit = false;                     ///< count the request against the shared rate limit
  bool sequence = false;                  ///< take the next shared sequence position
  bool outage = false;                    ///< read the shared start of outage windows
};

/// Redis's answer to a shared_ask (or that it had none in time).
struct shared_answer {
  bool unavailable = false;  ///< no answer: [cluster] on_unavailable decides
  bool limited = false;      ///< the answer holds the rate limit's decision
  rate_decision limit;
  bool sequenced = false;  ///< the answer holds the sequence position
  std::uint64_t n = 0;     ///< requests the route planned before this one, cluster-wide
  bool timed = false;      ///< the answer holds the time since the shared start
  std::chrono::steady_clock::duration since_start{};
};

/// What respond() needs to know of the connection.
struct connection_facts {
  bool wants_close = false;       ///< the request said "Connection: close"
  bool wants_keep_alive = false;  ///< the request said "Connection: keep-alive" (HTTP/1.0)
  bool draining = false;          ///< the server (or this connection) is closing down
  client_ip_source client_ip;
  time_source clock;
  /// The cluster's answer for this request, once asked (see response::ask).
  const shared_answer* shared = nullptr;
};

/// Buffers respond() builds into, owned by the caller and reused from request to request (their
/// capacity stays, so a steady stream of requests allocates nothing).
struct respond_scratch {
  match_scratch match;
  std::string head;  ///< header lines rendered for this request
  std::string rate;  ///< this request's RateLimit fields (or Retry-After)
  std::string body;  ///< a rendered body: a template's, a server reply's, multipart parts
  std::vector<std::uint32_t> event_ends;  ///< a rendered event stream's event ends
};

/// Everything the writer needs to send one reply, and what the journal says about it.
///
/// Views point into the route table (static replies: pre-rendered at load) or into the caller's
/// respond_scratch; both outlive the reply. The Date value is written by the writer into the
/// slot `head.date` marks. A delayed reply that must close because the server began to drain
/// during the wait: the writer calls close_connection() before append_head() (the Connection
/// line is always written last, from `head.connection`, so nothing else changes).
struct response {
  // What was decided, for the journal and metrics.
  const compiled_route* route = nullptr;  ///< the route matched (or that rejected an expectation)
  std::string_view miss;                  ///< a 404/405's explanation
  bool rate_limited = false;              ///< a limit answered 429 (or its override)
  int status = 0;                         ///< the final status

  // The script step: the reply chosen, delay, fault, random bits and Retry-After.
  reply_plan plan;

  /// Set: an asynchronous reply. The session awaits this handler's reply in place of writing
  /// this plan (whose other fields then do not apply); the handler may take the connection over.
  request_handler* handler = nullptr;
  /// Set: the reply comes from this route's upstream (a proxy route). `plan.delay` is waited
  /// before forwarding, `reply_delay` before relaying the reply; the other fields do not apply.
  const compiled_proxy* proxy = nullptr;
  std::chrono::milliseconds reply_delay{0};
  /// Set: the request is a valid WebSocket upgrade (RFC 6455 §4.2.1) on a route with this
  /// script; the handler answers 101 and plays it (no head or body of this plan is written).
  const compiled_websocket* websocket = nullptr;
  /// The subprotocol chosen (a view into the route's list; empty: none).
  std::string_view subprotocol;
  /// Set (ask.route): nothing is planned yet; ask the cluster, then call respond() again with
  /// the answer in connection_facts::shared.
  shared_ask ask;

  // What goes on the wire.
  reply_head head;
  std::string_view body;         ///< the whole body the head describes (empty when none)
  bool body_from_table = false;  ///< `body` lives in the table: it may be sent without a copy
  bool head_only = false;        ///< HEAD: the head describes the body, which is not sent
  bool close_after = false;      ///< the connection closes after this reply
  /// A reply with events (plan.reply->events()): where each event ends in `body`, and the first
  /// to send. Set only for such replies (and read only then).
  std::span<const std::uint32_t> event_ends;
  std::size_t first_event = 0;

  /// Forgets the previous request's decision (only the fields every plan does not set itself:
  /// this runs on every request, and clearing the whole struct would cost more).
  void reset() {
    route = nullptr;
    miss = {};
    rate_limited = false;
    plan = {};
    handler = nullptr;
    proxy = nullptr;
    websocket = nullptr;
    ask.route = nullptr;
    head.framing = body_framing::content_length;
    body_from_table = false;
  }
  /// Makes this an asynchronous reply, from `from` (see `handler`).
  void await_handler(request_handler* from) {
    reset();
    handler = from;
    close_after = false;
  }
  /// Interim (1xx) responses to send first, back to back.
  std::string_view interim() const { return plan.reply ? plan.reply->interim_bytes() : ""; }
  /// The script's timing and pacing keys (102 interval, chunks, bandwidth, hang).
  const reply_spec& script() const { return plan.reply->script(); }
  /// Nothing to wait for and nothing broken: written at once (the fast path).
  bool is_plain() const {
    return handler == nullptr && proxy == nullptr && websocket == nullptr && ask.route == nullptr &&
           plan.fault == fault_kind::none && plan.delay.count() == 0 && plan.retry_after == 0 &&
           (plan.reply == nullptr || plan.reply->is_plain());
  }
  /// Makes this reply the connection's last: "Connection: close", then close.
  void close_connection() {
    head.connection = connection_header::close;
    close_after = true;
  }
  /// The framing the writer picks for a paced or malformed-chunk body.
  void set_framing(body_framing framing) { head.framing = framing; }
  /// The bytes the writer sends after the head (none for HEAD).
  std::string_view body_to_send() const { return head_only ? std::string_view{} : body; }
};

/// Decides the reply to `request` (a complete request, body read). Fills `out`.
void respond(const request_view& request, const route_table& table,
             const connection_facts& connection, respond_scratch& scratch, response& out);

/// What to do about "Expect: 100-continue" (RFC 9110 §10.1.1), decided on the head alone.
struct expectation {
  bool reject = false;  ///< answer now with `reply` (the route's), never read the body, close
  std::chrono::milliseconds delay{0};  ///< wait this long, then send 100 Continue
};

/// Decides about an expectation; when it is rejected, fills `reply` like respond() does.
expectation respond_to_expectation(const request_view& head, const route_table& table,
                                   const connection_facts& connection, respond_scratch& scratch,
                                   response& reply);

/// The Connection line a reply needs (RFC 9112 §9.3): HTTP/1.1 persists unless "close";
/// HTTP/1.0 only with "keep-alive"; nothing persists while draining.
connection_header decide_connection(unsigned version, const connection_facts& connection);

}  // namespace stubborn

#include "wire/session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>

#include "cluster/shared_state.hpp"
#include "control/observer.hpp"
#include "control/request_observation.hpp"
#include "log.hpp"
#include "protocols/tls/tls_context.hpp"
#include "protocols/websocket/websocket_handler.hpp"
#include "respond/respond.hpp"
#include "wire/connection_core.hpp"
#include "wire/connection_handler.hpp"
#include "wire/event_stream.hpp"
#include "wire/plain_transport.hpp"
#include "wire/proxy_exchange.hpp"
#include "wire/reply_executor.hpp"
#include "wire/reply_writer.hpp"
#include "wire/request_handler.hpp"
#include "wire/request_parser.hpp"
#include "wire/stream_transport.hpp"
#include "wire/tls_accept.hpp"
#include "wire/tls_stream_transport.hpp"
#include "wire/tls_transport.hpp"

namespace stubborn {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
constexpr transport_token use_tuple{};

namespace {

// Flush replies once this much is queued, even if more pipelined requests are buffered.
constexpr std::size_t flush_threshold = 64 * 1024;
// Per-connection buffers shrink back to this after a large request.
constexpr std::size_t kept_capacity = 64 * 1024;
// A thread with more connections than this parks its idle ones (see session::parked()), and
// its new ones until their first bytes come. A parked connection pays for a new session and
// coroutine on its next request; one that keeps its session holds about 5 KiB while idle. Below
// this many, speed wins; above, memory does.
constexpr std::size_t park_above_connections = 256;

constexpr std::string_view bad_chunked_body = "Bad Request: bad chunked body";

// RFC 9112 §7.1: chunk lines end in CRLF. Beast 1.81 takes a chunk line up to its CRLF, so a bare
// LF before it is either waited past (with no CRLF yet) or met together with some other fault of
// the line (a size over the limit, say). Either way the answer must be the bare LF's, whether or
// not the CRLF has arrived, so that it does not depend on how the bytes were split. `used` is
// what Beast took of `buffer` and `ec` what it said; only called once the head is parsed and the
// body is chunked.
bool chunk_line_has_bare_lf(const beast::flat_buffer& buffer, std::size_t used,
                            const beast::error_code& ec) {
  const auto* data = static_cast<const char*>(buffer.data().data());
  const std::size_t size = buffer.size();
  if (!ec) return false;
  if (ec == http::error::need_more) {
    // Beast consumes all chunk data it is given, so what it left is one chunk or trailer line
    // (or more), where a bare LF is an error rather than something to wait for.
    for (std::size_t i = used; i < size; ++i) {
      if (data[i] == '\n' && (i == used || data[i - 1] != '\r')) return true;
    }
    return false;
  }
  // Beast starts the next chunk's line at the CRLF that ends the previous chunk's data.
  std::size_t from = used;
  if (size - from >= 2 && data[from] == '\r' && data[from + 1] == '\n') from += 2;
  for (std::size_t i = from; i < size; ++i) {
    if (data[i] != '\n') continue;
    return i == from || data[i - 1] != '\r';
  }
  return false;
}

}  // namespace

// The read loop of one connection: requests read with limits, keep-alive, pipelining,
// 100-continue, drain and timeouts. Each request goes to the listener's handler or to respond(),
// and the executor writes what they decide.
template <class Transport>
class session {
 public:
  session(connection_core<Transport>& core, listener_role role) : core_(core), role_(role) {}

  // Serves requests until the connection is over (then it is closed) or a handler's 101 hands
  // it over (see handed_over()).
  net::awaitable<void> run();
  // Where the connection goes after run(): null when it is closed, else to a protocol.
  std::unique_ptr<protocol_hand_over> handed_over() { return std::move(hand_over_); }
  // run() returned with the connection idle between requests, open, with nothing buffered or
  // unsent: it waits for its next request without this session (see serve_requests()).
  bool parked() const { return parked_; }
  // Whether the connection waits for its next request without a session.
  static constexpr bool parks_when_idle = std::is_same_v<Transport, plain_transport>;

 private:
  void queue_rejection(int status, std::string_view why);
  connection_header decide_connection(const request_view& request);
  // respond(), and what it decided for the journal.
  void plan_reply(const request_view& request);
  // The route's state is shared ([cluster]): asks Redis, then plans with its answer.
  net::awaitable<bool> ask_cluster(const request_view& request);
  // What respond() needs to know of this connection, brought up to date.
  const connection_facts& respond_facts();
  static std::string_view client_ip_of(void* self) {
    return static_cast<session*>(self)->core_.peer.get().ip;
  }
  net::awaitable<bool> answer_expectation();
  // With the head read and the body still to come: when the request goes to a proxy route
  // whatever its body says, decides now (respond() on the head), so that the body can stream
  // to the upstream and the upstream, not us, answers an Expect: 100-continue.
  bool decide_at_head();
  // Reads the next piece of a request body that streams to an upstream.
  net::awaitable<body_step> read_body_piece();
  // Forwards a request on a proxy route and relays the reply; false when the connection broke.
  net::awaitable<bool> proxy_request(request_view request);
  // What the WebSocket handler of an upgrade needs of this connection.
  websocket_context websocket_facts();
  // Writes an event stream's events at their times, then ends or holds it (a reply with
  // events); false when the connection is over.
  net::awaitable<bool> stream_events();
  // Keeps what the journal needs of a streamed body piece (its first bytes, the size so far).
  void observe_body_piece();
  static net::awaitable<body_step> next_body_piece(void* self) {
    return static_cast<session*>(self)->read_body_piece();
  }
  static constexpr bool is_tls = requires(Transport & t) { t.facts(); };

  connection_core<Transport>& core_;
  listener_role role_;

  // What was served, for metrics, the journal and the access log.
  request_outcome served_;
  request_observation observation_{core_.registry.observer, core_.registry.access_log,
                                   core_.registry.thread_index, core_.registry.cluster};

  beast::flat_buffer in_;
  request_storage storage_;
  std::optional<request_parser> parser_;
  respond_scratch respond_scratch_;
  connection_facts facts_{.client_ip = {this, &session::client_ip_of}, .clock = {}};
  response scripted_;  // the plan respond() made (or the handler's), for the executor
  reply_writer<Transport> writer_{core_};
  reply_executor<Transport> execute_{core_, writer_, served_};
  event_stream stream_;  // the schedule of an event stream being sent
  bool close_after_flush_ = false;
  bool decided_at_head_ = false;   // scripted_ was planned on the head alone
  bool body_streams_ = false;      // the body is read while it is forwarded
  bool body_piece_ready_ = false;  // storage_.body holds a piece parsed with the head
  bool parked_ = false;            // see parked()
  // Made only for an upgrade: a connection waiting for a request costs no more for it.
  std::unique_ptr<protocol_hand_over> hand_over_;
};

template <class Transport>
websocket_context session<Transport>::websocket_facts() {
  websocket_context context{core_.table,           scripted_.route,         scripted_.websocket,
                            scripted_.subprotocol, core_.registry.observer, {}};
  if (context.observer && context.observer->journal_on()) {
    const peer_address& address = core_.peer.get();
    const bool v6 = address.ip.find(':') != std::string::npos;
    context.client =
        (v6 ? "[" + address.ip + "]" : address.ip) + ":" + std::to_string(address.port);
  }
  return context;
}

template <class Transport>
void session<Transport>::queue_rejection(int status, std::string_view why) {
  observation_.count_rejection(status);
  std::string body(why);
  body.push_back('\n');
  served_.status = status;
  render_server_reply(status, body, {}, core_.server().server_header, false,
                      connection_header::close, writer_.text());
  close_after_flush_ = true;
}

template <class Transport>
connection_header session<Transport>::decide_connection(const request_view& request) {
  const connection_header connection =
      stubborn::decide_connection(request.version, respond_facts());
  if (connection == connection_header::close) close_after_flush_ = true;
  return connection;
}

template <class Transport>
const connection_facts& session<Transport>::respond_facts() {
  facts_.wants_close = storage_.connection_close;
  facts_.wants_keep_alive = storage_.connection_keep_alive;
  facts_.draining = core_.closing();
  return facts_;
}

template <class Transport>
void session<Transport>::plan_reply(const request_view& request) {
  respond(request, *core_.table, respond_facts(), respond_scratch_, scripted_);
  served_.route = scripted_.route;
  served_.rate_limited = scripted_.rate_limited;
  thread_observer* observer = core_.registry.observer;
  if (!scripted_.miss.empty() && observer && observer->journal_on()) served_.miss = scripted_.miss;
}

template <class Transport>
net::awaitable<bool> session<Transport>::ask_cluster(const request_view& request) {
  // Replies already planned go out first: they need not wait for Redis.
  if (!writer_.empty()) {
    const bool flushed = co_await writer_.flush();
    if (!flushed) co_return false;
  }
  shared_answer answer;
  if (core_.registry.cluster) {
    co_await core_.registry.cluster->ask(scripted_.ask, answer);
  } else {
    answer.unavailable = true;
  }
  facts_.shared = &answer;
  plan_reply(request);
  facts_.shared = nullptr;
  co_return !core_.forced;
}

template <class Transport>
net::awaitable<bool> session<Transport>::answer_expectation() {
  const expectation decision = respond_to_expectation(storage_.view(), *core_.table,
                                                      respond_facts(), respond_scratch_, scripted_);
  if (decision.reject) {
    served_.route = scripted_.route;
    execute_.queue_plan(scripted_);
    if (scripted_.close_after) close_after_flush_ = true;
    co_return true;
  }
  if (decision.delay.count() > 0) {
    if (!co_await execute_.wait_for(decision.delay, {})) co_return false;
  }
  writer_.text().append("HTTP/1.1 100 Continue\r\n\r\n");
  co_return co_await writer_.flush();
}

template <class Transport>
bool session<Transport>::decide_at_head() {
  request_view head = storage_.view();
  if constexpr (is_tls) head.tls = &core_.transport.facts();
  if (role_.handler && role_.handler->claims(head)) return false;
  const route_match pre = core_.table->match(head, respond_scratch_.match, true);
  // A route that matches on the body (or one ranked above it that might) needs the body first.
  // A route whose state the cluster may share is planned once the whole request is in.
  const bool shared_state = core_.table->cluster() &&
                            (pre.route && (pre.route->rate_limit || pre.route->script.stateful));
  if (!pre.route || !pre.route->proxy || pre.route->body || shared_state ||
      (pre.route->when && pre.route->when->reads_body())) {
    return false;
  }
  plan_reply(head);
  decided_at_head_ = true;
  return true;
}

template <class Transport>
void session<Transport>::observe_body_piece() {
  if (!observation_.on()) return;
  served_.body_streamed = true;
  served_.streamed_bytes += storage_.body.size();
  const thread_observer* observer = core_.registry.observer;
  const std::size_t keep = observer ? observer->body_bytes() : 0;
  if (served_.streamed_body.size() < keep) {
    served_.streamed_body.append(
        std::string_view(storage_.body).substr(0, keep - served_.streamed_body.size()));
  }
}

template <class Transport>
net::awaitable<body_step> session<Transport>::read_body_piece() {
  const server_config& server = core_.server();
  if (body_piece_ready_) {
    body_piece_ready_ = false;
    observe_body_piece();
    co_return body_step::more;
  }
  storage_.body.clear();
  for (;;) {
    if (parser_->is_done()) co_return body_step::done;
    if (in_.size() != 0) {
      beast::error_code ec;
      const std::size_t used = parser_->put(in_.data(), ec);
      const bool bare_lf_line = parser_->chunked() && chunk_line_has_bare_lf(in_, used, ec);
      in_.consume(used);
      if (bare_lf_line) {
        queue_rejection(400, bad_chunked_body);
        co_return body_step::rejected;
      }
      if (ec && ec != http::error::need_more) {
        if (ec == http::error::body_limit)
          queue_rejection(413, "Content Too Large");
        else if (parser_->chunked())
          queue_rejection(400, bad_chunked_body);
        else
          queue_rejection(400, "Bad Request: " + ec.message());
        co_return body_step::rejected;
      }
      if (!storage_.body.empty()) {
        observe_body_piece();
        co_return body_step::more;
      }
      if (parser_->is_done()) co_return body_step::done;
      if (!ec && used > 0) continue;
    }
    core_.set_phase(connection_phase::body, server.body_timeout);
    std::size_t room = std::max<std::size_t>(16 * 1024, in_.capacity() - in_.size());
    room = std::min(room, in_.max_size() - in_.size());
    auto [ec, n] = co_await core_.transport.async_read_some(in_.prepare(room), use_tuple);
    core_.set_phase(connection_phase::handling, server.idle_timeout);
    if (ec) {
      if (core_.timed_out && !core_.forced) {
        // RFC 9110 §15.5.9: the body stopped arriving.
        core_.timed_out = false;
        queue_rejection(408, "Request Timeout");
        co_return body_step::rejected;
      }
      co_return body_step::gone;
    }
    in_.commit(n);
  }
}

template <class Transport>
net::awaitable<bool> session<Transport>::stream_events() {
  bool carry_on = true;
  // A stream waits on the connection's one timer (or, held with no heartbeat, in a read); this
  // frame lives only while the stream does, so a connection between requests does not carry it.
  const auto delay = execute_.begin_delayed(scripted_);
  served_.fault = scripted_.plan.fault;
  if (delay.count() > 0 || !writer_.empty()) carry_on = co_await writer_.flush();
  if (carry_on && delay.count() > 0) {
    carry_on = co_await execute_.wait_for(delay, scripted_.script().processing_every);
  }
  if (carry_on) execute_.queue_head(scripted_, scripted_.head.framing);
  if (carry_on && !scripted_.head_only) {
    stream_.start(scripted_, std::chrono::steady_clock::now());
    for (;;) {
      // A long stream must not leave the deadline of the request's start behind it.
      core_.set_phase(connection_phase::handling, core_.server().idle_timeout);
      const event_stream::step step =
          stream_.advance(std::chrono::steady_clock::now(), writer_.text());
      // Each event goes out as it is due; a client that left is noticed here, quietly.
      if (!writer_.empty() && !co_await writer_.flush()) {
        carry_on = false;
        break;
      }
      if (step == event_stream::step::done) break;
      if (step == event_stream::step::broken) {
        execute_.abort(false);
        carry_on = false;
        break;
      }
      if (core_.closing()) {
        // The server drains: the stream ends at an event's end, with the end of its body.
        stream_.finish(writer_.text());
        carry_on = co_await writer_.flush();
        close_after_flush_ = true;
        break;
      }
      bool ended = false;  // the client went, the server stops, or the deadline passed
      if (step == event_stream::step::wait) {
        const auto wait = std::chrono::ceil<std::chrono::milliseconds>(
            stream_.wake_at() - std::chrono::steady_clock::now());
        const auto before = core_.begin_streaming(std::max(wait, std::chrono::milliseconds(0)));
        core_.timer->expires_at(stream_.wake_at());
        auto [wait_ec] = co_await core_.timer->async_wait(use_tuple);
        core_.restore_phase(before);
        ended = wait_ec && !core_.closing();
      } else {
        // Held with no heartbeat: a read (what the client sends is dropped) ends when the
        // client goes, or when drain or stop cancels it.
        const auto before = core_.begin_streaming(std::nullopt);
        auto [read_ec, n] = co_await core_.transport.async_read_some(in_.prepare(512), use_tuple);
        (void)n;
        core_.restore_phase(before);
        ended = read_ec && !core_.closing();
      }
      if (ended || core_.forced) {
        carry_on = false;
        break;
      }
    }
  }
  co_return carry_on;
}

template <class Transport>
net::awaitable<bool> session<Transport>::proxy_request(request_view request) {
  request_body_source body;
  if (body_streams_) {
    body.complete = false;
    body.pieces = &storage_.body;
    body.session = this;
    body.next = &session::next_body_piece;
    body.chunked = parser_->chunked();
    if (const auto length = parser_->content_length()) body.length = *length;
    body.expect_continue = storage_.expect_continue && in_.size() == 0 && storage_.body.empty();
    body_piece_ready_ = !storage_.body.empty();
    body_streams_ = false;
  } else {
    body.chunked = parser_->chunked();
    body.length =
        parser_->content_length() ? std::optional(*parser_->content_length()) : std::nullopt;
  }
  proxy_exchange<Transport> exchange(core_, writer_, execute_, served_);
  const proxy_result result = co_await exchange.run(scripted_, request, scripted_.head.connection,
                                                    body, core_.peer.get().ip);
  if (result.close) close_after_flush_ = true;
  co_return result.carry_on;
}

template <class Transport>
net::awaitable<void> session<Transport>::run() {
  using phase = connection_phase;
  if (core_.refresh_table()) observation_.table_changed();
  const server_config* server = &core_.server();
  // The request line has its own budget (max_uri_bytes) on top of the header block's.
  const std::size_t head_limit = server->max_header_bytes + server->max_uri_bytes + 64;
  in_.max_size(head_limit + 64 * 1024);
  core_.set_phase(phase::idle, server->idle_timeout);
  bool clean_close = true;  // false: the peer is gone, skip the lingering close
  // Parks only once it has served a request: woken for one, it reads it first.
  bool may_park = false;
  constexpr unsigned char tls_handshake_record = 0x16;

  for (;;) {
    // Read one request (it may already be buffered behind the previous one).
    storage_.clear(kept_capacity);
    if (in_.size() == 0 && in_.capacity() > kept_capacity) in_.shrink_to_fit();
    parser_.emplace(storage_, server->max_headers, server->max_header_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(head_limit));
    parser_->body_limit(server->max_body_bytes);
    parser_->eager(true);
    std::size_t scanned = 0;
    bool header_handled = false;
    if (in_.size() == 0)
      core_.set_phase(phase::idle, server->idle_timeout);
    else
      core_.set_phase(phase::head, server->header_timeout);

    bool have_request = false;
    while (!have_request && !close_after_flush_) {
      bool need_read = in_.size() == 0;
      if (!need_read) {
        if (!parser_->is_header_done()) {
          if (core_.phase() == phase::idle) core_.set_phase(phase::head, server->header_timeout);
          std::size_t skip = 0;
          auto* data = static_cast<char*>(in_.data().data());
          head_check check =
              check_request_head(data, in_.size(), server->max_uri_bytes, skip, scanned);
          if (skip > 0) {
            in_.consume(skip);
            continue;
          }
          switch (check) {
            case head_check::bad_request:
              queue_rejection(400, "Bad Request");
              continue;
            case head_check::bad_version:
              // RFC 9110 §15.6.6; the HTTP/2 preface lands here too and is answered at once.
              queue_rejection(505, "HTTP Version Not Supported: this server speaks HTTP/1.1");
              continue;
            case head_check::uri_too_long:
              queue_rejection(414, "URI Too Long");
              continue;
            case head_check::incomplete:
              need_read = true;
              break;
            case head_check::ok:
              break;
          }
        }
        if (!need_read) {
          beast::error_code ec;
          std::size_t used = parser_->put(in_.data(), ec);
          const bool bare_lf_line = parser_->is_header_done() && parser_->chunked() &&
                                    chunk_line_has_bare_lf(in_, used, ec);
          in_.consume(used);
          if (bare_lf_line) {
            queue_rejection(400, bad_chunked_body);
            continue;
          }
          if (ec == http::error::need_more) {
            need_read = true;
          } else if (ec) {
            const request_rejection& r = parser_->rejection();
            if (ec == http::error::body_limit) queue_rejection(413, "Content Too Large");
            // In a chunked body, one answer for every other error. Which check meets a broken
            // chunk or trailer line first (Beast's, our field checks on trailers, or the bare-LF
            // one above) depends on how the bytes were split, and the answer must not (the
            // fragmentation fuzz target checks that).
            else if (parser_->is_header_done() && parser_->chunked())
              queue_rejection(400, bad_chunked_body);
            else if (r.status != 0)
              queue_rejection(r.status, r.reason);
            else if (ec == http::error::header_limit)
              queue_rejection(431, "Request Header Fields Too Large");
            else
              queue_rejection(400, "Bad Request: " + ec.message());
            continue;
          }
          if (parser_->is_header_done() && !header_handled) {
            header_handled = true;
            if (!parser_->is_done()) {
              core_.set_phase(phase::body, server->body_timeout);
              if (core_.table->has_proxy_routes() && decide_at_head()) {
                if (scripted_.proxy) {
                  // The body streams to the upstream as it arrives.
                  body_streams_ = true;
                  have_request = true;
                  break;
                }
                if (storage_.expect_continue && in_.size() == 0 && storage_.body.empty()) {
                  // The route answers in place of its upstream, and the client has not sent
                  // the body: answered now, the body is never read, the connection closes.
                  scripted_.close_connection();
                  have_request = true;
                  break;
                }
              }
              // RFC 9110 §10.1.1: a client waiting for 100 Continue gets it before the body
              // (unless it already sent some).
              if (storage_.expect_continue && in_.size() == 0 && storage_.body.empty()) {
                if (!co_await answer_expectation()) {
                  clean_close = false;
                  break;
                }
                if (close_after_flush_) break;
              }
            }
          }
          if (parser_->is_done()) {
            have_request = true;
            break;
          }
          if (in_.size() == 0)
            need_read = true;
          else if (used == 0)
            need_read = true;
        }
      }
      if (!need_read) continue;
      // Replies already rendered go out before we wait for more bytes (usually the per-request
      // write below has sent them: then no flush, whose coroutine frame would cost a request
      // about 3 % more).
      if (!writer_.empty() && !co_await writer_.flush()) {
        clean_close = false;
        break;
      }
      if (core_.draining && core_.phase() == phase::idle) {
        // Draining, and every request read is answered: close now, as drain() closes the
        // connections it finds idle. Our last reply said keep-alive, so a lingering close would
        // read the client's next request and throw it away; left unread, it draws a reset.
        clean_close = false;
        break;
      }
      if constexpr (parks_when_idle) {
        // Between requests, everything answered and nothing buffered, on a thread with many
        // connections: this session (and its coroutine frame and buffers) goes, and the
        // connection waits holding only its socket.
        if (may_park && core_.phase() == phase::idle && in_.size() == 0 &&
            core_.registry.size() > park_above_connections) {
          parked_ = true;
          co_return;
        }
      }
      // Start small (an idle keep-alive connection should cost little) and grow by doubling
      // only when a request needs more.
      std::size_t room = in_.capacity() - in_.size();
      if (room < 512) room = std::max<std::size_t>(1024, in_.size());
      room = std::min(room, in_.max_size() - in_.size());
      if (room == 0) {
        queue_rejection(431, "Request Header Fields Too Large");
        continue;
      }
      auto [ec, n] = co_await core_.transport.async_read_some(in_.prepare(room), use_tuple);
      if (ec) {
        if (core_.timed_out && !core_.forced &&
            (core_.phase() == phase::head || core_.phase() == phase::body)) {
          // RFC 9110 §15.5.9: part of a request arrived, then nothing: 408, then close.
          core_.timed_out = false;
          queue_rejection(408, "Request Timeout");
          continue;
        }
        clean_close = false;
        break;
      }
      in_.commit(n);
      // Only the connection's very first byte can start a ClientHello: checked on its first read
      // alone, so the answer does not depend on how the bytes were split.
      const bool first_read = !core_.read_before;
      core_.read_before = true;
      if (first_read && !is_tls &&
          static_cast<const unsigned char*>(in_.data().data())[0] == tls_handshake_record) {
        // A TLS ClientHello on the plain port: no HTTP reply can mean anything to that client.
        core_.state.tls.client_hello_on_plain.fetch_add(1, std::memory_order_relaxed);
        clean_close = false;
        break;
      }
    }
    if (!have_request) break;

    core_.set_phase(phase::handling, server->idle_timeout);
    if (writer_.empty()) {
      if (core_.refresh_table()) observation_.table_changed();
      server = &core_.server();
    }
    ++core_.requests_served;
    may_park = true;
    if (server->max_requests_per_connection != 0 &&
        core_.requests_served >= server->max_requests_per_connection) {
      core_.draining = true;  // this reply says Connection: close
    }
    if (observation_.on()) served_.begin();
    // One view per request: it is rebuilt from the parser's storage each time it is taken.
    request_view request = storage_.view();
    if constexpr (is_tls) request.tls = &core_.transport.facts();
    if (decided_at_head_) {
      decided_at_head_ = false;  // planned when the head arrived
    } else if (role_.handler && role_.handler->claims(request)) {
      // The listener's own handler (the admin API) is no route: it is observed as such.
      scripted_.await_handler(role_.handler);
      served_.admin = true;
    } else {
      plan_reply(request);
    }
    bool carry_on = true;
    if (scripted_.ask.route) carry_on = co_await ask_cluster(request);
    if (scripted_.is_plain()) {
      execute_.queue_plan(scripted_);
    } else if (scripted_.websocket) {
      // RFC 6455 §4.2.2: the WebSocket handler writes the 101 and runs the connection from here.
      served_.status = 101;
      hand_over_ = std::make_unique<protocol_hand_over>(
          protocol_hand_over{make_websocket_handler(websocket_facts(), request), {}});
    } else if (scripted_.proxy) {
      // In a frame of its own: a connection that waits for its next request does not carry
      // the exchange's locals.
      carry_on = co_await proxy_request(request);
    } else if (scripted_.handler) {
      const connection_header connection = decide_connection(request);
      hand_over_ = co_await execute_.execute_handler(*scripted_.handler, request,
                                                     request.method == "HEAD", connection);
    } else if (reply_executor<Transport>::is_event_stream(scripted_)) {
      carry_on = co_await stream_events();
    } else if (reply_executor<Transport>::is_delay_only(scripted_)) {
      // Waited for here, in this frame: 10,000 waiting connections allocate no coroutine frames.
      const auto delay = execute_.begin_delayed(scripted_);
      // Nothing is buffered behind this request: the read buffer need not wait with it.
      if (delay.count() > 0 && in_.size() == 0) in_.shrink_to_fit();
      // Replies already rendered and interim responses go out before the wait.
      if (delay.count() > 0 && !writer_.empty()) carry_on = co_await writer_.flush();
      if (carry_on && delay.count() > 0) {
        const auto before = core_.begin_wait(delay);
        core_.timer->expires_after(delay);
        auto [wait_ec] = co_await core_.timer->async_wait(use_tuple);
        core_.restore_phase(before);
        carry_on = !wait_ec && !core_.forced;
      }
      if (carry_on) execute_.end_delayed(scripted_);
    } else {
      carry_on = co_await execute_.execute_scripted(scripted_, in_);
    }
    if (scripted_.close_after) close_after_flush_ = true;
    if (observation_.on()) observation_.observe(request, served_, core_.peer);
    if (!carry_on) {
      clean_close = false;
      break;
    }
    if (hand_over_ || close_after_flush_) break;
    if ((in_.size() == 0 || writer_.queued_bytes() >= flush_threshold) && writer_.begin_write()) {
      bool ok = writer_.send_now();
      if (ok && !writer_.unsent().empty()) {
        auto [ec, written] = co_await core_.transport.async_write(writer_.unsent(), use_tuple);
        (void)written;
        ok = !ec;
      }
      writer_.end_write();
      if (!ok) {
        clean_close = false;
        break;
      }
    }
  }

  if (hand_over_) {
    // The 101 (after any replies before it) goes out; what the client sent after the request
    // is the protocol's.
    if (co_await writer_.flush()) {
      hand_over_->buffered.assign(static_cast<const char*>(in_.data().data()), in_.size());
      co_return;
    }
    hand_over_.reset();
    clean_close = false;
  }
  if (clean_close && !writer_.empty()) clean_close = co_await writer_.flush();
  if (clean_close && !core_.forced) co_await execute_.linger_close(in_);
  core_.transport.close();
}

namespace {

// The protocol a handler's 101 named runs the connection to its end, still registered.
template <class Transport>
net::awaitable<void> take_over(connection_core<Transport>* core,
                               std::unique_ptr<protocol_hand_over> next) {
  if (!core->closing()) {
    core->hand_over();
    co_await next->handler->take_over(core->transport, std::move(next->buffered),
                                      core->protocol_drain);
    core->protocol_drain = {};
  }
  core->transport.close();
}

// A connection as it lives between its requests: what it is (its core) and where it came from,
// on the heap, where a coroutine frame or a wait can hold it.
template <class Transport>
struct connection_record {
  connection_record(Transport transport, server_state& state, connection_registry& registry,
                    listener_role listener)
      : core(std::move(transport), state, registry), role(listener) {}
  connection_core<Transport> core;
  listener_role role;
};

// `rearm`: the connection is new. The reactor takes a new socket for readable (and would complete
// the wait at once, with no bytes yet), so the descriptor is re-armed instead: one epoll_ctl.
template <class Transport>
void wait_for_request(std::unique_ptr<connection_record<Transport>> record, bool rearm = false);

// Serves the connection's requests until it is closed, taken over by a protocol, or (plain
// transport) idle between requests: then it waits for the next one with no coroutine frame, no
// session and no buffer, about 1 KiB in all with Asio's own state (wait_for_request()), where a
// session waiting in a read would hold about 5 KiB.
template <class Transport>
net::awaitable<void> serve_requests(std::unique_ptr<connection_record<Transport>> record) {
  server_state& state = record->core.state;
  try {
    std::unique_ptr<protocol_hand_over> next;
    // Woken from its wait, but its deadline passed (or drain or stop came) before this ran.
    if (record->core.timed_out) {
      record->core.transport.close();
    } else {
      // The session goes before a protocol that takes the connection over: on the heap, not in
      // this frame, which a held WebSocket would keep (a few KiB for each of 10,000).
      auto s = std::make_unique<session<Transport>>(record->core, record->role);
      co_await s->run();
      if constexpr (session<Transport>::parks_when_idle) {
        if (s->parked()) {
          s.reset();
          wait_for_request(std::move(record));
          co_return;
        }
      }
      next = s->handed_over();
    }
    if (next) co_await take_over(&record->core, std::move(next));
  } catch (const std::exception& e) {
    // Unexpected: this connection ends; it is logged once, the server goes on.
    log(log_level::error, std::string("connection closed after an internal error: ") + e.what());
  }
  record.reset();
  state.open_connections.fetch_sub(1, std::memory_order_relaxed);
}

template <class Transport>
void wait_for_request(std::unique_ptr<connection_record<Transport>> record, bool rearm) {
  Transport& transport = record->core.transport;
  auto woken = [record = std::move(record)](boost::system::error_code ec) mutable {
    connection_core<Transport>& core = record->core;
    // Cancelled: the idle timeout passed, or the server drains or stops, which end an idle
    // connection at once.
    const bool end = ec || core.timed_out || core.closing();
    if (end) {
      core.transport.close();
      server_state& state = core.state;
      record.reset();
      state.open_connections.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
    const auto executor = core.transport.get_executor();
    net::co_spawn(executor, serve_requests(std::move(record)), net::detached);
  };
  if (rearm)
    transport.async_wait_ready_rearmed(std::move(woken));
  else
    transport.async_wait_ready(std::move(woken));
}

// A connection over TLS (or another transport that never parks): its handshake, then its
// requests.
template <class Transport>
net::awaitable<void> serve(Transport transport, server_state* state, connection_registry* registry,
                           listener_role role) {
  state->open_connections.fetch_add(1, std::memory_order_relaxed);
  auto record =
      std::make_unique<connection_record<Transport>>(std::move(transport), *state, *registry, role);
  if constexpr (requires { record->core.transport.handshake(std::string()); }) {
    bool accepted = false;
    try {
      accepted = co_await accept_tls(record->core);
    } catch (const std::exception& e) {
      log(log_level::error, std::string("connection closed after an internal error: ") + e.what());
    }
    if (!accepted) {
      record->core.transport.close();
      record.reset();
      state->open_connections.fetch_sub(1, std::memory_order_relaxed);
      co_return;
    }
  }
  co_await serve_requests(std::move(record));
}

net::awaitable<void> nothing_more() {
  co_return;
}

net::awaitable<void> close_at_once(connection_socket socket) {
  boost::system::error_code ignored;
  socket.close(ignored);
  co_return;
}

}  // namespace

net::awaitable<void> serve_connection(connection_socket socket, server_state* state,
                                      connection_registry* registry, listener_role role) {
  if (role.transport == transport_kind::tls || role.transport == transport_kind::tls_generic) {
    const std::shared_ptr<const tls_context> context = state->current_tls_context();
    SSL* ssl = context ? SSL_new(context->native()) : nullptr;
    if (!ssl) {
      log(log_level::error, "cannot start a TLS connection: SSL_new failed");
      return close_at_once(std::move(socket));
    }
    if (role.transport == transport_kind::tls_generic) {
      SSL_free(ssl);
      return serve(tls_stream_transport(std::move(socket), context->native()), state, registry,
                   role);
    }
    return serve(tls_transport(std::move(socket), ssl), state, registry, role);
  }
  if (role.transport == transport_kind::generic) {
    return serve(generic_transport(std::move(socket)), state, registry, role);
  }
  state->open_connections.fetch_add(1, std::memory_order_relaxed);
  auto record = std::make_unique<connection_record<plain_transport>>(
      plain_transport(std::move(socket)), *state, *registry, role);
  if (registry->size() > park_above_connections) {
    // Many connections on this thread: this one gets a session when its first bytes come.
    wait_for_request(std::move(record), true);
    return nothing_more();
  }
  return serve_requests(std::move(record));
}

}  // namespace stubborn

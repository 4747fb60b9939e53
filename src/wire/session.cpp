#include "wire/session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <optional>
#include <tuple>

#include "control/admin.hpp"
#include "respond/http_date.hpp"
#include "log.hpp"
#include "control/observer.hpp"
#include "control/request_observation.hpp"
#include "respond/reply_plan.hpp"
#include "respond/respond.hpp"
#include "routing/templates.hpp"
#include "wire/plain_transport.hpp"
#include "wire/request_parser.hpp"
#include "wire/stream_transport.hpp"

namespace stubborn {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using token = net::as_tuple_t<net::use_awaitable_t<>>;
constexpr token use_tuple{};

namespace {

enum class phase { idle, head, body, handling, writing, waiting, lingering };

// Bodies at least this large are sent from the table's memory instead of being copied.
constexpr std::size_t external_body_threshold = 2048;
// Flush replies once this much is queued, even if more pipelined requests are buffered.
constexpr std::size_t flush_threshold = 64 * 1024;
// Per-connection buffers shrink back to this after a large request.
constexpr std::size_t kept_capacity = 64 * 1024;

constexpr std::string_view bad_chunked_body = "Bad Request: bad chunked body";

// Whether the unparsed bytes hold an LF that no CR precedes.
bool has_bare_lf(const beast::flat_buffer& buffer) {
  const auto* data = static_cast<const char*>(buffer.data().data());
  const std::size_t size = buffer.size();
  for (const char* p = data; (p = static_cast<const char*>(std::memchr(p, '\n', size - (p - data))));
       ++p) {
    if (p == data || p[-1] != '\r') return true;
  }
  return false;
}

// Whether the bytes from `from` on hold an LF with no CR before it ahead of their first CRLF.
bool bare_lf_before_crlf(const beast::flat_buffer& buffer, std::size_t from) {
  const auto* data = static_cast<const char*>(buffer.data().data());
  for (std::size_t i = from; i < buffer.size(); ++i) {
    if (data[i] != '\n') continue;
    return i == from || data[i - 1] != '\r';
  }
  return false;
}

}  // namespace

// One connection over `Transport` (see transport.hpp). The transport's calls are direct calls:
// the hot path has no virtual call (the registry's calls below come only from its sweep and
// drain).
template <class Transport>
class session final : public registered_connection {
  static_assert(transport<Transport>);

 public:
  session(Transport transport, server_state& state, connection_registry& registry,
          listener_role role)
      : transport_(std::move(transport)), state_(state), registry_(registry), role_(role) {
    registry_.add(this);
  }
  ~session() { registry_.remove(this); }

  net::awaitable<void> run();

  // Called by the registry's sweep when the deadline has passed.
  void expire() override {
    timed_out_ = true;
    transport_.cancel();
    if (timer_) timer_->cancel();
  }
  // Called when the server starts draining: idle connections go now, busy ones after the reply.
  void drain() override {
    draining_ = true;
    if (phase_ == phase::idle) expire();
  }
  void force_close() override {
    forced_ = true;
    expire();
  }

 private:
  connection_registry::clock::time_point& deadline() { return registry_.deadline(registry_slot()); }
  void set_phase(phase p, std::chrono::milliseconds timeout) {
    phase_ = p;
    deadline() = registry_.now() + timeout;
  }
  // The phase and deadline that a wait or a write stands in for, put back when it ends.
  struct saved_phase {
    phase p;
    connection_registry::clock::time_point deadline;
  };
  saved_phase save_phase() { return {phase_, deadline()}; }
  void restore_phase(const saved_phase& saved) {
    phase_ = saved.p;
    deadline() = saved.deadline;
  }
  // Enters the waiting phase for `duration` with the timer ready; the sweep must not take a
  // long wait for a stalled connection, so the deadline is the wait plus idle_timeout.
  saved_phase begin_wait(std::chrono::milliseconds duration) {
    if (!timer_) timer_.emplace(transport_.get_executor());
    saved_phase saved = save_phase();
    set_phase(phase::waiting, duration + table_->server().idle_timeout);
    return saved;
  }
  void refresh_table() {
    std::uint64_t generation = state_.generation();
    if (generation != table_generation_) {
      table_ = state_.table();
      table_generation_ = generation;
      observation_.table_changed();
    }
  }
  void queue_body(std::string_view body, bool from_table) {
    if (body.empty()) return;
    if (from_table && body.size() >= external_body_threshold) {
      external_.push_back({out_.size(), body});
      queued_external_bytes_ += body.size();
    } else {
      out_.append(body);
    }
  }
  enum class handled { done, scripted };

  void queue_rejection(int status, std::string_view why);
  // render_server_reply(), remembering the status for metrics and the journal.
  void server_reply(int status, std::string_view body, std::string_view extra_headers,
                    std::string_view server_header, bool head_only, connection_header connection,
                    std::string& out) {
    served_.status = status;
    render_server_reply(status, body, extra_headers, server_header, head_only, connection, out);
  }
  connection_header decide_connection(const request_view& request);
  net::awaitable<void> handle_admin(const request_view& request);
  handled handle_request(const request_view& request);
  // What respond() needs to know of this connection, brought up to date.
  const connection_facts& respond_facts();
  static std::string_view client_ip_of(void* self) {
    return static_cast<session*>(self)->client_ip();
  }
  // Queues a plan that is written at once: its head, with the Date value, and its body.
  void queue_plan(const response& plan);
  // A delay (or none) before an ordinary reply: no fault, hang, 102s or pacing. run() waits for
  // it in its own frame, so 10,000 waiting connections allocate no coroutine frames.
  bool is_delay_only() const;
  // The scripted reply's head, queued after any wait; returns its body, still to be queued.
  std::string_view render_scripted(const request_view& request, body_framing framing);
  net::awaitable<bool> execute_scripted();
  net::awaitable<bool> send_paced_body(std::string_view body, const reply_spec& script);
  net::awaitable<bool> wait_for(std::chrono::milliseconds duration,
                                std::chrono::milliseconds processing_every);
  net::awaitable<void> hang(std::chrono::milliseconds limit);
  net::awaitable<bool> answer_expectation();
  net::awaitable<bool> flush();
  // flush() in two halves, so the per-request path can write without a nested coroutine.
  bool begin_write();
  // Sends what the transport takes now (plain TCP: what the kernel takes, as nginx does), so
  // that most replies need no asynchronous write (no posted completion, no extra trip round the
  // reactor). False on a broken connection; leaves in buffers_ what is still to send.
  bool send_now();
  void end_write();
  // A view of buffers_: async_write copies its buffer sequence, and a vector copy would allocate.
  std::span<const net::const_buffer> write_buffers() const { return buffers_; }
  net::awaitable<void> linger_close();
  void abort_connection(bool reset);

  struct external_body {
    std::size_t head_end;
    std::string_view body;
  };

  Transport transport_;
  server_state& state_;
  connection_registry& registry_;
  std::shared_ptr<const route_table> table_;
  std::uint64_t table_generation_ = 0;
  listener_role role_;
  // The peer's address, read (getpeername) only when an ip rate limit, the journal or the
  // access log first needs it: a connection that needs none of them pays no system call.
  connection_peer peer_{transport_};
  const std::string& client_ip() { return peer_.get().ip; }

  // What was served, for metrics, the journal and the access log.
  request_outcome served_;
  request_observation observation_{registry_.observer, registry_.access_log,
                                   registry_.thread_index};

  beast::flat_buffer in_;
  request_storage storage_;
  std::optional<request_parser> parser_;
  respond_scratch respond_scratch_;
  connection_facts facts_{.client_ip = {this, &session::client_ip_of}, .clock = {}};
  response scripted_;  // the plan respond() made; the scripted (slow) path writes it
  std::optional<net::steady_timer> timer_;  // made on first use: delays and pacing only

  std::string out_;
  std::vector<external_body> external_;
  std::vector<net::const_buffer> buffers_;
  std::size_t queued_external_bytes_ = 0;

  phase phase_ = phase::idle;
  saved_phase before_write_{};  // begin_write() to end_write()
  bool timed_out_ = false;
  bool draining_ = false;
  bool forced_ = false;
  bool close_after_flush_ = false;
};

template <class Transport>
void session<Transport>::queue_rejection(int status, std::string_view why) {
  observation_.count_rejection(status);
  std::string body(why);
  body.push_back('\n');
  server_reply(status, body, {}, table_->server().server_header, false,
                      connection_header::close, out_);
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
  facts_.draining = draining_ || state_.draining.load(std::memory_order_relaxed);
  return facts_;
}

template <class Transport>
void session<Transport>::queue_plan(const response& plan) {
  served_.status = plan.status;
  if (plan.close_after) close_after_flush_ = true;
  append_head(plan.head, current_http_date(), out_);
  queue_body(plan.body_to_send(), plan.body_from_table);
}

template <class Transport>
auto session<Transport>::handle_request(const request_view& request) -> handled {
  respond(request, *table_, respond_facts(), respond_scratch_, scripted_);
  served_.route = scripted_.route;
  served_.rate_limited = scripted_.rate_limited;
  if (!scripted_.miss.empty() && registry_.observer && registry_.observer->journal_on()) {
    served_.miss = scripted_.miss;
  }
  if (!scripted_.is_plain()) {
    if (scripted_.close_after) close_after_flush_ = true;
    return handled::scripted;
  }
  queue_plan(scripted_);
  return handled::done;
}

template <class Transport>
void session<Transport>::abort_connection(bool reset) {
  transport_.abort(reset);
}

template <class Transport>
net::awaitable<bool> session<Transport>::wait_for(std::chrono::milliseconds duration,
                                                  std::chrono::milliseconds processing_every) {
  const saved_phase before = begin_wait(duration);
  auto end = std::chrono::steady_clock::now() + duration;
  bool ok = true;
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (now >= end) break;
    auto step = end - now;
    bool processing = processing_every.count() > 0 && processing_every < step;
    if (processing) step = processing_every;
    timer_->expires_after(step);
    auto [ec] = co_await timer_->async_wait(use_tuple);
    if (ec || forced_) {
      ok = false;
      break;
    }
    if (processing) {
      // RFC 2518 §10.1: 102 tells the client the request is still being worked on.
      out_.append("HTTP/1.1 102 Processing\r\n\r\n");
      if (!co_await flush()) {
        ok = false;
        break;
      }
    }
  }
  restore_phase(before);
  co_return ok;
}

template <class Transport>
net::awaitable<void> session<Transport>::hang(std::chrono::milliseconds limit) {
  // Accept the request and never answer: read (and drop) until the client gives up or the limit.
  set_phase(phase::waiting, limit);
  for (;;) {
    in_.consume(in_.size());
    auto [ec, n] = co_await transport_.async_read_some(in_.prepare(4096), use_tuple);
    if (ec) co_return;
    in_.commit(n);
  }
}

template <class Transport>
net::awaitable<bool> session<Transport>::send_paced_body(std::string_view body,
                                                         const reply_spec& script) {
  if (!co_await flush()) co_return false;
  if (script.chunks.count > 0) {
    std::size_t count = script.chunks.count;
    auto pause = script.chunks.over / static_cast<long>(count);
    std::size_t size = (body.size() + count - 1) / count;
    for (std::size_t i = 0; i < count && !body.empty(); ++i) {
      std::string_view piece = body.substr(0, size);
      body.remove_prefix(piece.size());
      char line[24];
      int n = std::snprintf(line, sizeof line, "%zx\r\n", piece.size());
      out_.append(line, static_cast<std::size_t>(n)).append(piece).append("\r\n");
      if (!co_await flush()) co_return false;
      if (!body.empty() && !co_await wait_for(pause, {})) co_return false;
    }
    out_.append("0\r\n\r\n");
    co_return true;
  }
  // bandwidth: a slice every 50 ms.
  std::size_t slice = std::max<std::uint64_t>(1, script.bandwidth / 20);
  while (!body.empty()) {
    std::string_view piece = body.substr(0, slice);
    body.remove_prefix(piece.size());
    out_.append(piece);
    if (!co_await flush()) co_return false;
    if (!body.empty() && !co_await wait_for(std::chrono::milliseconds(50), {})) co_return false;
  }
  co_return true;
}

template <class Transport>
bool session<Transport>::is_delay_only() const {
  const reply_plan& plan = scripted_.plan;
  if (plan.fault != fault_kind::none || plan.reply == nullptr) return false;
  const reply_spec& script = plan.reply->script();
  return !script.hang && script.processing_every.count() == 0 && script.chunks.count == 0 &&
         script.bandwidth == 0;
}

template <class Transport>
std::string_view session<Transport>::render_scripted(const request_view&, body_framing framing) {
  if (draining_ || state_.draining.load(std::memory_order_relaxed)) {
    // The server began to drain during the wait: say so in this last reply.
    scripted_.close_connection();
    close_after_flush_ = true;
  }
  served_.status = scripted_.status;
  scripted_.set_framing(framing);
  append_head(scripted_.head, current_http_date(), out_);
  return scripted_.body_to_send();
}

template <class Transport>
net::awaitable<bool> session<Transport>::execute_scripted() {
  const reply_plan& plan = scripted_.plan;
  request_view request = storage_.view();
  served_.fault = plan.fault;
  served_.status = 0;  // until a head is written
  switch (plan.fault) {
    case fault_kind::reset:
    case fault_kind::close:
      co_await flush();
      abort_connection(plan.fault == fault_kind::reset);
      co_return false;
    case fault_kind::garbage: {
      co_await flush();
      std::size_t length = 64 + plan.random % 1024;
      std::uint64_t bits = plan.random;
      for (std::size_t i = 0; i < length; ++i) {
        bits = random_bits(bits, i, plan.random);
        out_.push_back(static_cast<char>(bits & 0xff));
      }
      co_await flush();
      abort_connection(false);
      co_return false;
    }
    default:
      break;
  }
  const compiled_reply& reply = *plan.reply;
  const reply_spec& script = reply.script();
  out_.append(reply.interim_bytes());
  if (script.hang) {
    served_.status = 0;
    if (co_await flush()) co_await hang(table_->server().max_hang);
    abort_connection(false);
    co_return false;
  }
  if (plan.delay.count() > 0) {
    if (!co_await flush()) co_return false;  // interim responses go out before the wait
    if (!co_await wait_for(plan.delay, script.processing_every)) co_return false;
  }
  bool chunked = script.chunks.count > 0 || plan.fault == fault_kind::malformed_chunk;
  std::string_view body =
      render_scripted(request, chunked ? body_framing::chunked : body_framing::content_length);
  switch (plan.fault) {
    case fault_kind::empty:
      // The head promises a body that never comes.
      co_await flush();
      abort_connection(false);
      co_return false;
    case fault_kind::truncate:
      out_.append(body.substr(0, body.size() / 2));
      co_await flush();
      abort_connection(false);
      co_return false;
    case fault_kind::malformed_chunk:
      // A good first chunk, then a chunk size that is not hex (RFC 9112 §7.1 violated).
      out_.append("1\r\n").append(body.substr(0, 1)).append("\r\nzz\r\n");
      out_.append(body.substr(body.empty() ? 0 : 1));
      co_await flush();
      abort_connection(false);
      co_return false;
    default:
      break;
  }
  if (!scripted_.head_only && reply.has_body() && (script.chunks.count > 0 || script.bandwidth > 0)) {
    co_return co_await send_paced_body(body, script);
  }
  queue_body(body, reply.is_static());
  co_return true;
}

template <class Transport>
net::awaitable<bool> session<Transport>::answer_expectation() {
  const expectation decision = respond_to_expectation(storage_.view(), *table_, respond_facts(),
                                                      respond_scratch_, scripted_);
  if (decision.reject) {
    served_.route = scripted_.route;
    queue_plan(scripted_);
    co_return true;
  }
  if (decision.delay.count() > 0) {
    if (!co_await wait_for(decision.delay, {})) co_return false;
  }
  out_.append("HTTP/1.1 100 Continue\r\n\r\n");
  co_return co_await flush();
}

template <class Transport>
net::awaitable<void> session<Transport>::handle_admin(const request_view& request) {
  connection_header connection = decide_connection(request);
  admin_reply reply;
  if (!role_.admin->owns(request.path)) {
    // The admin listener serves the admin API only.
    reply.status = 404;
    reply.body = "{\"error\":\"this listener serves only the admin API, under " +
                 role_.admin->config().prefix + "\"}\n";
  } else {
    reply = co_await role_.admin->handle(request);
  }
  served_.status = reply.status;
  render_server_reply(reply.status, reply.body, reply.extra_headers, table_->server().server_header,
                      request.method == "HEAD", connection, out_, reply.content_type);
}

template <class Transport>
bool session<Transport>::begin_write() {
  if (out_.empty() && external_.empty()) return false;
  buffers_.clear();
  std::size_t pos = 0;
  for (const auto& e : external_) {
    if (e.head_end > pos) buffers_.emplace_back(out_.data() + pos, e.head_end - pos);
    buffers_.emplace_back(e.body.data(), e.body.size());
    pos = e.head_end;
  }
  if (out_.size() > pos) buffers_.emplace_back(out_.data() + pos, out_.size() - pos);
  before_write_ = save_phase();
  set_phase(phase::writing, table_->server().idle_timeout);
  return true;
}

template <class Transport>
void session<Transport>::end_write() {
  restore_phase(before_write_);
  out_.clear();
  external_.clear();
  queued_external_bytes_ = 0;
  if (out_.capacity() > kept_capacity) out_ = std::string();
}

template <class Transport>
bool session<Transport>::send_now() {
  beast::error_code ec;
  std::size_t done = transport_.try_send(write_buffers(), ec);
  if (ec) return false;
  if (done == 0) return true;
  std::size_t whole = 0;
  while (whole < buffers_.size() && buffers_[whole].size() <= done) {
    done -= buffers_[whole].size();
    ++whole;
  }
  buffers_.erase(buffers_.begin(), buffers_.begin() + static_cast<std::ptrdiff_t>(whole));
  if (!buffers_.empty()) buffers_.front() += done;
  return true;
}

template <class Transport>
net::awaitable<bool> session<Transport>::flush() {
  if (!begin_write()) co_return true;
  bool ok = send_now();
  if (ok && !buffers_.empty()) {
    auto [ec, written] = co_await transport_.async_write(write_buffers(), use_tuple);
    (void)written;
    ok = !ec;
  }
  end_write();
  co_return ok;
}

template <class Transport>
net::awaitable<void> session<Transport>::linger_close() {
  // RFC 9112 §9.6: close in stages so unread request bytes do not turn our last reply into a
  // reset: stop sending, then read and discard for a short while.
  beast::error_code ec;
  transport_.shutdown_send(ec);
  if (ec || forced_) co_return;
  set_phase(phase::lingering, std::chrono::milliseconds(2000));
  std::size_t discarded = 0;
  while (discarded < 1024 * 1024) {
    in_.clear();
    auto [read_ec, n] = co_await transport_.async_read_some(in_.prepare(16 * 1024), use_tuple);
    if (read_ec) break;
    discarded += n;
  }
}

template <class Transport>
net::awaitable<void> session<Transport>::run() {
  refresh_table();
  const server_config* server = &table_->server();
  // The request line has its own budget (max_uri_bytes) on top of the header block's.
  const std::size_t head_limit = server->max_header_bytes + server->max_uri_bytes + 64;
  in_.max_size(head_limit + 64 * 1024);
  std::size_t requests_served = 0;
  set_phase(phase::idle, server->idle_timeout);
  bool clean_close = true;  // false: the peer is gone, skip the lingering close

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
    if (in_.size() == 0) set_phase(phase::idle, server->idle_timeout);
    else set_phase(phase::head, server->header_timeout);

    bool have_request = false;
    while (!have_request && !close_after_flush_) {
      bool need_read = in_.size() == 0;
      if (!need_read) {
        if (!parser_->is_header_done()) {
          if (phase_ == phase::idle) set_phase(phase::head, server->header_timeout);
          std::size_t skip = 0;
          auto* data = static_cast<char*>(in_.data().data());
          head_check check = check_request_head(data, in_.size(), server->max_uri_bytes, skip, scanned);
          if (skip > 0) {
            in_.consume(skip);
            continue;
          }
          switch (check) {
            case head_check::bad_request: queue_rejection(400, "Bad Request"); continue;
            case head_check::bad_version:
              // RFC 9110 §15.6.6; the HTTP/2 preface lands here too and is answered at once.
              queue_rejection(505, "HTTP Version Not Supported: this server speaks HTTP/1.1");
              continue;
            case head_check::uri_too_long: queue_rejection(414, "URI Too Long"); continue;
            case head_check::incomplete: need_read = true; break;
            case head_check::ok: break;
          }
        }
        if (!need_read) {
          beast::error_code ec;
          std::size_t used = parser_->put(in_.data(), ec);
          // A chunk line with a bare LF before its CRLF: Beast takes the line up to the CRLF and
          // may fail it for another reason (a size over the limit, say), or wait for the CRLF
          // (see below). Either way the answer is the bare LF's, so it does not depend on
          // whether the CRLF had arrived yet.
          const bool bare_lf_line = ec && ec != http::error::need_more &&
                                    parser_->is_header_done() && parser_->chunked() &&
                                    bare_lf_before_crlf(in_, used);
          in_.consume(used);
          if (ec == http::error::need_more) {
            if (parser_->is_header_done() && parser_->chunked() && has_bare_lf(in_)) {
              // RFC 9112 §7.1: chunk lines end in CRLF. Beast 1.81 waits for one that never
              // comes; it consumes all chunk data it is given, so what it left is a chunk or
              // trailer line, where a bare LF is an error rather than something to wait for.
              queue_rejection(400, bad_chunked_body);
              continue;
            }
            need_read = true;
          } else if (ec) {
            const request_rejection& r = parser_->rejection();
            if (bare_lf_line) queue_rejection(400, bad_chunked_body);
            else if (ec == http::error::body_limit) queue_rejection(413, "Content Too Large");
            // In a chunked body, one answer for every other error. Which check meets a broken
            // chunk or trailer line first (Beast's, our field checks on trailers, or the bare-LF
            // one above) depends on how the bytes were split, and the answer must not (the
            // fragmentation fuzz target checks that).
            else if (parser_->is_header_done() && parser_->chunked()) queue_rejection(400, bad_chunked_body);
            else if (r.status != 0) queue_rejection(r.status, r.reason);
            else if (ec == http::error::header_limit) queue_rejection(431, "Request Header Fields Too Large");
            else queue_rejection(400, "Bad Request: " + ec.message());
            continue;
          }
          if (parser_->is_header_done() && !header_handled) {
            header_handled = true;
            if (!parser_->is_done()) {
              set_phase(phase::body, server->body_timeout);
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
          if (in_.size() == 0) need_read = true;
          else if (used == 0) need_read = true;
        }
      }
      if (!need_read) continue;
      // Replies already rendered go out before we wait for more bytes.
      if (!co_await flush()) {
        clean_close = false;
        break;
      }
      if (draining_ && phase_ == phase::idle) {
        // Draining, and every request read is answered: close now, as drain() closes the
        // connections it finds idle. Our last reply said keep-alive, so a lingering close would
        // read the client's next request and throw it away; left unread, it draws a reset.
        clean_close = false;
        break;
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
      auto [ec, n] = co_await transport_.async_read_some(in_.prepare(room), use_tuple);
      if (ec) {
        if (timed_out_ && !forced_ && (phase_ == phase::head || phase_ == phase::body)) {
          // RFC 9110 §15.5.9: part of a request arrived, then nothing: 408, then close.
          timed_out_ = false;
          queue_rejection(408, "Request Timeout");
          continue;
        }
        clean_close = false;
        break;
      }
      in_.commit(n);
    }
    if (!have_request) break;

    set_phase(phase::handling, server->idle_timeout);
    if (out_.empty() && external_.empty()) {
      refresh_table();
      server = &table_->server();
    }
    ++requests_served;
    if (server->max_requests_per_connection != 0 &&
        requests_served >= server->max_requests_per_connection) {
      draining_ = true;  // this reply says Connection: close
    }
    if (observation_.on()) served_.begin();
    // One view per request: it is rebuilt from the parser's storage each time it is taken.
    const request_view request = storage_.view();
    if (role_.admin && (role_.admin_only || role_.admin->owns(request.path))) {
      co_await handle_admin(request);
      if (observation_.on()) {
        served_.admin = true;
        observation_.observe(request, served_, peer_);
      }
    } else {
      bool carry_on = true;
      if (handle_request(request) == handled::scripted) {
        if (is_delay_only()) {
          const compiled_reply& reply = *scripted_.plan.reply;
          const auto delay = scripted_.plan.delay;
          served_.fault = fault_kind::none;
          served_.status = 0;  // until the head is written
          // Replies already rendered and interim responses go out before the wait.
          out_.append(reply.interim_bytes());
          if (delay.count() > 0 && (!out_.empty() || !external_.empty())) {
            carry_on = co_await flush();
          }
          if (carry_on && delay.count() > 0) {
            const saved_phase before = begin_wait(delay);
            timer_->expires_after(delay);
            auto [wait_ec] = co_await timer_->async_wait(use_tuple);
            restore_phase(before);
            carry_on = !wait_ec && !forced_;
          }
          if (carry_on) {
            queue_body(render_scripted(request, body_framing::content_length), reply.is_static());
          }
        } else {
          carry_on = co_await execute_scripted();
        }
      }
      if (observation_.on()) observation_.observe(request, served_, peer_);
      if (!carry_on) {
        clean_close = false;
        break;
      }
    }
    if (close_after_flush_) break;
    if ((in_.size() == 0 || out_.size() + queued_external_bytes_ >= flush_threshold) &&
        begin_write()) {
      bool ok = send_now();
      if (ok && !buffers_.empty()) {
        auto [ec, written] = co_await transport_.async_write(write_buffers(), use_tuple);
        (void)written;
        ok = !ec;
      }
      end_write();
      if (!ok) {
        clean_close = false;
        break;
      }
    }
  }

  if (clean_close && (!out_.empty() || !external_.empty())) {
    clean_close = co_await flush();
  }
  if (clean_close && !forced_) co_await linger_close();
  transport_.close();
}

// The same TCP socket through Asio's own reads and writes: the transport a TLS stream will use.
using generic_transport = stream_transport<net::generic::stream_protocol::socket>;

template class session<plain_transport>;
template class session<generic_transport>;

namespace {

template <class Transport>
net::awaitable<void> serve(Transport transport, server_state* state,
                           connection_registry* registry, listener_role role) {
  state->open_connections.fetch_add(1, std::memory_order_relaxed);
  try {
    session<Transport> s(std::move(transport), *state, *registry, role);
    co_await s.run();
  } catch (const std::exception& e) {
    // Unexpected: this connection ends; it is logged once, the server goes on.
    log(log_level::error, std::string("connection closed after an internal error: ") + e.what());
  }
  state->open_connections.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace

net::awaitable<void> serve_connection(connection_socket socket, server_state* state,
                                      connection_registry* registry, listener_role role) {
  if (role.transport == transport_kind::generic) {
    return serve(generic_transport(std::move(socket)), state, registry, role);
  }
  return serve(plain_transport(std::move(socket)), state, registry, role);
}

}  // namespace stubborn

#include "protocols/websocket/websocket_handler.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <vector>

#include "control/observer.hpp"
#include "protocols/websocket/handover_stream.hpp"
#include "protocols/websocket/websocket_route.hpp"
#include "respond/http_date.hpp"
#include "routing/parsed_body.hpp"
#include "routing/request.hpp"
#include "routing/route_table.hpp"

namespace stubborn {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using use_tuple_t = net::as_tuple_t<net::use_awaitable_t<>>;
constexpr use_tuple_t use_tuple{};
using clock = std::chrono::steady_clock;

// RFC 6455 §5.2 opcodes, as the journal records them.
constexpr int text_opcode = 1;
constexpr int binary_opcode = 2;
constexpr int close_opcode = 8;
constexpr int ping_opcode = 9;
constexpr int pong_opcode = 10;

// How long the server waits for the client's reply to its close frame before it closes TCP.
constexpr std::chrono::seconds close_grace{5};

// Bytes that cannot start a frame: reserved bits set and a reserved opcode (RFC 6455 §5.2).
constexpr std::string_view garbage_bytes = "\xff\xff\xde\xad\xbe\xef garbage, not a frame";

// The upgrade request, copied: templates and journal entries read it for as long as the
// connection lasts, after the session's buffers are gone.
class owned_request {
 public:
  owned_request(const request_view& r, std::span<const std::string_view> params) {
    std::size_t total = r.method.size() + r.target.size() + r.path.size() + r.query.size();
    for (const header_field& h : r.headers) total += h.name.size() + h.value.size();
    for (std::string_view p : params) total += p.size();
    bytes_.reserve(total);
    const auto keep = [this](std::string_view s) {
      const std::size_t at = bytes_.size();
      bytes_.append(s);
      return std::pair<std::size_t, std::size_t>(at, s.size());
    };
    const auto method = keep(r.method);
    const auto target = keep(r.target);
    const auto path = keep(r.path);
    const auto query = keep(r.query);
    std::vector<std::pair<std::pair<std::size_t, std::size_t>, std::pair<std::size_t, std::size_t>>>
        fields;
    fields.reserve(r.headers.size());
    for (const header_field& h : r.headers) fields.emplace_back(keep(h.name), keep(h.value));
    std::vector<std::pair<std::size_t, std::size_t>> captured;
    for (std::string_view p : params) captured.push_back(keep(p));
    const auto view = [this](std::pair<std::size_t, std::size_t> at) {
      return std::string_view(bytes_).substr(at.first, at.second);
    };
    headers_.reserve(fields.size());
    for (const auto& [name, value] : fields) headers_.push_back({view(name), view(value)});
    for (const auto& p : captured) params_.push_back(view(p));
    view_.method = view(method);
    view_.target = view(target);
    view_.path = view(path);
    view_.query = view(query);
    view_.version = r.version;
    view_.headers = headers_;
    view_.tls = r.tls;
  }
  owned_request(const owned_request&) = delete;
  owned_request& operator=(const owned_request&) = delete;

  const request_view& view() const { return view_; }
  std::span<const std::string_view> params() const { return params_; }

 private:
  std::string bytes_;
  std::vector<header_field> headers_;
  std::vector<std::string_view> params_;
  request_view view_;
};

class websocket_handler : public connection_handler_for<websocket_handler> {
 public:
  websocket_handler(websocket_context context, const request_view& request,
                    std::span<const std::string_view> params)
      : context_(std::move(context)), request_(request, params) {}

  template <class Transport>
  net::awaitable<void> serve(Transport& transport, std::string buffered, drain_hook& drain);

  const websocket_context& context() const { return context_; }
  const owned_request& request() const { return request_; }

 private:
  websocket_context context_;
  owned_request request_;
};

// One upgraded connection: Beast's stream, the scheduler's one timer and its queue, and what
// the script counts per connection.
template <class Transport>
class websocket_connection {
 public:
  websocket_connection(const websocket_handler& handler, Transport& transport, std::string buffered)
      : handler_(handler),
        script_(*handler.context().script),
        transport_(transport),
        ws_(transport, std::move(buffered), flags_),
        timer_(transport.get_executor()),
        joined_(transport.get_executor()) {}

  net::awaitable<void> run();
  /// The server drains: the client gets a close 1001 (RFC 6455 §7.4.1, "going away") and the
  /// closing handshake runs, within the server's drain_timeout.
  static void on_drain(void* self) { static_cast<websocket_connection*>(self)->drain(); }

 private:
  enum class what : std::uint8_t { step, every, close_after, ping, idle, echo, going_away };
  void drain();
  struct action {
    clock::time_point due;
    what kind = what::step;
    bool binary = false;  // echo: the message was binary
    const compiled_websocket_step* step = nullptr;
    std::string message;  // echo, or a step whose template reads the message
  };

  static action at(clock::time_point due, what kind) {
    action a;
    a.due = due;
    a.kind = kind;
    return a;
  }
  net::awaitable<void> read_loop();
  net::awaitable<void> schedule_loop();
  // Plays one action; false when the script is over (a close, a fault, a broken connection).
  net::awaitable<bool> perform(action a);
  net::awaitable<bool> play(const compiled_websocket_step& step, std::string_view message);
  net::awaitable<bool> send(std::string_view payload, bool binary);
  // Sends a close frame; the script is over then.
  net::awaitable<void> close(int code, std::string_view reason);
  void schedule(action a);
  void answer(std::string_view message, bool binary);
  void on_control(websocket::frame_type kind, std::string_view payload);
  void journal(bool in, int opcode, std::string_view payload, std::size_t size);

  const websocket_handler& handler_;
  const compiled_websocket& script_;
  Transport& transport_;
  handover_flags flags_;
  websocket::stream<handover_stream<Transport>, false> ws_;
  net::steady_timer timer_;
  net::steady_timer joined_;            // the reader's side waits on it for the scheduler
  bool scheduling_ = false;             // the scheduler's coroutine has not ended
  std::exception_ptr scheduler_error_;  // what it threw, thrown again once both have ended
  std::vector<action> queue_;           // by due time; equal times in the order they were scheduled
  std::vector<unsigned> answered_;      // per on_message entry, when some entry has a repeat
  std::string rendered_;
  std::unique_ptr<parsed_body> body_;  // made when a template first reads a message's JSON
  clock::time_point last_heard_;
  std::uint64_t counter_ = 0;
  bool stopping_ = false;             // the reader ended: the scheduler ends too
  bool close_sent_ = false;           // the server's close frame went out
  bool awaiting_pong_ = false;        // ping_every: a ping is unanswered
  route_metrics* metrics_ = nullptr;  // the route's, on this thread; null when nothing observes
};

template <class Transport>
net::awaitable<void> websocket_connection<Transport>::run() {
  const websocket_context& context = handler_.context();
  const std::string& server_header = context.table->server().server_header;
  const std::string_view subprotocol = context.subprotocol;
  ws_.set_option(websocket::stream_base::decorator(
      [&server_header, subprotocol](websocket::response_type& res) {
        if (server_header.empty()) {
          res.erase(http::field::server);
        } else {
          res.set(http::field::server, server_header);
        }
        res.set(http::field::date, current_http_date());
        if (!subprotocol.empty()) res.set(http::field::sec_websocket_protocol, subprotocol);
      }));
  // After the server's close, the client's is awaited for close_grace (the scheduler's timer);
  // Beast's handshake timeout bounds its own closing handshake, after a close of the client's,
  // the same way (it closes through beast_close_socket). No idle pings of Beast's own:
  // ping_every and idle_timeout are the script's.
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = close_grace;
  timeouts.idle_timeout = websocket::stream_base::none();
  timeouts.keep_alive_pings = false;
  ws_.set_option(timeouts);
  ws_.read_message_max(script_.max_message_bytes);
  ws_.auto_fragment(false);
  ws_.control_callback([this](websocket::frame_type kind, beast::string_view payload) {
    on_control(kind, std::string_view(payload.data(), payload.size()));
  });
  {
    // Beast checks the request again and writes the 101 with Sec-WebSocket-Accept
    // (RFC 6455 §4.2.2); respond() already made sure it will accept.
    const request_view& r = handler_.request().view();
    http::request<http::empty_body> upgrade;
    upgrade.method(http::verb::get);
    upgrade.version(11);
    upgrade.target(beast::string_view(r.target.data(), r.target.size()));
    std::string_view key;
    r.find_header("Sec-WebSocket-Key", key);
    upgrade.set(http::field::host, "stubborn");
    upgrade.set(http::field::upgrade, "websocket");
    upgrade.set(http::field::connection, "Upgrade");
    upgrade.set(http::field::sec_websocket_key, beast::string_view(key.data(), key.size()));
    upgrade.set(http::field::sec_websocket_version, "13");
    auto [ec] = co_await ws_.async_accept(upgrade, use_tuple);
    if (ec) co_return;
  }
  if (thread_observer* observer = context.observer) {
    metrics_ = &observer->metrics_for(context.route->name);
    ++metrics_->websocket_opened;
  }
  struct count_closed {
    route_metrics* metrics;
    ~count_closed() {
      if (metrics) ++metrics->websocket_closed;
    }
  } closed{metrics_};
  const clock::time_point opened = clock::now();
  last_heard_ = opened;
  if (script_.counts_answers) answered_.assign(script_.answers.size(), 0);
  clock::time_point due = opened;
  for (const compiled_websocket_step& step : script_.on_open) {
    due += step.delay;
    schedule({due, what::step, false, &step, {}});
  }
  if (script_.every) {
    schedule({opened + script_.every->delay + script_.every_interval,
              what::every,
              false,
              &*script_.every,
              {}});
  }
  if (script_.close_after.count()) schedule(at(opened + script_.close_after, what::close_after));
  if (script_.ping_every.count()) schedule(at(opened + script_.ping_every, what::ping));
  if (script_.idle_timeout.count()) schedule(at(opened + script_.idle_timeout, what::idle));
  // The scheduler runs beside the reader in a coroutine of its own, and the connection ends
  // when both have: one spawned coroutine (`read_loop() && schedule_loop()` spawns both and
  // keeps a frame and a shared state of its own: 1.3 KiB more per held connection).
  scheduling_ = true;
  net::co_spawn(transport_.get_executor(), schedule_loop(), [this](std::exception_ptr e) {
    scheduler_error_ = e;
    scheduling_ = false;
    joined_.cancel();
  });
  std::exception_ptr read_error;
  try {
    co_await read_loop();
  } catch (...) {
    read_error = std::current_exception();
  }
  if (read_error) {
    stopping_ = true;
    timer_.cancel();
  }
  while (scheduling_) {
    joined_.expires_at(clock::time_point::max());
    co_await joined_.async_wait(use_tuple);
  }
  if (read_error) std::rethrow_exception(read_error);
  if (scheduler_error_) std::rethrow_exception(scheduler_error_);
}

template <class Transport>
void websocket_connection<Transport>::drain() {
  if (stopping_) {
    // The client's close was left unanswered on purpose (no-close-reply): nothing is waited for.
    transport_.close();
  } else if (!close_sent_) {
    schedule(at(clock::now(), what::going_away));
  }
}

template <class Transport>
void websocket_connection<Transport>::schedule(action a) {
  auto at = queue_.end();
  while (at != queue_.begin() && (at - 1)->due > a.due) --at;
  const bool first = at == queue_.begin();
  queue_.insert(at, std::move(a));
  // The scheduler waits for the old first action: it wakes and waits again for this one.
  if (first) timer_.cancel();
}

template <class Transport>
net::awaitable<void> websocket_connection<Transport>::read_loop() {
  // A message's first bytes are read into this frame's small buffer, the rest straight into
  // `message`: a connection waiting for the client's next message holds no heap buffer for it
  // (Beast's async_read into a dynamic buffer prepares 1,536 bytes before any arrive: 15 MiB
  // for 10,000 held connections). Beast still checks each frame, the UTF-8 of text across the
  // pieces and read_message_max (close 1009) as for a whole-message read.
  std::string message;
  char piece[256];
  boost::system::error_code ec;
  for (;;) {
    const std::size_t at = message.size();
    if (at != 0) message.resize(at + std::max<std::size_t>(at, 4096));
    const net::mutable_buffer into =
        at == 0 ? net::buffer(piece) : net::buffer(message.data() + at, message.size() - at);
    auto [read_ec, n] = co_await ws_.async_read_some(into, use_tuple);
    if (read_ec) {
      ec = read_ec;
      break;
    }
    last_heard_ = clock::now();
    if (at == 0) {
      message.assign(piece, n);
    } else {
      message.resize(at + n);
    }
    if (!ws_.is_message_done()) continue;
    const bool binary = ws_.got_binary();
    journal(true, binary ? binary_opcode : text_opcode, message, message.size());
    answer(message, binary);
    message.clear();
    // A large message does not keep its memory while the connection is held.
    if (message.capacity() > 4096) message.shrink_to_fit();
  }
  stopping_ = true;
  timer_.cancel();
  if (ec == websocket::error::closed && flags_.swallow_close_reply) {
    // no-close-reply: the client's close stays unanswered; the connection lasts until the
    // client gives up (or the server drains).
    char discard[256];
    for (;;) {
      auto [hold_ec, n] =
          co_await transport_.async_read_some(net::buffer(discard), transport_token{});
      if (hold_ec) break;
    }
  }
}

template <class Transport>
net::awaitable<void> websocket_connection<Transport>::schedule_loop() {
  bool go_on = true;
  while (go_on && !stopping_) {
    if (!queue_.empty() && queue_.front().due <= clock::now()) {
      action next = std::move(queue_.front());
      queue_.erase(queue_.begin());
      go_on = co_await perform(std::move(next));
      continue;
    }
    timer_.expires_at(queue_.empty() ? clock::time_point::max() : queue_.front().due);
    co_await timer_.async_wait(use_tuple);
  }
  if (close_sent_ && !stopping_) {
    // RFC 6455 §7.1.1: the client answers our close, then the server closes TCP; a client
    // that does not answer gets closed on after a grace period.
    timer_.expires_after(close_grace);
    co_await timer_.async_wait(use_tuple);
    if (!stopping_) transport_.close();
  }
}

template <class Transport>
net::awaitable<bool> websocket_connection<Transport>::perform(action a) {
  switch (a.kind) {
    case what::step:
      co_return co_await play(*a.step, a.message);
    case what::echo:
      co_return co_await send(a.message, a.binary);
    case what::every:
      schedule({a.due + script_.every_interval, what::every, false, a.step, {}});
      co_return co_await play(*a.step, {});
    case what::close_after:
      co_await close(script_.close_code, script_.close_reason);
      co_return false;
    case what::ping:
      if (awaiting_pong_) {
        // RFC 6455 §7.4.1: 1001, the endpoint is going away (its peer stopped answering).
        co_await close(1001, "no pong");
        co_return false;
      } else {
        awaiting_pong_ = true;
        schedule(at(a.due + script_.ping_every, what::ping));
        auto [ec] = co_await ws_.async_ping({}, use_tuple);
        if (ec) co_return false;
        journal(false, ping_opcode, {}, 0);
        co_return true;
      }
    case what::going_away:
      co_await close(1001, "going away");
      co_return false;
    case what::idle:
      if (clock::now() - last_heard_ >= script_.idle_timeout) {
        co_await close(1001, "idle");
        co_return false;
      }
      schedule(at(last_heard_ + script_.idle_timeout, what::idle));
      co_return true;
  }
  co_return false;
}

template <class Transport>
net::awaitable<bool> websocket_connection<Transport>::play(const compiled_websocket_step& step,
                                                           std::string_view message) {
  switch (step.type) {
    case websocket_step::kind::send: {
      rendered_.clear();
      if (step.text.is_static()) {
        rendered_.assign(step.text.static_text());
      } else {
        request_view request = handler_.request().view();
        request.body = message;
        if (step.reads_message) {
          if (!body_) body_ = std::make_unique<parsed_body>();
          body_->reset();
        }
        template_context context{request, handler_.request().params(),
                                 step.reads_message ? body_.get() : nullptr};
        context.counter = ++counter_;
        context.random =
            (reinterpret_cast<std::uintptr_t>(this) ^ 0x9e3779b97f4a7c15ull) * (counter_ | 1);
        if (step.text.uses_clock()) context.now = std::chrono::system_clock::now();
        step.text.render(context, template_escape::none, rendered_);
      }
      if (!co_await send(rendered_, false)) co_return false;
      break;
    }
    case websocket_step::kind::send_binary:
      if (!co_await send(step.bytes, true)) co_return false;
      break;
    case websocket_step::kind::ping: {
      websocket::ping_data data(beast::string_view(step.bytes.data(), step.bytes.size()));
      auto [ec] = co_await ws_.async_ping(data, use_tuple);
      if (ec) co_return false;
      journal(false, ping_opcode, step.bytes, step.bytes.size());
      break;
    }
    case websocket_step::kind::close:
      co_await close(step.close_code, step.bytes);
      break;
    case websocket_step::kind::fault:
      break;
  }
  switch (step.fault) {
    case websocket_fault::none:
      break;
    case websocket_fault::drop:
      transport_.abort(false);
      co_return false;
    case websocket_fault::reset:
      transport_.abort(true);
      co_return false;
    case websocket_fault::garbage: {
      auto [ec, n] =
          co_await net::async_write(ws_.next_layer(), net::buffer(garbage_bytes), use_tuple);
      (void)ec;
      (void)n;
      transport_.abort(false);
      co_return false;
    }
    case websocket_fault::no_close_reply:
      flags_.swallow_close_reply = true;
      break;
  }
  co_return step.type != websocket_step::kind::close;
}

template <class Transport>
net::awaitable<bool> websocket_connection<Transport>::send(std::string_view payload, bool binary) {
  ws_.binary(binary);
  auto [ec, n] = co_await ws_.async_write(net::buffer(payload.data(), payload.size()), use_tuple);
  if (ec) co_return false;
  journal(false, binary ? binary_opcode : text_opcode, payload, payload.size());
  co_return true;
}

template <class Transport>
net::awaitable<void> websocket_connection<Transport>::close(int code, std::string_view reason) {
  if (close_sent_) co_return;
  close_sent_ = true;
  // RFC 6455 §5.5.1: the code in network byte order, then the reason; a server's frame is not
  // masked. The read loop goes on until the client's close comes back (Beast's reply to it is
  // dropped: ours went first) or the grace period ends.
  std::string frame;
  frame.reserve(4 + reason.size());
  frame.push_back(static_cast<char>(0x88));
  frame.push_back(static_cast<char>(2 + reason.size()));  // at most 125: checked at load
  frame.push_back(static_cast<char>((code >> 8) & 0xff));
  frame.push_back(static_cast<char>(code & 0xff));
  frame.append(reason);
  ws_.next_layer().send_own_close(std::move(frame));
  journal(false, close_opcode, reason, reason.size() + 2);
}

template <class Transport>
void websocket_connection<Transport>::answer(std::string_view message, bool binary) {
  for (std::size_t i = 0; i < script_.answers.size(); ++i) {
    const compiled_websocket_answer& a = script_.answers[i];
    if (a.repeat && answered_[i] >= a.repeat) continue;
    if (!a.matches(message)) continue;
    if (a.repeat) ++answered_[i];
    clock::time_point due = clock::now();
    if (a.echo) schedule({due, what::echo, binary, nullptr, std::string(message)});
    for (const compiled_websocket_step& step : a.reply) {
      due += step.delay;
      schedule({due, what::step, false, &step,
                step.reads_message ? std::string(message) : std::string()});
    }
    return;
  }
}

template <class Transport>
void websocket_connection<Transport>::on_control(websocket::frame_type kind,
                                                 std::string_view payload) {
  last_heard_ = clock::now();
  switch (kind) {
    case websocket::frame_type::ping:
      journal(true, ping_opcode, payload, payload.size());
      // Beast answers with a pong holding the same payload (RFC 6455 §5.5.3).
      journal(false, pong_opcode, payload, payload.size());
      break;
    case websocket::frame_type::pong:
      awaiting_pong_ = false;
      journal(true, pong_opcode, payload, payload.size());
      break;
    case websocket::frame_type::close: {
      const std::size_t size =
          ws_.reason().code == websocket::close_code::none ? 0 : payload.size() + 2;
      journal(true, close_opcode, payload, size);
      if (!close_sent_ && !flags_.swallow_close_reply) {
        // Beast answers with the client's code (RFC 6455 §5.5.1).
        close_sent_ = true;
        journal(false, close_opcode, payload, size);
      }
      break;
    }
  }
}

template <class Transport>
void websocket_connection<Transport>::journal(bool in, int opcode, std::string_view payload,
                                              std::size_t size) {
  if (metrics_) ++(in ? metrics_->websocket_messages_in : metrics_->websocket_messages_out);
  thread_observer* observer = handler_.context().observer;
  if (!observer || !observer->journal_on()) return;
  const websocket_context& context = handler_.context();
  const request_view& r = handler_.request().view();
  journal_entry& e = observer->next_slot();
  e.time = std::chrono::system_clock::now();
  e.kind = journal_kind::websocket;
  e.websocket = {in, opcode, size};
  e.client.assign(context.client);
  e.method.assign(r.method);
  e.target.assign(r.target);
  e.path.assign(r.path);
  e.headers.resize(r.headers.size());
  for (std::size_t i = 0; i < r.headers.size(); ++i) {
    e.headers[i].first.assign(r.headers[i].name);
    e.headers[i].second.assign(r.headers[i].value);
  }
  e.body.assign(payload.substr(0, observer->body_bytes()));
  e.body_bytes = size;
  e.route.assign(context.route->name);
  e.status = 101;
  e.fault.clear();
  e.latency = {};
  e.miss.clear();
  e.over_tls = r.tls != nullptr;
  if (r.tls) {
    e.tls.sni.assign(r.tls->sni);
    e.tls.version.assign(r.tls->version);
    e.tls.cipher.assign(r.tls->cipher);
    e.tls.client_subject.assign(r.tls->client_subject);
  }
}

template <class Transport>
net::awaitable<void> websocket_handler::serve(Transport& transport, std::string buffered,
                                              drain_hook& drain) {
  auto connection =
      std::make_unique<websocket_connection<Transport>>(*this, transport, std::move(buffered));
  drain = {&websocket_connection<Transport>::on_drain, connection.get()};
  co_await connection->run();
  drain = {};
}

}  // namespace

std::shared_ptr<connection_handler> make_websocket_handler(websocket_context context,
                                                           const request_view& request) {
  // The route's path parameters, found again in the path (respond() matched it).
  std::array<std::string_view, max_path_params> captures{};
  std::size_t count = 0;
  const compiled_route& route = *context.route;
  if (route.pattern) {
    if (route.pattern->match(request.path, captures.data())) count = route.param_names.size();
  } else if (route.regex) {
    count = regex_captures(route, request.path, captures);
  }
  return std::make_shared<websocket_handler>(std::move(context), request,
                                             std::span(captures.data(), count));
}

}  // namespace stubborn

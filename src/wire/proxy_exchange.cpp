#include "wire/proxy_exchange.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <charconv>

#include "control/request_observation.hpp"
#include "protocols/proxy/proxy_route.hpp"
#include "protocols/proxy/recorder.hpp"
#include "respond/status_reasons.hpp"
#include "routing/request.hpp"
#include "wire/plain_transport.hpp"
#include "wire/reply_executor.hpp"
#include "wire/reply_writer.hpp"
#include "wire/stream_transport.hpp"
#include "wire/tls_stream_transport.hpp"
#include "wire/tls_transport.hpp"

// g++ 12 takes the class-specific operator delete of Asio's awaitable frame for a mismatch with
// the aligned_alloc behind its operator new, once run()'s frame grows large; both go through
// Asio's thread_info_base, which pairs them.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace stubborn {

namespace net = boost::asio;
namespace http = boost::beast::http;
using phase = connection_phase;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

namespace {

// How long a proxy waits for the upstream's answer to "Expect: 100-continue" before it sends
// the body anyway, as clients do (RFC 9110 §10.1.1; curl waits one second).
constexpr std::chrono::milliseconds continue_wait{1000};
// Read from the upstream this much at a time.
constexpr std::size_t read_size = 16 * 1024;
// An upstream that sends more interim replies than this before its final one is not behaving
// as an HTTP server: its reply is invalid.
constexpr int max_interim_replies = 32;

std::string describe_duration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

// The plain-text body of a 502 or 504: what the upstream did.
std::string failure_text(upstream_failure failure, const compiled_proxy& proxy,
                         const std::string& detail) {
  const std::string who = "the upstream " + proxy.spec.to;
  switch (failure) {
    case upstream_failure::refused:
      return "Bad Gateway: " + who + " refused the connection\n";
    case upstream_failure::reset:
      return "Bad Gateway: " + who + " reset the connection before a complete reply\n";
    case upstream_failure::closed:
      return "Bad Gateway: " + who + " closed the connection before a complete reply head\n";
    case upstream_failure::invalid:
      return "Bad Gateway: " + who + " sent a reply that is not valid HTTP/1.1\n";
    case upstream_failure::connect_timeout:
      return "Bad Gateway: no connection to " + who + " within connect_timeout (" +
             describe_duration(proxy.spec.connect_timeout) + ")\n";
    case upstream_failure::timeout:
      return "Gateway Timeout: " + who + " sent no complete reply head within timeout (" +
             describe_duration(proxy.spec.timeout) + ")\n";
    case upstream_failure::tls:
      return "Bad Gateway: the TLS handshake with " + who + " failed" +
             (detail.empty() ? "" : ": " + detail) + "\n";
    case upstream_failure::offline:
      return "Bad Gateway: the server is offline: no request goes to an upstream\n";
    case upstream_failure::none:
      break;
  }
  return "Bad Gateway\n";
}

bool find_field(std::span<const header_field> fields, std::string_view name,
                std::string_view& value) {
  for (const header_field& f : fields) {
    if (iequals(f.name, name)) {
      value = f.value;
      return true;
    }
  }
  return false;
}

void append_hex(std::size_t n, std::string& out) {
  char digits[20];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n, 16);
  (void)ec;
  out.append(digits, end);
}

static_assert(std::tuple_size_v<decltype(proxy_counters::errors)> == upstream_failure_count);

void cancel_upstream(void* connection) {
  static_cast<upstream_connection*>(connection)->cancel();
}

}  // namespace

template <class Transport>
struct proxy_exchange<Transport>::exchange {
  connection_core<Transport>& core;
  const response& plan;
  const compiled_proxy& proxy;
  const request_view& request;
  connection_header connection;
  request_body_source body;
  std::unique_ptr<upstream_connection> up{};
  bool head_only = false;
  bool client_body_pending = false;  // the client's body is not read to its end
  bool request_sent = false;         // the whole request went upstream
  bool got_bytes = false;            // the upstream sent something on this connection
  bool waited_out = false;           // the wait for a 100 Continue ran out
  bool chunked_out = false;          // the relayed body is chunked by us
  bool paced = false;  // bandwidth or chunks: the body goes out slice by slice, with waits
  std::uint64_t relayed = 0;
  std::optional<std::uint64_t> cut_at{};        // truncate / malformed-chunk: stop here
  std::unique_ptr<recorded_exchange> record{};  // what is kept for the recorder, when recording
  // The reply being read (it lives with the connection, so this frame stays small enough for
  // Asio to recycle: frames over about 1 KiB are allocated afresh every time).
  upstream_reply_parser& parser() { return *up->parser; }

  // Whatever way the exchange ends, the connection's deadline no longer reaches its upstream
  // connection, which goes with it (or back to the pool, detached already).
  ~exchange() {
    if (up && core.cancel_also_context == up.get()) {
      core.cancel_also = nullptr;
      core.cancel_also_context = nullptr;
    }
  }
};

template <class Transport>
void proxy_exchange<Transport>::attach(upstream_connection* connection) {
  core_.cancel_also = &cancel_upstream;
  core_.cancel_also_context = connection;
}

template <class Transport>
void proxy_exchange<Transport>::detach() {
  core_.cancel_also = nullptr;
  core_.cancel_also_context = nullptr;
}

template <class Transport>
proxy_result proxy_exchange<Transport>::fail(exchange& x, upstream_failure failure) {
  const std::string text =
      failure_text(failure, x.proxy, x.up ? x.up->failure_detail : std::string());
  if (x.up) {
    detach();
    x.up->close();
    x.up.reset();
  }
  core_.state.proxy.errors[static_cast<std::size_t>(failure)].fetch_add(1,
                                                                        std::memory_order_relaxed);
  const int status = failure == upstream_failure::timeout ? 504 : 502;
  // A body the client still sends would be read as the next request: the connection ends.
  const bool close =
      x.client_body_pending || x.connection == connection_header::close || core_.closing();
  served_.status = status;
  render_server_reply(status, text, {}, core_.server().server_header, x.head_only,
                      close ? connection_header::close : x.connection, writer_.text());
  return {true, close};
}

template <class Transport>
net::awaitable<upstream_failure> proxy_exchange<Transport>::read_head(exchange& x,
                                                                      bool interim_wait) {
  upstream_connection& up = *x.up;
  up.parser.emplace(up.reply, x.head_only);
  x.waited_out = false;
  core_.set_phase(phase::waiting, interim_wait ? std::min(continue_wait, x.proxy.spec.timeout)
                                               : x.proxy.spec.timeout);
  upstream_failure failure = upstream_failure::none;
  for (;;) {
    if (up.in.size() != 0) {
      boost::beast::error_code ec;
      const std::size_t used = x.parser().put(up.in.data(), ec);
      up.in.consume(used);
      if (ec && ec != http::error::need_more) {
        failure = upstream_failure::invalid;
        break;
      }
      if (x.parser().is_header_done()) break;
    }
    // Awaited here rather than through upstream_connection::read_some(): one coroutine frame
    // less per reply.
    const auto into = up.in.prepare(read_size);
    auto [ec, n] = up.tls ? co_await up.tls->async_read_some(into, use_tuple)
                          : co_await up.socket.async_read_some(into, use_tuple);
    if (ec) {
      if (ec == net::error::operation_aborted && core_.timed_out && !core_.forced) {
        core_.timed_out = false;
        if (interim_wait) {
          x.waited_out = true;
          break;
        }
        failure = upstream_failure::timeout;
      } else if (ec == net::error::connection_reset) {
        failure = upstream_failure::reset;
      } else {
        failure = upstream_failure::closed;
      }
      break;
    }
    up.in.commit(n);
    x.got_bytes = true;
  }
  core_.set_phase(phase::handling, core_.server().idle_timeout);
  co_return failure;
}

template <class Transport>
net::awaitable<bool> proxy_exchange<Transport>::relay_interim(exchange& x) {
  // Interim replies go to an HTTP/1.1 client as they come (RFC 9110 §15.2); an HTTP/1.0 one
  // does not understand them.
  if (x.request.version < 11) co_return true;
  std::string& out = writer_.text();
  append_status_line(x.parser().status(), x.parser().reason(), out);
  for (const header_field& f : x.parser().fields()) {
    if (is_hop_by_hop(f.name)) continue;
    out.append(f.name).append(": ").append(f.value).append("\r\n");
  }
  out.append("\r\n");
  co_return co_await writer_.flush();
}

template <class Transport>
void proxy_exchange<Transport>::append_piece(exchange& x, std::string_view piece) {
  std::string& out = writer_.text();
  if (x.chunked_out) {
    append_hex(piece.size(), out);
    out.append("\r\n").append(piece).append("\r\n");
  } else {
    out.append(piece);
  }
}

template <class Transport>
net::awaitable<bool> proxy_exchange<Transport>::send_piece(exchange& x, std::string_view piece,
                                                           bool last) {
  const proxy_spec& spec = x.proxy.spec;
  std::size_t slice = piece.size();
  std::chrono::milliseconds pause{0};
  if (spec.bandwidth > 0) {
    // A slice every 50 ms, as a reply's bandwidth is paced.
    slice = std::max<std::uint64_t>(1, spec.bandwidth / 20);
    pause = std::chrono::milliseconds(50);
  } else if (spec.chunks.count > 0) {
    const boost::optional<std::uint64_t> length = x.parser().content_length();
    if (length)
      slice = std::max<std::uint64_t>(1, (*length + spec.chunks.count - 1) / spec.chunks.count);
    pause = spec.chunks.over / std::max(1u, spec.chunks.count);
  }
  while (!piece.empty()) {
    const std::string_view part = piece.substr(0, std::max<std::size_t>(1, slice));
    piece.remove_prefix(part.size());
    append_piece(x, part);
    if (pause.count() > 0) {
      if (!co_await writer_.flush()) co_return false;
      if ((!piece.empty() || !last) && !co_await executor_.wait_for(pause, {})) co_return false;
    }
  }
  co_return true;
}

template <class Transport>
net::awaitable<proxy_result> proxy_exchange<Transport>::relay(exchange& x) {
  upstream_reply_parser& parser = x.parser();
  const proxy_spec& spec = x.proxy.spec;
  const int upstream_status = parser.status();
  if (x.plan.reply_delay.count() > 0 && !co_await executor_.wait_for(x.plan.reply_delay, {})) {
    co_return proxy_result{false, true};
  }
  const int status = x.proxy.map_status(upstream_status);
  const bool no_body = x.head_only || upstream_status == 204 || upstream_status == 304;
  const boost::optional<std::uint64_t> length = parser.content_length();
  std::string_view length_field;
  const bool has_length_field = find_field(parser.fields(), "content-length", length_field);
  bool close = x.connection == connection_header::close || core_.closing() || x.client_body_pending;
  if (!no_body) {
    // `chunks` sends the body as that many chunks, as a reply's does.
    if (spec.fault == fault_kind::malformed_chunk ||
        ((!length || spec.chunks.count > 0) && x.request.version >= 11)) {
      x.chunked_out = true;
    } else if (!length) {
      close = true;  // an HTTP/1.0 client reads to the end of the connection
    }
  }
  std::string& out = writer_.text();
  const std::string_view reason = parser.reason();
  append_status_line(
      status, status == upstream_status && !reason.empty() ? reason : registered_reason(status),
      out);
  std::string_view upstream_connection_value;
  find_field(parser.fields(), "connection", upstream_connection_value);
  bool length_relayed = false;
  for (const header_field& f : parser.fields()) {
    if (is_hop_by_hop(f.name) || listed_in_connection(upstream_connection_value, f.name) ||
        x.proxy.drops_reply_field(f.name)) {
      continue;
    }
    if (iequals(f.name, "content-length")) {
      // RFC 9110 §8.6: repeated Content-Length fields of one value (which the parser admits)
      // go on as a single field with that value, never as the upstream wrote them.
      if (x.chunked_out || length_relayed) continue;
      length_relayed = true;
      if (length) {
        out.append("Content-Length: ").append(std::to_string(*length)).append("\r\n");
        continue;
      }
    }
    out.append(f.name).append(": ").append(f.value).append("\r\n");
  }
  out.append(x.proxy.reply_lines);
  if (x.chunked_out) out.append("Transfer-Encoding: chunked\r\n");
  if (no_body && !x.head_only && !has_length_field && status != 204 && status != 304 &&
      status >= 200) {
    // A 204 or 304 mapped to a status with a body: say that this one is empty.
    out.append("Content-Length: 0\r\n");
  }
  out.append(connection_line(close ? connection_header::close : x.connection));
  out.append("\r\n");
  served_.status = status;

  if (!no_body &&
      (spec.fault == fault_kind::truncate || spec.fault == fault_kind::malformed_chunk)) {
    // Half the body, as a reply's truncate sends half of what its Content-Length promises.
    x.cut_at = length ? *length / 2 : 0;
  }
  bool upstream_broke = false;
  while (!no_body) {
    std::string& pending = parser.body();
    if (!pending.empty()) {
      std::string_view piece = pending;
      if (x.cut_at) {
        if (*x.cut_at == 0) x.cut_at = std::max<std::uint64_t>(1, piece.size() / 2);
        piece = piece.substr(0, std::min<std::uint64_t>(piece.size(), *x.cut_at - x.relayed));
      }
      if (x.record) x.record->reply_body.append(piece);
      if (x.paced ? !co_await send_piece(x, piece, parser.is_done())
                  : (append_piece(x, piece), false)) {
        pending.clear();
        upstream_broke = true;
        break;
      }
      x.relayed += piece.size();
      pending.clear();
      if (x.cut_at && x.relayed >= *x.cut_at) {
        served_.fault = spec.fault;
        if (spec.fault == fault_kind::malformed_chunk) out.append("zz\r\nnot a chunk\r\n");
        co_await writer_.flush();
        detach();
        x.up->close();
        executor_.abort(false);
        co_return proxy_result{false, true};
      }
    }
    if (parser.is_done()) break;
    if (!writer_.empty()) {
      // What arrived goes on before we wait for more: the body streams through.
      if (!co_await writer_.flush()) {
        upstream_broke = true;
        break;
      }
    }
    upstream_connection& up = *x.up;
    core_.set_phase(phase::waiting, spec.timeout);
    const auto into = up.in.prepare(read_size);
    auto [ec, n] = up.tls ? co_await up.tls->async_read_some(into, use_tuple)
                          : co_await up.socket.async_read_some(into, use_tuple);
    core_.set_phase(phase::handling, core_.server().idle_timeout);
    if (ec) {
      core_.timed_out = false;
      if (ec == net::error::eof && parser.need_eof()) {
        boost::beast::error_code eof_ec;
        parser.put_eof(eof_ec);
        if (!eof_ec) continue;
      }
      upstream_broke = true;
      break;
    }
    up.in.commit(n);
    boost::beast::error_code put_ec;
    while (up.in.size() != 0 && !parser.is_done()) {
      const std::size_t used = parser.put(up.in.data(), put_ec);
      up.in.consume(used);
      if (put_ec == http::error::need_more) {
        put_ec = {};
        break;
      }
      if (put_ec || used == 0) break;
    }
    if (put_ec) {
      upstream_broke = true;
      break;
    }
  }
  detach();
  if (upstream_broke) {
    // The head is out: nothing can say 502 now. The client sees the reply cut short.
    x.up->close();
    co_await writer_.flush();
    executor_.abort(false);
    co_return proxy_result{false, true};
  }
  if (x.chunked_out) out.append("0\r\n\r\n");
  const bool reusable =
      parser.is_done() && parser.keep_alive() && x.request_sent && x.up->in.size() == 0;
  if (x.record) {
    recorded_exchange& e = *x.record;
    e.method = std::string(x.request.method);
    e.target = std::string(x.request.target);
    for (const header_field& h : x.request.headers) {
      e.request_headers.push_back({std::string(h.name), std::string(h.value)});
    }
    if (x.body.complete) e.request_body.assign(x.request.body);
    e.status = upstream_status;
    e.reason = std::string(parser.reason());
    for (const header_field& h : parser.fields()) {
      // A body's length is its own; a HEAD reply's Content-Length is kept for the recorder.
      if (is_hop_by_hop(h.name) || listed_in_connection(upstream_connection_value, h.name) ||
          (!x.head_only && iequals(h.name, "content-length"))) {
        continue;
      }
      e.reply_headers.push_back({std::string(h.name), std::string(h.value)});
    }
    core_.state.recording->add(std::move(e));
    x.record.reset();
  }
  if (reusable && core_.registry.upstreams) {
    core_.registry.upstreams->give(x.proxy.upstream_key, std::move(x.up), core_.registry.now());
  } else {
    x.up->close();
  }
  co_return proxy_result{true, close};
}

template <class Transport>
net::awaitable<proxy_result> proxy_exchange<Transport>::run(const response& plan,
                                                            const request_view& request,
                                                            connection_header connection,
                                                            request_body_source body,
                                                            std::string_view client_ip) {
  const compiled_proxy& proxy = *plan.proxy;
  exchange x{core_, plan, proxy, request, connection, body};
  x.head_only = request.method == "HEAD";
  x.client_body_pending = !body.complete;
  if (core_.state.recording) x.record = std::make_unique<recorded_exchange>();
  x.paced = proxy.spec.bandwidth > 0 || proxy.spec.chunks.count > 0;
  served_.fault = fault_kind::none;
  served_.status = 0;
  if (plan.plan.delay.count() > 0 && !co_await executor_.wait_for(plan.plan.delay, {})) {
    co_return proxy_result{false, true};
  }
  // Strict replay: the one place that opens a connection to an upstream refuses.
  if (core_.state.offline) co_return fail(x, upstream_failure::offline);

  upstream_pool* pool = core_.registry.upstreams;
  std::optional<upstream_failure> first_head;  // the reply head read with a whole request
  constexpr bool is_tls = requires {
    core_.transport.facts();
  };
  for (int attempt = 0;; ++attempt) {
    // A retry takes a new connection: the pool's others are as old as the one that failed.
    x.up = pool && attempt == 0 ? pool->take(proxy.upstream_key, core_.registry.now()) : nullptr;
    // A body that streams cannot be sent twice: make sure a pooled connection is still open.
    if (x.up && !body.complete && !x.up->still_open()) x.up.reset();
    x.got_bytes = false;
    if (!x.up) {
      x.up = std::make_unique<upstream_connection>(core_.transport.get_executor());
      attach(x.up.get());
      core_.set_phase(phase::waiting, proxy.spec.connect_timeout);
      upstream_failure failure = co_await connect_upstream(*x.up, proxy);
      core_.set_phase(phase::handling, core_.server().idle_timeout);
      if (core_.forced) {
        detach();
        co_return proxy_result{false, true};
      }
      if (failure == upstream_failure::connect_timeout && !core_.timed_out) {
        failure = upstream_failure::refused;
      }
      core_.timed_out = false;
      if (failure != upstream_failure::none) co_return fail(x, failure);
      core_.state.proxy.connections_opened.fetch_add(1, std::memory_order_relaxed);
    } else {
      attach(x.up.get());
    }

    // The request head, as the upstream should see it.
    std::string& out = x.up->out;
    out.clear();
    out.append(request.method).append(" ");
    proxy.append_upstream_path(request.path, out);
    if (!request.query.empty()) out.append("?").append(request.query);
    out.append(" HTTP/1.1\r\nHost: ");
    std::string_view client_host;
    request.find_header("host", client_host);
    out.append(proxy.spec.preserve_host && !client_host.empty()
                   ? client_host
                   : std::string_view(proxy.authority));
    out.append("\r\n");
    std::string_view connection_value;
    request.find_header("connection", connection_value);
    std::string_view forwarded_for, via;
    for (const header_field& f : request.headers) {
      if (is_hop_by_hop(f.name) || listed_in_connection(connection_value, f.name) ||
          proxy.drops_request_field(f.name) || iequals(f.name, "host") ||
          iequals(f.name, "content-length") || iequals(f.name, "x-forwarded-proto") ||
          iequals(f.name, "x-forwarded-host")) {
        continue;
      }
      if (iequals(f.name, "x-forwarded-for")) {
        forwarded_for = f.value;
        continue;
      }
      if (iequals(f.name, "via")) {
        via = f.value;
        continue;
      }
      out.append(f.name).append(": ").append(f.value).append("\r\n");
    }
    // RFC 9110 §7.6.3: each proxy adds itself to Via.
    out.append("Via: ");
    if (!via.empty()) out.append(via).append(", ");
    out.append(request.version >= 11 ? "1.1 " : "1.0 ");
    const std::string& server_name = core_.server().server_header;
    out.append(server_name.empty() ? std::string_view("stubborn") : server_name).append("\r\n");
    if (!proxy.drops_request_field("x-forwarded-for")) {
      out.append("X-Forwarded-For: ");
      if (!forwarded_for.empty()) out.append(forwarded_for).append(", ");
      out.append(client_ip).append("\r\n");
    }
    if (!proxy.drops_request_field("x-forwarded-proto")) {
      out.append(is_tls ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n");
    }
    if (!client_host.empty() && !proxy.drops_request_field("x-forwarded-host")) {
      out.append("X-Forwarded-Host: ").append(client_host).append("\r\n");
    }
    out.append(proxy.request_lines);
    if (body.complete) {
      if (!request.body.empty() || body.length || body.chunked) {
        out.append("Content-Length: ").append(std::to_string(request.body.size())).append("\r\n");
      }
      out.append("\r\n").append(request.body);
    } else if (body.chunked) {
      out.append("Transfer-Encoding: chunked\r\n\r\n");
    } else {
      out.append("Content-Length: ").append(std::to_string(body.length.value_or(0)));
      out.append("\r\n\r\n");
    }
    // What the socket takes now goes without a coroutine of its own (usually all of it).
    std::string_view unsent = out;
    boost::system::error_code write_ec;
    if (!x.up->try_write(unsent, write_ec)) write_ec = co_await x.up->write(unsent);
    if (write_ec) {
      if (core_.forced) {
        detach();
        co_return proxy_result{false, true};
      }
      // A pooled connection the upstream had closed meanwhile: once more on a new one.
      if (x.up->reused && body.complete && attempt == 0) {
        detach();
        x.up.reset();
        continue;
      }
      co_return fail(x, write_ec == net::error::connection_reset ? upstream_failure::reset
                                                                 : upstream_failure::closed);
    }
    if (!body.complete) break;
    first_head = co_await read_head(x, false);
    if (core_.forced) {
      detach();
      co_return proxy_result{false, true};
    }
    // A pooled connection the upstream closed just as we wrote: once more on a new one (the
    // whole request is in memory, and the upstream saw none of it answered).
    if ((*first_head == upstream_failure::closed || *first_head == upstream_failure::reset) &&
        x.up->reused && !x.got_bytes && attempt == 0) {
      detach();
      x.up.reset();
      first_head.reset();
      continue;
    }
    break;
  }

  if (!body.complete) {
    if (body.expect_continue) {
      // The upstream decides whether it wants the body; its 100 (or its final answer) goes to
      // the client, never one of ours.
      for (int interim = 0;; ++interim) {
        const upstream_failure failure = co_await read_head(x, true);
        if (core_.forced) {
          detach();
          co_return proxy_result{false, true};
        }
        if (failure != upstream_failure::none) co_return fail(x, failure);
        if (x.waited_out) break;
        const int status = x.parser().status();
        if (status < 100 || status == 101 || interim == max_interim_replies) {
          co_return fail(x, upstream_failure::invalid);
        }
        if (status < 200) {
          if (!co_await relay_interim(x)) {
            detach();
            co_return proxy_result{false, true};
          }
          if (status == 100) break;  // the body may come
          continue;                  // another interim (103): keep waiting
        }
        // A final reply before the body: relayed; the body is never read, so the connection
        // closes after it, and so does the upstream's.
        co_return co_await relay(x);
      }
    }
    for (;;) {
      const body_step step = co_await body.next(body.session);
      if (step == body_step::rejected || step == body_step::gone) {
        detach();
        x.up->close();
        co_return proxy_result{step == body_step::rejected, true};
      }
      std::string& piece = *body.pieces;
      if (step == body_step::done) {
        x.client_body_pending = false;
        if (!body.chunked) break;
        piece.assign("0\r\n\r\n");
      } else {
        if (x.record) x.record->request_body.append(piece);
        if (body.chunked) {
          std::string framed;
          append_hex(piece.size(), framed);
          framed.append("\r\n").append(piece).append("\r\n");
          piece.swap(framed);
        }
      }
      std::string_view unsent = piece;
      boost::system::error_code ec;
      if (!x.up->try_write(unsent, ec)) ec = co_await x.up->write(unsent);
      if (ec) {
        // The upstream may have answered early and closed: its reply, if any, is read below.
        break;
      }
      if (step == body_step::done) break;
    }
  }
  x.request_sent = !x.client_body_pending;

  for (int interim = 0;; ++interim) {
    upstream_failure failure;
    if (first_head) {
      failure = *first_head;
      first_head.reset();
    } else {
      failure = co_await read_head(x, false);
    }
    if (core_.forced) {
      detach();
      co_return proxy_result{false, true};
    }
    if (failure != upstream_failure::none) co_return fail(x, failure);
    const int status = x.parser().status();
    // 101 would switch protocols, which a proxy route does not relay.
    if (status < 100 || status == 101 || interim == max_interim_replies) {
      co_return fail(x, upstream_failure::invalid);
    }
    if (status >= 200) break;
    if (!co_await relay_interim(x)) {
      detach();
      co_return proxy_result{false, true};
    }
  }
  co_return co_await relay(x);
}

template class proxy_exchange<plain_transport>;
template class proxy_exchange<generic_transport>;
template class proxy_exchange<tls_transport>;
template class proxy_exchange<tls_stream_transport>;

}  // namespace stubborn

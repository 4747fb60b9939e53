#include "wire/reply_executor.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <tuple>

#include "respond/status_reasons.hpp"
#include "routing/request.hpp"
#include "wire/connection_handler.hpp"
#include "wire/plain_transport.hpp"
#include "wire/request_handler.hpp"
#include "wire/stream_transport.hpp"
#include "wire/tls_stream_transport.hpp"
#include "wire/tls_transport.hpp"

namespace stubborn {

namespace net = boost::asio;
namespace beast = boost::beast;
constexpr transport_token use_tuple{};

template <class Transport>
net::awaitable<bool> reply_executor<Transport>::wait_for(
    std::chrono::milliseconds duration, std::chrono::milliseconds processing_every) {
  const auto before = core_.begin_wait(duration);
  auto end = std::chrono::steady_clock::now() + duration;
  bool ok = true;
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (now >= end) break;
    auto step = end - now;
    bool processing = processing_every.count() > 0 && processing_every < step;
    if (processing) step = processing_every;
    core_.timer->expires_after(step);
    auto [ec] = co_await core_.timer->async_wait(use_tuple);
    if (ec || core_.forced) {
      ok = false;
      break;
    }
    if (processing) {
      // RFC 2518 §10.1: 102 tells the client the request is still being worked on.
      writer_.text().append("HTTP/1.1 102 Processing\r\n\r\n");
      if (!co_await writer_.flush()) {
        ok = false;
        break;
      }
    }
  }
  core_.restore_phase(before);
  co_return ok;
}

template <class Transport>
net::awaitable<void> reply_executor<Transport>::hang(beast::flat_buffer& in,
                                                     std::chrono::milliseconds limit) {
  // Accept the request and never answer: read (and drop) until the client gives up or the limit.
  core_.set_phase(connection_phase::waiting, limit);
  for (;;) {
    in.consume(in.size());
    auto [ec, n] = co_await core_.transport.async_read_some(in.prepare(4096), use_tuple);
    if (ec) co_return;
    in.commit(n);
  }
}

template <class Transport>
net::awaitable<bool> reply_executor<Transport>::send_paced_body(std::string_view body,
                                                                const reply_spec& script) {
  if (!co_await writer_.flush()) co_return false;
  std::string& out = writer_.text();
  if (script.chunks.count > 0) {
    std::size_t count = script.chunks.count;
    auto pause = script.chunks.over / static_cast<long>(count);
    std::size_t size = (body.size() + count - 1) / count;
    for (std::size_t i = 0; i < count && !body.empty(); ++i) {
      std::string_view piece = body.substr(0, size);
      body.remove_prefix(piece.size());
      char line[24];
      int n = std::snprintf(line, sizeof line, "%zx\r\n", piece.size());
      out.append(line, static_cast<std::size_t>(n)).append(piece).append("\r\n");
      if (!co_await writer_.flush()) co_return false;
      if (!body.empty() && !co_await wait_for(pause, {})) co_return false;
    }
    out.append("0\r\n\r\n");
    co_return true;
  }
  // bandwidth: a slice every 50 ms.
  std::size_t slice = std::max<std::uint64_t>(1, script.bandwidth / 20);
  while (!body.empty()) {
    std::string_view piece = body.substr(0, slice);
    body.remove_prefix(piece.size());
    out.append(piece);
    if (!co_await writer_.flush()) co_return false;
    if (!body.empty() && !co_await wait_for(std::chrono::milliseconds(50), {})) co_return false;
  }
  co_return true;
}

template <class Transport>
net::awaitable<bool> reply_executor<Transport>::execute_scripted(response& scripted,
                                                                 beast::flat_buffer& in) {
  const reply_plan& plan = scripted.plan;
  std::string& out = writer_.text();
  served_.fault = plan.fault;
  served_.status = 0;  // until a head is written
  switch (plan.fault) {
    case fault_kind::reset:
    case fault_kind::close:
      co_await writer_.flush();
      abort(plan.fault == fault_kind::reset);
      co_return false;
    case fault_kind::garbage: {
      co_await writer_.flush();
      std::size_t length = 64 + plan.random % 1024;
      std::uint64_t bits = plan.random;
      for (std::size_t i = 0; i < length; ++i) {
        bits = random_bits(bits, i, plan.random);
        out.push_back(static_cast<char>(bits & 0xff));
      }
      co_await writer_.flush();
      abort(false);
      co_return false;
    }
    default:
      break;
  }
  const compiled_reply& reply = *plan.reply;
  const reply_spec& script = reply.script();
  out.append(reply.interim_bytes());
  if (script.hang) {
    served_.status = 0;
    if (co_await writer_.flush()) co_await hang(in, core_.server().max_hang);
    abort(false);
    co_return false;
  }
  if (plan.delay.count() > 0) {
    if (!co_await writer_.flush()) co_return false;  // interim responses go out before the wait
    if (!co_await wait_for(plan.delay, script.processing_every)) co_return false;
  }
  bool chunked = script.chunks.count > 0 || plan.fault == fault_kind::malformed_chunk;
  std::string_view body =
      queue_head(scripted, chunked ? body_framing::chunked : body_framing::content_length);
  switch (plan.fault) {
    case fault_kind::empty:
      // The head promises a body that never comes.
      co_await writer_.flush();
      abort(false);
      co_return false;
    case fault_kind::truncate:
      out.append(body.substr(0, body.size() / 2));
      co_await writer_.flush();
      abort(false);
      co_return false;
    case fault_kind::malformed_chunk:
      // A good first chunk, then a chunk size that is not hex (RFC 9112 §7.1 violated).
      out.append("1\r\n").append(body.substr(0, 1)).append("\r\nzz\r\n");
      out.append(body.substr(body.empty() ? 0 : 1));
      co_await writer_.flush();
      abort(false);
      co_return false;
    default:
      break;
  }
  if (!scripted.head_only && reply.has_body() &&
      (script.chunks.count > 0 || script.bandwidth > 0)) {
    co_return co_await send_paced_body(body, script);
  }
  writer_.queue_body(body, reply.is_static());
  co_return true;
}

template <class Transport>
net::awaitable<std::unique_ptr<protocol_hand_over>> reply_executor<Transport>::execute_handler(
    request_handler& handler, const request_view& request, bool head_only,
    connection_header connection) {
  handler_reply reply = co_await handler.handle(request);
  served_.status = reply.status;
  std::string& out = writer_.text();
  const std::string& server_header = core_.server().server_header;
  if (reply.take_over && (reply.status == 101 || !head_only)) {
    // RFC 9110 §15.2.2: the protocol switch happens right after the head's blank line; a 1xx
    // has no body and no Content-Length (§8.6), and its Connection line is the handler's.
    // Another status is a body the handler writes itself (an admin event stream): its framing
    // (Transfer-Encoding, or none and a close) is in `extra_headers`.
    append_status_line(reply.status, registered_reason(reply.status), out);
    if (!server_header.empty()) out.append("Server: ").append(server_header).append("\r\n");
    out.append("Date: ").append(current_http_date()).append("\r\n");
    if (reply.status != 101) out.append("Content-Type: ").append(reply.content_type).append("\r\n");
    out.append(reply.extra_headers).append("\r\n");
    co_return std::make_unique<protocol_hand_over>(
        protocol_hand_over{std::move(reply.take_over), {}});
  }
  render_server_reply(reply.status, reply.body, reply.extra_headers, server_header, head_only,
                      connection, out, reply.content_type);
  co_return nullptr;
}

template <class Transport>
net::awaitable<void> reply_executor<Transport>::linger_close(beast::flat_buffer& in) {
  // RFC 9112 §9.6: close in stages so unread request bytes do not turn our last reply into a
  // reset: stop sending, then read and discard for a short while.
  beast::error_code ec;
  core_.transport.shutdown_send(ec);
  if (ec || core_.forced) co_return;
  core_.set_phase(connection_phase::lingering, std::chrono::milliseconds(2000));
  std::size_t discarded = 0;
  while (discarded < 1024 * 1024) {
    in.clear();
    auto [read_ec, n] = co_await core_.transport.async_read_some(in.prepare(16 * 1024), use_tuple);
    if (read_ec) break;
    discarded += n;
  }
}

template class reply_executor<plain_transport>;
template class reply_executor<generic_transport>;
template class reply_executor<tls_transport>;
template class reply_executor<tls_stream_transport>;

}  // namespace stubborn

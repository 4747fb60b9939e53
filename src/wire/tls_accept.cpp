#include "wire/tls_accept.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <string>

#include "protocols/tls/tls_context.hpp"
#include "respond/http_date.hpp"
#include "wire/client_hello.hpp"
#include "wire/tls_stream_transport.hpp"
#include "wire/tls_transport.hpp"

namespace stubborn {

namespace net = boost::asio;
using error_code = boost::system::error_code;

namespace {

constexpr transport_token use_tuple{};
using socket_type = net::generic::stream_protocol::socket;

// Peeks at the connection's first bytes until they tell what they are; kind::need_more when the
// client went away or the deadline passed first. A name found is copied to `server_name`.
template <class Transport>
net::awaitable<first_bytes::kind> peek_first_bytes(connection_core<Transport>& core,
                                                   std::string& server_name) {
  socket_type& socket = core.transport.socket();
  static_assert(max_client_hello_bytes <= staging_bytes);
  auto backoff = std::chrono::milliseconds(1);
  for (;;) {
    if (core.timed_out) co_return first_bytes::kind::need_more;
    // Peeked here, into this thread's staging buffer, and read before the next wait: a read the
    // reactor performed for us could land there while another connection's read, performed in
    // the same round, uses the buffer too.
    const ssize_t n = ::recv(socket.native_handle(), staging_buffer(), max_client_hello_bytes,
                             MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) co_return first_bytes::kind::need_more;  // the client went away
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        co_return first_bytes::kind::need_more;
      }
      // Nothing yet: the readiness wait reports the first bytes when they come.
      auto [waited] = co_await socket.async_wait(connection_socket::wait_read, use_tuple);
      if (waited) co_return first_bytes::kind::need_more;
      continue;
    }
    const first_bytes seen = inspect_first_bytes({staging_buffer(), static_cast<std::size_t>(n)});
    if (seen.what != first_bytes::kind::need_more) {
      server_name = seen.server_name;
      co_return seen.what;
    }
    // Part of a ClientHello (it came in several TCP segments). The bytes peeked stay in the
    // socket, and Asio's readiness wait re-arms the descriptor (EPOLL_CTL_MOD), so it would
    // report them again at once: wait a little instead, a millisecond at first (the rest
    // is usually one round trip behind), then longer, until the handshake deadline.
    if (!core.timer) core.timer = std::make_unique<net::steady_timer>(socket.get_executor());
    core.timer->expires_after(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(64));
    auto [waited] = co_await core.timer->async_wait(use_tuple);
    if (waited) co_return first_bytes::kind::need_more;
  }
}

// nginx's answer to plain HTTP on its HTTPS port: 400, the reason in the body, then close
// (after reading what the client sent, so the close is no reset).
net::awaitable<void> refuse_plain_http(socket_type& socket, const std::string& server_header) {
  char discard[4096];
  error_code ec;
  // What the client sent is there (it was peeked at): read it so the close is no reset.
  ::recv(socket.native_handle(), discard, sizeof discard, MSG_DONTWAIT);
  const std::string body = "Bad Request: plain HTTP request was sent to HTTPS port\n";
  std::string reply = "HTTP/1.1 400 Bad Request\r\n";
  if (!server_header.empty()) reply += "Server: " + server_header + "\r\n";
  reply += "Date: ";
  reply += current_http_date();
  reply += "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  auto [written, n] = co_await net::async_write(socket, net::buffer(reply), use_tuple);
  if (written) co_return;
  socket.shutdown(connection_socket::shutdown_send, ec);
  // Until the client closes, or the handshake deadline passes.
  for (;;) {
    auto [read, got] = co_await socket.async_read_some(net::buffer(discard), use_tuple);
    if (read) co_return;
  }
}

// Reads what the client sent and nobody will read, so that the close that follows is a FIN,
// not the reset a close with unread data makes.
void drop_unread(socket_type& socket) {
  char drop[4096];
  while (::recv(socket.native_handle(), drop, sizeof drop, MSG_DONTWAIT) > 0) {
  }
}

// A stalled handshake: the ClientHello is never answered; the connection ends when the client
// gives up (or at [server] max_hang). What it sends is read and dropped, so that the readiness
// wait reports only what comes next (its FIN, at last).
net::awaitable<void> stall(socket_type& socket) {
  for (;;) {
    char drop[4096];
    const ssize_t n = ::recv(socket.native_handle(), drop, sizeof drop, MSG_DONTWAIT);
    if (n == 0) co_return;
    if (n > 0) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) co_return;
    auto [waited] = co_await socket.async_wait(connection_socket::wait_read, use_tuple);
    if (waited) co_return;
  }
}

// The scripted fault for this name, played before the handshake; false when it ended the
// connection.
template <class Transport>
net::awaitable<bool> play_handshake_fault(connection_core<Transport>& core,
                                          const handshake_spec& fault,
                                          std::chrono::milliseconds timeout) {
  using kind = handshake_spec::kind;
  switch (fault.type) {
    case kind::normal:
    case kind::alert:  // sent by the context's ClientHello callback, in the handshake
      co_return true;
    case kind::delay: {
      core.begin_wait(fault.delay);
      core.timer->expires_after(fault.delay);
      auto [ec] = co_await core.timer->async_wait(use_tuple);
      if (ec || core.timed_out) co_return false;
      core.set_phase(connection_phase::handshake, timeout);
      co_return true;
    }
    case kind::stall:
      core.set_phase(connection_phase::waiting, core.server().max_hang);
      co_await stall(core.transport.socket());
      break;
    case kind::reset:
      core.transport.abort(true);
      break;
    case kind::close:
      core.transport.abort(false);
      break;
  }
  co_return false;
}

}  // namespace

template <class Transport>
net::awaitable<bool> accept_tls(connection_core<Transport>& core) {
  tls_counters& counted = core.state.tls;
  const std::chrono::milliseconds timeout = core.server().tls->handshake_timeout;
  core.set_phase(connection_phase::handshake, timeout);
  std::string server_name;
  const first_bytes::kind first = co_await peek_first_bytes(core, server_name);
  switch (first) {
    case first_bytes::kind::tls:
      break;
    case first_bytes::kind::plain_http:
      counted.count_failure("http_request");
      co_await refuse_plain_http(core.transport.socket(), core.server().server_header);
      co_return false;
    case first_bytes::kind::other:
      counted.count_failure("not_tls");
      drop_unread(core.transport.socket());
      co_return false;
    case first_bytes::kind::need_more:
      counted.count_failure(core.timed_out ? "timeout" : "eof");
      drop_unread(core.transport.socket());
      co_return false;
  }
  const std::shared_ptr<const tls_context> context = core.state.current_tls_context();
  const tls_name_spec* rule = context ? context->rule_for(server_name) : nullptr;
  if (rule && !co_await play_handshake_fault(core, rule->handshake, timeout)) {
    counted.count_failure("scripted");
    co_return false;
  }
  const handshake_outcome outcome = co_await core.transport.handshake(server_name);
  if (outcome.error) {
    const bool scripted = rule && rule->handshake.type == handshake_spec::kind::alert;
    counted.count_failure(scripted ? "scripted" : core.timed_out ? "timeout" : outcome.reason);
    co_return false;
  }
  (core.transport.facts().resumed ? counted.resumed : counted.full)
      .fetch_add(1, std::memory_order_relaxed);
  co_return true;
}

template net::awaitable<bool> accept_tls(connection_core<tls_transport>& core);
template net::awaitable<bool> accept_tls(connection_core<tls_stream_transport>& core);

}  // namespace stubborn

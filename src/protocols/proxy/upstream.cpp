#include "protocols/proxy/upstream.hpp"

#include <openssl/ssl.h>
#include <sys/socket.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>

#include "protocols/proxy/proxy_route.hpp"

namespace stubborn {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

std::string_view failure_name(upstream_failure failure) {
  switch (failure) {
    case upstream_failure::none:
      return "none";
    case upstream_failure::refused:
      return "refused";
    case upstream_failure::reset:
      return "reset";
    case upstream_failure::closed:
      return "closed";
    case upstream_failure::invalid:
      return "invalid";
    case upstream_failure::connect_timeout:
      return "connect_timeout";
    case upstream_failure::timeout:
      return "timeout";
    case upstream_failure::tls:
      return "tls";
    case upstream_failure::offline:
      return "offline";
  }
  return "unknown";
}

upstream_connection::upstream_connection(const net::any_io_executor& executor) : socket(executor) {}

upstream_connection::~upstream_connection() = default;

bool upstream_connection::try_write(std::string_view& out, boost::system::error_code& ec) {
  if (tls) return false;
  const std::size_t sent = socket.write_some(net::buffer(out), ec);
  if (ec == net::error::would_block) ec = {};
  if (ec) return true;
  out.remove_prefix(sent);
  return out.empty();
}

net::awaitable<boost::system::error_code> upstream_connection::write(std::string_view out) {
  auto [ec, n] = tls ? co_await net::async_write(*tls, net::buffer(out), use_tuple)
                     : co_await net::async_write(socket, net::buffer(out), use_tuple);
  (void)n;
  co_return ec;
}

void upstream_connection::cancel() {
  boost::system::error_code ignored;
  socket.cancel(ignored);
}

bool upstream_connection::still_open() {
  if (in.size() != 0) return false;  // bytes nobody asked for: the stream is out of step
  char byte;
  const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void upstream_connection::close() {
  boost::system::error_code ignored;
  socket.close(ignored);
}

namespace {

upstream_failure connect_failure(const boost::system::error_code& ec) {
  if (ec == net::error::operation_aborted) return upstream_failure::connect_timeout;
  return upstream_failure::refused;
}

}  // namespace

net::awaitable<upstream_failure> connect_upstream(upstream_connection& connection,
                                                  const compiled_proxy& proxy) {
  const proxy_spec& spec = proxy.spec;
  boost::system::error_code ec;
  const net::ip::address address = net::ip::make_address(spec.host, ec);
  const bool literal = !ec;
  if (literal) {
    auto [connect_ec] =
        co_await connection.socket.async_connect(tcp::endpoint(address, spec.port), use_tuple);
    if (connect_ec) co_return connect_failure(connect_ec);
  } else {
    tcp::resolver resolver(connection.socket.get_executor());
    auto [resolve_ec, results] =
        co_await resolver.async_resolve(spec.host, std::to_string(spec.port), use_tuple);
    if (resolve_ec) co_return connect_failure(resolve_ec);
    boost::system::error_code last = net::error::host_not_found;
    for (const auto& entry : results) {
      boost::system::error_code ignored;
      connection.socket.close(ignored);
      auto [connect_ec] = co_await connection.socket.async_connect(entry.endpoint(), use_tuple);
      last = connect_ec;
      if (!connect_ec || connect_ec == net::error::operation_aborted) break;
    }
    if (last) co_return connect_failure(last);
  }
  connection.socket.set_option(tcp::no_delay(true), ec);
  // Writes try the socket first (try_write()): it must say "would block" rather than wait.
  connection.socket.non_blocking(true, ec);
  if (spec.tls) {
    connection.tls = std::make_unique<ssl::stream<tcp::socket&>>(connection.socket, *proxy.tls);
    SSL* ssl_handle = connection.tls->native_handle();
    // SNI only for names (RFC 6066 §3: literal IP addresses are not sent).
    if (!literal) SSL_set_tlsext_host_name(ssl_handle, spec.host.c_str());
    if (spec.verify) connection.tls->set_verify_callback(ssl::host_name_verification(spec.host));
    auto [handshake_ec] =
        co_await connection.tls->async_handshake(ssl::stream_base::client, use_tuple);
    if (handshake_ec) {
      connection.failure_detail = handshake_ec.message();
      co_return handshake_ec == net::error::operation_aborted ? upstream_failure::connect_timeout
                                                              : upstream_failure::tls;
    }
  }
  co_return upstream_failure::none;
}

std::unique_ptr<upstream_connection> upstream_pool::take(
    std::string_view key, std::chrono::steady_clock::time_point now) {
  for (idle_set& set : sets_) {
    if (set.key != key) continue;
    while (!set.idle.empty()) {
      std::unique_ptr<upstream_connection> c = std::move(set.idle.back());
      set.idle.pop_back();
      if (now - c->idle_since <= max_idle) return c;
      // The rest are older still.
      set.idle.clear();
    }
    return nullptr;
  }
  return nullptr;
}

void upstream_pool::give(std::string_view key, std::unique_ptr<upstream_connection> connection,
                         std::chrono::steady_clock::time_point now) {
  connection->idle_since = now;
  connection->reused = true;
  auto it =
      std::find_if(sets_.begin(), sets_.end(), [&](const idle_set& s) { return s.key == key; });
  if (it == sets_.end()) {
    sets_.push_back({std::string(key), {}});
    it = sets_.end() - 1;
  }
  if (it->idle.size() >= max_idle_per_upstream) it->idle.erase(it->idle.begin());
  it->idle.push_back(std::move(connection));
}

}  // namespace stubborn

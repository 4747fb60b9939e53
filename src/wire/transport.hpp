#pragma once
// What the session and its writer need of a connection, whatever carries the bytes: plain TCP
// with the fast path (plain_transport.hpp), or any Asio stream (stream_transport.hpp), which is
// what a TLS stream will be. The session is a template on the transport, so a call to it is a
// direct call.

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <concepts>
#include <cstddef>
#include <span>
#include <tuple>

#include "wire/peer_address.hpp"

namespace stubborn {

/// The text form of a socket address (IPv4 or IPv6; anything else gives an empty one).
peer_address describe_address(const sockaddr* address);

/// Which transport a listener's connections use.
enum class transport_kind {
  plain,        ///< TCP with the fast path (plain_transport)
  generic,      ///< the same socket through stream_transport: plain Asio calls, no fast path
  tls,          ///< HTTPS: OpenSSL on the socket (tls_transport)
  tls_generic,  ///< HTTPS through Beast's ssl_stream (tls_stream_transport)
};

/// The transport the environment asks for: STUBBORN_TRANSPORT=generic turns the fast path off
/// (a developer and testing switch, read once when a server starts); anything else is plain.
/// A TLS listener then uses tls_generic instead of tls.
transport_kind transport_from_environment();

/// The name of a transport kind, for logs.
const char* transport_name(transport_kind kind);

/// The completion token the session uses: errors come back as values.
using transport_token = boost::asio::as_tuple_t<boost::asio::use_awaitable_t<>>;

/// What a connection must offer the session: reads (drained-aware where it can be), a send
/// that takes what it can now without blocking (0 when the transport cannot), an asynchronous
/// write of the rest, the ways to end a connection, its executor, and the peer's address.
template <class T>
concept transport = requires(T& t, const T& ct, boost::asio::mutable_buffer into,
                             std::span<const boost::asio::const_buffer> out,
                             boost::system::error_code& ec, bool reset) {
  typename T::executor_type;
  { t.get_executor() } -> std::convertible_to<typename T::executor_type>;
  {
    t.async_read_some(into, transport_token{})
    } -> std::same_as<boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>>>;
  { t.try_send(out, ec) } -> std::same_as<std::size_t>;
  {
    t.async_write(out, transport_token{})
    } -> std::same_as<boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>>>;
  t.shutdown_send(ec);
  t.abort(reset);
  t.cancel();
  t.close();
  { ct.peer() } -> std::same_as<peer_address>;
};

}  // namespace stubborn

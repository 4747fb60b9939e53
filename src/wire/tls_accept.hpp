#pragma once
// Everything a connection to the HTTPS listener goes through before its first request: its first
// bytes are peeked at (plain HTTP gets nginx's 400, anything but TLS is closed), the handshake
// fault scripted for the name in its ClientHello is played (delay, stall, reset, close), and the
// handshake runs under [server.tls] handshake_timeout. The outcome is counted for the metrics.

#include <boost/asio/awaitable.hpp>

#include "wire/connection_core.hpp"

namespace stubborn {

/// Runs the connection up to a finished handshake; true when requests may follow. For
/// tls_transport and tls_stream_transport.
template <class Transport>
boost::asio::awaitable<bool> accept_tls(connection_core<Transport>& core);

}  // namespace stubborn

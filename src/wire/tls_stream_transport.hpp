#pragma once
// HTTPS through Beast's ssl_stream (Asio's ssl::stream, with writes gathered into one record) over
// the accepted socket: the generic TLS transport, which STUBBORN_TRANSPORT=generic selects as it
// does the generic plain one. It is the reference the OpenSSL-on-the-descriptor transport
// (tls_transport.hpp) is tested against; that one is the default because it costs less per
// request and far less per idle connection. Ending a connection sends a FIN but no
// close_notify: Asio's shutdown waits for the peer's reply, which a closing server cannot.

#include <openssl/ssl.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <memory>
#include <string>

#include "routing/request.hpp"
#include "wire/connection_socket.hpp"
#include "wire/stream_transport.hpp"
#include "wire/tls_transport.hpp"

namespace stubborn {

/// Beast's TLS stream over an accepted socket.
using ssl_socket_stream = boost::beast::ssl_stream<boost::asio::generic::stream_protocol::socket>;

/// A TLS connection through ssl_stream: the generic transport's calls, plus the handshake.
class tls_stream_transport : public stream_transport<ssl_socket_stream> {
 public:
  /// Takes the accepted socket and the listener's SSL_CTX (a new SSL is made from it).
  tls_stream_transport(connection_socket socket, SSL_CTX* context);

  /// Runs the server side of the handshake; then fills facts(), with `server_name` (the
  /// ClientHello's SNI, peeked at before) when OpenSSL does not give one (a resumed TLS 1.2
  /// session carries none).
  boost::asio::awaitable<handshake_outcome> handshake(std::string server_name);
  /// What the handshake established (valid after a successful handshake()).
  const tls_facts& facts() const { return *facts_; }
  /// The socket, for what happens before the handshake.
  boost::asio::generic::stream_protocol::socket& socket() { return stream().next_layer(); }

 private:
  std::unique_ptr<tls_facts> facts_;
};

}  // namespace stubborn

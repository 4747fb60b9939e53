#pragma once
// HTTPS over the accepted socket with OpenSSL driven directly, as nginx drives it: the SSL reads
// and writes the non-blocking descriptor itself (through a small BIO that never raises SIGPIPE),
// and the connection waits for the reactor only when OpenSSL says it would block. So a reply is
// encrypted and sent at once, from this thread's staging buffer (one TLS record, one send()),
// and an idle connection holds no record buffers at all (SSL_MODE_RELEASE_BUFFERS): nothing but
// the SSL object and its session. Asio's ssl::stream (tls_stream_transport.hpp, the generic
// transport) costs two 17 KiB buffers and a BIO pair per connection, and a copy each way.

#include <openssl/ssl.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <tuple>

#include "routing/request.hpp"
#include "wire/connection_socket.hpp"
#include "wire/transport.hpp"

namespace stubborn {

/// The outcome of a TLS handshake, for the metrics.
struct handshake_outcome {
  boost::system::error_code error;  ///< set when the handshake failed
  const char* reason = "";          ///< why, in a word, when it failed (a metrics label)
};

/// Frees an SSL.
struct ssl_free {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

/// A TLS connection over a socket this process accepted, with OpenSSL on the descriptor.
class tls_transport {
 public:
  using executor_type = connection_socket::executor_type;
  using result = std::tuple<boost::system::error_code, std::size_t>;

  /// Takes the accepted socket (non-blocking, never duplicated) and a new SSL for it, made from
  /// the listener's context.
  tls_transport(connection_socket socket, SSL* ssl);

  /// The executor of the socket's io_context.
  executor_type get_executor() { return socket_.get_executor(); }

  /// Runs the server side of the handshake; then fills facts(), with `server_name` (the
  /// ClientHello's SNI, peeked at before) when OpenSSL does not give one (a resumed TLS 1.2
  /// session carries none).
  boost::asio::awaitable<handshake_outcome> handshake(std::string server_name);

  /// Reads some decrypted bytes.
  boost::asio::awaitable<result> async_read_some(boost::asio::mutable_buffer into, transport_token);
  /// Encrypts and sends what the socket takes now; `ec` only when the connection is broken.
  std::size_t try_send(std::span<const boost::asio::const_buffer> buffers,
                       boost::system::error_code& ec);
  /// Encrypts and writes all of `buffers`.
  boost::asio::awaitable<result> async_write(std::span<const boost::asio::const_buffer> buffers,
                                             transport_token);

  /// Sends close_notify, then stops sending (FIN); reading goes on.
  void shutdown_send(boost::system::error_code& ec);
  /// Ends the connection now: with a reset (RST) or a close (FIN).
  void abort(bool reset);
  /// Cancels the pending wait.
  void cancel();
  /// Sends close_notify (once the handshake is done), then closes the socket.
  void close();
  /// The peer's address (one getpeername).
  peer_address peer() const;

  /// What the handshake established (valid after a successful handshake()).
  const tls_facts& facts() const { return *facts_; }
  /// The socket, for what happens before the handshake (the ClientHello is peeked at first).
  connection_socket& socket() { return socket_; }
  /// The SSL.
  SSL* native() { return ssl_.get(); }

 private:
  // One SSL_write of at most a record's worth from `buffers` (gathered when they are several).
  int write_some(std::span<const boost::asio::const_buffer> buffers, std::size_t& written);
  // Encrypts and sends from byte `from` of `buffers` on, until all is sent or the socket is
  // full; returns the bytes sent.
  std::size_t send_now(std::span<const boost::asio::const_buffer> buffers, std::size_t from,
                       boost::system::error_code& ec);
  // Sends close_notify if the handshake finished and none was sent yet (now or never).
  void notify_close();
  // Waits until the socket is readable (`read`) or writable.
  boost::asio::awaitable<boost::system::error_code> wait(bool read);

  connection_socket socket_;
  std::unique_ptr<SSL, ssl_free> ssl_;
  // Made at the handshake; a unique_ptr so a connection being refused costs nothing for it.
  std::unique_ptr<tls_facts> facts_;
};

}  // namespace stubborn

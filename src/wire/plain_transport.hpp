#pragma once
// Plain TCP (or a UNIX socketpair in the fuzz targets) with the fast path: reads that tell the
// reactor when they drained the socket (one recvmmsg, connection_socket.hpp), small reads and
// writes through this thread's staging buffer, and a non-blocking sendmsg before any
// asynchronous write. None of it shows through to the session.

#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <span>
#include <utility>

#include "wire/connection_socket.hpp"
#include "wire/transport.hpp"

namespace stubborn {

/// A connection over a socket this process accepted, with the fast path.
class plain_transport {
 public:
  using executor_type = connection_socket::executor_type;

  /// Takes a socket whose descriptor is non-blocking and was never duplicated (accept4 with
  /// SOCK_NONBLOCK, or a socketpair made SOCK_NONBLOCK), and tells Asio so.
  explicit plain_transport(connection_socket socket);

  /// The executor of the socket's io_context.
  executor_type get_executor() { return socket_.get_executor(); }

  /// Reads some bytes; a read that drains the socket lets the next one wait for the reactor.
  template <class Token>
  auto async_read_some(boost::asio::mutable_buffer into, Token&& token) {
    return socket_.async_read_drained(into, std::forward<Token>(token));
  }

  /// Waits, holding no buffer, until a read may find bytes: the wait of an idle keep-alive
  /// connection (connection_socket::async_wait_ready()).
  template <class Token>
  auto async_wait_ready(Token&& token) {
    return socket_.async_wait_ready(std::forward<Token>(token));
  }
  /// The same for a socket that may never have been read (connection_socket's
  /// async_wait_ready_rearmed()).
  template <class Token>
  auto async_wait_ready_rearmed(Token&& token) {
    return socket_.async_wait_ready_rearmed(std::forward<Token>(token));
  }

  /// Sends what the kernel takes now (one sendmsg; a small batch from the staging buffer), as
  /// nginx does, so that most replies need no asynchronous write. Sets `ec` only when the
  /// connection is broken; a full socket buffer takes 0 bytes.
  std::size_t try_send(std::span<const boost::asio::const_buffer> buffers,
                       boost::system::error_code& ec);

  /// Writes all of `buffers`.
  template <class Token>
  auto async_write(std::span<const boost::asio::const_buffer> buffers, Token&& token) {
    return boost::asio::async_write(socket_, buffers, std::forward<Token>(token));
  }

  /// Stops sending (FIN); reading goes on.
  void shutdown_send(boost::system::error_code& ec);
  /// Ends the connection now: with a reset (RST) or a close (FIN).
  void abort(bool reset);
  /// Cancels the pending read or write.
  void cancel();
  /// Closes the socket.
  void close();
  /// The peer's address (one getpeername).
  peer_address peer() const;

 private:
  connection_socket socket_;
};

}  // namespace stubborn

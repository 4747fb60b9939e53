#pragma once
// A connection over any Asio stream (AsyncReadStream and AsyncWriteStream) whose lowest layer is
// a socket: what a TLS stream (beast::ssl_stream over the TCP socket) will be. Plain
// async_read_some and async_write, no fast path: a send never happens "now", so every reply goes
// through the asynchronous write.

#include <boost/asio/buffer.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <span>
#include <utility>

#include "wire/transport.hpp"

namespace stubborn {

/// A connection over `Stream`, with Asio's own reads and writes.
template <class Stream>
class stream_transport {
 public:
  using executor_type = typename Stream::executor_type;

  /// Takes the connected stream.
  explicit stream_transport(Stream stream) : stream_(std::move(stream)) {}

  /// The stream's executor.
  executor_type get_executor() { return stream_.get_executor(); }

  /// Reads some bytes.
  template <class Token>
  auto async_read_some(boost::asio::mutable_buffer into, Token&& token) {
    return stream_.async_read_some(into, std::forward<Token>(token));
  }

  /// Takes nothing: the caller writes asynchronously.
  std::size_t try_send(std::span<const boost::asio::const_buffer>, boost::system::error_code& ec) {
    ec = {};
    return 0;
  }

  /// Writes all of `buffers`.
  template <class Token>
  auto async_write(std::span<const boost::asio::const_buffer> buffers, Token&& token) {
    return boost::asio::async_write(stream_, buffers, std::forward<Token>(token));
  }

  /// Stops sending (FIN on the socket); reading goes on.
  void shutdown_send(boost::system::error_code& ec) {
    lowest().shutdown(boost::asio::socket_base::shutdown_send, ec);
  }

  /// Ends the connection now: with a reset (RST) or a close (FIN).
  void abort(bool reset) {
    boost::system::error_code ignored;
    if (reset) {
      // SO_LINGER with a zero timeout makes close() send RST instead of FIN.
      lowest().set_option(boost::asio::socket_base::linger(true, 0), ignored);
    } else {
      lowest().shutdown(boost::asio::socket_base::shutdown_both, ignored);
    }
    lowest().close(ignored);
  }

  /// Cancels the pending read or write.
  void cancel() {
    boost::system::error_code ignored;
    lowest().cancel(ignored);
  }

  /// Closes the socket.
  void close() {
    boost::system::error_code ignored;
    lowest().close(ignored);
  }

  /// The peer's address (one getpeername).
  peer_address peer() const {
    boost::system::error_code ec;
    auto endpoint = boost::beast::get_lowest_layer(stream_).remote_endpoint(ec);
    if (ec) return {};
    return describe_address(endpoint.data());
  }

  /// The stream itself (for a protocol that takes the connection over).
  Stream& stream() { return stream_; }

 private:
  auto& lowest() { return boost::beast::get_lowest_layer(stream_); }

  Stream stream_;
};

/// The accepted TCP socket through Asio's own reads and writes: the transport a TLS stream will
/// use, and what STUBBORN_TRANSPORT=generic serves every connection over.
using generic_transport = stream_transport<boost::asio::generic::stream_protocol::socket>;

}  // namespace stubborn

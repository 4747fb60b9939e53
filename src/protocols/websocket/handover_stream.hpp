#pragma once
// The next layer under Beast's websocket::stream on a connection the session handed over: an
// Asio AsyncStream over any of our transports. It serves the bytes the client sent after the
// upgrade request first (the session read them already), then reads and writes through the
// transport: its own Asio operations where it has them (plain TCP keeps its drained reads; the
// generic transports are Asio streams), a spawned coroutine over its awaitables for OpenSSL on
// the descriptor. Beast's teardown after the closing handshake stops sending (FIN); the
// connection is closed when the protocol returns. A fault may ask it to swallow the close frame
// Beast writes in reply to the client's ("no-close-reply").

#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <cstring>
#include <exception>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "wire/tls_transport.hpp"
#include "wire/transport.hpp"

namespace stubborn {

/// What the WebSocket handler tells the next layer under Beast.
struct handover_flags {
  bool swallow_close_reply = false;  ///< no-close-reply: the close Beast answers with is dropped
  bool own_close = false;            ///< the close being written is the server's own
};

/// An Asio AsyncStream over `Transport`, with the bytes read before the hand-over served first.
template <class Transport>
class handover_stream {
 public:
  using executor_type = typename Transport::executor_type;

  handover_stream(Transport& transport, std::string buffered, handover_flags& flags)
      : transport_(&transport), buffered_(std::move(buffered)), flags_(&flags) {}

  executor_type get_executor() { return transport_->get_executor(); }
  Transport& transport() { return *transport_; }

  template <class MutableBuffers, class Handler>
  auto async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    return boost::asio::async_initiate<Handler, void(boost::system::error_code, std::size_t)>(
        [this](auto h, const MutableBuffers& into) { start_read(std::move(h), into); }, handler,
        buffers);
  }

  template <class ConstBuffers, class Handler>
  auto async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    return boost::asio::async_initiate<Handler, void(boost::system::error_code, std::size_t)>(
        [this](auto h, const ConstBuffers& from) { start_write(std::move(h), from); }, handler,
        buffers);
  }

  /// Beast's teardown, synchronous form (not used by the handler; Beast requires it).
  friend void teardown(boost::beast::role_type, handover_stream& stream,
                       boost::system::error_code& ec) {
    stream.transport_->shutdown_send(ec);
  }
  /// Beast's teardown after the closing handshake (RFC 6455 §7.1.1: the server closes TCP
  /// first): stop sending now; the handler closes the connection when it returns.
  template <class Handler>
  friend void async_teardown(boost::beast::role_type, handover_stream& stream, Handler&& handler) {
    boost::system::error_code ec;
    if (!stream.flags_->swallow_close_reply) stream.transport_->shutdown_send(ec);
    boost::asio::post(stream.get_executor(),
                      boost::beast::bind_front_handler(std::forward<Handler>(handler),
                                                       boost::system::error_code{}));
  }
  /// Beast closes the socket this way when one of its timeouts passes.
  friend void beast_close_socket(handover_stream& stream) { stream.transport_->close(); }

 private:
  template <class Handler, class MutableBuffers>
  void start_read(Handler handler, const MutableBuffers& buffers) {
    boost::asio::mutable_buffer into;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      const boost::asio::mutable_buffer b = *it;
      if (b.size() != 0) {
        into = b;
        break;
      }
    }
    if (!buffered_.empty()) {
      const std::size_t n = std::min(into.size(), buffered_.size() - buffered_used_);
      std::memcpy(into.data(), buffered_.data() + buffered_used_, n);
      buffered_used_ += n;
      if (buffered_used_ == buffered_.size()) {
        buffered_.clear();
        buffered_.shrink_to_fit();
        buffered_used_ = 0;
      }
      boost::asio::post(get_executor(), boost::beast::bind_front_handler(
                                            std::move(handler), boost::system::error_code{}, n));
      return;
    }
    if constexpr (std::is_same_v<Transport, tls_transport>) {
      boost::asio::co_spawn(
          get_executor(), transport_->async_read_some(into, transport_token{}),
          [h = std::move(handler)](std::exception_ptr,
                                   std::tuple<boost::system::error_code, std::size_t> r) mutable {
            std::move(h)(std::get<0>(r), std::get<1>(r));
          });
    } else {
      transport_->async_read_some(into, std::move(handler));
    }
  }

  template <class Handler, class ConstBuffers>
  void start_write(Handler handler, const ConstBuffers& buffers) {
    count_ = 0;
    std::size_t total = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers) && count_ < out_.size(); ++it) {
      const boost::asio::const_buffer b = *it;
      if (b.size() == 0) continue;
      out_[count_++] = b;
      total += b.size();
    }
    if (flags_->swallow_close_reply && !flags_->own_close && count_ != 0 &&
        (*static_cast<const unsigned char*>(out_[0].data()) & 0x0f) == 0x08) {
      // A close frame Beast writes in reply to the client's: never sent, as the fault says.
      boost::asio::post(
          get_executor(),
          boost::beast::bind_front_handler(std::move(handler), boost::system::error_code{}, total));
      return;
    }
    const std::span<const boost::asio::const_buffer> span(out_.data(), count_);
    if constexpr (std::is_same_v<Transport, tls_transport>) {
      boost::asio::co_spawn(
          get_executor(), transport_->async_write(span, transport_token{}),
          [h = std::move(handler)](std::exception_ptr,
                                   std::tuple<boost::system::error_code, std::size_t> r) mutable {
            std::move(h)(std::get<0>(r), std::get<1>(r));
          });
    } else {
      transport_->async_write(span, std::move(handler));
    }
  }

  Transport* transport_;
  std::string buffered_;
  std::size_t buffered_used_ = 0;
  handover_flags* flags_;
  // One write at a time (Beast's rule): its buffers stay here while it runs.
  std::array<boost::asio::const_buffer, 8> out_{};
  std::size_t count_ = 0;
};

}  // namespace stubborn

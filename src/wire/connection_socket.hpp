#pragma once
// A connected stream socket whose reads tell Asio's reactor when they drained the socket.
//
// Why: before every async_read_some, Asio 1.26 first tries a recv() on the spot ("speculative"),
// and only stops doing so after a read of 0 bytes. On a keep-alive connection that recv comes
// right after our reply, before the client can have sent anything, so it says EAGAIN: one wasted
// system call per request (1.3 us here, about a tenth of a request's whole cost). nginx avoids it
// by trusting a short read to mean "drained" and by learning of a pending FIN from EPOLLRDHUP,
// which Asio neither registers nor passes on.
//
// So this read is one recvmmsg() of two messages: the data, then a zero-length probe. The kernel
// runs the probe right after the data, in the same call. It says EAGAIN when the socket is empty
// (then the op reports "done and exhausted", and Asio's reactor waits for the next epoll edge
// instead of trying again), and 0 when a FIN is pending or more bytes just came (then the next
// read tries at once, as before, and sees them). A short read alone cannot tell the FIN case:
// TCP consumes a FIN together with the data before it.
//
// Small reads land in a per-thread staging buffer and are copied from there (staging_buffer()).
//
// This leans on Asio's reactor-op contract (boost/asio/detail), so it is compiled only for the
// Asio it was written and tested against, on Linux's epoll reactor; anywhere else
// async_read_drained() is plain async_read_some().

#include <sys/socket.h>

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/version.hpp>
#include <cerrno>
#include <cstddef>

#if BOOST_ASIO_VERSION == 102600 && defined(BOOST_ASIO_HAS_EPOLL) && \
    !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT) && !defined(BOOST_ASIO_DISABLE_EPOLL)
#define STUBBORN_DRAINED_READ 1
#include <sys/socket.h>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/query.hpp>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>
#endif

namespace stubborn {

/// Bytes in this thread's staging buffer.
inline constexpr std::size_t staging_bytes = 16 * 1024;

/// This thread's staging buffer for small socket reads and writes. Why: on the virtual machines
/// stubborn is measured on (shadow paging), the kernel's first access to each page of user
/// memory costs about 4 us more than later ones, even after the program has touched that page.
/// A burst of new connections meets thousands of such pages (each connection's first read
/// buffer and reply); the staging buffer is warm after its first use, and the copy to or from
/// it takes a few nanoseconds. Measured: 10,000 first requests read in 80-90 ms of CPU instead
/// of 120-160 (docs/performance.md, "fresh pages").
inline char* staging_buffer() {
  alignas(64) static thread_local char buffer[staging_bytes];
  return buffer;
}

/// One recvmmsg() of up to `size` bytes into `data`, then a zero-length probe (see the top of
/// this file); EINTR is retried. Returns what recvmmsg returns: -1 (errno says why), or the
/// messages filled, 1 when the probe found the socket empty behind the bytes. `received` is the
/// bytes read (0 at the end of the stream).
inline int receive_with_probe(int fd, void* data, std::size_t size, std::size_t& received) {
  iovec vectors[2] = {{data, size}, {data, 0}};
  mmsghdr messages[2] = {};
  messages[0].msg_hdr.msg_iov = &vectors[0];
  messages[0].msg_hdr.msg_iovlen = 1;
  messages[1].msg_hdr.msg_iov = &vectors[1];
  messages[1].msg_hdr.msg_iovlen = 1;
  int got;
  do {
    got = ::recvmmsg(fd, messages, 2, MSG_DONTWAIT, nullptr);
  } while (got < 0 && errno == EINTR);
  received = got < 0 ? 0 : messages[0].msg_len;
  return got;
}

#ifdef STUBBORN_DRAINED_READ
namespace drained_read_detail {

namespace ad = boost::asio::detail;

/// One recvmmsg() (data, then a zero-length probe); see the comment at the top of this file.
inline ad::reactor_op::status receive_and_probe(int fd, void* data, std::size_t size,
                                                boost::system::error_code& ec,
                                                std::size_t& received) {
  // Small reads go through the staging buffer (see staging_buffer()); large ones, such as
  // bodies being uploaded, straight to their destination.
  void* const destination = data;
  const bool staged = size <= staging_bytes;
  if (staged) data = staging_buffer();
  const int got = receive_with_probe(fd, data, size, received);
  if (got < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return ad::reactor_op::not_done;
    ec.assign(errno, boost::asio::error::get_system_category());
    return ad::reactor_op::done;
  }
  ec = {};
  if (staged && received > 0) std::memcpy(destination, data, received);
  if (received == 0) {
    // As Asio does: end of stream, and no point in trying again before an edge.
    ec = boost::asio::error::eof;
    return ad::reactor_op::done_and_exhausted;
  }
  // got == 1: the probe found the socket empty (an error after the data is kept by the kernel
  // for the next call, and the next write or timeout ends the connection).
  return got == 1 && received < size ? ad::reactor_op::done_and_exhausted : ad::reactor_op::done;
}

template <class Handler, class IoExecutor>
class receive_op : public ad::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(receive_op);

  receive_op(int fd, boost::asio::mutable_buffer buffer, Handler& handler, const IoExecutor& io_ex)
      : ad::reactor_op(boost::system::error_code(), &receive_op::perform, &receive_op::complete),
        fd_(fd),
        buffer_(buffer),
        handler_(std::move(handler)),
        work_(handler_, io_ex) {}

  static status perform(ad::reactor_op* base) {
    auto* self = static_cast<receive_op*>(base);
    return receive_and_probe(self->fd_, self->buffer_.data(), self->buffer_.size(), self->ec_,
                             self->bytes_transferred_);
  }

  // owner is null when the io_context is destroyed with the op still queued: free it only.
  static void complete(void* owner, ad::operation* base, const boost::system::error_code&,
                       std::size_t) {
    auto* self = static_cast<receive_op*>(base);
    ptr p = {std::addressof(self->handler_), self, self};
    ad::handler_work<Handler, IoExecutor> work(std::move(self->work_));
    // Move the handler and its arguments out, then free the op before the upcall: the handler
    // usually starts the next read, which can reuse this memory.
    ad::binder2<Handler, boost::system::error_code, std::size_t> bound(self->handler_, self->ec_,
                                                                       self->bytes_transferred_);
    p.h = std::addressof(bound.handler_);
    p.reset();
    if (owner) {
      ad::fenced_block fence(ad::fenced_block::half);
      work.complete(bound, bound.handler_);
    }
  }

 private:
  int fd_;
  boost::asio::mutable_buffer buffer_;
  Handler handler_;
  ad::handler_work<Handler, IoExecutor> work_;
};

/// Waits until the socket is readable, reading nothing. Asio's own async_wait re-arms the
/// descriptor instead (one epoll_ctl per wait). Two kinds:
/// - `exhausts`: reports the socket exhausted, so the next wait goes to the reactor without a
///   speculative try. Only for a caller that has just read the socket to EAGAIN itself
///   (OpenSSL through its BIO): the next edge then brings bytes that caller has not seen.
/// - otherwise the socket stays marked readable, so the read that follows the wait tries at
///   once (an idle connection's wait: see async_wait_ready()).
template <class Handler, class IoExecutor>
class readable_op : public ad::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(readable_op);

  readable_op(Handler& handler, const IoExecutor& io_ex, bool exhausts)
      : ad::reactor_op(boost::system::error_code(), &readable_op::perform, &readable_op::complete),
        handler_(std::move(handler)),
        work_(handler_, io_ex),
        exhausts_(exhausts) {}

  static status perform(ad::reactor_op* base) {
    return static_cast<readable_op*>(base)->exhausts_ ? ad::reactor_op::done_and_exhausted
                                                      : ad::reactor_op::done;
  }

  static void complete(void* owner, ad::operation* base, const boost::system::error_code&,
                       std::size_t) {
    auto* self = static_cast<readable_op*>(base);
    ptr p = {std::addressof(self->handler_), self, self};
    ad::handler_work<Handler, IoExecutor> work(std::move(self->work_));
    ad::binder1<Handler, boost::system::error_code> bound(self->handler_, self->ec_);
    p.h = std::addressof(bound.handler_);
    p.reset();
    if (owner) {
      ad::fenced_block fence(ad::fenced_block::half);
      work.complete(bound, bound.handler_);
    }
  }

 private:
  Handler handler_;
  ad::handler_work<Handler, IoExecutor> work_;
  bool exhausts_;
};

/// Per-operation cancellation (e.g. from a cancellation slot): removes the queued read.
class receive_cancellation {
 public:
  receive_cancellation(ad::reactor* reactor, ad::reactor::per_descriptor_data* data, int fd)
      : reactor_(reactor), data_(data), fd_(fd) {}
  void operator()(boost::asio::cancellation_type_t type) {
    using boost::asio::cancellation_type;
    if (!!(type &
           (cancellation_type::terminal | cancellation_type::partial | cancellation_type::total))) {
      reactor_->cancel_ops_by_key(fd_, *data_, ad::reactor::read_op, this);
    }
  }

 private:
  ad::reactor* reactor_;
  ad::reactor::per_descriptor_data* data_;
  int fd_;
};

}  // namespace drained_read_detail
#endif

/// A connected stream socket: TCP from the listener, or a UNIX socketpair in fuzz targets.
class connection_socket : public boost::asio::generic::stream_protocol::socket {
 public:
  using base_socket = boost::asio::generic::stream_protocol::socket;
  using base_socket::base_socket;

  /// Tells Asio what it cannot know of a descriptor from accept4(SOCK_NONBLOCK) that was never
  /// duplicated: it is non-blocking already (no FIONBIO ioctl before the first operation), and
  /// closing it takes it out of epoll (no EPOLL_CTL_DEL first). Two system calls per connection.
  void adopt_accepted() {
#ifdef STUBBORN_DRAINED_READ
    namespace ops = boost::asio::detail::socket_ops;
    auto& state = this->impl_.get_implementation().state_;
    state = static_cast<ops::state_type>((state & ~ops::possible_dup) | ops::internal_non_blocking);
#endif
  }

  /// Waits until the socket is readable, for a caller that has just read it to EAGAIN itself
  /// (see readable_op): no system call, where async_wait(wait_read) costs an epoll_ctl.
  template <class Token>
  auto async_wait_readable(Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler) { this->start_wait(std::move(handler), true); }, token);
  }

  /// Waits until a read may find bytes (or the end of the stream), reading nothing and with no
  /// system call: completes at once when the last read did not drain the socket, else at the
  /// next edge. The read after it tries at once. For a keep-alive connection that waits for its
  /// next request holding nothing but its socket.
  template <class Token>
  auto async_wait_ready(Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler) { this->start_wait(std::move(handler), false); }, token);
  }

  /// async_wait_ready() for a socket the reactor may take for readable with nothing to read (a
  /// new one): re-arms the descriptor (one epoll_ctl), which reports it readable only when it
  /// is, instead of completing the wait at once.
  template <class Token>
  auto async_wait_ready_rearmed(Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler) { this->start_wait(std::move(handler), false, false); }, token);
  }

  /// Reads some bytes, like async_read_some, but a read that drains the socket lets the next
  /// read wait for the reactor's next edge instead of first trying a recv() bound to fail.
  template <class Token>
  auto async_read_drained(boost::asio::mutable_buffer buffer, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, boost::asio::mutable_buffer into) {
          this->start_read(std::move(handler), into);
        },
        token, buffer);
  }

 private:
  template <class Handler>
  void start_read(Handler handler, boost::asio::mutable_buffer buffer) {
#ifdef STUBBORN_DRAINED_READ
    namespace ad = boost::asio::detail;
    using executor = base_socket::executor_type;
    using op = drained_read_detail::receive_op<Handler, executor>;
    auto& impl = this->impl_.get_implementation();
    ad::reactor& reactor = this->reactor();
    const bool is_continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    typename op::ptr p = {std::addressof(handler), op::ptr::allocate(handler), nullptr};
    p.p = new (p.v) op(impl.socket_, buffer, handler, this->impl_.get_executor());
    if (slot.is_connected()) {
      p.p->cancellation_key_ = &slot.template emplace<drained_read_detail::receive_cancellation>(
          &reactor, &impl.reactor_data_, impl.socket_);
    }
    // The same steps as Asio's own reads: a zero-length read completes at once; otherwise make
    // the socket non-blocking once, then hand the op to the reactor, which may try it on the
    // spot (unless the last read drained the socket).
    if (buffer.size() != 0 &&
        ((impl.state_ & ad::socket_ops::non_blocking) ||
         ad::socket_ops::set_internal_non_blocking(impl.socket_, impl.state_, true, p.p->ec_))) {
      reactor.start_op(ad::reactor::read_op, impl.socket_, impl.reactor_data_, p.p, is_continuation,
                       true);
    } else {
      reactor.post_immediate_completion(p.p, is_continuation);
    }
    p.v = p.p = nullptr;
#else
    this->async_read_some(buffer, std::move(handler));
#endif
  }

  template <class Handler>
  void start_wait(Handler handler, bool exhausts, bool speculative = true) {
#ifdef STUBBORN_DRAINED_READ
    namespace ad = boost::asio::detail;
    using op = drained_read_detail::readable_op<Handler, base_socket::executor_type>;
    auto& impl = this->impl_.get_implementation();
    ad::reactor& reactor = this->reactor();
    const bool is_continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    typename op::ptr p = {std::addressof(handler), op::ptr::allocate(handler), nullptr};
    p.p = new (p.v) op(handler, this->impl_.get_executor(), exhausts);
    if (slot.is_connected()) {
      p.p->cancellation_key_ = &slot.template emplace<drained_read_detail::receive_cancellation>(
          &reactor, &impl.reactor_data_, impl.socket_);
    }
    // Speculative like a read: right after an edge the op completes at once (and marks the
    // socket exhausted); otherwise it waits for the next edge, with no epoll_ctl.
    reactor.start_op(ad::reactor::read_op, impl.socket_, impl.reactor_data_, p.p, is_continuation,
                     speculative);
    p.v = p.p = nullptr;
#else
    (void)exhausts;
    (void)speculative;
    this->async_wait(wait_read, std::move(handler));
#endif
  }

#ifdef STUBBORN_DRAINED_READ
  // The io_context's reactor, looked up on first use.
  boost::asio::detail::reactor& reactor() {
    if (reactor_ == nullptr) {
      reactor_ = &boost::asio::use_service<boost::asio::detail::reactor>(
          boost::asio::query(this->get_executor(), boost::asio::execution::context));
    }
    return *reactor_;
  }

  boost::asio::detail::reactor* reactor_ = nullptr;
#endif
};

}  // namespace stubborn

#include "wire/plain_transport.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/error.hpp>
#include <cerrno>
#include <cstring>

namespace stubborn {

namespace net = boost::asio;

plain_transport::plain_transport(connection_socket socket) : socket_(std::move(socket)) {
  socket_.adopt_accepted();
}

std::size_t plain_transport::try_send(std::span<const net::const_buffer> buffers,
                                      boost::system::error_code& ec) {
  // Asio sends at most 64 buffers per call too; more are rare (many pipelined file bodies).
  constexpr std::size_t max_vectors = 64;
  iovec vectors[max_vectors];
  const std::size_t count = std::min(buffers.size(), max_vectors);
  for (std::size_t i = 0; i < count; ++i) {
    vectors[i].iov_base = const_cast<void*>(buffers[i].data());
    vectors[i].iov_len = buffers[i].size();
  }
  msghdr message{};
  message.msg_iov = vectors;
  message.msg_iovlen = count;
  // A small batch goes out from the staging buffer: the kernel then reads a page it has read
  // before, not this connection's fresh one (see staging_buffer()).
  std::size_t total = 0;
  for (std::size_t i = 0; i < count; ++i) total += vectors[i].iov_len;
  iovec staged;
  if (total <= staging_bytes) {
    char* at = staging_buffer();
    for (std::size_t i = 0; i < count; ++i) {
      std::memcpy(at, vectors[i].iov_base, vectors[i].iov_len);
      at += vectors[i].iov_len;
    }
    staged = {staging_buffer(), total};
    message.msg_iov = &staged;
    message.msg_iovlen = 1;
  }
  ssize_t sent;
  do {
    sent = ::sendmsg(socket_.native_handle(), &message, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  ec = {};
  if (sent < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      ec.assign(errno, net::error::get_system_category());
    }
    return 0;
  }
  return static_cast<std::size_t>(sent);
}

void plain_transport::shutdown_send(boost::system::error_code& ec) {
  socket_.shutdown(connection_socket::shutdown_send, ec);
}

void plain_transport::abort(bool reset) {
  boost::system::error_code ignored;
  if (reset) {
    // SO_LINGER with a zero timeout makes close() send RST instead of FIN.
    socket_.set_option(net::socket_base::linger(true, 0), ignored);
  } else {
    socket_.shutdown(connection_socket::shutdown_both, ignored);
  }
  socket_.close(ignored);
}

void plain_transport::cancel() {
  boost::system::error_code ignored;
  socket_.cancel(ignored);
}

void plain_transport::close() {
  boost::system::error_code ignored;
  socket_.close(ignored);
}

peer_address plain_transport::peer() const {
  boost::system::error_code ec;
  auto endpoint = socket_.remote_endpoint(ec);
  if (ec) return {};
  return describe_address(endpoint.data());
}

}  // namespace stubborn

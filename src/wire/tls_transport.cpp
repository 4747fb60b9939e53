#include "wire/tls_transport.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>

#include "protocols/tls/tls_context.hpp"

namespace stubborn {

namespace net = boost::asio;
using error_code = boost::system::error_code;

namespace {

constexpr transport_token use_tuple{};

// The BIO's data is the descriptor, and one bit: whether the last read found the socket empty
// behind its bytes (so the next one need not try). A number, not a pointer: the transport moves.
int descriptor_of(BIO* bio) {
  return static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(bio)) >> 1);
}
bool drained(BIO* bio) {
  return (reinterpret_cast<std::intptr_t>(BIO_get_data(bio)) & 1) != 0;
}
void set_socket(BIO* bio, int fd, bool empty) {
  BIO_set_data(bio, reinterpret_cast<void*>((static_cast<std::intptr_t>(fd) << 1) | empty));
}

// OpenSSL's socket BIO sends without MSG_NOSIGNAL: a peer gone mid-reply would raise SIGPIPE in
// a program that embeds the server and has not ignored it. This one never does.
int send_to_socket(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  ssize_t sent;
  do {
    sent = ::send(descriptor_of(bio), data, static_cast<std::size_t>(size),
                  MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_write(bio);
    return -1;
  }
  return static_cast<int>(sent);
}

// One recvmmsg of the bytes and a zero-length probe behind them, as the plain transport reads
// (connection_socket.hpp): the probe says EAGAIN when the bytes drained the socket, and then the
// next read says "retry" without the recv() that would only say so too (a keep-alive request's
// next read comes before the client has sent anything). The wait that follows is for the
// reactor's next edge, which new bytes bring.
int receive_from_socket(BIO* bio, char* into, int size) {
  BIO_clear_retry_flags(bio);
  const int fd = descriptor_of(bio);
  if (drained(bio)) {
    set_socket(bio, fd, false);
    BIO_set_retry_read(bio);
    errno = EAGAIN;
    return -1;
  }
  std::size_t received = 0;
  const int got = receive_with_probe(fd, into, static_cast<std::size_t>(size), received);
  if (got < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_read(bio);
    return -1;
  }
  // got == 1: the probe found nothing behind the bytes (a 0 from it means a FIN or more bytes).
  if (got == 1 && received > 0 && received < static_cast<std::size_t>(size)) {
    set_socket(bio, fd, true);
  }
  return static_cast<int>(received);
}

long control_socket(BIO*, int command, long, void*) {
  return command == BIO_CTRL_FLUSH ? 1 : 0;  // sends are never buffered here
}

int create_socket_bio(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* socket_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "stubborn socket");
    BIO_meth_set_write(m, send_to_socket);
    BIO_meth_set_read(m, receive_from_socket);
    BIO_meth_set_ctrl(m, control_socket);
    BIO_meth_set_create(m, create_socket_bio);
    return m;
  }();
  return method;
}

// A failed SSL call as an error code, and the reason in a word (for the metrics label). The
// thread's error queue is emptied here, after every failure, instead of before every call as
// OpenSSL's manual suggests: clearing it costs a look-up of the thread's error state (measured:
// 3 % of a keep-alive HTTPS request), and an I/O thread's queue only fills through these calls.
error_code ssl_failure(int ssl_error, const char** reason) {
  const int error = errno;
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (ssl_error == SSL_ERROR_ZERO_RETURN) {
    *reason = "eof";
    return net::error::eof;
  }
  if (ssl_error == SSL_ERROR_SYSCALL) {
    *reason = error ? "socket" : "eof";
    return error ? error_code(error, net::error::get_system_category()) : net::error::eof;
  }
  const char* text = code ? ERR_reason_error_string(code) : nullptr;
  *reason = text ? text : "ssl";
  return error_code(static_cast<int>(code ? code : SSL_R_UNKNOWN_PROTOCOL),
                    net::error::get_ssl_category());
}

}  // namespace

tls_transport::tls_transport(connection_socket socket, SSL* ssl)
    : socket_(std::move(socket)), ssl_(ssl) {
  socket_.adopt_accepted();
  BIO* bio = BIO_new(socket_method());
  set_socket(bio, socket_.native_handle(), false);
  SSL_set_bio(ssl_.get(), bio, bio);
  // One recv() takes as many records as have come (a pipelined batch) instead of two per
  // record (header, then body).
  SSL_set_read_ahead(ssl_.get(), 1);
  // A client that closes without close_notify (most do, after their last reply) ends the
  // stream as a FIN ends plain TCP, not with an error.
  SSL_set_options(ssl_.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_set_accept_state(ssl_.get());
}

net::awaitable<error_code> tls_transport::wait(bool read) {
  // OpenSSL asks to wait only after its BIO met EAGAIN, which is what async_wait_readable needs.
  auto [ec] = read ? co_await socket_.async_wait_readable(use_tuple)
                   : co_await socket_.async_wait(connection_socket::wait_write, use_tuple);
  co_return ec;
}

net::awaitable<handshake_outcome> tls_transport::handshake(std::string server_name) {
  for (;;) {
    if (!socket_.is_open()) co_return handshake_outcome{net::error::bad_descriptor, "socket"};
    const int done = SSL_do_handshake(ssl_.get());
    if (done == 1) break;
    const int ssl_error = SSL_get_error(ssl_.get(), done);
    if (ssl_error == SSL_ERROR_WANT_READ || ssl_error == SSL_ERROR_WANT_WRITE) {
      if (error_code ec = co_await wait(ssl_error == SSL_ERROR_WANT_READ)) {
        co_return handshake_outcome{ec, ec == net::error::operation_aborted ? "timeout" : "socket"};
      }
      continue;
    }
    handshake_outcome failed;
    failed.error = ssl_failure(ssl_error, &failed.reason);
    co_return failed;
  }
  facts_ = std::make_unique<tls_facts>();
  describe_session(ssl_.get(), *facts_);
  if (facts_->sni.empty()) facts_->sni = std::move(server_name);
  co_return handshake_outcome{};
}

net::awaitable<tls_transport::result> tls_transport::async_read_some(net::mutable_buffer into,
                                                                     transport_token) {
  for (;;) {
    // The BIO holds the descriptor's number: once the socket is closed, that number may be
    // another connection's.
    if (!socket_.is_open()) co_return result{net::error::bad_descriptor, 0};
    std::size_t got = 0;
    const int ok = SSL_read_ex(ssl_.get(), into.data(), into.size(), &got);
    if (ok == 1) co_return result{error_code{}, got};
    const int ssl_error = SSL_get_error(ssl_.get(), ok);
    // The waits are awaited here, not through wait(): an idle connection waits in this frame,
    // and a coroutine frame more would cost each of them memory.
    if (ssl_error == SSL_ERROR_WANT_READ) {
      auto [ec] = co_await socket_.async_wait_readable(use_tuple);
      if (ec) co_return result{ec, 0};
      continue;
    }
    if (ssl_error == SSL_ERROR_WANT_WRITE) {
      auto [ec] = co_await socket_.async_wait(connection_socket::wait_write, use_tuple);
      if (ec) co_return result{ec, 0};
      continue;
    }
    const char* reason;
    co_return result{ssl_failure(ssl_error, &reason), 0};
  }
}

int tls_transport::write_some(std::span<const net::const_buffer> buffers, std::size_t& written) {
  // The bytes go to SSL_write as one run: straight from the buffer that holds them when it holds
  // a record's worth or the rest, else gathered in the staging buffer, so a head and a small
  // body become one record and one send(). A retry after SSL_ERROR_WANT_WRITE must offer the
  // same bytes again (OpenSSL keeps the record it made of them); given the same buffers it does.
  const void* data = nullptr;
  std::size_t size = 0;
  std::size_t total = 0;
  for (const auto& b : buffers) total += b.size();
  auto first = std::find_if(buffers.begin(), buffers.end(), [](auto& b) { return b.size() > 0; });
  if (first == buffers.end()) {
    written = 0;
    return 1;
  }
  if (first->size() >= std::min(total, staging_bytes)) {
    data = first->data();
    size = first->size();
  } else {
    char* at = staging_buffer();
    for (auto it = first; it != buffers.end() && size < staging_bytes; ++it) {
      const std::size_t take = std::min(it->size(), staging_bytes - size);
      std::memcpy(at + size, it->data(), take);
      size += take;
    }
    data = at;
  }
  return SSL_write_ex(ssl_.get(), data, std::min<std::size_t>(size, INT_MAX), &written);
}

std::size_t tls_transport::send_now(std::span<const net::const_buffer> buffers, std::size_t from,
                                    error_code& ec) {
  ec = {};
  if (!socket_.is_open()) {
    ec = net::error::bad_descriptor;
    return 0;
  }
  std::size_t total = 0;
  for (const auto& b : buffers) total += b.size();
  // What is left from `from` on, as a sequence: whole buffers, the first one cut.
  constexpr std::size_t max_vectors = 64;
  net::const_buffer rest[max_vectors];
  std::size_t sent = from;
  while (sent < total) {
    std::size_t skip = sent;
    auto remaining = buffers;
    while (skip >= remaining.front().size()) {
      skip -= remaining.front().size();
      remaining = remaining.subspan(1);
    }
    const std::size_t count = std::min(remaining.size(), max_vectors);
    std::copy_n(remaining.begin(), count, rest);
    rest[0] += skip;
    std::size_t written = 0;
    const int ok = write_some({rest, count}, written);
    if (ok == 1) {
      sent += written;
      continue;
    }
    const int ssl_error = SSL_get_error(ssl_.get(), ok);
    if (ssl_error != SSL_ERROR_WANT_WRITE && ssl_error != SSL_ERROR_WANT_READ) {
      const char* reason;
      ec = ssl_failure(ssl_error, &reason);
    }
    break;
  }
  return sent - from;
}

std::size_t tls_transport::try_send(std::span<const net::const_buffer> buffers, error_code& ec) {
  return send_now(buffers, 0, ec);
}

net::awaitable<tls_transport::result> tls_transport::async_write(
    std::span<const net::const_buffer> buffers, transport_token) {
  std::size_t total = 0;
  for (const auto& b : buffers) total += b.size();
  std::size_t sent = 0;
  for (;;) {
    error_code ec;
    sent += send_now(buffers, sent, ec);
    if (ec || sent == total) co_return result{ec, sent};
    // OpenSSL would block: on a full socket, or (rarely) on a read it needs first.
    if (error_code waited = co_await wait(SSL_want_read(ssl_.get()) != 0)) {
      co_return result{waited, sent};
    }
  }
}

void tls_transport::shutdown_send(error_code& ec) {
  // close_notify first (RFC 8446 section 6.1), sent now or never: a client that reads to the
  // end of the stream must not mistake a complete reply for a truncation attack.
  notify_close();
  socket_.shutdown(connection_socket::shutdown_send, ec);
}

void tls_transport::notify_close() {
  if (!facts_ || !socket_.is_open() || (SSL_get_shutdown(ssl_.get()) & SSL_SENT_SHUTDOWN)) return;
  ERR_clear_error();
  SSL_shutdown(ssl_.get());
  ERR_clear_error();
}

void tls_transport::abort(bool reset) {
  error_code ignored;
  if (reset) {
    socket_.set_option(net::socket_base::linger(true, 0), ignored);
  } else {
    socket_.shutdown(connection_socket::shutdown_both, ignored);
  }
  socket_.close(ignored);
}

void tls_transport::cancel() {
  error_code ignored;
  socket_.cancel(ignored);
}

void tls_transport::close() {
  notify_close();
  error_code ignored;
  socket_.close(ignored);
}

peer_address tls_transport::peer() const {
  error_code ec;
  auto endpoint = socket_.remote_endpoint(ec);
  if (ec) return {};
  return describe_address(endpoint.data());
}

}  // namespace stubborn

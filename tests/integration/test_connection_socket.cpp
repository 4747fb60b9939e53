// connection_socket's drained reads, on real socket pairs (UNIX and TCP over 127.0.0.1): a read
// that empties the socket stops Asio's speculative recv, yet a FIN that came with the last bytes
// is still seen at once.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "recvmmsg_calls.hpp"
#include "wire/connection_socket.hpp"

namespace net = boost::asio;
using namespace std::chrono_literals;

#ifdef STUBBORN_DRAINED_READ
// The test binary links with -Wl,--wrap=recvmmsg: every recvmmsg() call in it, the library's
// included, comes here first, so a test can count the calls made on one descriptor.
namespace {
std::atomic<int> watched_fd{-1};
std::atomic<int> watched_calls{0};
std::atomic<int> all_calls{0};
}  // namespace

extern "C" int __real_recvmmsg(int fd, mmsghdr* messages, unsigned count, int flags,
                               timespec* timeout);
extern "C" int __wrap_recvmmsg(int fd, mmsghdr* messages, unsigned count, int flags,
                               timespec* timeout) {
  all_calls.fetch_add(1);
  if (fd == watched_fd.load()) watched_calls.fetch_add(1);
  return __real_recvmmsg(fd, messages, count, flags, timeout);
}

int recvmmsg_calls() {
  return all_calls.load();
}
#endif

namespace {

struct socket_pair {
  int server = -1;
  int client = -1;
  ~socket_pair() {
    if (server >= 0) ::close(server);
    if (client >= 0) ::close(client);
  }
};

void make_unix_pair(socket_pair& pair) {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  pair.server = fds[0];
  pair.client = fds[1];
}

void make_tcp_pair(socket_pair& pair) {
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(listener >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::listen(listener, 1) == 0);
  REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  pair.client = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(::connect(pair.client, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  pair.server = ::accept(listener, nullptr, nullptr);
  ::close(listener);
  REQUIRE(pair.server >= 0);
}

void send_all(int fd, std::string_view bytes) {
  REQUIRE(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(bytes.size()));
}

// TCP delivers over loopback asynchronously: wait until the server side has the FIN (and so
// everything sent before it) queued, without reading any of it.
void wait_for_fin(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  REQUIRE(::poll(&p, 1, 2000) == 1);
  REQUIRE((p.revents & POLLRDHUP) != 0);
}

struct read_result {
  bool done = false;
  boost::system::error_code ec;
  std::string bytes;
};

net::awaitable<void> read_once(stubborn::connection_socket& socket, read_result& out) {
  char buffer[64];
  auto [ec, n] =
      co_await socket.async_read_drained(net::buffer(buffer), net::as_tuple(net::use_awaitable));
  out.ec = ec;
  out.bytes.assign(buffer, n);
  out.done = true;
}

// Starts one drained read and runs the io_context until it waits in the reactor.
void start_read(net::io_context& io, stubborn::connection_socket& socket, read_result& result) {
  net::co_spawn(io, read_once(socket, result), net::detached);
  io.restart();
  io.run_for(5ms);
}

// Runs until that read ends, or gives up after `limit` (a read left waiting fails the test).
void finish_read(net::io_context& io, stubborn::connection_socket& socket, read_result& result,
                 std::chrono::milliseconds limit = 2000ms) {
  io.restart();
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!result.done && std::chrono::steady_clock::now() < deadline) io.run_for(10ms);
  if (!result.done) {
    socket.cancel();
    io.restart();
    io.run_for(100ms);
    result.done = false;
  }
}

void check_fin_after_drained_read(socket_pair& pair, bool tcp) {
  net::io_context io(1);
  const int protocol = tcp ? IPPROTO_TCP : 0;
  stubborn::connection_socket socket(
      io, net::generic::stream_protocol(tcp ? AF_INET : AF_UNIX, protocol), pair.server);
  pair.server = -1;  // the socket owns it now

  read_result first;
  start_read(io, socket, first);
  send_all(pair.client, "first");
  finish_read(io, socket, first);
  REQUIRE(first.done);
  CHECK(first.bytes == "first");

  // The read waits in the reactor; then the next bytes and the FIN arrive together, before the
  // reactor looks again: one readiness edge for both, and the read takes both.
  read_result second;
  start_read(io, socket, second);
  REQUIRE(!second.done);
  send_all(pair.client, "second");
  ::shutdown(pair.client, SHUT_WR);
  if (tcp) wait_for_fin(socket.native_handle());
  finish_read(io, socket, second);
  REQUIRE(second.done);
  CHECK(second.bytes == "second");

  // No edge is coming for that FIN: this read must find it at once, not wait for one.
  read_result end;
  start_read(io, socket, end);
  finish_read(io, socket, end, 1000ms);
  REQUIRE(end.done);
  CHECK(end.ec == net::error::eof);
}

}  // namespace

TEST_CASE("a drained read still sees a FIN that came with the last bytes (UNIX)", "[socket]") {
  socket_pair pair;
  make_unix_pair(pair);
  check_fin_after_drained_read(pair, false);
}

TEST_CASE("a drained read still sees a FIN that came with the last bytes (TCP)", "[socket]") {
  socket_pair pair;
  make_tcp_pair(pair);
  check_fin_after_drained_read(pair, true);
}

TEST_CASE("after a drained read, the next bytes still complete the waiting read", "[socket]") {
  socket_pair pair;
  make_tcp_pair(pair);
  net::io_context io(1);
  stubborn::connection_socket socket(io, net::generic::stream_protocol(AF_INET, IPPROTO_TCP),
                                     pair.server);
  const int client = pair.client;
  pair.server = -1;
  for (int i = 0; i < 20; ++i) {
    const std::string message = "request " + std::to_string(i);
    read_result result;
    start_read(io, socket, result);
    REQUIRE(!result.done);
    send_all(client, message);
    finish_read(io, socket, result);
    REQUIRE(result.done);
    CHECK(result.bytes == message);
  }
}

#ifdef STUBBORN_DRAINED_READ
TEST_CASE(
    "after a read that drained the socket, the next read makes no system call until bytes come",
    "[socket]") {
  socket_pair pair;
  make_tcp_pair(pair);
  net::io_context io(1);
  stubborn::connection_socket socket(io, net::generic::stream_protocol(AF_INET, IPPROTO_TCP),
                                     pair.server);
  const int client = pair.client;
  watched_fd = pair.server;
  watched_calls = 0;
  pair.server = -1;

  read_result first;
  start_read(io, socket, first);  // nothing there yet: one attempt, EAGAIN, then the reactor
  const int before_bytes = watched_calls.load();
  CHECK(before_bytes == 1);
  send_all(client, "short");
  finish_read(io, socket, first);
  REQUIRE(first.done);
  CHECK(watched_calls.load() == before_bytes + 1);  // the edge: one call, data and probe

  // The socket is drained: Asio's reactor must not try a read on the spot.
  read_result second;
  start_read(io, socket, second);
  CHECK(!second.done);
  CHECK(watched_calls.load() == before_bytes + 1);
  send_all(client, "next");
  finish_read(io, socket, second);
  REQUIRE(second.done);
  CHECK(second.bytes == "next");
  CHECK(watched_calls.load() == before_bytes + 2);

  // A read that filled its buffer may have left bytes behind: the next one tries at once.
  send_all(client, std::string(64 + 10, 'x'));  // read_once reads into 64 bytes
  {
    pollfd p{socket.native_handle(), POLLIN, 0};
    REQUIRE(::poll(&p, 1, 2000) == 1);
  }
  read_result full;
  start_read(io, socket, full);
  finish_read(io, socket, full);
  REQUIRE(full.done);
  CHECK(full.bytes.size() == 64);
  const int after_full = watched_calls.load();
  read_result rest;
  start_read(io, socket, rest);
  finish_read(io, socket, rest);
  REQUIRE(rest.done);
  CHECK(rest.bytes == std::string(10, 'x'));
  CHECK(watched_calls.load() == after_full + 1);  // taken on the spot, no edge needed
  watched_fd = -1;
}

TEST_CASE("receive_and_probe tells a drained socket from a full buffer and a pending FIN",
          "[socket]") {
  using stubborn::drained_read_detail::receive_and_probe;
  using status = boost::asio::detail::reactor_op::status;
  socket_pair pair;
  make_unix_pair(pair);
  char buffer[8];
  boost::system::error_code ec;
  std::size_t received = 0;

  CHECK(receive_and_probe(pair.server, buffer, sizeof buffer, ec, received) == status::not_done);

  send_all(pair.client, "abc");
  CHECK(receive_and_probe(pair.server, buffer, sizeof buffer, ec, received) ==
        status::done_and_exhausted);
  CHECK(received == 3);
  CHECK(!ec);

  send_all(pair.client, "12345678");  // exactly fills the buffer: more may be waiting
  CHECK(receive_and_probe(pair.server, buffer, sizeof buffer, ec, received) == status::done);
  CHECK(received == 8);

  send_all(pair.client, "xyz");
  ::shutdown(pair.client, SHUT_WR);
  CHECK(receive_and_probe(pair.server, buffer, sizeof buffer, ec, received) == status::done);
  CHECK(received == 3);
  CHECK(receive_and_probe(pair.server, buffer, sizeof buffer, ec, received) ==
        status::done_and_exhausted);
  CHECK(received == 0);
  CHECK(ec == net::error::eof);
}
TEST_CASE("receive_and_probe delivers the same bytes through the staging buffer and around it",
          "[socket]") {
  using stubborn::drained_read_detail::receive_and_probe;
  socket_pair pair;
  make_unix_pair(pair);
  boost::system::error_code ec;
  std::size_t received = 0;
  std::string pattern(40000, '\0');
  for (std::size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<char>('a' + i % 26);

  // Larger than the staging buffer: read in place.
  send_all(pair.client, pattern);
  std::string large(stubborn::staging_bytes * 4, '-');
  std::size_t at = 0;
  while (at < pattern.size()) {
    receive_and_probe(pair.server, large.data() + at, large.size() - at, ec, received);
    REQUIRE(!ec);
    REQUIRE(received > 0);
    at += received;
  }
  CHECK(large.substr(0, pattern.size()) == pattern);
  CHECK(large.substr(pattern.size()) == std::string(large.size() - pattern.size(), '-'));

  // Small: staged, then copied; nothing past what was received is written.
  send_all(pair.client, "0123456789");
  char small[16];
  std::memset(small, '-', sizeof small);
  receive_and_probe(pair.server, small, sizeof small, ec, received);
  REQUIRE(received == 10);
  CHECK(std::string_view(small, sizeof small) == "0123456789------");
}
#endif

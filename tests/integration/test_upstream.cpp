#include "test_upstream.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace stubborn::testing {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using token = net::as_tuple_t<net::use_awaitable_t<>>;

namespace {

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool contains_token(std::string_view list, std::string_view wanted) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (iequal(item, wanted)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// The longest request head read before the upstream gives up on a connection.
constexpr std::size_t max_head_bytes = 1 << 20;

}  // namespace

std::string upstream_request::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequal(n, name)) return v;
  }
  return {};
}

std::size_t upstream_request::count(std::string_view name) const {
  return static_cast<std::size_t>(std::count_if(
      headers.begin(), headers.end(), [&](const auto& h) { return iequal(h.first, name); }));
}

struct test_upstream::state {
  net::io_context io{1};
  tcp::acceptor acceptor{io};
  std::thread thread;
  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  std::deque<upstream_reply> script;
  upstream_reply fallback;
  std::vector<upstream_request> received;
  std::size_t connections = 0;
  std::size_t body_bytes = 0;
  std::atomic<bool> released{false};
  bool stopped = false;

  upstream_reply next_reply() {
    std::lock_guard lock(mutex);
    if (script.empty()) return fallback;
    upstream_reply reply = std::move(script.front());
    script.pop_front();
    return reply;
  }
  void add_body_bytes(std::size_t n) {
    {
      std::lock_guard lock(mutex);
      body_bytes += n;
    }
    changed.notify_all();
  }
  void record(upstream_request request) {
    {
      std::lock_guard lock(mutex);
      received.push_back(std::move(request));
    }
    changed.notify_all();
  }
};

namespace {

using state = test_upstream::state;

// One accepted connection: its socket and the bytes read but not used yet.
struct connection {
  tcp::socket socket;
  std::string buffer;
  state* owner = nullptr;
  std::size_t number = 0;
};

// Reads what has arrived into the buffer; false at the end of the stream or on an error.
net::awaitable<bool> read_more(connection* c) {
  char chunk[65536];
  auto [ec, n] = co_await c->socket.async_read_some(net::buffer(chunk), token{});
  if (ec) co_return false;
  c->buffer.append(chunk, n);
  co_return true;
}

// Makes sure `count` bytes are buffered; body bytes that arrive are counted for the tests.
net::awaitable<bool> need(connection* c, std::size_t count, bool body) {
  while (c->buffer.size() < count) {
    const std::size_t before = c->buffer.size();
    if (!co_await read_more(c)) co_return false;
    if (body) c->owner->add_body_bytes(c->buffer.size() - before);
  }
  co_return true;
}

net::awaitable<bool> write_all(connection* c, std::string bytes) {
  auto [ec, n] = co_await net::async_write(c->socket, net::buffer(bytes), token{});
  co_return !ec;
}

net::awaitable<void> pause(std::chrono::milliseconds time) {
  net::steady_timer timer(co_await net::this_coro::executor, time);
  co_await timer.async_wait(token{});
}

void parse_head(upstream_request& r) {
  std::string_view head(r.head);
  const std::size_t line_end = head.find("\r\n");
  const std::string_view line = head.substr(0, line_end);
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = line.find(' ', sp1 == std::string_view::npos ? sp1 : sp1 + 1);
  r.method = std::string(line.substr(0, sp1));
  if (sp1 != std::string_view::npos) r.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  std::size_t pos = line_end + 2;
  while (pos < head.size()) {
    const std::size_t eol = head.find("\r\n", pos);
    if (eol == std::string_view::npos || eol == pos) break;
    const std::string_view field = head.substr(pos, eol - pos);
    const std::size_t colon = field.find(':');
    std::string_view value = colon == std::string_view::npos ? "" : field.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    r.headers.emplace_back(std::string(field.substr(0, colon)), std::string(value));
    pos = eol + 2;
  }
}

// Reads a request body as its head frames it (Content-Length or chunked); false if the
// connection ended first or the framing is broken.
net::awaitable<bool> read_body(connection* c, upstream_request* r) {
  if (contains_token(r->header("Transfer-Encoding"), "chunked")) {
    for (;;) {
      std::size_t eol;
      while ((eol = c->buffer.find("\r\n")) == std::string::npos) {
        if (!co_await need(c, c->buffer.size() + 1, true)) co_return false;
      }
      const std::size_t size = std::strtoul(c->buffer.c_str(), nullptr, 16);
      if (size == 0) {
        // The last chunk, then trailer lines up to an empty one (found from the last chunk's
        // own line end, which is the empty line's start when there are no trailers).
        std::size_t end;
        while ((end = c->buffer.find("\r\n\r\n", eol)) == std::string::npos) {
          if (!co_await need(c, c->buffer.size() + 1, true)) co_return false;
        }
        r->raw_body += c->buffer.substr(0, end + 4);
        c->buffer.erase(0, end + 4);
        co_return true;
      }
      if (!co_await need(c, eol + 2 + size + 2, true)) co_return false;
      r->raw_body += c->buffer.substr(0, eol + 2 + size + 2);
      r->body += c->buffer.substr(eol + 2, size);
      c->buffer.erase(0, eol + 2 + size + 2);
    }
  }
  const std::string length = r->header("Content-Length");
  const std::size_t size = length.empty() ? 0 : std::strtoull(length.c_str(), nullptr, 10);
  if (!co_await need(c, size, true)) co_return false;
  r->raw_body = c->buffer.substr(0, size);
  r->body = r->raw_body;
  c->buffer.erase(0, size);
  co_return true;
}

std::string reply_head(const upstream_reply& reply, bool closing) {
  // RFC 9112 section 4: the space after the status code is there even without a reason.
  std::string head = "HTTP/1.1 " + std::to_string(reply.status) + " " + reply.reason + "\r\n";
  for (const auto& [name, value] : reply.headers) head += name + ": " + value + "\r\n";
  switch (reply.framing) {
    case upstream_framing::content_length:
      head += "Content-Length: " + std::to_string(reply.body.size()) + "\r\n";
      break;
    case upstream_framing::chunked:
      head += "Transfer-Encoding: chunked\r\n";
      break;
    case upstream_framing::close_delimited:
    case upstream_framing::none:
      break;
  }
  if (closing) head += "Connection: close\r\n";
  return head + "\r\n";
}

std::string hex(std::size_t n) {
  char text[32];
  std::snprintf(text, sizeof text, "%zx", n);
  return text;
}

// Waits for release(), at most 10 s.
net::awaitable<void> wait_released(state* s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!s->released.load() && std::chrono::steady_clock::now() < deadline) {
    co_await pause(std::chrono::milliseconds(2));
  }
}

// Writes the body in pieces as the reply says; `limit` bytes at most (for a reply cut short).
net::awaitable<bool> write_body(connection* c, upstream_reply reply, std::size_t limit) {
  const std::string& body = reply.body;
  const std::size_t total = std::min(limit, body.size());
  const std::size_t step =
      reply.piece_bytes == 0 ? std::max<std::size_t>(total, 1) : reply.piece_bytes;
  const bool chunked = reply.framing == upstream_framing::chunked;
  bool held = false;
  for (std::size_t at = 0; at < total; at += step) {
    if (at > 0 && reply.piece_interval.count() > 0) co_await pause(reply.piece_interval);
    if (!held && at >= reply.hold_after) {
      held = true;
      co_await wait_released(c->owner);
    }
    const std::string piece = body.substr(at, std::min(step, total - at));
    std::string bytes = chunked ? hex(piece.size()) + "\r\n" + piece + "\r\n" : piece;
    if (!co_await write_all(c, std::move(bytes))) co_return false;
  }
  if (chunked && limit >= body.size()) {
    std::string last = "0\r\n\r\n";
    if (!co_await write_all(c, std::move(last))) co_return false;
  }
  co_return true;
}

void reset(connection* c) {
  boost::system::error_code ignored;
  c->socket.set_option(net::socket_base::linger(true, 0), ignored);
  c->socket.close(ignored);
}

// Ends our side cleanly, then reads (and drops) what the peer still sends for up to 2 s, so
// unread bytes do not turn the close into a reset.
net::awaitable<void> close_cleanly(connection* c) {
  using namespace net::experimental::awaitable_operators;
  boost::system::error_code ignored;
  c->socket.shutdown(tcp::socket::shutdown_send, ignored);
  net::steady_timer timer(c->socket.get_executor(), std::chrono::seconds(2));
  for (;;) {
    char chunk[16384];
    auto done = co_await (c->socket.async_read_some(net::buffer(chunk), token{}) ||
                          timer.async_wait(token{}));
    if (done.index() == 1) break;
    auto [ec, n] = std::get<0>(done);
    if (ec) break;
  }
  c->socket.close(ignored);
}

// Answers one request whose head is parsed; true if the connection stays open for another.
net::awaitable<bool> answer(connection* c, upstream_request request, upstream_reply reply) {
  state* s = c->owner;
  const bool head_only = request.method == "HEAD";
  const bool client_closes = contains_token(request.header("Connection"), "close");
  switch (reply.behaviour) {
    case upstream_behaviour::reset_after_head:
      s->record(std::move(request));
      reset(c);
      co_return false;
    case upstream_behaviour::early_reply: {
      // Named first: g++ 12 mishandles a conditional's temporaries inside co_await.
      std::string bytes = reply_head(reply, true);
      if (!head_only) bytes += reply.body;
      const bool ok = co_await write_all(c, std::move(bytes));
      s->record(std::move(request));
      if (ok) co_await close_cleanly(c);
      co_return false;
    }
    default:
      break;
  }
  if (reply.send_continue && contains_token(request.header("Expect"), "100-continue")) {
    std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
    if (!co_await write_all(c, std::move(interim))) co_return false;
  }
  const bool whole = co_await read_body(c, &request);
  s->record(std::move(request));
  if (!whole) co_return false;
  if (reply.delay.count() > 0) co_await pause(reply.delay);
  switch (reply.behaviour) {
    case upstream_behaviour::close_without_reply:
      co_await close_cleanly(c);
      co_return false;
    case upstream_behaviour::raw:
      for (std::size_t i = 0; i < reply.raw_pieces.size(); ++i) {
        // A pause between writes so that each arrives as its own read.
        if (i > 0) co_await pause(std::chrono::milliseconds(1));
        if (!co_await write_all(c, reply.raw_pieces[i])) co_return false;
      }
      co_await close_cleanly(c);
      co_return false;
    case upstream_behaviour::stall_after_head: {
      std::string head = reply_head(reply, false);
      if (!co_await write_all(c, std::move(head))) co_return false;
      // Nothing more until the upstream stops (or a minute passes).
      co_await pause(std::chrono::minutes(1));
      co_return false;
    }
    case upstream_behaviour::reset_mid_body: {
      reply.framing = upstream_framing::content_length;
      std::string head = reply_head(reply, false);
      if (co_await write_all(c, std::move(head))) {
        co_await write_body(c, reply, reply.body.size() / 2);
      }
      reset(c);
      co_return false;
    }
    default:
      break;
  }
  const bool closing =
      reply.close_after || client_closes || reply.framing == upstream_framing::close_delimited;
  std::string head = reply_head(reply, closing);
  if (!co_await write_all(c, std::move(head))) co_return false;
  if (!head_only && !co_await write_body(c, reply, reply.body.size())) co_return false;
  if (closing) {
    co_await close_cleanly(c);
    co_return false;
  }
  co_return true;
}

net::awaitable<void> serve(std::unique_ptr<connection> c) {
  for (;;) {
    std::size_t end;
    while ((end = c->buffer.find("\r\n\r\n")) == std::string::npos) {
      if (c->buffer.size() > max_head_bytes || !co_await read_more(c.get())) co_return;
    }
    upstream_request request;
    request.head = c->buffer.substr(0, end + 4);
    request.connection = c->number;
    c->buffer.erase(0, end + 4);
    parse_head(request);
    upstream_reply reply = c->owner->next_reply();
    if (!co_await answer(c.get(), std::move(request), std::move(reply))) co_return;
  }
}

net::awaitable<void> accept_loop(state* s) {
  for (;;) {
    auto [ec, socket] = co_await s->acceptor.async_accept(token{});
    if (ec) {
      if (!s->acceptor.is_open()) co_return;
      continue;
    }
    auto c = std::make_unique<connection>(connection{std::move(socket), {}, s, 0});
    {
      std::lock_guard lock(s->mutex);
      c->number = ++s->connections;
    }
    s->changed.notify_all();
    boost::system::error_code ignored;
    c->socket.set_option(tcp::no_delay(true), ignored);
    net::co_spawn(s->io, serve(std::move(c)), net::detached);
  }
}

}  // namespace

test_upstream::test_upstream() : state_(std::make_unique<state>()) {
  state_->fallback.body = "upstream";
  const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), 0);
  state_->acceptor.open(endpoint.protocol());
  state_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  state_->acceptor.bind(endpoint);
  state_->acceptor.listen(4096);
  port_ = state_->acceptor.local_endpoint().port();
  net::co_spawn(state_->io, accept_loop(state_.get()), net::detached);
  state_->thread = std::thread([s = state_.get()] { s->io.run(); });
}

test_upstream::~test_upstream() {
  stop();
}

std::string test_upstream::url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

void test_upstream::set_default(upstream_reply reply) {
  std::lock_guard lock(state_->mutex);
  state_->fallback = std::move(reply);
}

void test_upstream::push(upstream_reply reply) {
  std::lock_guard lock(state_->mutex);
  state_->script.push_back(std::move(reply));
}

std::size_t test_upstream::connections() const {
  std::lock_guard lock(state_->mutex);
  return state_->connections;
}

std::size_t test_upstream::requests() const {
  std::lock_guard lock(state_->mutex);
  return state_->received.size();
}

std::vector<upstream_request> test_upstream::received() const {
  std::lock_guard lock(state_->mutex);
  return state_->received;
}

bool test_upstream::wait_for_requests(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(state_->mutex);
  return state_->changed.wait_for(lock, timeout, [&] { return state_->received.size() >= count; });
}

bool test_upstream::wait_for_body_bytes(std::size_t count,
                                        std::chrono::milliseconds timeout) const {
  std::unique_lock lock(state_->mutex);
  return state_->changed.wait_for(lock, timeout, [&] { return state_->body_bytes >= count; });
}

void test_upstream::release() {
  state_->released = true;
}

void test_upstream::stop() {
  {
    std::lock_guard lock(state_->mutex);
    if (state_->stopped) return;
    state_->stopped = true;
  }
  net::post(state_->io, [s = state_.get()] {
    boost::system::error_code ignored;
    s->acceptor.close(ignored);
    s->io.stop();
  });
  state_->thread.join();
}

std::uint16_t unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size) != 0) {
    ::close(fd);
    throw std::runtime_error(std::string("bind: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

namespace {

sockaddr_in loopback_address(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

// Starts a connection without waiting for it; returns the socket (or -1).
int start_connect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  const sockaddr_in addr = loopback_address(port);
  ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  return fd;
}

}  // namespace

full_backlog_listener::full_backlog_listener() {
  listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listener_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr = loopback_address(0);
  socklen_t size = sizeof addr;
  // Backlog 0: Linux queues one connection that is never accepted; later SYNs are dropped, so
  // a connect gets no answer (no refusal either).
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener_, 0) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &size) != 0) {
    ::close(listener_);
    throw std::runtime_error(std::string("listen: ") + std::strerror(errno));
  }
  port_ = ntohs(addr.sin_port);
  for (int i = 0; i < 3; ++i) {
    if (const int fd = start_connect(port_); fd >= 0) fillers_.push_back(fd);
  }
  // The probe: its connect must neither complete nor fail within 200 ms.
  if (const int probe = start_connect(port_); probe >= 0) {
    pollfd p{probe, POLLOUT, 0};
    unanswered_ = ::poll(&p, 1, 200) == 0;
    ::close(probe);
  }
}

full_backlog_listener::~full_backlog_listener() {
  for (const int fd : fillers_) ::close(fd);
  ::close(listener_);
}

}  // namespace stubborn::testing

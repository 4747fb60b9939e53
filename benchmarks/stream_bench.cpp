// stubborn_stream_bench: the client behind benchmarks/run.py's stream scenarios. One thread,
// non-blocking sockets, epoll; connects only to the address it is given (the runner passes
// 127.0.0.1).
//
//   stubborn_stream_bench --mode ws-held --port P --connections N --path /ws/tick
//                         --interval-ms 1000 --seconds 20
//     opens N WebSocket connections (RFC 6455 handshake) to a route that sends one message every
//     interval, and times each message against its schedule: message k of a connection is due
//     k intervals after that connection's 101 arrived. Prints {"event":"holding",...} once every
//     connection is open, then measures for --seconds and prints one JSON line: connections,
//     messages received and expected in the window, lateness percentiles, how many were more
//     than --late-ms late or early, and how many messages that were due --late-ms before the
//     window's end had not arrived by then (`missing`, over each connection's whole life).
//     Then holds the connections until stdin closes or --hold-seconds (default 30; 0: not at
//     all) have passed, so that the runner can read the server's memory with all of them open,
//     and closes them.
//   --mode sse-held: the same with a text/event-stream reply (one event per interval; chunked
//     or not, as the head says; comment lines such as heartbeats are no events).
//   --mode ws-echo --connections 50 --seconds 10 --size 32
//     each connection sends a masked text message and waits for it to come back, in a loop;
//     prints messages per second and the round trip's percentiles.
//
// Every data message counts, so the route must send nothing but its periodic message (no
// on_open steps). The server's pings are answered with pongs. Connections are closed with
// SO_LINGER 0 so that repeated runs leave no TIME_WAIT sockets.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string mode = "ws-held";
  std::size_t connections = 1000;
  std::string path = "/";
  double interval_ms = 1000;
  double seconds = 20;
  double late_ms = 50;
  std::size_t size = 32;
  std::size_t connect_parallel = 256;
  double connect_seconds = 60;
  double hold_seconds = 30;
};

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "stubborn_stream_bench: %s\n", message.c_str());
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--host")
      o.host = value();
    else if (arg == "--port")
      o.port = std::atoi(value().c_str());
    else if (arg == "--mode")
      o.mode = value();
    else if (arg == "--connections")
      o.connections = std::strtoul(value().c_str(), nullptr, 10);
    else if (arg == "--path")
      o.path = value();
    else if (arg == "--interval-ms")
      o.interval_ms = std::atof(value().c_str());
    else if (arg == "--seconds")
      o.seconds = std::atof(value().c_str());
    else if (arg == "--late-ms")
      o.late_ms = std::atof(value().c_str());
    else if (arg == "--size")
      o.size = std::strtoul(value().c_str(), nullptr, 10);
    else if (arg == "--connect-parallel")
      o.connect_parallel = std::strtoul(value().c_str(), nullptr, 10);
    else if (arg == "--connect-seconds")
      o.connect_seconds = std::atof(value().c_str());
    else if (arg == "--hold-seconds")
      o.hold_seconds = std::atof(value().c_str());
    else
      die("unknown option " + arg);
  }
  if (o.port <= 0 || o.port > 65535) die("--port is required");
  if (o.mode != "ws-held" && o.mode != "sse-held" && o.mode != "ws-echo")
    die("--mode is ws-held, sse-held or ws-echo");
  if (o.interval_ms <= 0) die("--interval-ms must be positive");
  if (o.connections == 0) die("--connections must be at least 1");
  if (o.size == 0 || o.size > 65535) die("--size is 1 to 65535 bytes");
  if (o.connect_parallel == 0) die("--connect-parallel must be at least 1");
  return o;
}

double ms_between(clock_type::time_point from, clock_type::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

double percentile(std::vector<double>& values, double p) {
  if (values.empty()) return 0;
  std::size_t k = static_cast<std::size_t>(p / 100.0 * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  return values[k];
}

enum class conn_state { unused, connecting, head, streaming, failed };

struct connection {
  int fd = -1;
  conn_state state = conn_state::unused;
  clock_type::time_point opened;  // when the 101 / 200 head arrived
  bool was_open = false;          // the head arrived (it may have failed since)
  std::uint64_t received = 0;     // messages (events) so far
  std::string in;
  // sse-held: whether the body is chunked (else it runs to the end of the connection), bytes
  // left in the current chunk, and the event text so far.
  bool chunked = false;
  std::size_t chunk_left = 0;
  bool in_chunk_data = false;
  std::string event;
  bool event_has_field = false;  // a line of it is a field, not a comment
  // ws-echo: when the message in flight was sent.
  clock_type::time_point sent;
};

class client {
 public:
  explicit client(const options& o) : o_(o), conns_(o.connections) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) die("epoll_create1 failed");
    addr_.sin_family = AF_INET;
    addr_.sin_port = htons(static_cast<std::uint16_t>(o.port));
    if (inet_pton(AF_INET, o.host.c_str(), &addr_.sin_addr) != 1) die("bad --host " + o.host);
    const std::string host = o.host + ":" + std::to_string(o.port);
    if (o.mode == "sse-held") {
      request_ =
          "GET " + o.path + " HTTP/1.1\r\nHost: " + host + "\r\nAccept: text/event-stream\r\n\r\n";
    } else {
      // The RFC 6455 §1.3 sample key: the server's answer is not checked here (the tests do).
      request_ = "GET " + o.path + " HTTP/1.1\r\nHost: " + host +
                 "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    }
    // One masked text frame of `size` bytes (mask key 0x01020304), sent again and again.
    const std::size_t n = o.size;
    echo_frame_.push_back(static_cast<char>(0x81));
    if (n < 126) {
      echo_frame_.push_back(static_cast<char>(0x80 | n));
    } else {
      echo_frame_.push_back(static_cast<char>(0x80 | 126));
      echo_frame_.push_back(static_cast<char>((n >> 8) & 0xff));
      echo_frame_.push_back(static_cast<char>(n & 0xff));
    }
    const unsigned char mask[4] = {1, 2, 3, 4};
    for (unsigned char m : mask) echo_frame_.push_back(static_cast<char>(m));
    for (std::size_t i = 0; i < n; ++i)
      echo_frame_.push_back(static_cast<char>(('a' + i % 26) ^ mask[i % 4]));
  }

  ~client() {
    for (auto& c : conns_) close_fd(c);
    if (epoll_ >= 0) ::close(epoll_);
  }

  int run() {
    const auto start = clock_type::now();
    std::size_t next = 0;
    std::size_t in_flight = 0;  // connecting or waiting for the head
    // Open every connection (at most connect_parallel waiting at once).
    while (opened_ + failed_ < conns_.size()) {
      while (next < conns_.size() && in_flight < o_.connect_parallel) {
        if (start_connect(next)) ++in_flight;
        ++next;
      }
      if (ms_between(start, clock_type::now()) > o_.connect_seconds * 1000) break;
      const std::size_t before = opened_ + failed_;
      poll_once(100, false);
      in_flight -= (opened_ + failed_) - before;
    }
    const double connect_ms = ms_between(start, clock_type::now());
    std::printf("{\"event\":\"holding\",\"open\":%zu,\"failed\":%zu,\"connect_ms\":%.1f}\n",
                opened_, failed_, connect_ms);
    std::fflush(stdout);

    // The window: every message counted, its lateness kept.
    window_start_ = clock_type::now();
    measuring_ = true;
    std::vector<std::uint64_t> at_start(conns_.size());
    for (std::size_t i = 0; i < conns_.size(); ++i) at_start[i] = conns_[i].received;
    if (o_.mode == "ws-echo") {
      for (auto& c : conns_) send_echo(c);
    }
    const auto window_end = window_start_ + std::chrono::duration_cast<clock_type::duration>(
                                                std::chrono::duration<double>(o_.seconds));
    while (clock_type::now() < window_end) {
      const double left = ms_between(clock_type::now(), window_end);
      poll_once(static_cast<int>(std::max(1.0, std::min(left, 100.0))), true);
    }
    measuring_ = false;
    const auto end = clock_type::now();
    const double window_ms = ms_between(window_start_, end);

    std::uint64_t received = 0, expected = 0, missing = 0;
    std::size_t alive = 0;
    const auto tolerance = std::chrono::duration_cast<clock_type::duration>(
        std::chrono::duration<double, std::milli>(o_.late_ms));
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      const connection& c = conns_[i];
      if (!c.was_open) continue;
      // Messages due by t: message k is due k intervals after the head.
      const auto due_by = [&](clock_type::time_point t) {
        const double k = ms_between(c.opened, t) / o_.interval_ms;
        return k < 0 ? std::uint64_t{0} : static_cast<std::uint64_t>(k);
      };
      // Every message due --late-ms before the end should be here, on a connection that failed
      // too (what it never got is missing).
      const std::uint64_t due = due_by(end - tolerance);
      if (c.received < due) missing += due - c.received;
      if (c.state != conn_state::streaming) continue;
      ++alive;
      received += c.received - at_start[i];
      expected += due_by(end) - due_by(window_start_);  // those whose schedule is in the window
    }
    std::size_t late = 0, early = 0;
    for (const double l : lateness_) {
      if (l > o_.late_ms) ++late;
      if (l < -o_.late_ms) ++early;
    }
    const bool none = lateness_.empty();
    const double min = none ? 0 : *std::min_element(lateness_.begin(), lateness_.end());
    const double max = none ? 0 : *std::max_element(lateness_.begin(), lateness_.end());
    const double p50 = percentile(lateness_, 50), p90 = percentile(lateness_, 90);
    const double p99 = percentile(lateness_, 99), p999 = percentile(lateness_, 99.9);
    if (o_.mode == "ws-echo") {
      std::printf(
          "{\"mode\":\"ws-echo\",\"connections\":%zu,\"open\":%zu,\"alive\":%zu,"
          "\"messages\":%llu,\"seconds\":%.3f,\"messages_per_s\":%.1f,\"rtt_min_ms\":%.3f,"
          "\"rtt_p50_ms\":%.3f,\"rtt_p90_ms\":%.3f,\"rtt_p99_ms\":%.3f,\"rtt_p999_ms\":%.3f,"
          "\"rtt_max_ms\":%.3f,\"size\":%zu}\n",
          conns_.size(), opened_, alive, static_cast<unsigned long long>(received),
          window_ms / 1000, static_cast<double>(received) * 1000 / window_ms, min, p50, p90, p99,
          p999, max, o_.size);
    } else {
      std::printf(
          "{\"mode\":\"%s\",\"connections\":%zu,\"open\":%zu,\"alive\":%zu,\"connect_ms\":%.1f,"
          "\"seconds\":%.3f,\"interval_ms\":%.1f,\"messages\":%llu,\"expected\":%llu,"
          "\"missing\":%llu,\"late_ms\":%.1f,\"late\":%zu,\"early\":%zu,"
          "\"lateness_min_ms\":%.3f,\"lateness_p50_ms\":%.3f,\"lateness_p90_ms\":%.3f,"
          "\"lateness_p99_ms\":%.3f,\"lateness_p999_ms\":%.3f,\"lateness_max_ms\":%.3f}\n",
          o_.mode.c_str(), conns_.size(), opened_, alive, connect_ms, window_ms / 1000,
          o_.interval_ms, static_cast<unsigned long long>(received),
          static_cast<unsigned long long>(expected), static_cast<unsigned long long>(missing),
          o_.late_ms, late, early, min, p50, p90, p99, p999, max);
    }
    std::fflush(stdout);
    // Hold everything open until the runner has read the server's memory (stdin closes), still
    // reading so that the server's writes do not back up.
    pollfd in{0, POLLIN, 0};
    const auto hold_until = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                                    std::chrono::duration<double>(o_.hold_seconds));
    while (clock_type::now() < hold_until) {
      if (::poll(&in, 1, 0) > 0) {
        char buf[256];
        if (::read(0, buf, sizeof buf) <= 0) break;
      }
      poll_once(50, false);
    }
    return alive == conns_.size() ? 0 : 1;
  }

 private:
  void close_fd(connection& c) {
    if (c.fd < 0) return;
    linger l{1, 0};
    setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(c.fd);
    c.fd = -1;
  }

  void fail(connection& c) {
    if (c.state == conn_state::failed) return;
    // A connection that never got its head counts as failed (the connect loop waits for each
    // one to be either open or failed).
    if (c.state != conn_state::streaming) ++failed_;
    c.state = conn_state::failed;
    close_fd(c);
  }

  bool start_connect(std::size_t index) {
    connection& c = conns_[index];
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      fail(c);
      return false;
    }
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c.state = conn_state::connecting;
    if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr_), sizeof addr_) != 0 &&
        errno != EINPROGRESS) {
      fail(c);
      return false;
    }
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLIN;
    ev.data.u64 = index;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev);
    return true;
  }

  void poll_once(int timeout_ms, bool measure) {
    epoll_event events[1024];
    const int n = epoll_wait(epoll_, events, 1024, timeout_ms);
    for (int k = 0; k < n; ++k) {
      connection& c = conns_[events[k].data.u64];
      if (c.state == conn_state::connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 || !send_all(c, request_)) {
          fail(c);
          continue;
        }
        c.state = conn_state::head;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = events[k].data.u64;
        epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
        continue;
      }
      if (c.state == conn_state::head || c.state == conn_state::streaming) read_from(c, measure);
    }
  }

  static bool send_all(connection& c, std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{c.fd, POLLOUT, 0};
        ::poll(&p, 1, 1000);
        continue;
      }
      return false;
    }
    return true;
  }

  // A ping's payload back in a masked pong (RFC 6455 §5.5.3); control payloads are <= 125 bytes.
  static bool send_pong(connection& c, std::string_view payload) {
    if (payload.size() > 125) return false;
    const unsigned char mask[4] = {5, 6, 7, 8};
    std::string frame;
    frame.push_back(static_cast<char>(0x8a));
    frame.push_back(static_cast<char>(0x80 | payload.size()));
    for (unsigned char m : mask) frame.push_back(static_cast<char>(m));
    for (std::size_t i = 0; i < payload.size(); ++i)
      frame.push_back(static_cast<char>(static_cast<unsigned char>(payload[i]) ^ mask[i % 4]));
    return send_all(c, frame);
  }

  void send_echo(connection& c) {
    if (c.state != conn_state::streaming) return;
    c.sent = clock_type::now();
    if (!send_all(c, echo_frame_)) fail(c);
  }

  void read_from(connection& c, bool measure) {
    char buf[16384];
    for (;;) {
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        c.in.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      // End of stream or an error: this connection is over.
      consume(c, measure);
      fail(c);
      return;
    }
    consume(c, measure);
  }

  void consume(connection& c, bool measure) {
    const auto now = clock_type::now();
    if (c.state == conn_state::head) {
      const auto end = c.in.find("\r\n\r\n");
      if (end == std::string::npos) return;
      const int expected = o_.mode == "sse-held" ? 200 : 101;
      if (c.in.size() < 12 || std::atoi(c.in.c_str() + 9) != expected) {
        fail(c);
        return;
      }
      if (o_.mode == "sse-held") {
        std::string head = c.in.substr(0, end);
        for (char& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        c.chunked = head.find("\r\ntransfer-encoding: chunked") != std::string::npos;
      }
      c.in.erase(0, end + 4);
      c.state = conn_state::streaming;
      c.opened = now;
      c.was_open = true;
      ++opened_;
    }
    if (c.state != conn_state::streaming) return;
    if (o_.mode == "sse-held")
      consume_events(c, now, measure);
    else
      consume_frames(c, now, measure);
  }

  void message(connection& c, clock_type::time_point now, bool measure) {
    ++c.received;
    if (!measure || !measuring_) return;
    if (o_.mode == "ws-echo") {
      lateness_.push_back(ms_between(c.sent, now));  // the round trip
      send_echo(c);
      return;
    }
    const double due = static_cast<double>(c.received) * o_.interval_ms;
    lateness_.push_back(ms_between(c.opened, now) - due);
  }

  // Server frames are unmasked (RFC 6455 §5.1). A data frame with FIN is one message.
  void consume_frames(connection& c, clock_type::time_point now, bool measure) {
    std::size_t pos = 0;
    for (;;) {
      const std::size_t left = c.in.size() - pos;
      if (left < 2) break;
      const auto* p = reinterpret_cast<const unsigned char*>(c.in.data() + pos);
      const bool fin = (p[0] & 0x80) != 0;
      const int opcode = p[0] & 0x0f;
      std::size_t header = 2;
      std::uint64_t length = p[1] & 0x7f;
      if (length == 126) {
        if (left < 4) break;
        length = (std::uint64_t{p[2]} << 8) | p[3];
        header = 4;
      } else if (length == 127) {
        if (left < 10) break;
        length = 0;
        for (int i = 0; i < 8; ++i) length = (length << 8) | p[2 + i];
        header = 10;
      }
      if (left < header + length) break;
      const std::string_view payload(c.in.data() + pos + header, static_cast<std::size_t>(length));
      pos += header + static_cast<std::size_t>(length);
      if (opcode == 8) {  // the server closed
        fail(c);
        return;
      }
      if (opcode == 9 && !send_pong(c, payload)) {
        fail(c);
        return;
      }
      if (fin && opcode != 9 && opcode != 10) message(c, now, measure);
      if (c.state != conn_state::streaming) return;
    }
    c.in.erase(0, pos);
  }

  // A text/event-stream body: each blank line ends an event; a block of comment lines only
  // (`: keep-alive`) is none. CR and CRLF line ends count as LF (the spec allows all three;
  // a lone CR is taken as nothing, which the servers measured here never send).
  void take_event_bytes(connection& c, std::string_view bytes, clock_type::time_point now,
                        bool measure) {
    for (const char ch : bytes) {
      if (ch == '\r') continue;
      const bool line_start = c.event.empty() || c.event.back() == '\n';
      if (ch == '\n' && line_start) {  // a blank line: the event ends
        if (c.event_has_field) message(c, now, measure);
        c.event.clear();
        c.event_has_field = false;
        continue;
      }
      if (line_start && ch != ':') c.event_has_field = true;
      c.event.push_back(ch);
    }
  }

  void consume_events(connection& c, clock_type::time_point now, bool measure) {
    if (!c.chunked) {
      take_event_bytes(c, c.in, now, measure);
      c.in.clear();
      return;
    }
    std::size_t pos = 0;
    while (pos < c.in.size()) {
      if (!c.in_chunk_data) {
        const auto eol = c.in.find("\r\n", pos);
        if (eol == std::string::npos) break;
        c.chunk_left = std::strtoul(c.in.c_str() + pos, nullptr, 16);
        pos = eol + 2;
        if (c.chunk_left == 0) {  // the stream ended
          fail(c);
          return;
        }
        c.in_chunk_data = true;
        continue;
      }
      if (c.chunk_left > 0) {
        const std::size_t take = std::min(c.chunk_left, c.in.size() - pos);
        take_event_bytes(c, std::string_view(c.in).substr(pos, take), now, measure);
        pos += take;
        c.chunk_left -= take;
        if (c.chunk_left > 0) break;
      }
      if (c.in.size() - pos < 2) break;
      pos += 2;  // the chunk's CRLF
      c.in_chunk_data = false;
    }
    c.in.erase(0, pos);
  }

  const options& o_;
  std::vector<connection> conns_;
  int epoll_ = -1;
  sockaddr_in addr_{};
  std::string request_;
  std::string echo_frame_;
  std::size_t opened_ = 0;
  std::size_t failed_ = 0;
  bool measuring_ = false;
  clock_type::time_point window_start_;
  std::vector<double> lateness_;
};

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  client c(o);
  return c.run();
}

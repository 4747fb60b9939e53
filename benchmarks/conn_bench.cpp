// stubborn_conn_bench: the many-connections client behind benchmarks/run.py's `delays` and
// `connections` scenarios. One thread, non-blocking sockets, epoll; connects only to the address
// it is given (the runner passes 127.0.0.1).
//
//   stubborn_conn_bench --port P --connections N --path /delay-1s --mode delays [--on-time-ms 1050]
//     opens N keep-alive connections, then, once all are open, sends one GET on each at once and
//     times every reply from its own send. Prints one JSON line: replies, on-time count,
//     p50/p99/max latency.
//   stubborn_conn_bench --port P --connections N --path /hello --mode idle
//     opens N connections, makes one request on each, prints {"event":"holding",...} and keeps
//     them open, idle, until its stdin is closed (or --hold-seconds pass); then sends a second
//     request on each to prove they were still alive, and prints the summary JSON line.
//
// Connections are closed with SO_LINGER 0 so that repeated runs leave no TIME_WAIT sockets
// behind to exhaust the ephemeral port range.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
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
  std::size_t connections = 1000;
  std::string path = "/";
  std::string mode = "delays";
  double on_time_ms = 1050;
  double timeout_seconds = 15;         // whole request phase
  double connect_seconds = 30;         // whole connect phase
  double hold_seconds = 60;            // idle mode: longest hold without stdin closing
  std::size_t connect_parallel = 512;  // connects in flight at once
  std::string dump;                    // write "send offset ms, latency ms" per request here
  bool wait_go = false;                // delays: after connecting, wait for a line on stdin
};

enum class conn_state { unused, connecting, connected, waiting, replied, failed };

struct connection {
  int fd = -1;
  conn_state state = conn_state::unused;
  clock_type::time_point sent;
  double latency_ms = -1;
  int status = 0;
  std::string in;
};

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "stubborn_conn_bench: %s\n", message.c_str());
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
    else if (arg == "--connections")
      o.connections = std::strtoul(value().c_str(), nullptr, 10);
    else if (arg == "--path")
      o.path = value();
    else if (arg == "--mode")
      o.mode = value();
    else if (arg == "--on-time-ms")
      o.on_time_ms = std::atof(value().c_str());
    else if (arg == "--timeout-seconds")
      o.timeout_seconds = std::atof(value().c_str());
    else if (arg == "--connect-seconds")
      o.connect_seconds = std::atof(value().c_str());
    else if (arg == "--hold-seconds")
      o.hold_seconds = std::atof(value().c_str());
    else if (arg == "--dump")
      o.dump = value();
    else if (arg == "--wait-go")
      o.wait_go = true;
    else if (arg == "--connect-parallel")
      o.connect_parallel = std::strtoul(value().c_str(), nullptr, 10);
    else
      die("unknown option " + arg);
  }
  if (o.port <= 0 || o.port > 65535) die("--port is required");
  if (o.mode != "delays" && o.mode != "idle") die("--mode is delays or idle");
  return o;
}

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

bool iequal_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char a = text[i], b = prefix[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
    if (a != b) return false;
  }
  return true;
}

// A complete reply in `in`: true, with its status. Needs Content-Length (stubborn and nginx send
// it for every reply this client asks for).
bool reply_complete(std::string& in, int& status) {
  auto end = in.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  std::string_view head(in.data(), end + 2);
  if (head.size() < 12) return false;
  status = std::atoi(std::string(head.substr(9, 3)).c_str());
  std::size_t length = 0;
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    std::string_view line = head.substr(pos + 2);
    line = line.substr(0, line.find("\r\n"));
    if (iequal_prefix(line, "content-length:")) {
      length = std::strtoul(std::string(line.substr(15)).c_str(), nullptr, 10);
    }
    pos = head.find("\r\n", pos + 2);
  }
  if (in.size() < end + 4 + length) return false;
  in.erase(0, end + 4 + length);
  return true;
}

class client {
 public:
  explicit client(const options& o) : o_(o), conns_(o.connections) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) die("epoll_create1 failed");
    addr_.sin_family = AF_INET;
    addr_.sin_port = htons(static_cast<std::uint16_t>(o.port));
    if (inet_pton(AF_INET, o.host.c_str(), &addr_.sin_addr) != 1) die("bad --host " + o.host);
    request_ = "GET " + o.path + " HTTP/1.1\r\nHost: " + o.host + ":" + std::to_string(o.port) +
               "\r\n\r\n";
  }

  // Opens every connection, at most connect_parallel in flight. Returns how many are open.
  std::size_t connect_all() {
    auto start = clock_type::now();
    std::size_t next = 0, in_flight = 0;
    while (true) {
      while (next < conns_.size() && in_flight < o_.connect_parallel) {
        if (start_connect(next)) ++in_flight;
        ++next;
      }
      if (in_flight == 0 && next == conns_.size()) break;
      if (ms_since(start) > o_.connect_seconds * 1000) break;
      epoll_event events[1024];
      int n = epoll_wait(epoll_, events, 1024, 100);
      for (int k = 0; k < n; ++k) {
        connection& c = conns_[events[k].data.u64];
        if (c.state != conn_state::connecting) continue;
        --in_flight;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          fail(c);
          ++connect_errors_;
          continue;
        }
        c.state = conn_state::connected;
        ++connected_;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = events[k].data.u64;
        epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
      }
    }
    connect_ms_ = ms_since(start);
    return connected_;
  }

  // Sends one request on every open connection and waits for the replies (or the timeout).
  void request_round() {
    replies_ = ok_ = bad_status_ = read_errors_ = 0;
    std::size_t waiting = 0;
    auto send_start = clock_type::now();
    for (auto& c : conns_) {
      if (c.state != conn_state::connected && c.state != conn_state::replied) continue;
      c.in.clear();
      c.latency_ms = -1;
      c.sent = clock_type::now();
      ssize_t n = ::send(c.fd, request_.data(), request_.size(), MSG_NOSIGNAL);
      if (n != static_cast<ssize_t>(request_.size())) {
        fail(c);
        ++read_errors_;
        continue;
      }
      c.state = conn_state::waiting;
      ++waiting;
    }
    // Replies that arrive while this loop still sends are read after it: the first requests'
    // latencies include up to this long of the client's own sending.
    send_ms_ = ms_since(send_start);
    auto start = clock_type::now();
    char buffer[16384];
    while (waiting > 0 && ms_since(start) < o_.timeout_seconds * 1000) {
      epoll_event events[1024];
      int n = epoll_wait(epoll_, events, 1024, 50);
      for (int k = 0; k < n; ++k) {
        connection& c = conns_[events[k].data.u64];
        if (c.state != conn_state::waiting && c.state != conn_state::replied &&
            c.state != conn_state::connected) {
          continue;
        }
        ssize_t got = ::recv(c.fd, buffer, sizeof buffer, 0);
        if (got <= 0) {
          if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
          if (c.state == conn_state::waiting) {
            --waiting;
            ++read_errors_;
          }
          fail(c);
          continue;
        }
        if (c.state != conn_state::waiting) continue;  // unexpected bytes: ignored
        c.in.append(buffer, static_cast<std::size_t>(got));
        int status = 0;
        if (reply_complete(c.in, status)) {
          c.latency_ms =
              std::chrono::duration<double, std::milli>(clock_type::now() - c.sent).count();
          c.status = status;
          c.state = conn_state::replied;
          --waiting;
          ++replies_;
          if (status >= 200 && status < 300)
            ++ok_;
          else
            ++bad_status_;
        }
      }
    }
    timed_out_ = waiting;
  }

  // One line per request of the last round: when it was sent (ms after the first send) and its
  // latency in ms (-1: no reply), for looking at where a tail comes from.
  void dump(const std::string& path) const {
    FILE* f = std::fopen(path.c_str(), "w");
    if (!f) die("cannot write " + path);
    clock_type::time_point first = clock_type::time_point::max();
    for (const auto& c : conns_) {
      if (c.latency_ms >= 0 && c.sent < first) first = c.sent;
    }
    for (const auto& c : conns_) {
      if (c.latency_ms < 0) continue;
      std::fprintf(f, "%.3f %.3f\n",
                   std::chrono::duration<double, std::milli>(c.sent - first).count(), c.latency_ms);
    }
    std::fclose(f);
  }

  void close_all() {
    for (auto& c : conns_) {
      if (c.fd < 0) continue;
      linger l{1, 0};  // RST: no TIME_WAIT left behind
      setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      ::close(c.fd);
      c.fd = -1;
    }
  }

  std::size_t open_count() const {
    std::size_t n = 0;
    for (const auto& c : conns_) n += c.fd >= 0 && c.state != conn_state::failed;
    return n;
  }

  // The summary of the last request round, as JSON members (no braces).
  std::string round_json(const std::string& prefix) const {
    std::vector<double> latencies;
    std::size_t on_time = 0;
    for (const auto& c : conns_) {
      if (c.latency_ms < 0) continue;
      latencies.push_back(c.latency_ms);
      if (c.latency_ms <= o_.on_time_ms && c.status >= 200 && c.status < 300) ++on_time;
    }
    std::sort(latencies.begin(), latencies.end());
    auto pct = [&](double p) {
      if (latencies.empty()) return -1.0;
      auto rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(latencies.size()));
      if (rank > 0 &&
          static_cast<double>(rank) == p / 100.0 * static_cast<double>(latencies.size()))
        --rank;  // nearest rank
      return latencies[std::min(rank, latencies.size() - 1)];
    };
    char text[1024];
    std::snprintf(text, sizeof text,
                  "\"%sreplies\":%zu,\"%sok\":%zu,\"%sbad_status\":%zu,\"%serrors\":%zu,"
                  "\"%stimed_out\":%zu,\"%son_time\":%zu,\"%smin_ms\":%.3f,\"%sp50_ms\":%.3f,"
                  "\"%sp99_ms\":%.3f,\"%smax_ms\":%.3f,\"%ssend_ms\":%.1f",
                  prefix.c_str(), replies_, prefix.c_str(), ok_, prefix.c_str(), bad_status_,
                  prefix.c_str(), read_errors_, prefix.c_str(), timed_out_, prefix.c_str(), on_time,
                  prefix.c_str(), latencies.empty() ? -1.0 : latencies.front(), prefix.c_str(),
                  pct(50), prefix.c_str(), pct(99), prefix.c_str(),
                  latencies.empty() ? -1.0 : latencies.back(), prefix.c_str(), send_ms_);
    return text;
  }

  std::string connect_json() const {
    char text[256];
    std::snprintf(text, sizeof text,
                  "\"connections\":%zu,\"connected\":%zu,\"connect_errors\":%zu,"
                  "\"connect_ms\":%.1f,\"on_time_ms\":%.1f",
                  conns_.size(), connected_, connect_errors_, connect_ms_, o_.on_time_ms);
    return text;
  }

 private:
  bool start_connect(std::size_t index) {
    connection& c = conns_[index];
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      c.state = conn_state::failed;
      ++connect_errors_;
      return false;
    }
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = ::connect(c.fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_);
    if (rc != 0 && errno != EINPROGRESS) {
      fail(c);
      ++connect_errors_;
      return false;
    }
    c.state = conn_state::connecting;
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u64 = index;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev);
    return true;
  }

  void fail(connection& c) {
    if (c.fd >= 0) {
      epoll_ctl(epoll_, EPOLL_CTL_DEL, c.fd, nullptr);
      linger l{1, 0};
      setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      ::close(c.fd);
    }
    c.fd = -1;
    c.state = conn_state::failed;
  }

  const options& o_;
  std::vector<connection> conns_;
  int epoll_ = -1;
  sockaddr_in addr_{};
  std::string request_;
  std::size_t connected_ = 0, connect_errors_ = 0;
  std::size_t replies_ = 0, ok_ = 0, bad_status_ = 0, read_errors_ = 0, timed_out_ = 0;
  double connect_ms_ = 0, send_ms_ = 0;
};

void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// Idle mode: wait until stdin reaches EOF (the runner has sampled what it wanted), or the hold
// time passes.
void hold(double seconds) {
  auto start = clock_type::now();
  while (ms_since(start) < seconds * 1000) {
    pollfd p{0, POLLIN, 0};
    int rc = ::poll(&p, 1, 200);
    if (rc > 0) {
      char buffer[256];
      ssize_t n = ::read(0, buffer, sizeof buffer);
      if (n <= 0) return;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  options o = parse(argc, argv);
  raise_open_file_limit();
  client c(o);
  c.connect_all();
  if (o.mode == "delays") {
    if (o.wait_go) {
      // Lets the runner look at the server (e.g. how many connections it has accepted) between
      // the connect phase and the requests.
      std::printf("{\"event\":\"connected\",%s}\n", c.connect_json().c_str());
      std::fflush(stdout);
      char line[64];
      if (!std::fgets(line, sizeof line, stdin)) return 1;
    }
    c.request_round();
    std::printf("{\"mode\":\"delays\",%s,%s}\n", c.connect_json().c_str(),
                c.round_json("").c_str());
    if (!o.dump.empty()) c.dump(o.dump);
    std::fflush(stdout);
    c.close_all();
    return 0;
  }
  // idle
  c.request_round();
  std::printf("{\"event\":\"holding\",%s,%s}\n", c.connect_json().c_str(),
              c.round_json("first_").c_str());
  std::fflush(stdout);
  hold(o.hold_seconds);
  std::size_t still_open = c.open_count();
  c.request_round();
  std::printf("{\"mode\":\"idle\",\"still_open\":%zu,%s,%s}\n", still_open,
              c.connect_json().c_str(), c.round_json("second_").c_str());
  std::fflush(stdout);
  c.close_all();
  return 0;
}

// stubborn_tls_bench: the HTTPS client behind benchmarks/run.py's `https-handshakes` and
// `https-idle` scenarios. Non-blocking sockets, epoll, OpenSSL 3 driven directly on each socket;
// connects only to the address it is given (the runner passes 127.0.0.1). TLS 1.3 only, the
// server's certificate is not verified (as wrk does), SNI and ALPN `http/1.1` are sent.
//
//   stubborn_tls_bench --port P --mode handshakes --connections C --duration S [--threads T]
//     keeps C connections busy for S seconds, each doing: connect, a full handshake, one
//     `GET PATH` with `Connection: close`, the whole reply, close (RST, so no TIME_WAIT piles up);
//     then again. No session is ever offered for resumption: every handshake is a full one
//     (the count of resumed handshakes is printed, and is 0). Prints one JSON line: requests,
//     errors, latency (connect to the reply's last byte), tickets the server sent, and what
//     was negotiated (version, cipher, key-exchange group, ALPN).
//   stubborn_tls_bench --port P --mode idle --connections N --path /hello [--connect-parallel K]
//     opens N connections (K handshakes in flight at most), makes one keep-alive request on
//     each, prints {"event":"holding",...} and keeps them open, idle, until its stdin is closed
//     (or --hold-seconds pass); then sends a second request on each to prove they were alive,
//     and prints the summary JSON line.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string mode = "handshakes";
  std::size_t connections = 50;
  std::string path = "/hello";
  std::string sni = "localhost";
  double duration = 8;                 // handshakes: seconds of load
  unsigned threads = 1;                // handshakes: client threads (connections shared out)
  double timeout_seconds = 30;         // idle: each request round
  double connect_seconds = 120;        // idle: the whole connect phase
  double hold_seconds = 60;            // idle: longest hold without stdin closing
  std::size_t connect_parallel = 128;  // idle: handshakes in flight at once
};

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "stubborn_tls_bench: %s\n", message.c_str());
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
    else if (arg == "--sni")
      o.sni = value();
    else if (arg == "--duration")
      o.duration = std::atof(value().c_str());
    else if (arg == "--threads")
      o.threads = static_cast<unsigned>(std::strtoul(value().c_str(), nullptr, 10));
    else if (arg == "--timeout-seconds")
      o.timeout_seconds = std::atof(value().c_str());
    else if (arg == "--connect-seconds")
      o.connect_seconds = std::atof(value().c_str());
    else if (arg == "--hold-seconds")
      o.hold_seconds = std::atof(value().c_str());
    else if (arg == "--connect-parallel")
      o.connect_parallel = std::strtoul(value().c_str(), nullptr, 10);
    else
      die("unknown option " + arg);
  }
  if (o.port <= 0 || o.port > 65535) die("--port is required");
  if (o.mode != "handshakes" && o.mode != "idle") die("--mode is handshakes or idle");
  if (o.connections == 0 || o.threads == 0 || o.connect_parallel == 0)
    die("--connections, --threads and --connect-parallel must be at least 1");
  if (o.threads > o.connections) o.threads = static_cast<unsigned>(o.connections);
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

// A complete reply at the start of `in`: true, with its status and size, and the reply taken
// out of `in`. Needs Content-Length (both servers send it for every reply asked for here).
bool reply_complete(std::string& in, int& status, std::size_t& size) {
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
  size = end + 4 + length;
  in.erase(0, size);
  return true;
}

// Tickets (NewSessionTicket messages) received, counted per thread by the new-session callback.
thread_local std::uint64_t tickets_seen = 0;

int count_ticket(SSL*, SSL_SESSION*) {
  ++tickets_seen;
  return 0;  // not kept: no session is ever offered again
}

SSL_CTX* make_context() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) die("SSL_CTX_new failed");
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // The callback needs the client cache mode to be called; nothing is stored.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, count_ticket);
  static constexpr unsigned char alpn[] = "\x08http/1.1";
  SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1);
  return ctx;
}

enum class conn_state { unused, connecting, handshaking, writing, reading, idle, failed };

struct connection {
  int fd = -1;
  SSL* ssl = nullptr;
  conn_state state = conn_state::unused;
  std::uint32_t events = 0;  // what epoll waits for on fd
  clock_type::time_point started;
  std::string in;
  std::size_t written = 0;
};

// What one thread counted.
struct tally {
  std::uint64_t requests = 0, ok = 0, bytes = 0, handshakes = 0, resumed = 0, tickets = 0;
  std::uint64_t errors_connect = 0, errors_handshake = 0, errors_write = 0, errors_read = 0,
                errors_status = 0;
  std::vector<double> latencies_us;
  std::string protocol, cipher, group, alpn;

  void add(const tally& t) {
    requests += t.requests;
    ok += t.ok;
    bytes += t.bytes;
    handshakes += t.handshakes;
    resumed += t.resumed;
    tickets += t.tickets;
    errors_connect += t.errors_connect;
    errors_handshake += t.errors_handshake;
    errors_write += t.errors_write;
    errors_read += t.errors_read;
    errors_status += t.errors_status;
    latencies_us.insert(latencies_us.end(), t.latencies_us.begin(), t.latencies_us.end());
    if (protocol.empty()) {
      protocol = t.protocol;
      cipher = t.cipher;
      group = t.group;
      alpn = t.alpn;
    }
  }
};

// One event loop with its own connections: the handshakes mode runs one per thread, the idle
// mode one in all.
class loop {
 public:
  loop(const options& o, SSL_CTX* ctx, std::size_t connections)
      : o_(o), ctx_(ctx), conns_(connections) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) die("epoll_create1 failed");
    addr_.sin_family = AF_INET;
    addr_.sin_port = htons(static_cast<std::uint16_t>(o.port));
    if (inet_pton(AF_INET, o.host.c_str(), &addr_.sin_addr) != 1) die("bad --host " + o.host);
    request_ = "GET " + o.path + " HTTP/1.1\r\nHost: " + o.sni + "\r\n";
    closing_request_ = request_ + "Connection: close\r\n\r\n";
    request_ += "\r\n";
  }

  ~loop() {
    close_all();
    ::close(epoll_);
  }

  // handshakes: every connection busy with one connection-per-request after another until the
  // deadline; what completed by then is counted.
  void run_handshakes(clock_type::time_point deadline) {
    keep_alive_ = false;
    for (std::size_t i = 0; i < conns_.size(); ++i) start(i);
    while (clock_type::now() < deadline) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
      wait(static_cast<int>(std::clamp<long long>(left.count(), 1, 50)));
      std::vector<std::size_t> again;
      again.swap(restart_);
      for (std::size_t i : again) start(i);
    }
    tally_.tickets = tickets_seen;
  }

  // idle: every connection opened and asked one request, at most connect_parallel at a time.
  void open_idle() {
    keep_alive_ = true;
    auto start_time = clock_type::now();
    std::size_t next = 0;
    while (ms_since(start_time) < o_.connect_seconds * 1000) {
      while (next < conns_.size() && busy_ < o_.connect_parallel) start(next++);
      if (busy_ == 0 && next == conns_.size()) break;
      wait(50);
    }
    connect_ms_ = ms_since(start_time);
    timed_out_ = busy_;
    tally_.tickets = tickets_seen;
  }

  // idle: one more request on every connection that is still idle and open.
  void second_round() {
    tally_ = tally{};
    auto start_time = clock_type::now();
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      connection& c = conns_[i];
      if (c.state != conn_state::idle) continue;
      c.started = clock_type::now();
      c.state = conn_state::writing;
      c.written = 0;
      ++busy_;
      drive(i);
    }
    while (busy_ > 0 && ms_since(start_time) < o_.timeout_seconds * 1000) wait(50);
    timed_out_ = busy_;
  }

  std::size_t idle_count() const {
    std::size_t n = 0;
    for (const auto& c : conns_) n += c.state == conn_state::idle;
    return n;
  }

  void close_all() {
    for (auto& c : conns_) drop(c);
  }

  const tally& counts() const { return tally_; }
  double connect_ms() const { return connect_ms_; }
  std::size_t timed_out() const { return timed_out_; }

 private:
  // A new connection in slot i.
  void start(std::size_t i) {
    connection& c = conns_[i];
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      c.state = conn_state::failed;
      ++tally_.errors_connect;
      return;
    }
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c.started = clock_type::now();
    c.in.clear();
    c.written = 0;
    c.events = EPOLLOUT;
    c.state = conn_state::connecting;
    ++busy_;
    int rc = ::connect(c.fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_);
    if (rc != 0 && errno != EINPROGRESS) {
      fail(i, tally_.errors_connect);
      return;
    }
    epoll_event ev{};
    ev.events = c.events;
    ev.data.u64 = i;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev);
  }

  void wait(int timeout_ms) {
    epoll_event events[512];
    int n = epoll_wait(epoll_, events, 512, timeout_ms);
    for (int k = 0; k < n; ++k) drive(events[k].data.u64);
  }

  void want(connection& c, std::size_t i, std::uint32_t events) {
    if (c.events == events) return;
    c.events = events;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = i;
    epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  // OpenSSL's answer to a call that did not complete: wait for the socket, or fail.
  bool wait_for(connection& c, std::size_t i, int rc, std::uint64_t& error_counter) {
    switch (SSL_get_error(c.ssl, rc)) {
      case SSL_ERROR_WANT_READ:
        want(c, i, EPOLLIN);
        return true;
      case SSL_ERROR_WANT_WRITE:
        want(c, i, EPOLLOUT);
        return true;
      default:
        ERR_clear_error();
        fail(i, error_counter);
        return false;
    }
  }

  // Moves connection i on as far as it goes without blocking.
  void drive(std::size_t i) {
    connection& c = conns_[i];
    char buffer[16384];
    while (true) {
      switch (c.state) {
        case conn_state::connecting: {
          int err = 0;
          socklen_t len = sizeof err;
          getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
          if (err != 0) return fail(i, tally_.errors_connect);
          c.ssl = SSL_new(ctx_);
          SSL_set_fd(c.ssl, c.fd);
          SSL_set_connect_state(c.ssl);
          if (!o_.sni.empty()) SSL_set_tlsext_host_name(c.ssl, o_.sni.c_str());
          c.state = conn_state::handshaking;
          break;
        }
        case conn_state::handshaking: {
          int rc = SSL_do_handshake(c.ssl);
          if (rc != 1) {
            wait_for(c, i, rc, tally_.errors_handshake);
            return;
          }
          ++tally_.handshakes;
          if (SSL_session_reused(c.ssl)) ++tally_.resumed;
          if (tally_.protocol.empty()) describe(c.ssl);
          c.state = conn_state::writing;
          c.written = 0;
          break;
        }
        case conn_state::writing: {
          const std::string& request = keep_alive_ ? request_ : closing_request_;
          int rc = SSL_write(c.ssl, request.data() + c.written,
                             static_cast<int>(request.size() - c.written));
          if (rc <= 0) {
            wait_for(c, i, rc, tally_.errors_write);
            return;
          }
          c.written += static_cast<std::size_t>(rc);
          if (c.written == request.size()) c.state = conn_state::reading;
          break;
        }
        case conn_state::reading: {
          int rc = SSL_read(c.ssl, buffer, sizeof buffer);
          if (rc <= 0) {
            wait_for(c, i, rc, tally_.errors_read);
            return;
          }
          c.in.append(buffer, static_cast<std::size_t>(rc));
          int status = 0;
          std::size_t size = 0;
          if (!reply_complete(c.in, status, size)) break;
          ++tally_.requests;
          tally_.bytes += size;
          tally_.latencies_us.push_back(ms_since(c.started) * 1000.0);
          if (status >= 200 && status < 300)
            ++tally_.ok;
          else
            ++tally_.errors_status;
          --busy_;
          if (keep_alive_) {
            c.state = conn_state::idle;
            want(c, i, EPOLLIN);
            return;
          }
          drop(c);
          start(i);
          return;
        }
        case conn_state::idle: {
          // Bytes or a close while idle: the connection is no longer one that waits.
          int rc = SSL_read(c.ssl, buffer, sizeof buffer);
          if (rc > 0) return drop(c);
          int error = SSL_get_error(c.ssl, rc);
          if (error == SSL_ERROR_WANT_READ) return;
          ERR_clear_error();
          return drop(c);
        }
        default:
          return;
      }
    }
  }

  void describe(SSL* ssl) {
    tally_.protocol = SSL_get_version(ssl);
    tally_.cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(ssl));
    int nid = SSL_get_negotiated_group(ssl);
    const char* name = nid > 0 ? OBJ_nid2sn(nid & ~TLSEXT_nid_unknown) : nullptr;
    tally_.group = name ? name : "unknown";
    const unsigned char* proto = nullptr;
    unsigned int length = 0;
    SSL_get0_alpn_selected(ssl, &proto, &length);
    tally_.alpn.assign(reinterpret_cast<const char*>(proto), proto ? length : 0);
  }

  void fail(std::size_t i, std::uint64_t& error_counter) {
    connection& c = conns_[i];
    ++error_counter;
    if (c.state != conn_state::idle && c.state != conn_state::failed &&
        c.state != conn_state::unused) {
      --busy_;
    }
    drop(c);
    c.state = conn_state::failed;
    // Under load a failed connection is replaced (after this round of events, so that a refused
    // connect cannot recurse), and the concurrency stays what was asked.
    if (!keep_alive_) restart_.push_back(i);
  }

  // Closes a connection with a reset: no TIME_WAIT left behind to exhaust the ports.
  void drop(connection& c) {
    if (c.ssl) {
      SSL_free(c.ssl);
      c.ssl = nullptr;
    }
    if (c.fd >= 0) {
      epoll_ctl(epoll_, EPOLL_CTL_DEL, c.fd, nullptr);
      linger l{1, 0};
      setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      ::close(c.fd);
      c.fd = -1;
    }
    c.state = conn_state::unused;
  }

  const options& o_;
  SSL_CTX* ctx_;
  std::vector<connection> conns_;
  int epoll_ = -1;
  sockaddr_in addr_{};
  std::string request_, closing_request_;
  std::vector<std::size_t> restart_;
  bool keep_alive_ = false;
  std::size_t busy_ = 0;  // connections between start and their reply
  std::size_t timed_out_ = 0;
  double connect_ms_ = 0;
  tally tally_;
};

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return -1;
  auto rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size()));
  return sorted[std::min(rank, sorted.size() - 1)];
}

// The tally as JSON members (no braces), each name with `prefix`.
std::string tally_json(tally t, const std::string& prefix) {
  std::sort(t.latencies_us.begin(), t.latencies_us.end());
  double sum = 0;
  for (double v : t.latencies_us) sum += v;
  double mean = t.latencies_us.empty() ? -1 : sum / static_cast<double>(t.latencies_us.size());
  const char* p = prefix.c_str();
  char text[2048];
  std::snprintf(
      text, sizeof text,
      "\"%srequests\":%llu,\"%sok\":%llu,\"%sbytes\":%llu,\"%shandshakes\":%llu,"
      "\"%sresumed\":%llu,\"%stickets\":%llu,\"%serrors_connect\":%llu,"
      "\"%serrors_handshake\":%llu,\"%serrors_write\":%llu,\"%serrors_read\":%llu,"
      "\"%serrors_status\":%llu,\"%slat_mean_us\":%.1f,\"%slat_p50_us\":%.0f,"
      "\"%slat_p90_us\":%.0f,\"%slat_p99_us\":%.0f,\"%slat_p999_us\":%.0f,\"%slat_max_us\":%.0f",
      p, static_cast<unsigned long long>(t.requests), p, static_cast<unsigned long long>(t.ok), p,
      static_cast<unsigned long long>(t.bytes), p, static_cast<unsigned long long>(t.handshakes), p,
      static_cast<unsigned long long>(t.resumed), p, static_cast<unsigned long long>(t.tickets), p,
      static_cast<unsigned long long>(t.errors_connect), p,
      static_cast<unsigned long long>(t.errors_handshake), p,
      static_cast<unsigned long long>(t.errors_write), p,
      static_cast<unsigned long long>(t.errors_read), p,
      static_cast<unsigned long long>(t.errors_status), p, mean, p, percentile(t.latencies_us, 50),
      p, percentile(t.latencies_us, 90), p, percentile(t.latencies_us, 99), p,
      percentile(t.latencies_us, 99.9), p, t.latencies_us.empty() ? -1.0 : t.latencies_us.back());
  return text;
}

std::string negotiated_json(const tally& t) {
  return "\"protocol\":\"" + t.protocol + "\",\"cipher\":\"" + t.cipher + "\",\"group\":\"" +
         t.group + "\",\"alpn\":\"" + t.alpn + "\"";
}

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
    if (::poll(&p, 1, 200) > 0) {
      char buffer[256];
      if (::read(0, buffer, sizeof buffer) <= 0) return;
    }
  }
}

int run_handshakes(const options& o, SSL_CTX* ctx) {
  std::vector<tally> tallies(o.threads);
  std::vector<std::thread> threads;
  auto start = clock_type::now();
  auto deadline = start + std::chrono::duration_cast<clock_type::duration>(
                              std::chrono::duration<double>(o.duration));
  for (unsigned t = 0; t < o.threads; ++t) {
    std::size_t share = o.connections / o.threads + (t < o.connections % o.threads ? 1 : 0);
    threads.emplace_back([&o, ctx, share, deadline, &tallies, t] {
      loop l(o, ctx, share);
      l.run_handshakes(deadline);
      tallies[t] = l.counts();
    });
  }
  for (auto& t : threads) t.join();
  double elapsed_us = ms_since(start) * 1000.0;
  tally all;
  for (const auto& t : tallies) all.add(t);
  std::printf(
      "{\"mode\":\"handshakes\",\"connections\":%zu,\"threads\":%u,\"duration_us\":%.0f,"
      "%s,%s}\n",
      o.connections, o.threads, elapsed_us, tally_json(all, "").c_str(),
      negotiated_json(all).c_str());
  return 0;
}

int run_idle(const options& o, SSL_CTX* ctx) {
  loop l(o, ctx, o.connections);
  l.open_idle();
  std::printf(
      "{\"event\":\"holding\",\"connections\":%zu,\"connected\":%zu,\"connect_ms\":%.1f,"
      "\"timed_out\":%zu,%s,%s}\n",
      o.connections, l.idle_count(), l.connect_ms(), l.timed_out(),
      tally_json(l.counts(), "first_").c_str(), negotiated_json(l.counts()).c_str());
  std::fflush(stdout);
  hold(o.hold_seconds);
  std::size_t still_open = l.idle_count();
  l.second_round();
  std::printf("{\"mode\":\"idle\",\"still_open\":%zu,\"second_timed_out\":%zu,%s}\n", still_open,
              l.timed_out(), tally_json(l.counts(), "second_").c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  options o = parse(argc, argv);
  std::signal(SIGPIPE, SIG_IGN);  // OpenSSL writes to the sockets with write(2)
  raise_open_file_limit();
  SSL_CTX* ctx = make_context();
  int rc = o.mode == "handshakes" ? run_handshakes(o, ctx) : run_idle(o, ctx);
  SSL_CTX_free(ctx);
  return rc;
}

// stubborn_latency_bench: the low-load client behind benchmarks/run.py's `proxy-latency`
// scenario. One keep-alive connection, one request at a time: send a GET, read the whole reply,
// send the next; every request is timed on its own (steady clock, nanoseconds) and kept, so the
// percentiles are exact ranks with no histogram buckets and no coordinated-omission correction
// (wrk's correction adds synthetic samples whenever a reply takes longer than the average
// interval, which at one connection is the latency itself). Connects only to the address it is
// given (the runner passes 127.0.0.1).
//
//   stubborn_latency_bench --port P --path /hello --duration 8 [--warmup 1000]
//
// Prints one JSON line with report.lua's fields (requests, duration_us, bytes, errors_*,
// lat_mean_us, lat_p50_us ... lat_max_us; microseconds, to 0.1 us) plus lat_min_us.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
  std::string path = "/";
  double duration_s = 5;
  std::size_t warmup = 1000;  // requests sent first and not counted
};

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "stubborn_latency_bench: %s\n", message.c_str());
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
    else if (arg == "--path")
      o.path = value();
    else if (arg == "--duration")
      o.duration_s = std::atof(value().c_str());
    else if (arg == "--warmup")
      o.warmup = std::strtoul(value().c_str(), nullptr, 10);
    else
      die("unknown option " + arg);
  }
  if (o.port <= 0 || o.port > 65535) die("--port is required");
  if (o.duration_s <= 0) die("--duration must be positive");
  return o;
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

// How many bytes of `in` the first reply takes once it is complete (0: not complete yet), and
// its status. Content-Length or a chunked body (RFC 9112 6.3); nothing else is expected here.
std::size_t reply_size(std::string_view in, int& status) {
  auto end = in.find("\r\n\r\n");
  if (end == std::string_view::npos) return 0;
  std::string_view head = in.substr(0, end + 2);
  if (head.size() < 12) return 0;
  status = std::atoi(std::string(head.substr(9, 3)).c_str());
  std::size_t length = 0;
  bool chunked = false;
  for (std::size_t pos = head.find("\r\n"); pos != std::string_view::npos && pos + 2 < head.size();
       pos = head.find("\r\n", pos + 2)) {
    std::string_view line = head.substr(pos + 2);
    line = line.substr(0, line.find("\r\n"));
    if (iequal_prefix(line, "content-length:"))
      length = std::strtoul(std::string(line.substr(15)).c_str(), nullptr, 10);
    else if (iequal_prefix(line, "transfer-encoding:") &&
             line.find("chunked") != std::string_view::npos)
      chunked = true;
  }
  std::size_t body = end + 4;
  if (!chunked) return in.size() >= body + length ? body + length : 0;
  // Chunks: size line, data, CRLF; the last has size 0 and no trailers are expected.
  std::size_t pos = body;
  while (true) {
    auto eol = in.find("\r\n", pos);
    if (eol == std::string_view::npos) return 0;
    std::size_t size = std::strtoul(std::string(in.substr(pos, eol - pos)).c_str(), nullptr, 16);
    if (size == 0) return in.size() >= eol + 4 ? eol + 4 : 0;
    pos = eol + 2 + size + 2;
    if (pos > in.size()) return 0;
  }
}

struct result {
  std::vector<std::int64_t> latencies_ns;
  std::size_t bytes = 0, errors_status = 0, errors_read = 0, errors_write = 0;
  double duration_us = 0;
};

class connection {
 public:
  explicit connection(const options& o) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) die("socket failed");
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(o.port));
    if (inet_pton(AF_INET, o.host.c_str(), &addr.sin_addr) != 1) die("bad --host " + o.host);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
      die("connect failed: " + std::string(std::strerror(errno)));
    request_ = "GET " + o.path + " HTTP/1.1\r\nHost: " + o.host + ":" + std::to_string(o.port) +
               "\r\n\r\n";
    in_.reserve(65536);
  }

  ~connection() {
    linger l{1, 0};  // RST: no TIME_WAIT left behind
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(fd_);
  }

  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // One request and its whole reply: false when the connection failed (counted in `r`).
  bool exchange(result& r, int& status) {
    if (::send(fd_, request_.data(), request_.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request_.size())) {
      ++r.errors_write;
      return false;
    }
    char buffer[16384];
    while (true) {
      std::size_t size = reply_size(in_, status);
      if (size != 0) {
        r.bytes += size;
        in_.erase(0, size);
        return true;
      }
      ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
      if (got <= 0) {
        if (got < 0 && errno == EINTR) continue;
        ++r.errors_read;
        return false;
      }
      in_.append(buffer, static_cast<std::size_t>(got));
    }
  }

 private:
  int fd_ = -1;
  std::string request_;
  std::string in_;
};

double pct_us(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  // Nearest rank: the smallest value with at least p % of the samples at or below it.
  auto rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size()) + 0.999999);
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  options o = parse(argc, argv);
  connection c(o);
  result r;
  int status = 0;
  for (std::size_t i = 0; i < o.warmup; ++i) {
    if (!c.exchange(r, status)) die("the connection failed during the warm-up");
  }
  r = result{};
  r.latencies_ns.reserve(1 << 20);
  auto start = clock_type::now();
  auto deadline = start + std::chrono::duration_cast<clock_type::duration>(
                              std::chrono::duration<double>(o.duration_s));
  while (true) {
    auto sent = clock_type::now();
    if (sent >= deadline) break;
    if (!c.exchange(r, status)) break;
    r.latencies_ns.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - sent).count());
    if (status < 200 || status > 299) ++r.errors_status;
  }
  r.duration_us = std::chrono::duration<double, std::micro>(clock_type::now() - start).count();
  auto sorted = r.latencies_ns;
  std::sort(sorted.begin(), sorted.end());
  double sum = 0;
  for (auto v : sorted) sum += static_cast<double>(v);
  double mean = sorted.empty() ? 0 : sum / static_cast<double>(sorted.size()) / 1000.0;
  std::printf(
      "{\"requests\":%zu,\"duration_us\":%.0f,\"bytes\":%zu,\"errors_connect\":0,"
      "\"errors_read\":%zu,\"errors_write\":%zu,\"errors_status\":%zu,\"errors_timeout\":0,"
      "\"lat_mean_us\":%.1f,\"lat_min_us\":%.1f,\"lat_p50_us\":%.1f,\"lat_p90_us\":%.1f,"
      "\"lat_p99_us\":%.1f,\"lat_p999_us\":%.1f,\"lat_max_us\":%.1f,\"lat_method\":\"client\"}\n",
      sorted.size(), r.duration_us, r.bytes, r.errors_read, r.errors_write, r.errors_status, mean,
      sorted.empty() ? 0.0 : static_cast<double>(sorted.front()) / 1000.0, pct_us(sorted, 50),
      pct_us(sorted, 90), pct_us(sorted, 99), pct_us(sorted, 99.9),
      sorted.empty() ? 0.0 : static_cast<double>(sorted.back()) / 1000.0);
  return r.errors_read + r.errors_write ? 1 : 0;
}

// Running out of file descriptors, over real sockets: with the process's open-file limit lowered,
// clients fill the descriptor table until the server's accept fails with EMFILE. The server must
// keep its accept loop (backing off, not spinning), leave the next connection waiting, and serve
// again as soon as descriptors are free. ctest runs each test case in its own process, and the
// limit is restored when the test ends.

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <memory>
#include <vector>

#include "harness.hpp"

using namespace stubborn::testing;
using namespace std::chrono_literals;

namespace {

const char* routes = R"(
[[route]]
method = "GET"
path = "/ok"
[route.reply]
body = "ok"
)";

/// The soft open-file limit, changed for the life of this object and then restored.
class open_file_limit {
 public:
  open_file_limit() { getrlimit(RLIMIT_NOFILE, &saved_); }
  ~open_file_limit() { setrlimit(RLIMIT_NOFILE, &saved_); }
  open_file_limit(const open_file_limit&) = delete;
  open_file_limit& operator=(const open_file_limit&) = delete;

  bool set_soft(rlim_t soft) {
    rlimit limit = saved_;
    limit.rlim_cur = soft;
    return setrlimit(RLIMIT_NOFILE, &limit) == 0;
  }
  rlim_t soft() const { return saved_.rlim_cur; }
  rlim_t hard() const { return saved_.rlim_max; }

 private:
  rlimit saved_{};
};

/// Client sockets opened before the limit is lowered, at descriptor numbers above it: a lowered
/// limit stops new descriptors, not ones already open, so the clients never compete with the
/// server for a descriptor. Those not handed out are closed on destruction.
class spare_sockets {
 public:
  spare_sockets(int count, int at_or_above) {
    for (int i = 0; i < count; ++i) {
      int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (s < 0) break;
      int high = ::fcntl(s, F_DUPFD_CLOEXEC, at_or_above);
      ::close(s);
      if (high < 0) break;
      fds_.push_back(high);
    }
  }
  ~spare_sockets() {
    for (int fd : fds_) ::close(fd);
  }
  spare_sockets(const spare_sockets&) = delete;
  spare_sockets& operator=(const spare_sockets&) = delete;

  std::size_t size() const { return fds_.size(); }
  bool empty() const { return fds_.empty(); }
  open_socket take() {
    int fd = fds_.back();
    fds_.pop_back();
    return open_socket{fd};
  }

 private:
  std::vector<int> fds_;
};

int lowest_free_descriptor() {
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) ::close(fd);
  return fd;
}

double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

}  // namespace

TEST_CASE(
    "out of descriptors, the server leaves new connections waiting and serves them once "
    "descriptors are free",
    "[server][emfile]") {
  running_server server(routes);
  const std::uint16_t port = server.port();
  REQUIRE(stubborn::testing::exchange(port, get("/ok")).status == 200);

  open_file_limit limit;
  const int lowest = lowest_free_descriptor();
  REQUIRE(lowest >= 0);
  // The server gets at most `headroom` descriptors (holes below the new limit count too), and
  // we hold more client sockets than that, so it runs out before we do.
  const int headroom = 24;
  const int clients = 2 * headroom;
  const int high = std::max(256, lowest + 4 * headroom);
  const auto needed = static_cast<rlim_t>(high + clients + 16);
  if (limit.soft() < needed) {
    if (limit.hard() < needed) {
      WARN("open-file hard limit " << limit.hard() << " is below " << needed << ": not run");
      return;
    }
    REQUIRE(limit.set_soft(needed));
  }
  spare_sockets spare(clients, high);
  REQUIRE(spare.size() == static_cast<std::size_t>(clients));
  REQUIRE(limit.set_soft(static_cast<rlim_t>(lowest + headroom)));

  // Connect until one connection is not served within a second: the server could not accept.
  std::vector<std::unique_ptr<raw_client>> held;
  std::unique_ptr<raw_client> waiting;
  while (!waiting && !spare.empty()) {
    auto client = std::make_unique<raw_client>(spare.take(), port, 1000ms);
    client->send(get("/ok"));
    try {
      http_response r = client->read_response();
      REQUIRE(r.status == 200);
      held.push_back(std::move(client));
    } catch (const std::runtime_error&) {
      waiting = std::move(client);
    }
  }
  INFO(held.size() << " connections served before the server ran out of descriptors");
  REQUIRE(waiting);
  CHECK(!held.empty());
  // The table is full (so the accept failed with EMFILE, not for another reason): this process
  // cannot open a descriptor either.
  int probe = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int probe_error = errno;
  if (probe >= 0) ::close(probe);
  CHECK(probe < 0);
  CHECK(probe_error == EMFILE);

  // Still out: the waiting connection gets nothing, and the accept loop backs off (50 ms)
  // instead of retrying at once, which would keep a core busy.
  double cpu0 = process_cpu_seconds();
  auto wall0 = std::chrono::steady_clock::now();
  auto [early, early_end] = waiting->read_until_close(500ms);
  std::chrono::duration<double> wall = std::chrono::steady_clock::now() - wall0;
  double cpu = process_cpu_seconds() - cpu0;
  CHECK(early.empty());
  CHECK(early_end == connection_end::timeout);
  INFO("CPU " << cpu << " s over " << wall.count() << " s while out of descriptors");
  CHECK(cpu < 0.25 * wall.count());

  // Free the descriptors: our ends close, the server reads end of stream and closes its ends.
  held.clear();
  auto freed = std::chrono::steady_clock::now();
  http_response late = waiting->read_response();  // throws if nothing comes within 1 s
  CHECK(late.status == 200);
  CHECK(late.body == "ok");
  raw_client fresh(spare.take(), port, 1000ms);
  fresh.send(get("/ok"));
  http_response r = fresh.read_response();
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - freed;
  CHECK(r.status == 200);
  CHECK(r.body == "ok");
  INFO("served " << elapsed.count() << " s after descriptors were freed");
  CHECK(elapsed < 1s);
}

#include "redis_process.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace stubborn::testing {

namespace {

using clock_type = std::chrono::steady_clock;

// A port the kernel just handed out for 127.0.0.1 (redis-server cannot bind port 0).
unsigned short free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("redis_process: socket() failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t size = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    ::close(fd);
    throw std::runtime_error("redis_process: cannot find a free port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

// Sends PING on a fresh connection; true if Redis answers (+PONG, or -NOAUTH with a password).
bool answers_ping(unsigned short port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::send(fd, "PING\r\n", 6, MSG_NOSIGNAL) == 6) {
    pollfd waiting{fd, POLLIN, 0};
    char reply[64];
    if (::poll(&waiting, 1, 500) == 1) {
      const auto n = ::recv(fd, reply, sizeof reply, 0);
      ok = n > 0 && (reply[0] == '+' || reply[0] == '-');
    }
  }
  ::close(fd);
  return ok;
}

}  // namespace

std::string find_redis_server() {
  if (const char* path = std::getenv("PATH")) {
    std::stringstream folders(path);
    std::string folder;
    while (std::getline(folders, folder, ':')) {
      if (folder.empty()) continue;
      const auto candidate = std::filesystem::path(folder) / "redis-server";
      if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
  }
  if (::access("/usr/bin/redis-server", X_OK) == 0) return "/usr/bin/redis-server";
  return {};
}

redis_process::redis_process(redis_process_options options) : options_(std::move(options)) {
  if (find_redis_server().empty())
    throw std::runtime_error(
        "redis-server is not installed (not on PATH nor in /usr/bin): the [redis] tests need "
        "it; scripts/setup.sh installs it (Debian package redis-server)");
  char pattern[] = "/tmp/stubborn-redis-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("redis_process: mkdtemp failed");
  dir_ = pattern;
  // Another process may take the port between free_port() and redis-server's bind: retry.
  for (int tries = 0; tries < 5; ++tries) {
    port_ = free_port();
    launch();
    if (wait_until_answering()) return;
    stop();
  }
  const auto log = log_text();
  std::filesystem::remove_all(dir_);
  throw std::runtime_error("redis-server did not start; its log:\n" + log);
}

redis_process::~redis_process() {
  stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string redis_process::unix_path() const {
  return options_.unix_socket ? (dir_ / "redis.sock").string() : std::string();
}

std::string redis_process::url(const std::string& suffix) const {
  return "redis://127.0.0.1:" + std::to_string(port_) + suffix;
}

void redis_process::launch() {
  const std::string binary = find_redis_server();
  std::vector<std::string> args{binary,
                                "--port",
                                std::to_string(port_),
                                "--bind",
                                "127.0.0.1",
                                "--save",
                                "",
                                "--appendonly",
                                "no",
                                "--dir",
                                dir_.string(),
                                "--logfile",
                                (dir_ / "redis.log").string(),
                                "--daemonize",
                                "no"};
  if (!options_.password.empty()) {
    args.emplace_back("--requirepass");
    args.push_back(options_.password);
  }
  if (options_.unix_socket) {
    args.emplace_back("--unixsocket");
    args.push_back(unix_path());
    args.emplace_back("--unixsocketperm");
    args.emplace_back("700");
  }
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("redis_process: fork failed");
  if (pid == 0) {
    ::close_range(3, ~0U, 0);  // the test's sockets stay the test's
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  paused_ = false;
}

bool redis_process::wait_until_answering() {
  const auto deadline = clock_type::now() + std::chrono::seconds(10);
  while (clock_type::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    if (answers_ping(port_)) return true;
    // Polling a process that gives no other sign of readiness.
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

void redis_process::stop() {
  if (pid_ <= 0) return;
  if (paused_) ::kill(pid_, SIGCONT);
  paused_ = false;
  ::kill(pid_, SIGTERM);
  const auto deadline = clock_type::now() + std::chrono::seconds(5);
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (clock_type::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  pid_ = -1;
}

void redis_process::restart() {
  stop();
  launch();
  if (!wait_until_answering())
    throw std::runtime_error("redis-server did not start again on port " + std::to_string(port_) +
                             "; its log:\n" + log_text());
}

void redis_process::pause() {
  if (pid_ > 0 && ::kill(pid_, SIGSTOP) == 0) paused_ = true;
}

void redis_process::resume() {
  if (pid_ > 0 && ::kill(pid_, SIGCONT) == 0) paused_ = false;
}

std::string redis_process::log_text() const {
  std::ifstream in(dir_ / "redis.log");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace stubborn::testing

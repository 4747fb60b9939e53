#pragma once
// A redis-server the test starts on 127.0.0.1 and a free port, in a temporary folder, with no
// persistence; it can be stopped, restarted on the same port, paused (SIGSTOP) and resumed.

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace stubborn::testing {

/// How to start a redis-server.
struct redis_process_options {
  std::string password;      ///< --requirepass ("" = none)
  bool unix_socket = false;  ///< also listen on a unix socket (unix_path())
};

/// A redis-server on 127.0.0.1 (and a unix socket when asked); stopped on destruction. Throws
/// std::runtime_error with a clear message when redis-server is not installed or does not start.
class redis_process {
 public:
  explicit redis_process(redis_process_options options = {});
  ~redis_process();
  redis_process(const redis_process&) = delete;
  redis_process& operator=(const redis_process&) = delete;

  unsigned short port() const { return port_; }
  /// The unix socket's path ("" unless asked for).
  std::string unix_path() const;
  /// "redis://127.0.0.1:<port>" with `suffix` appended (e.g. "/3").
  std::string url(const std::string& suffix = "") const;
  /// SIGTERM, and waits until it has exited (SIGKILL after 5 s).
  void stop();
  /// Starts it again on the same port, and waits until it answers.
  void restart();
  /// SIGSTOP: the socket stays open, nothing answers.
  void pause();
  /// SIGCONT.
  void resume();
  bool running() const { return pid_ > 0; }

 private:
  void launch();
  bool wait_until_answering();  // false if the process exited (e.g. the port was taken)
  std::string log_text() const;

  redis_process_options options_;
  std::filesystem::path dir_;
  unsigned short port_ = 0;
  pid_t pid_ = -1;
  bool paused_ = false;
};

/// The redis-server binary (PATH, then /usr/bin), or "" if there is none.
std::string find_redis_server();

}  // namespace stubborn::testing

#pragma once
// The access log: one JSON object per line, to a file or stdout. I/O threads never write or
// wait: each appends to its own buffer (a plain string, touched only by that thread), and the
// registry's periodic sweep hands full buffers to a writer thread under a short lock taken once
// per sweep, not per request. If the writer falls far behind, lines are dropped and counted
// rather than slowing the server.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace stubborn {

class access_log {
 public:
  /// Opens `path` for appending ("-" = stdout) and starts the writer; throws
  /// std::system_error if the file cannot be opened.
  access_log(const std::string& path, unsigned threads);
  /// Writes what is queued, then stops the writer.
  ~access_log();
  access_log(const access_log&) = delete;
  access_log& operator=(const access_log&) = delete;

  /// The buffer an I/O thread appends its lines to (each line ending in '\n').
  std::string& buffer(unsigned thread) { return buffers_[thread].text; }
  /// Called by an I/O thread now and then: queues what its buffer holds.
  void hand_over(unsigned thread);
  /// Lines dropped because the writer was too far behind.
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  struct alignas(64) thread_buffer {
    std::string text;
  };
  void write_loop();

  int fd_ = -1;
  bool owns_fd_ = false;
  std::vector<thread_buffer> buffers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::string> queue_;
  std::size_t queued_bytes_ = 0;
  bool stopping_ = false;
  std::atomic<std::uint64_t> dropped_{0};
  std::thread writer_;
};

}  // namespace stubborn

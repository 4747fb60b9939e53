#include "control/access_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace stubborn {

namespace {
// Queued but not yet written: beyond this, new batches are dropped.
constexpr std::size_t max_queued_bytes = 64 * 1024 * 1024;
}  // namespace

access_log::access_log(const std::string& path, unsigned threads) : buffers_(threads) {
  if (path == "-") {
    fd_ = STDOUT_FILENO;
  } else {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "cannot open " + path);
    owns_fd_ = true;
  }
  writer_ = std::thread([this] { write_loop(); });
}

access_log::~access_log() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  writer_.join();
  if (owns_fd_) ::close(fd_);
}

void access_log::hand_over(unsigned thread) {
  std::string& text = buffers_[thread].text;
  if (text.empty()) return;
  {
    std::lock_guard lock(mutex_);
    if (queued_bytes_ + text.size() > max_queued_bytes) {
      dropped_.fetch_add(static_cast<std::uint64_t>(std::count(text.begin(), text.end(), '\n')),
                         std::memory_order_relaxed);
      text.clear();
      return;
    }
    queued_bytes_ += text.size();
    queue_.push_back(std::move(text));
  }
  text = std::string();
  wake_.notify_one();
}

void access_log::write_loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty() && stopping_) return;
    std::string batch = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= batch.size();
    lock.unlock();
    std::string_view rest = batch;
    while (!rest.empty()) {
      ssize_t n = ::write(fd_, rest.data(), rest.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // a full disk or a closed pipe: the batch is lost, the server goes on
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
    lock.lock();
  }
}

}  // namespace stubborn

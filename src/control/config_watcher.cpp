#include "control/config_watcher.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>

namespace stubborn {

namespace fs = std::filesystem;

namespace {

bool ends_with_toml(const std::string& name) {
  return name.size() > 5 && name.compare(name.size() - 5, 5, ".toml") == 0;
}

}  // namespace

config_watcher::config_watcher(const std::vector<std::string>& files,
                               const std::vector<std::string>& sources,
                               std::function<void()> on_change, std::chrono::milliseconds quiet)
    : on_change_(std::move(on_change)), quiet_(quiet) {
  inotify_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_ < 0) throw std::system_error(errno, std::generic_category(), "inotify_init1");
  stop_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (stop_ < 0) {
    ::close(inotify_);
    throw std::system_error(errno, std::generic_category(), "eventfd");
  }
  // Watching the folder, not the file, sees a file replaced by rename (what most editors do).
  constexpr std::uint32_t mask =
      IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE;
  auto add = [&](const std::string& folder, const std::string& name) {
    auto found = std::find_if(watches_.begin(), watches_.end(),
                              [&](const watch& w) { return w.folder == folder; });
    if (found == watches_.end()) {
      int descriptor = inotify_add_watch(inotify_, folder.c_str(), mask);
      if (descriptor < 0) return;  // a folder we cannot watch: reload still works on SIGHUP
      watches_.push_back({descriptor, folder, false, {}});
      found = watches_.end() - 1;
    }
    if (name.empty())
      found->every_toml = true;
    else
      found->names.push_back(name);
  };
  std::error_code ec;
  for (const auto& source : sources) {
    if (fs::is_directory(source, ec)) add(source, {});
  }
  for (const auto& file : files) {
    fs::path path(file);
    std::string folder = path.parent_path().string();
    add(folder.empty() ? "." : folder, path.filename().string());
  }
  thread_ = std::thread([this] { run(); });
}

config_watcher::~config_watcher() {
  std::uint64_t one = 1;
  (void)!::write(stop_, &one, sizeof one);
  thread_.join();
  ::close(stop_);
  ::close(inotify_);
}

bool config_watcher::wanted(int descriptor, const std::string& name) const {
  for (const auto& w : watches_) {
    if (w.descriptor != descriptor) continue;
    if (w.every_toml && ends_with_toml(name)) return true;
    return std::find(w.names.begin(), w.names.end(), name) != w.names.end();
  }
  return false;
}

void config_watcher::run() {
  alignas(inotify_event) char buffer[16 * 1024];
  bool pending = false;
  for (;;) {
    pollfd fds[2] = {{inotify_, POLLIN, 0}, {stop_, POLLIN, 0}};
    int n = ::poll(fds, 2, pending ? static_cast<int>(quiet_.count()) : -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || (fds[1].revents & POLLIN)) return;
    if (n == 0) {
      // Quiet for a while after a change: now read the files.
      pending = false;
      on_change_();
      continue;
    }
    for (;;) {
      ssize_t length = ::read(inotify_, buffer, sizeof buffer);
      if (length <= 0) break;
      for (char* p = buffer; p < buffer + length;) {
        const auto* event = reinterpret_cast<const inotify_event*>(p);
        if (event->len > 0 && wanted(event->wd, event->name)) pending = true;
        p += sizeof(inotify_event) + event->len;
      }
    }
  }
}

}  // namespace stubborn

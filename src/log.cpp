#include "log.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

namespace stubborn {

namespace {
std::atomic<int> current_level{static_cast<int>(log_level::info)};
std::mutex output_mutex;
}  // namespace

void set_log_level(log_level level) {
  current_level.store(static_cast<int>(level));
}

bool parse_log_level(std::string_view text, log_level& level) {
  static constexpr std::pair<std::string_view, log_level> names[] = {{"error", log_level::error},
                                                                     {"warn", log_level::warn},
                                                                     {"info", log_level::info},
                                                                     {"debug", log_level::debug}};
  for (const auto& [name, value] : names) {
    if (name == text) {
      level = value;
      return true;
    }
  }
  return false;
}

bool log_enabled(log_level level) {
  return static_cast<int>(level) <= current_level.load(std::memory_order_relaxed);
}

void log(log_level level, std::string_view message) {
  if (!log_enabled(level)) return;
  static constexpr const char* prefixes[] = {"error: ", "warning: ", "", "debug: "};
  std::string line = prefixes[static_cast<int>(level)];
  line.append(message);
  line.push_back('\n');
  std::lock_guard lock(output_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace stubborn

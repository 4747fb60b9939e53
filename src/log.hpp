#pragma once
// Minimal leveled logging to stderr, for start-up, shutdown and rare events: never per request.

#include <string_view>

namespace stubborn {

enum class log_level { error = 0, warn = 1, info = 2, debug = 3 };

/// Sets the most verbose level that is printed (default: info).
void set_log_level(log_level level);
/// Parses "error", "warn", "info" or "debug"; false if unknown.
bool parse_log_level(std::string_view text, log_level& level);
/// True if messages at `level` are printed.
bool log_enabled(log_level level);
/// Prints one line, prefixed with the level.
void log(log_level level, std::string_view message);

}  // namespace stubborn

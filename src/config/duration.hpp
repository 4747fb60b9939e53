#pragma once
// Durations ("250ms", "1.5s") and sizes ("64KiB", "10kB") as written in config files.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string_view>

namespace stubborn {

/// "250ms", "2s", "1.5s", "1m", "1h": a non-negative number with a unit; nullopt otherwise.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

/// "512", "512B", "10KB" / "10kB" (x1000), "64KiB" (x1024), MB, MiB, GB, GiB; nullopt otherwise.
std::optional<std::size_t> parse_size(std::string_view text);

}  // namespace stubborn

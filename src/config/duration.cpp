#include "config/duration.hpp"

#include <cstdint>
#include <limits>

namespace stubborn {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Reads a run of decimal digits into `value`; false if there is none or it overflows.
bool read_digits(std::string_view& text, std::uint64_t& value, std::size_t& count) {
  value = 0;
  count = 0;
  while (count < text.size() && is_digit(text[count])) {
    const std::uint64_t digit = static_cast<std::uint64_t>(text[count] - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return false;
    value = value * 10 + digit;
    ++count;
  }
  text.remove_prefix(count);
  return count > 0;
}

bool checked_multiply(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return false;
  out = a * b;
  return true;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  std::uint64_t whole = 0;
  std::size_t whole_digits = 0;
  if (!read_digits(text, whole, whole_digits)) return std::nullopt;

  // The fraction is kept as digits so that "1.5s" is exact: no floating point.
  std::string_view fraction;
  if (!text.empty() && text.front() == '.') {
    text.remove_prefix(1);
    std::size_t n = 0;
    while (n < text.size() && is_digit(text[n])) ++n;
    if (n == 0) return std::nullopt;
    fraction = text.substr(0, n);
    text.remove_prefix(n);
  }

  std::uint64_t unit_ms = 0;
  if (text == "ms") {
    unit_ms = 1;
  } else if (text == "s") {
    unit_ms = 1000;
  } else if (text == "m") {
    unit_ms = 60'000;
  } else if (text == "h") {
    unit_ms = 3'600'000;
  } else {
    return std::nullopt;
  }

  std::uint64_t total = 0;
  if (!checked_multiply(whole, unit_ms, total)) return std::nullopt;

  // fraction digits d1 d2 ... dn contribute unit_ms * d / 10^n; it must come out whole.
  std::uint64_t numerator = 0;
  std::uint64_t denominator = 1;
  for (char c : fraction) {
    if (denominator > std::numeric_limits<std::uint64_t>::max() / 10 / unit_ms) {
      // Beyond this many digits only trailing zeros can still give whole milliseconds.
      if (c != '0') return std::nullopt;
      continue;
    }
    numerator = numerator * 10 + static_cast<std::uint64_t>(c - '0');
    denominator *= 10;
  }
  const std::uint64_t scaled = numerator * unit_ms;
  if (scaled % denominator != 0) return std::nullopt;
  const std::uint64_t extra = scaled / denominator;
  if (total > std::numeric_limits<std::uint64_t>::max() - extra) return std::nullopt;
  total += extra;

  using rep = std::chrono::milliseconds::rep;
  if (total > static_cast<std::uint64_t>(std::numeric_limits<rep>::max())) return std::nullopt;
  return std::chrono::milliseconds{static_cast<rep>(total)};
}

std::optional<std::size_t> parse_size(std::string_view text) {
  std::uint64_t count = 0;
  std::size_t digits = 0;
  if (!read_digits(text, count, digits)) return std::nullopt;

  struct unit {
    std::string_view suffix;
    std::uint64_t factor;
  };
  static constexpr unit units[] = {
      {"", 1},
      {"B", 1},
      {"KB", 1000},
      {"kB", 1000},
      {"MB", 1000 * 1000},
      {"GB", 1000 * 1000 * 1000},
      {"KiB", 1024},
      {"MiB", 1024 * 1024},
      {"GiB", 1024 * 1024 * 1024},
  };
  for (const unit& u : units) {
    if (text != u.suffix) continue;
    std::uint64_t bytes = 0;
    if (!checked_multiply(count, u.factor, bytes)) return std::nullopt;
    if constexpr (sizeof(std::size_t) < sizeof(std::uint64_t)) {
      if (bytes > std::numeric_limits<std::size_t>::max()) return std::nullopt;
    }
    return static_cast<std::size_t>(bytes);
  }
  return std::nullopt;
}

}  // namespace stubborn

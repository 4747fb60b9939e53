#pragma once

#include <chrono>
#include <ctime>
#include <string>
#include <string_view>

namespace stubborn {

/// Length of an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT").
inline constexpr std::size_t http_date_length = 29;

/// The current time as an IMF-fixdate (RFC 9110 §5.6.7), cached per thread and per second.
std::string_view current_http_date();

/// Formats `t` as an IMF-fixdate into `out` (at least http_date_length bytes).
void format_http_date(std::time_t t, char* out);

/// `t` as RFC 3339 UTC with microseconds: "2026-11-24T04:10:00.123456Z" (journal, access log).
std::string rfc3339_utc(std::chrono::system_clock::time_point t);

}  // namespace stubborn

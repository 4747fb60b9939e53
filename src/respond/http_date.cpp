#include "respond/http_date.hpp"

#include <cstdio>

namespace stubborn {

void format_http_date(std::time_t t, char* out) {
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  gmtime_r(&t, &tm);
  auto two = [](char* p, int v) {
    p[0] = static_cast<char>('0' + v / 10);
    p[1] = static_cast<char>('0' + v % 10);
  };
  const char* day = days[tm.tm_wday];
  const char* month = months[tm.tm_mon];
  int year = tm.tm_year + 1900;
  out[0] = day[0], out[1] = day[1], out[2] = day[2], out[3] = ',', out[4] = ' ';
  two(out + 5, tm.tm_mday);
  out[7] = ' ';
  out[8] = month[0], out[9] = month[1], out[10] = month[2], out[11] = ' ';
  two(out + 12, year / 100 % 100);
  two(out + 14, year % 100);
  out[16] = ' ';
  two(out + 17, tm.tm_hour);
  out[19] = ':';
  two(out + 20, tm.tm_min);
  out[22] = ':';
  two(out + 23, tm.tm_sec);
  out[25] = ' ', out[26] = 'G', out[27] = 'M', out[28] = 'T';
}

std::string_view current_http_date() {
  // time() is a vDSO call; formatting happens once a second per thread.
  thread_local std::time_t cached_second = -1;
  thread_local char cached[http_date_length];
  std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    format_http_date(now, cached);
    cached_second = now;
  }
  return {cached, http_date_length};
}

std::string rfc3339_utc(std::chrono::system_clock::time_point t) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch());
  const auto seconds = static_cast<std::time_t>(us.count() / 1'000'000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(us.count() % 1'000'000));
  return text;
}

}  // namespace stubborn

#include <catch2/catch.hpp>

#include "config/duration.hpp"

using stubborn::parse_duration;
using stubborn::parse_size;
using namespace std::chrono_literals;

TEST_CASE("parse_duration accepts a number with a unit", "[duration]") {
  CHECK(parse_duration("250ms") == 250ms);
  CHECK(parse_duration("2s") == 2000ms);
  CHECK(parse_duration("1.5s") == 1500ms);
  CHECK(parse_duration("0.25s") == 250ms);
  CHECK(parse_duration("1m") == 60'000ms);
  CHECK(parse_duration("1.5m") == 90'000ms);
  CHECK(parse_duration("1h") == 3'600'000ms);
  CHECK(parse_duration("0s") == 0ms);
  CHECK(parse_duration("0ms") == 0ms);
  CHECK(parse_duration("010s") == 10'000ms);
  CHECK(parse_duration("1.500000000000000000000s") == 1500ms);
}

TEST_CASE("parse_duration rejects everything else", "[duration]") {
  for (const char* text : {"",
                           "10",
                           "1.5",
                           "s",
                           "-1s",
                           "+1s",
                           "1 s",
                           " 1s",
                           "1s ",
                           "1.s",
                           ".5s",
                           "1,5s",
                           "1S",
                           "1sec",
                           "1d",
                           "1us",
                           "1.2.3s",
                           "0.5ms",
                           "1.0005s",
                           "99999999999999999999s",
                           "9223372036854775807h"}) {
    INFO(text);
    CHECK_FALSE(parse_duration(text).has_value());
  }
}

TEST_CASE("parse_size accepts bytes and SI or binary units", "[duration]") {
  CHECK(parse_size("0") == 0u);
  CHECK(parse_size("512") == 512u);
  CHECK(parse_size("512B") == 512u);
  CHECK(parse_size("10KB") == 10'000u);
  CHECK(parse_size("10kB") == 10'000u);
  CHECK(parse_size("64KiB") == 64u * 1024);
  CHECK(parse_size("3MB") == 3'000'000u);
  CHECK(parse_size("8MiB") == 8u * 1024 * 1024);
  CHECK(parse_size("2GB") == 2'000'000'000u);
  CHECK(parse_size("1GiB") == 1024u * 1024 * 1024);
}

TEST_CASE("parse_size rejects everything else", "[duration]") {
  for (const char* text : {"", "KiB", "-1", "+1", "1.5MiB", "64 KiB", "64kib", "64Kb", "64K", "1TB",
                           "1e3", "0x10", "18446744073709551616", "17179869184GiB"}) {
    INFO(text);
    CHECK_FALSE(parse_size(text).has_value());
  }
}

#pragma once
// How the fragmentation targets read an input: the split points (taken from its end, as
// FuzzedDataProvider takes integers, so the request-path corpus works as it is), then the
// request bytes, cut at those points.

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "session_driver.hpp"

namespace stubborn::fuzz {

/// Reads the request bytes into `input` and returns the pieces they are cut into (views into
/// `input`, in order, together all of it).
inline std::vector<std::string_view> read_fragmented(const std::uint8_t* data, std::size_t size,
                                                     std::string& input) {
  FuzzedDataProvider provider(data, size);
  std::size_t splits = provider.ConsumeIntegralInRange<std::size_t>(0, 12);
  std::vector<std::size_t> offsets;
  for (std::size_t i = 0; i < splits; ++i)
    offsets.push_back(provider.ConsumeIntegral<std::uint16_t>());
  // The input always ends with an empty line. Beast parses the first bytes it is given field by
  // field but waits for the whole head once it has asked for more, so a head cut off by the end
  // of the input may be refused at once (400) or never answered, depending on the split. Both
  // are fine for a client that gave up mid-head; with a terminated head the answer must agree.
  input = provider.ConsumeRemainingBytesAsString() + "\r\n\r\n";
  for (auto& offset : offsets) offset = input.empty() ? 0 : offset % (input.size() + 1);
  std::sort(offsets.begin(), offsets.end());
  offsets.erase(std::unique(offsets.begin(), offsets.end()), offsets.end());

  std::vector<std::string_view> pieces;
  std::size_t start = 0;
  for (std::size_t offset : offsets) {
    if (offset > start) pieces.push_back(std::string_view(input).substr(start, offset - start));
    start = std::max(start, offset);
  }
  pieces.push_back(std::string_view(input).substr(start));
  return pieces;
}

/// Aborts with `what` unless the two normalized answers agree, showing the piece sizes and both.
inline void check_same_answer(std::string_view what, const std::vector<std::string_view>& pieces,
                              const std::string& at_once, const std::string& split) {
  if (at_once == split) return;
  std::string context = "pieces:";
  for (auto p : pieces) context += " " + std::to_string(p.size());
  context += "\n--- at once:\n" + at_once + "\n--- split:\n" + split;
  fail(what, context);
}

}  // namespace stubborn::fuzz

// The same request bytes split at fuzzer-chosen points, with the server running between the
// writes, must be answered with the same bytes as when sent at once (Date values and optional
// 100 Continue interim responses aside). The split points are taken from the end of the input,
// so the request-path corpus works here as it is.

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "response_checker.hpp"
#include "session_driver.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stubborn::fuzz;
  FuzzedDataProvider provider(data, size);
  std::size_t splits = provider.ConsumeIntegralInRange<std::size_t>(0, 12);
  std::vector<std::size_t> offsets;
  for (std::size_t i = 0; i < splits; ++i)
    offsets.push_back(provider.ConsumeIntegral<std::uint16_t>());
  // The input always ends with an empty line. Beast parses the first bytes it is given field by
  // field but waits for the whole head once it has asked for more, so a head cut off by the end
  // of the input may be refused at once (400) or never answered, depending on the split. Both
  // are fine for a client that gave up mid-head; with a terminated head the answer must agree.
  std::string input = provider.ConsumeRemainingBytesAsString() + "\r\n\r\n";
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

  std::string_view whole[] = {input};
  std::string at_once = normalize_for_comparison(run_session(whole));
  std::string split = normalize_for_comparison(run_session(pieces));
  if (at_once != split) {
    std::string context = "pieces:";
    for (auto p : pieces) context += " " + std::to_string(p.size());
    context += "\n--- at once:\n" + at_once + "\n--- split:\n" + split;
    fail("split input answered differently", context);
  }
  return 0;
}

// The same request bytes split at fuzzer-chosen points, with the server running between the
// writes, must be answered with the same bytes as when sent at once (Date values and optional
// 100 Continue interim responses aside). The split points are taken from the end of the input,
// so the request-path corpus works here as it is.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fragmentation.hpp"
#include "response_checker.hpp"
#include "session_driver.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stubborn::fuzz;
  std::string input;
  std::vector<std::string_view> pieces = read_fragmented(data, size, input);
  std::string_view whole[] = {input};
  std::string at_once = normalize_for_comparison(run_session(whole));
  std::string split = normalize_for_comparison(run_session(pieces));
  check_same_answer("split input answered differently", pieces, at_once, split);
  return 0;
}

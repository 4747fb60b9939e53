// Bytes in -> the real session (serve_connection over a socketpair) -> responses out. Beyond
// crashes, leaks and undefined behaviour, the output must be well-formed HTTP/1.1 responses that
// answer the input (response_checker.cpp lists the rules).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "response_checker.hpp"
#include "session_driver.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stubborn::fuzz;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view pieces[] = {input};
  std::string output = run_session(pieces);
  if (std::string why = check_responses(output, input); !why.empty()) fail(why, output);
  return 0;
}

// fuzz_fragmentation over HTTPS: the same request bytes, split at the same fuzzer-chosen points,
// each piece carried in its own TLS record to the real TLS transport (tls_session_driver.hpp),
// must be answered with the bytes plain TCP gets for them sent at once (Date values and optional
// 100 Continue interim responses aside). So one comparison checks both that records split
// anywhere are reassembled as the plain transport's reads are, and that HTTPS answers as HTTP
// does; only bytes the plain port takes for a ClientHello are compared with TLS sent at once
// instead. Its inputs are fuzz_fragmentation's: the same corpus seeds it.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fragmentation.hpp"
#include "response_checker.hpp"
#include "session_driver.hpp"
#include "tls_session_driver.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stubborn::fuzz;
  std::string input;
  std::vector<std::string_view> pieces = read_fragmented(data, size, input);
  std::string_view whole[] = {input};
  std::string at_once = normalize_for_comparison(
      plain_port_takes_for_tls(input) ? run_tls_session(whole) : run_session(whole));
  std::string over_tls = normalize_for_comparison(run_tls_session(pieces));
  check_same_answer("split input answered differently over TLS", pieces, at_once, over_tls);
  return 0;
}

// load_config_text() on arbitrary text must return a config or throw config_error: never crash,
// hang, overflow the stack or throw anything else. A config that loads must also compile.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "routing/route_table.hpp"
#include "stubborn/config_error.hpp"
#include "stubborn/load_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // body_file may name any readable path; keep the fuzzer away from devices and special files
  // (reading /dev/zero never ends) and from the rest of the machine.
  for (std::string_view forbidden : {"/dev", "/proc", "/sys", "/run", ".."}) {
    if (text.find(forbidden) != std::string_view::npos) return -1;
  }
  try {
    stubborn::config cfg = stubborn::load_config_text(text, "fuzz.toml", "/nonexistent-fuzz-dir");
    (void)stubborn::route_table::compile(cfg);
  } catch (const stubborn::config_error&) {
  }
  return 0;
}

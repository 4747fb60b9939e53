// load_routes_json() on arbitrary text must return routes or throw config_error: never crash,
// hang, overflow the stack or throw anything else. Routes that load must also compile, and every
// problem must be positioned inside the text (the token scanner kept in step with the parser).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "routing/route_table.hpp"
#include "stubborn/config_error.hpp"
#include "stubborn/load_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // As in fuzz_config: body_file reads whatever path it is given.
  for (std::string_view forbidden : {"/dev", "/proc", "/sys", "/run", ".."}) {
    if (text.find(forbidden) != std::string_view::npos) return -1;
  }
  const auto lines = static_cast<std::uint32_t>(std::count(text.begin(), text.end(), '\n') + 1);
  try {
    stubborn::config cfg;
    cfg.routes = stubborn::load_routes_json(text, "fuzz.json", "/nonexistent-fuzz-dir");
    (void)stubborn::route_table::compile(cfg);
  } catch (const stubborn::config_error& e) {
    for (const stubborn::config_problem& problem : e.problems()) {
      const stubborn::source_position& where = problem.where;
      if (where.file != "fuzz.json" || where.line < 1 || where.line > lines || where.column < 1 ||
          where.column > size + 1) {
        std::abort();
      }
    }
  }
  return 0;
}

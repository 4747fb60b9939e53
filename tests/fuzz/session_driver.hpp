#pragma once
// Drives the real session code (serve_connection) over a UNIX socketpair on this thread, with no
// timers and no threads: request bytes in, response bytes out. Shared by the fuzz targets.

#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace stubborn {
class route_table;
class server_state;
}  // namespace stubborn

namespace stubborn::fuzz {

/// The fixed route table the request-path targets use (TOML text in session_driver.cpp).
std::shared_ptr<const route_table> fuzz_table();
/// The TOML text fuzz_table() is compiled from.
std::string_view fuzz_routes();

/// Writes each piece in turn, letting the server run until it is idle after each, then shuts
/// down our sending side and returns every byte the server wrote until it closed. Aborts if the
/// server neither closes nor makes progress within a few seconds (a hang).
std::string run_session(std::span<const std::string_view> pieces);
/// The same on a server of the caller's (its own route table).
std::string run_session_on(server_state& state, std::span<const std::string_view> pieces);

/// Aborts with `what` and a printable excerpt of `context` (a fuzzing violation).
[[noreturn]] void fail(std::string_view what, std::string_view context);

}  // namespace stubborn::fuzz

// A valid WebSocket upgrade, then arbitrary client bytes -> the real session and the WebSocket
// handler (Beast's framing under the route's script) over a socketpair. Whatever the bytes (bad
// frames, unmasked frames, huge lengths, fragments, control frames, closes), the server must
// not crash, hang or leak, and must end the connection when the client stops sending.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "routing/route_table.hpp"
#include "session_driver.hpp"
#include "stubborn/load_config.hpp"
#include "wire/server_state.hpp"

namespace {

constexpr std::string_view routes = R"(
[[route]]
name = "ws"
path = "/ws/{room}"
[route.websocket]
subprotocols = ["a", "b"]
on_open = [ { send = "hello {{path.room}}" }, { ping = "p", delay = "1ms" } ]
max_message_bytes = 512
[[route.websocket.on_message]]
match = { equals = "close" }
reply = [ { close = { code = 4000, reason = "bye" } } ]
[[route.websocket.on_message]]
match = { equals = "quiet" }
reply = [ { send = "shh", fault = "no-close-reply" } ]
[[route.websocket.on_message]]
match = { json = { id = 1 } }
reply = [ { send = "{{json.id}} {{message}}", delay = "1ms" } ]
[[route.websocket.on_message]]
match = { regex = "^g" }
reply = [ { fault = "garbage" } ]
[[route.websocket.on_message]]
match = {}
echo = true
)";

constexpr std::string_view upgrade =
    "GET /ws/r1 HTTP/1.1\r\nHost: f\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Protocol: b, a\r\n\r\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stubborn;
  static server_state state(route_table::compile(load_config_text(routes, "fuzz-ws.toml")));
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // The upgrade and the first frames may arrive together (as the session then hands them over)
  // or apart: the input's first byte decides.
  const bool together = size > 0 && (data[0] & 1) != 0;
  if (together) {
    std::string first(upgrade);
    first.append(input);
    std::string_view pieces[] = {first};
    const std::string output = fuzz::run_session_on(state, pieces);
    if (output.rfind("HTTP/1.1 101 ", 0) != 0) fuzz::fail("the upgrade was not accepted", output);
  } else {
    std::string_view pieces[] = {upgrade, input};
    const std::string output = fuzz::run_session_on(state, pieces);
    if (output.rfind("HTTP/1.1 101 ", 0) != 0) fuzz::fail("the upgrade was not accepted", output);
  }
  return 0;
}

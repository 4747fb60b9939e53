// What every request reads or writes stays off the cache lines other threads write: the server's
// shared state keeps per-request reads apart from per-connection counters, and each I/O thread's
// observer (metrics and journal) owns its lines.

#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>

#include "control/observer.hpp"
#include "wire/server_state.hpp"

using stubborn::cache_line_bytes;
using stubborn::server_state;
using stubborn::thread_observer;

namespace {

std::uintptr_t line_of(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) / cache_line_bytes;
}

}  // namespace

TEST_CASE("What every request reads shares no cache line with connection counters",
          "[cache-lines]") {
  const auto state = std::make_unique<server_state>(nullptr);
  const std::uintptr_t draining = line_of(&state->draining);
  const std::uintptr_t generation = line_of(state->generation_address());
  // Written by every connection's open and close, or by every TLS handshake.
  for (const void* written : {static_cast<const void*>(&state->open_connections),
                              static_cast<const void*>(&state->refused_connections),
                              static_cast<const void*>(&state->tls.full),
                              static_cast<const void*>(&state->proxy.connections_opened)}) {
    CHECK(line_of(written) != draining);
    CHECK(line_of(written) != generation);
  }
  CHECK(draining != generation);
}

TEST_CASE("Each thread's observer owns its cache lines", "[cache-lines]") {
  // Allocated one after the other, as the server allocates one per I/O thread.
  const auto first = std::make_unique<thread_observer>(0, 10, 64);
  const auto second = std::make_unique<thread_observer>(1, 10, 64);
  CHECK(reinterpret_cast<std::uintptr_t>(first.get()) % cache_line_bytes == 0);
  CHECK(reinterpret_cast<std::uintptr_t>(second.get()) % cache_line_bytes == 0);
  CHECK(sizeof(thread_observer) % cache_line_bytes == 0);
}

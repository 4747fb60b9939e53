#pragma once
// The state every connection of a server shares: the current route table (swapped atomically on
// reload) and server-wide connection counters.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "routing/route_table.hpp"

namespace stubborn {

/// What every connection shares: the current route table and server-wide counters.
class server_state {
 public:
  explicit server_state(std::shared_ptr<const route_table> table);

  /// The current table; swapped atomically by replace().
  std::shared_ptr<const route_table> table() const;
  /// Increments when the table changes, so sessions refresh their copy cheaply.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  /// Installs a new table; requests in flight finish on the one they started with.
  void replace(std::shared_ptr<const route_table> table);

  std::atomic<bool> draining{false};
  std::atomic<std::size_t> open_connections{0};
  std::atomic<std::uint64_t> refused_connections{0};

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const route_table> table_;
  std::atomic<std::uint64_t> generation_{1};
};

}  // namespace stubborn

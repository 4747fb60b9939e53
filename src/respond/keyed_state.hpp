#pragma once
// The state of a route with `state_key`: one set of counters per key value (a test id, a tenant),
// so parallel tests each see their own sequence, outage window and rate-limit bucket. Bounded:
// past `max_keys` the least recently used key is dropped, and starts over if it comes back.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "respond/reply_plan.hpp"

namespace stubborn {

/// One key's state.
struct keyed_state {
  explicit keyed_state(std::chrono::steady_clock::time_point first_seen) : start(first_seen) {}
  route_state script;  ///< sequence position and {{counter}}
  /// The route's rate limit for this key (a limit keyed only by the state key): its GCRA or
  /// window state, 0 = fresh.
  std::atomic<std::int64_t> bucket{0};
  /// Its outage windows count from here: the key's first request (or its reset).
  std::chrono::steady_clock::time_point start;
};

class keyed_states {
 public:
  using clock = std::chrono::steady_clock;
  explicit keyed_states(std::size_t max_keys) : max_keys_(max_keys == 0 ? 1 : max_keys) {}
  keyed_states(const keyed_states&) = delete;
  keyed_states& operator=(const keyed_states&) = delete;

  /// The state of `key`, made on its first request (or after it was dropped); now the most
  /// recently used. Allocates only for a new key.
  std::shared_ptr<keyed_state> acquire(std::string_view key, clock::time_point now);
  /// Drops `key`: its next request starts over. True if it was kept.
  bool forget(std::string_view key);
  /// Drops every key.
  void clear();
  /// Keys kept now.
  std::size_t size() const;
  /// Keys dropped because `max_keys` were kept (not counting forget() and clear()).
  std::uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }
  std::size_t max_keys() const { return max_keys_; }

  /// Long values are cut: two keys sharing their first 256 bytes share a state.
  static constexpr std::size_t max_key_bytes = 256;

 private:
  struct key_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const {
      return std::hash<std::string_view>{}(key);
    }
  };
  using entry = std::pair<std::string, std::shared_ptr<keyed_state>>;

  std::size_t max_keys_;
  mutable std::mutex mutex_;
  std::list<entry> recent_;  // most recently used first
  std::unordered_map<std::string_view, std::list<entry>::iterator, key_hash, std::equal_to<>>
      index_;  // views into recent_'s strings
  std::atomic<std::uint64_t> evictions_{0};
};

}  // namespace stubborn

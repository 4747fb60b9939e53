#pragma once
// Rate limits: exact across threads, bounded in memory, with the clock passed in (so the
// arithmetic is unit-tested without sleeping).
//
// The token bucket is kept as GCRA (the "generic cell rate algorithm"): one 64-bit theoretical
// arrival time per key instead of a token count and a refill time. A request is admitted if the
// bucket would not overflow; the state changes only on admission. For the global key that is one
// compare-and-swap on an atomic, so 20,000 requests/s from every thread are counted exactly
// without a lock. A fixed window packs (window number, count) in the same 64 bits.
//
// A state that has drained back to "full bucket" (or belongs to a past window) is the same as no
// state, so evicting idle keys loses nothing; only when every tracked key is active does the
// limiter drop the one closest to full (counted in evictions()).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "stubborn/config.hpp"

namespace stubborn {

struct request_view;

/// The outcome of one request against a limit.
struct rate_decision {
  bool admitted = true;
  std::uint64_t remaining = 0;  ///< requests that would still be admitted right now
  std::uint64_t reset_ms = 0;   ///< until the quota is whole again (or the window ends)
  std::uint64_t retry_ms = 0;   ///< denied: until this request would be admitted
  /// Whole seconds, rounded up and never 0, as Retry-After wants them.
  std::uint64_t retry_after_seconds() const;
  std::uint64_t reset_seconds() const;
};

/// The pure arithmetic of one key's state (no atomics, no clock): exposed for unit tests.
class rate_arithmetic {
 public:
  explicit rate_arithmetic(const rate_limit_spec& spec);
  /// Decides for a request at `now` (nanoseconds since the limiter's epoch, >= 0) and updates
  /// `state` when it is admitted. A state of 0 is a fresh key.
  rate_decision decide(std::int64_t& state, std::int64_t now) const;
  /// Whether `state` at `now` is the same as a fresh key (safe to forget).
  bool idle(std::int64_t state, std::int64_t now) const;

 private:
  rate_limit_algorithm algorithm_;
  std::int64_t interval_ns_;  // token bucket: one request's worth of time (per / requests)
  std::int64_t capacity_ns_;  // token bucket: burst * interval
  std::int64_t window_ns_;    // fixed window: per
  std::uint64_t limit_;       // fixed window: requests per window
};

class rate_limiter {
 public:
  using clock = std::chrono::steady_clock;

  explicit rate_limiter(const rate_limit_spec& spec);
  rate_limiter(const rate_limiter&) = delete;
  rate_limiter& operator=(const rate_limiter&) = delete;

  /// The key this request is counted under ("" for the global key, for a client whose key
  /// header or parameter is missing, and for a connection without an IP address).
  std::string_view key_of(const request_view& request, std::string_view client_ip) const;
  /// Decides for one request with the given key, now.
  rate_decision admit(std::string_view key) { return admit_at(key, clock::now()); }
  /// Same at a given time (for tests with an injected clock).
  rate_decision admit_at(std::string_view key, clock::time_point now);
  /// Decides against a state kept elsewhere (a state key's bucket; 0 = fresh), exactly as for
  /// the global key.
  rate_decision admit_in(std::atomic<std::int64_t>& state, clock::time_point now);
  /// Decides for `key` counted within a state key's share: a limit keyed by client inside each
  /// test id keeps the pair as its key ("state" 0x1F "key").
  rate_decision admit_within(std::string_view state_key, std::string_view key,
                             clock::time_point now);
  /// Forgets every key: all buckets full, all windows empty.
  void reset();
  /// Forgets the keys counted within `state_key` (see admit_within).
  void forget_within(std::string_view state_key);

  const rate_limit_spec& spec() const { return spec_; }
  /// Keys tracked right now (the global key is not counted).
  std::size_t key_count() const;
  /// Active keys dropped because max_keys were all busy (each such drop forgives that client).
  std::uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }

  /// The header lines (each "Name: value\r\n") to send with a reply under this decision:
  /// Retry-After when denied, plus the configured RateLimit fields.
  void append_headers(const rate_decision& decision, std::string& out) const;

 private:
  static constexpr std::size_t shard_count = 16;
  static constexpr std::size_t max_key_bytes = 256;
  // Looks keys up by string_view, so a request for a known key allocates nothing.
  struct key_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const {
      return std::hash<std::string_view>{}(key);
    }
  };
  struct shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, std::int64_t, key_hash, std::equal_to<>> states;
  };
  std::int64_t since_epoch(clock::time_point now) const;
  rate_decision admit_keyed(std::string_view key, std::int64_t now);
  void make_room(shard& s, std::int64_t now);

  rate_limit_spec spec_;
  rate_arithmetic arithmetic_;
  clock::time_point epoch_;
  std::atomic<std::int64_t> global_{0};
  std::vector<shard> shards_;
  std::size_t keys_per_shard_;
  std::atomic<std::uint64_t> evictions_{0};
};

}  // namespace stubborn

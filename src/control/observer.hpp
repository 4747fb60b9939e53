#pragma once
// What one I/O thread served: per-route metrics and the request journal. Each thread writes only
// its own observer, with plain stores (no lock, no atomic read-modify-write); the admin API reads
// one by running a copy on the observer's own thread, so nothing is shared while serving.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace stubborn {

/// Upper bounds of the latency histogram, in microseconds (then +Inf).
inline constexpr std::array<std::uint64_t, 14> latency_bounds_us = {
    100,     250,     500,     1'000,   2'500,     5'000,     10'000,
    25'000,  50'000,  100'000, 250'000, 1'000'000, 2'500'000, 10'000'000};

/// Counters for one route (or for requests no route took) on one thread.
struct route_metrics {
  std::vector<std::pair<int, std::uint64_t>> statuses;  ///< status -> replies; a few at most
  std::array<std::uint64_t, latency_bounds_us.size() + 1> latency{};  ///< per bucket, +Inf last
  std::uint64_t latency_sum_us = 0;
  std::uint64_t rate_limited = 0;  ///< 429s (or overrides) from a rate limit
  std::uint64_t faults = 0;        ///< scripted faults and outages that broke the reply

  void count(int status, std::chrono::microseconds latency);
  /// Adds another thread's counters.
  void merge(const route_metrics& other);
};

/// One request as the journal keeps it.
struct journal_entry {
  std::uint64_t id = 0;  ///< unique: thread index in the low 8 bits, the thread's count above
  std::chrono::system_clock::time_point time;  ///< when the request was complete
  std::string client;                          ///< "address:port" ("" on a UNIX socket)
  std::string method;
  std::string target;
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;             ///< at most [admin] journal_body_bytes
  std::size_t body_bytes = 0;   ///< the whole body's size
  std::string route;            ///< the route that answered; "" = none
  int status = 0;               ///< the final status sent; 0 = none (a fault or a hang)
  std::string fault;            ///< the fault that broke the reply, if any
  std::chrono::microseconds latency{0};  ///< request complete -> reply handed to the socket
  std::string miss;             ///< no route: the nearest route and what differed
};

class thread_observer {
 public:
  thread_observer(unsigned thread_index, std::size_t journal_capacity, std::size_t body_bytes);

  /// The counters for a route name ("" = no route). The reference stays valid for the life of
  /// the observer (map nodes do not move), so a session may cache it.
  route_metrics& metrics_for(std::string_view route);
  /// The ring's next slot, to be filled in place (when full, the oldest entry's: its strings keep
  /// their capacity, so a busy journal stops allocating); its id is assigned. Journal on only.
  journal_entry& next_slot();
  bool journal_on() const { return capacity_ > 0; }
  std::size_t body_bytes() const { return body_bytes_; }

  // Called on the observer's own thread only:
  std::vector<std::pair<std::string, route_metrics>> metrics_copy() const;
  std::vector<journal_entry> journal_copy() const;  ///< oldest first
  void clear_journal();

 private:
  struct name_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  unsigned thread_index_;
  std::size_t capacity_;
  std::size_t body_bytes_;
  std::uint64_t next_ = 0;
  std::vector<journal_entry> ring_;  // up to capacity_ entries; when full, head_ is the oldest
  std::size_t head_ = 0;
  std::unordered_map<std::string, route_metrics, name_hash, std::equal_to<>> routes_;
};

}  // namespace stubborn

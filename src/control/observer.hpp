#pragma once
// What one I/O thread served: per-route metrics and the request journal. Each thread writes only
// its own observer, with plain stores (no lock, no atomic read-modify-write); the control layer
// reads one by running a copy on the observer's own thread, so nothing is shared while serving.

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

#include "stubborn/control.hpp"

namespace stubborn {

// Aligned to a cache line: the journal writes its counters on every request, and the observer
// is allocated by the thread that starts the server, next to what it allocates for the other
// I/O threads.
class alignas(64) thread_observer {
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
  /// Appends to `out` the entries after this thread's `after`-th (its count, id >> 8) that
  /// `query` admits, oldest first, looking at no more than `max` entries; returns the count
  /// of the last entry looked at (or `after`). `missed` gets the entries after `after` the
  /// ring no longer holds because newer ones took their slots (a clear is not counted).
  std::uint64_t journal_after(std::uint64_t after, const journal_query& query, std::size_t max,
                              std::vector<journal_entry>& out, std::uint64_t& missed) const;
  /// The count of the newest entry made (0 = none yet).
  std::uint64_t journal_count() const { return next_; }
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
  std::uint64_t cleared_through_ = 0;  // the count of the newest entry a clear removed
  std::unordered_map<std::string, route_metrics, name_hash, std::equal_to<>> routes_;
};

}  // namespace stubborn

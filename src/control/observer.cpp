#include "control/observer.hpp"

#include <algorithm>

namespace stubborn {

void route_metrics::count(int status, std::chrono::microseconds latency) {
  auto found = std::find_if(statuses.begin(), statuses.end(),
                            [status](const auto& s) { return s.first == status; });
  if (found != statuses.end())
    ++found->second;
  else
    statuses.emplace_back(status, 1);
  const auto us = static_cast<std::uint64_t>(std::max<std::int64_t>(0, latency.count()));
  const auto bucket = std::lower_bound(latency_bounds_us.begin(), latency_bounds_us.end(), us);
  ++this->latency[static_cast<std::size_t>(bucket - latency_bounds_us.begin())];
  latency_sum_us += us;
}

void route_metrics::merge(const route_metrics& other) {
  for (const auto& entry : other.statuses) {
    const int status = entry.first;  // clang 14 cannot capture a structured binding
    auto found = std::find_if(statuses.begin(), statuses.end(),
                              [status](const auto& s) { return s.first == status; });
    if (found != statuses.end())
      found->second += entry.second;
    else
      statuses.push_back(entry);
  }
  for (std::size_t i = 0; i < latency.size(); ++i) latency[i] += other.latency[i];
  latency_sum_us += other.latency_sum_us;
  rate_limited += other.rate_limited;
  faults += other.faults;
  websocket_opened += other.websocket_opened;
  websocket_closed += other.websocket_closed;
  websocket_messages_in += other.websocket_messages_in;
  websocket_messages_out += other.websocket_messages_out;
}

std::uint64_t route_metrics::total() const {
  std::uint64_t sum = 0;
  for (const auto& entry : statuses) sum += entry.second;
  return sum;
}

thread_observer::thread_observer(unsigned thread_index, std::size_t journal_capacity,
                                 std::size_t body_bytes)
    : thread_index_(thread_index), capacity_(journal_capacity), body_bytes_(body_bytes) {}

route_metrics& thread_observer::metrics_for(std::string_view route) {
  auto found = routes_.find(route);
  if (found == routes_.end()) found = routes_.emplace(std::string(route), route_metrics{}).first;
  return found->second;
}

journal_entry& thread_observer::next_slot() {
  journal_entry* slot;
  if (ring_.size() < capacity_) {
    slot = &ring_.emplace_back();
  } else {
    slot = &ring_[head_];
    head_ = (head_ + 1) % capacity_;
  }
  slot->id = (++next_ << 8) | (thread_index_ & 0xff);
  return *slot;
}

std::vector<std::pair<std::string, route_metrics>> thread_observer::metrics_copy() const {
  return {routes_.begin(), routes_.end()};
}

std::vector<journal_entry> thread_observer::journal_copy() const {
  std::vector<journal_entry> out;
  out.reserve(ring_.size());
  out.insert(out.end(), ring_.begin() + static_cast<long>(head_), ring_.end());
  out.insert(out.end(), ring_.begin(), ring_.begin() + static_cast<long>(head_));
  return out;
}

std::uint64_t thread_observer::journal_after(std::uint64_t after, const journal_query& query,
                                             std::size_t max, std::vector<journal_entry>& out,
                                             std::uint64_t& missed) const {
  missed = 0;
  if (ring_.empty() || next_ <= after) return std::max(after, cleared_through_);
  // The ring holds counts (oldest .. next_) in order: the first one after `after` is found by
  // arithmetic, not by a scan.
  const std::uint64_t oldest = next_ - ring_.size() + 1;
  const std::uint64_t from = std::max(after + 1, oldest);
  const std::uint64_t gone_before = std::max(after, cleared_through_);
  if (from > gone_before + 1) missed = from - gone_before - 1;
  std::uint64_t last = from - 1;
  for (std::uint64_t count = from; count <= next_ && count - from < max; ++count) {
    const std::size_t offset = static_cast<std::size_t>(count - oldest);
    const journal_entry& e =
        ring_.size() < capacity_ ? ring_[offset] : ring_[(head_ + offset) % capacity_];
    if (query.admits(e)) out.push_back(e);
    last = count;
  }
  return last;
}

void thread_observer::clear_journal() {
  cleared_through_ = next_;
  ring_.clear();
  head_ = 0;
}

}  // namespace stubborn

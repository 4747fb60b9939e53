#include "respond/keyed_state.hpp"

namespace stubborn {

std::shared_ptr<keyed_state> keyed_states::acquire(std::string_view key, clock::time_point now) {
  key = key.substr(0, max_key_bytes);
  std::lock_guard lock(mutex_);
  if (auto found = index_.find(key); found != index_.end()) {
    recent_.splice(recent_.begin(), recent_, found->second);
    return found->second->second;
  }
  if (recent_.size() >= max_keys_) {
    index_.erase(recent_.back().first);
    recent_.pop_back();
    evictions_.fetch_add(1, std::memory_order_relaxed);
  }
  recent_.emplace_front(std::string(key), std::make_shared<keyed_state>(now));
  index_.emplace(recent_.front().first, recent_.begin());
  return recent_.front().second;
}

bool keyed_states::forget(std::string_view key) {
  key = key.substr(0, max_key_bytes);
  std::lock_guard lock(mutex_);
  auto found = index_.find(key);
  if (found == index_.end()) return false;
  const auto at = found->second;
  index_.erase(found);
  recent_.erase(at);
  return true;
}

void keyed_states::clear() {
  std::lock_guard lock(mutex_);
  index_.clear();
  recent_.clear();
}

std::size_t keyed_states::size() const {
  std::lock_guard lock(mutex_);
  return recent_.size();
}

}  // namespace stubborn

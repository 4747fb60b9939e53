#include "wire/connection_registry.hpp"

namespace stubborn {

void connection_registry::add(registered_connection* c) {
  c->registry_slot_ = entries_.size();
  entries_.push_back({clock::time_point::max(), c});
}

void connection_registry::remove(registered_connection* c) {
  // The last entry fills the gap, and its connection learns its new slot.
  const std::size_t slot = c->registry_slot_;
  entries_[slot] = entries_.back();
  entries_[slot].owner->registry_slot_ = slot;
  entries_.pop_back();
}

void connection_registry::sweep() {
  now_ = clock::now();
  // Backwards, so that a connection removed during the walk (none is today: expire() only
  // cancels) could only pull in an entry already checked.
  for (std::size_t i = entries_.size(); i-- > 0;) {
    if (entries_[i].deadline <= now_) entries_[i].owner->expire();
  }
}

void connection_registry::begin_drain() {
  for (std::size_t i = entries_.size(); i-- > 0;) entries_[i].owner->drain();
}

void connection_registry::close_all() {
  for (std::size_t i = entries_.size(); i-- > 0;) entries_[i].owner->force_close();
}

}  // namespace stubborn

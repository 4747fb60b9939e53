#include "wire/server_state.hpp"

namespace stubborn {

server_state::server_state(std::shared_ptr<const route_table> table) : table_(std::move(table)) {}

std::shared_ptr<const route_table> server_state::table() const {
  std::lock_guard lock(mutex_);
  return table_;
}

void server_state::replace(std::shared_ptr<const route_table> table) {
  {
    std::lock_guard lock(mutex_);
    table_ = std::move(table);
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

}  // namespace stubborn

#include "wire/server_state.hpp"

#include "protocols/tls/tls_context.hpp"

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

std::shared_ptr<const tls_context> server_state::current_tls_context() const {
  std::lock_guard lock(mutex_);
  return tls_context_;
}

void server_state::replace_tls_context(std::shared_ptr<const tls_context> context) {
  std::lock_guard lock(mutex_);
  tls_context_ = std::move(context);
}

void tls_counters::count_failure(std::string_view reason) {
  // OpenSSL's reasons are phrases ("no shared cipher"): label values read better as one word.
  std::string label(reason);
  for (char& c : label) {
    if (c == ' ') c = '_';
  }
  std::lock_guard lock(mutex_);
  auto found = failures_.find(label);
  if (found == failures_.end()) found = failures_.emplace(std::move(label), 0).first;
  ++found->second;
}

std::vector<std::pair<std::string, std::uint64_t>> tls_counters::failures() const {
  std::lock_guard lock(mutex_);
  return {failures_.begin(), failures_.end()};
}

}  // namespace stubborn

#include "protocols/proxy/recorder.hpp"

#include <stdexcept>

namespace stubborn {

recorder::recorder(recording_config config) : config_(std::move(config)) {}

void recorder::add(recorded_exchange exchange) {
  std::lock_guard lock(mutex_);
  exchanges_.push_back(std::move(exchange));
}

std::size_t recorder::size() const {
  std::lock_guard lock(mutex_);
  return exchanges_.size();
}

std::size_t recorder::write() const {
  throw std::runtime_error("writing recordings is not built yet");
}

}  // namespace stubborn

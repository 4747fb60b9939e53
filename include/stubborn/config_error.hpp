#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "stubborn/config.hpp"

namespace stubborn {

/// One thing wrong with a configuration, at a position.
struct config_problem {
  source_position where;
  std::string message;
  /// "file:line:col: message" (or "file: message" when there is no line).
  std::string to_string() const;
};

/// Thrown at load time only; carries every problem found, in file order.
class config_error : public std::runtime_error {
 public:
  explicit config_error(std::vector<config_problem> problems);
  const std::vector<config_problem>& problems() const noexcept { return problems_; }

 private:
  std::vector<config_problem> problems_;
};

}  // namespace stubborn

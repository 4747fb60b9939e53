#include "stubborn/config_error.hpp"

#include <utility>

namespace stubborn {
namespace {

std::string join(const std::vector<config_problem>& problems) {
  std::string out;
  for (const config_problem& problem : problems) {
    if (!out.empty()) out += '\n';
    out += problem.to_string();
  }
  return out;
}

}  // namespace

std::string config_problem::to_string() const {
  std::string out = where.file;
  if (where.line != 0) {
    out += ':';
    out += std::to_string(where.line);
    out += ':';
    out += std::to_string(where.column);
  }
  // A problem that is about no file at all (e.g. no paths given) is just its message.
  if (!out.empty()) out += ": ";
  out += message;
  return out;
}

config_error::config_error(std::vector<config_problem> problems)
    : std::runtime_error(join(problems)), problems_(std::move(problems)) {}

}  // namespace stubborn

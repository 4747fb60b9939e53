#include "routing/request.hpp"

#include "routing/path_pattern.hpp"

namespace stubborn {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

bool request_view::find_header(std::string_view name, std::string_view& value) const {
  for (const auto& field : headers) {
    if (iequals(field.name, name)) {
      value = field.value;
      return true;
    }
  }
  value = {};
  return false;
}

bool request_view::find_query(std::string_view name, std::string_view& raw_value) const {
  std::string_view rest = query;
  while (!rest.empty()) {
    std::size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    std::size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    // Names are compared decoded; '+' in a name is rare enough to treat literally.
    if (equals_percent_decoded(key, name)) {
      raw_value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
      return true;
    }
  }
  raw_value = {};
  return false;
}

}  // namespace stubborn

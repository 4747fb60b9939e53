#include "text/cookies.hpp"

namespace stubborn {

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

bool find_cookie_in(std::string_view cookie_header, std::string_view name,
                    std::string_view& value) {
  while (!cookie_header.empty()) {
    const std::size_t semicolon = cookie_header.find(';');
    const std::string_view pair = cookie_header.substr(0, semicolon);
    cookie_header = semicolon == std::string_view::npos ? std::string_view()
                                                        : cookie_header.substr(semicolon + 1);
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;  // not a name=value pair
    if (trim(pair.substr(0, eq)) != name) continue;
    std::string_view found = trim(pair.substr(eq + 1));
    if (found.size() >= 2 && found.front() == '"' && found.back() == '"') {
      found = found.substr(1, found.size() - 2);
    }
    value = found;
    return true;
  }
  return false;
}

}  // namespace stubborn

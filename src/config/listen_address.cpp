#include <algorithm>

#include "stubborn/load_config.hpp"

namespace stubborn {

std::string parse_listen_address(std::string_view text, listen_address& out,
                                 std::string_view subject) {
  const std::string bad_form = std::string(subject) +
                               " must be \"host:port\", e.g. \"127.0.0.1:8080\" or "
                               "\"[::1]:8080\", not \"" +
                               std::string(text) + "\"";
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return bad_form;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad_form;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return "an IPv6 address in " + std::string(subject) + " needs brackets, e.g. \"[::1]:8080\"";
    }
  }
  bool host_ok = !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && c != 0x7f;
  });
  if (!host_ok || port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return bad_form;
  }
  const unsigned long number = std::stoul(std::string(port));
  if (number > 65535) {
    return "the port in " + std::string(subject) + " must be 0..65535 (0 = any free port), not " +
           std::string(port);
  }
  out.host = std::string(host);
  out.port = static_cast<std::uint16_t>(number);
  return {};
}

}  // namespace stubborn

#include "wire/transport.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdlib>
#include <string_view>

namespace stubborn {

peer_address describe_address(const sockaddr* address) {
  char text[INET6_ADDRSTRLEN] = {};
  unsigned port = 0;
  if (address->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    port = ntohs(v4->sin_port);
  } else if (address->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
    inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    port = ntohs(v6->sin6_port);
  }
  return {text, port};
}

transport_kind transport_from_environment() {
  const char* value = std::getenv("STUBBORN_TRANSPORT");
  return value && std::string_view(value) == "generic" ? transport_kind::generic
                                                       : transport_kind::plain;
}

const char* transport_name(transport_kind kind) {
  switch (kind) {
    case transport_kind::generic:
      return "generic";
    case transport_kind::tls:
      return "tls";
    case transport_kind::tls_generic:
      return "tls generic";
    case transport_kind::plain:
      break;
  }
  return "plain";
}

}  // namespace stubborn

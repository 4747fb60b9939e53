#pragma once
// The names of TLS alerts (RFC 8446 section 6, RFC 5246 section 7.2) and their AlertDescription
// numbers, for `handshake = { alert = "NAME" }` in [[server.tls.names]].

#include <span>
#include <string_view>

namespace stubborn {

/// The AlertDescription number of an alert name, or -1 when there is no such alert.
int tls_alert_code(std::string_view name);

/// Every alert name, in the order of their numbers ("did you mean" tries them).
std::span<const std::string_view> tls_alert_names();

}  // namespace stubborn

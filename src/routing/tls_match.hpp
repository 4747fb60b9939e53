#pragma once
// The matchers of a route on how the request arrived: `scheme` (which listener) and
// `client_cert` (the TLS client certificate). Compiled at load; comparing allocates nothing.

#include <cstdint>
#include <string_view>

#include "stubborn/config.hpp"

namespace stubborn {

struct request_view;
struct tls_facts;

/// A route's `scheme`: any listener, only plain HTTP, or only HTTPS.
enum class scheme_match : std::uint8_t { any, http, https };

/// The matcher for a route's `scheme` text ("" = any).
scheme_match compile_scheme(std::string_view scheme);

/// True when the request came over the listener `scheme` asks for.
bool scheme_accepts(scheme_match scheme, const request_view& request);

/// True when the connection has a verified client certificate with the subject and the
/// subjectAltName `spec` asks for (each only when set).
bool client_cert_accepts(const client_cert_spec& spec, const tls_facts* tls);

/// Why a certificate did not match, for the explanation of a 403 ("" when it matches).
std::string client_cert_mismatch(const client_cert_spec& spec, const tls_facts* tls);

}  // namespace stubborn

#include "routing/tls_match.hpp"

#include <algorithm>
#include <string>

#include "routing/request.hpp"

namespace stubborn {

scheme_match compile_scheme(std::string_view scheme) {
  if (scheme == "http") return scheme_match::http;
  if (scheme == "https") return scheme_match::https;
  return scheme_match::any;
}

bool scheme_accepts(scheme_match scheme, const request_view& request) {
  switch (scheme) {
    case scheme_match::any:
      return true;
    case scheme_match::http:
      return request.tls == nullptr;
    case scheme_match::https:
      return request.tls != nullptr;
  }
  return true;
}

bool client_cert_accepts(const client_cert_spec& spec, const tls_facts* tls) {
  // Only a certificate that chains to client_ca proves who the client is.
  if (!tls || !tls->client_verified) return false;
  if (!spec.subject.empty() && tls->client_subject != spec.subject) return false;
  if (!spec.san.empty() && std::find(tls->client_sans.begin(), tls->client_sans.end(), spec.san) ==
                               tls->client_sans.end()) {
    return false;
  }
  return true;
}

std::string client_cert_mismatch(const client_cert_spec& spec, const tls_facts* tls) {
  if (!tls) return "  the request came over plain HTTP, without a client certificate\n";
  if (tls->client_subject.empty() && tls->client_sans.empty()) {
    return "  the client sent no certificate\n";
  }
  if (!tls->client_verified) return "  the client certificate is not signed by client_ca\n";
  std::string why;
  if (!spec.subject.empty() && tls->client_subject != spec.subject) {
    why += "  the client certificate's subject is '" + tls->client_subject + "', wanted '" +
           spec.subject + "'\n";
  }
  if (!spec.san.empty() && std::find(tls->client_sans.begin(), tls->client_sans.end(), spec.san) ==
                               tls->client_sans.end()) {
    why += "  the client certificate has no subjectAltName '" + spec.san + "'\n";
  }
  return why;
}

}  // namespace stubborn

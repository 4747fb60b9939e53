#pragma once
// A parsed request as matching, templates and reply planning see it: views only, no ownership.
// The session owns the bytes (reused per connection) for as long as the request is handled.

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace stubborn {

/// What the TLS handshake of a connection established; the transport fills it once, after the
/// handshake, and every request on that connection points at it.
struct tls_facts {
  std::string sni;                       ///< the server name the client sent ("" = none)
  std::string version;                   ///< OpenSSL's name, e.g. "TLSv1.3"
  std::string cipher;                    ///< OpenSSL's name, e.g. "TLS_AES_256_GCM_SHA384"
  std::string client_subject;            ///< the client certificate's subject, RFC 4514 ("" = none)
  std::vector<std::string> client_sans;  ///< its subjectAltName entries (DNS, IP, email, URI)
  bool client_verified = false;          ///< the client certificate chains to client_ca
  bool resumed = false;                  ///< the session was resumed (a ticket)
};

/// One header line as received (name case preserved).
struct header_field {
  std::string_view name;
  std::string_view value;
};

struct request_view {
  std::string_view method;
  std::string_view target;  ///< as received
  std::string_view path;    ///< raw path of the target, still percent-encoded
  std::string_view query;   ///< after '?', without it; empty if none
  unsigned version = 11;    ///< 10 or 11
  std::span<const header_field> headers;
  std::string_view body;
  const tls_facts* tls = nullptr;  ///< the connection's TLS facts; null over plain HTTP

  /// First header with this name (case-insensitive); empty view and false if absent.
  bool find_header(std::string_view name, std::string_view& value) const;
  /// First query parameter with this (decoded) name; its raw value.
  bool find_query(std::string_view name, std::string_view& raw_value) const;
};

/// ASCII case-insensitive equality, for header names.
bool iequals(std::string_view a, std::string_view b);

}  // namespace stubborn

#pragma once
// What the first bytes of a connection to the HTTPS listener are, read before OpenSSL sees them
// (they are peeked at, not consumed): a TLS ClientHello and the server name it asks for, so a
// scripted handshake fault for that name can act before the handshake starts; or plain HTTP,
// which gets the 400 nginx gives; or anything else.

#include <cstddef>
#include <string_view>

namespace stubborn {

/// What the first bytes of a connection hold.
struct first_bytes {
  enum class kind {
    need_more,   ///< not enough bytes to tell yet
    tls,         ///< a TLS handshake record (ClientHello)
    plain_http,  ///< looks like an HTTP request line
    other        ///< neither
  };
  kind what = kind::need_more;
  std::string_view server_name;  ///< the ClientHello's SNI host name (a view into the bytes)
};

/// Bytes peeked at are never more than this. A ClientHello is far smaller (a few hundred bytes;
/// under 2 KiB with post-quantum key shares); a longer first record is read this far.
inline constexpr std::size_t max_client_hello_bytes = 16 * 1024;

/// Reads the first bytes of a connection; `need_more` until the whole first TLS record is there
/// (or `bytes` holds max_client_hello_bytes). A ClientHello spread over several records, or one
/// without the server_name extension, gives kind::tls with no name.
first_bytes inspect_first_bytes(std::string_view bytes);

}  // namespace stubborn

#pragma once
// Everything an HTTPS listener needs from OpenSSL, built at start and at each reload from
// [server.tls], then immutable and shared by every worker thread: the SSL_CTX new connections
// are made from, the certificates (read from files or made in-process), and the choices made
// per SNI name during the handshake (certificate faults, alerts, versions, ciphers).

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "stubborn/config.hpp"

namespace stubborn {

/// The OpenSSL state of an HTTPS listener (see the file comment).
class tls_context {
 public:
  /// Builds it from `cfg`, whose paths are already resolved. Throws std::runtime_error whose
  /// what() names the file or key at fault. With `previous` (a reload), a CA made at start is
  /// kept, so a CA file a client already trusts stays valid.
  static std::shared_ptr<const tls_context> build(const tls_config& cfg,
                                                  const tls_context* previous = nullptr);
  ~tls_context();
  tls_context(const tls_context&) = delete;
  tls_context& operator=(const tls_context&) = delete;

  /// The SSL_CTX a new connection's SSL is made from. It owns what its callbacks use, so an SSL
  /// made from it stays valid after this object is gone (a handshake across a reload).
  SSL_CTX* native() const;
  /// The [[server.tls.names]] entry for an SNI name (exact first, then wildcard), or null.
  const tls_name_spec* rule_for(std::string_view sni) const;
  /// The PEM of the CA that signs the made leaves ("" when cert and key were given and no
  /// [[server.tls.names]] entry asks for a certificate fault, so no leaf is made).
  const std::string& ca_pem() const;
  /// What building found worth a warning (e.g. a key file readable by others).
  const std::vector<std::string>& warnings() const;

  struct impl;

 private:
  explicit tls_context(std::unique_ptr<impl> state);
  std::unique_ptr<impl> impl_;
};

struct tls_facts;

/// Fills `facts` from a connection whose handshake has finished (and `sni` from the ClientHello).
void describe_session(SSL* ssl, tls_facts& facts);

}  // namespace stubborn

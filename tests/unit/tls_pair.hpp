#pragma once
// An in-memory TLS connection for the [tls] tests: a client SSL and a server SSL (made from a
// tls_context) joined by a BIO pair and driven in turns until both have finished, no sockets.

#include <openssl/ssl.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "protocols/tls/certificates.hpp"
#include "protocols/tls/tls_context.hpp"

namespace stubborn::test {

struct ssl_free {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
struct session_free {
  void operator()(SSL_SESSION* session) const { SSL_SESSION_free(session); }
};
using ssl_ptr = std::unique_ptr<SSL, ssl_free>;
using session_ptr = std::unique_ptr<SSL_SESSION, session_free>;

/// What the client does.
struct client_options {
  std::string sni;          ///< server_name sent ("" = none)
  std::string host;         ///< name or address the certificate must be for ("" = not checked)
  std::string trusted_pem;  ///< CA(s) the client trusts ("" = none)
  int min_version = 0;      ///< e.g. TLS1_2_VERSION; 0 = OpenSSL's
  int max_version = 0;
  std::vector<std::string> alpn;        ///< protocols offered (none = no ALPN extension)
  const certified_key* cert = nullptr;  ///< client certificate
  SSL_SESSION* session = nullptr;       ///< to resume
  long verify_time = 0;                 ///< check validity at this time (0 = now)
  bool security_level_0 = false;        ///< let TLS 1.0/1.1 through
};

/// How a handshake went, both sides.
struct handshake_outcome {
  bool client_done = false;  ///< the client finished its handshake
  bool server_done = false;  ///< the server finished its handshake
  long verify_result = 0;    ///< the client's X509 verification result
  int alert_received = -1;   ///< fatal alert the client received (-1 = none)
  int alert_sent = -1;       ///< fatal alert the server sent (-1 = none)
  std::string alpn;          ///< protocol chosen
  ssl_ptr client;
  ssl_ptr server;
  session_ptr session;  ///< the client's session afterwards, to resume
  bool ok() const { return client_done && server_done; }
};

/// Runs one handshake between a client set up as `options` says and a server from `server`.
std::unique_ptr<handshake_outcome> handshake(const tls_context& server,
                                             const client_options& options);

/// A directory of files removed at the end of a test.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  /// Writes `text` to `name` in it with mode `mode`; returns its path.
  std::string write(const std::string& name, const std::string& text, unsigned mode = 0600) const;
  /// The path of `name` in it (not created).
  std::string path(const std::string& name) const;

 private:
  std::filesystem::path dir_;
};

}  // namespace stubborn::test

#pragma once
// Integration-test helpers: an in-process server on 127.0.0.1:0 (RAII), and a raw TCP client
// that sends arbitrary bytes, parses responses, and tells a reset from a clean close.

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "stubborn/config.hpp"
#include "stubborn/server.hpp"

namespace stubborn::testing {

/// A server started from TOML text on 127.0.0.1:0 with 2 threads; stopped on destruction.
class running_server {
 public:
  explicit running_server(const std::string& toml, const std::string& base_dir = ".");
  explicit running_server(config cfg);
  /// A server on `listen` instead of 127.0.0.1:0, e.g. {"::1", 0}.
  running_server(config cfg, const listen_address& listen);
  ~running_server();
  /// The port requests go to: the HTTPS listener's when the suite runs over TLS.
  std::uint16_t port() const;
  /// True when the suite runs over TLS and this server serves its routes on HTTPS only.
  bool over_tls() const { return over_tls_; }
  stubborn::server& get() { return *server_; }

 private:
  std::unique_ptr<stubborn::server> server_;
  bool over_tls_ = false;
};

/// One parsed HTTP response.
struct http_response {
  std::string version;
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string head;  ///< the raw status line and headers, with the blank line

  /// The first header with this name (case-insensitive), or "" (see has_header).
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
};

/// How a read until the end of the connection ended.
enum class connection_end { clean_close, reset, timeout };

/// A TCP socket the caller opened (at a descriptor number of its choosing) for raw_client to
/// connect and own.
struct open_socket {
  int fd = -1;
};

/// The loopback address a raw_client connects to.
enum class loopback { ipv4, ipv6 };

/// True if this machine can listen and connect on the IPv6 loopback address ::1.
bool has_ipv6_loopback();

/// How a raw_client speaks TLS (start_tls): what it sends and what it trusts.
struct tls_client_options {
  std::string server_name = "localhost";  ///< SNI and the name verified ("" = no SNI)
  std::string verify_name;                ///< the name checked instead of server_name, if set
  std::string ca_pem;                     ///< trusted CA (PEM text); "" = verify nothing
  std::string cert_pem;                   ///< a client certificate (PEM text), with key_pem
  std::string key_pem;
  std::vector<std::string> alpn{"http/1.1"};  ///< protocols offered ({} = no ALPN)
  int min_version = 0;                        ///< TLS1_2_VERSION etc.; 0 = OpenSSL's default
  int max_version = 0;
  std::string ciphers;  ///< TLS 1.2 cipher list; "" = default
  /// A session from an earlier connection's session(), to resume it.
  std::shared_ptr<void> session;
};

/// What a TLS handshake of a raw_client ended with.
struct tls_client_result {
  bool ok = false;
  std::string error;       ///< OpenSSL's error text when !ok (e.g. "... alert handshake failure")
  bool closed = false;     ///< !ok because the server closed or reset the connection (no alert)
  bool timed_out = false;  ///< !ok because the server did not answer within the timeout
  long verify_result = 0;  ///< X509_V_OK or the certificate check's error
  std::string version;     ///< "TLSv1.3"
  std::string alpn;        ///< the protocol the server chose
  bool resumed = false;
  std::string peer_serial;  ///< the server certificate's serial number, in hex
};

/// True when the suite runs over TLS (STUBBORN_TEST_TLS=1).
bool suite_over_tls();

/// The TLS settings a raw_client made by port uses for `port`, when the suite runs over TLS
/// (STUBBORN_TEST_TLS=1): each running_server then adds an HTTPS listener, serves on it only,
/// and registers it here, trusting the CA it made, until it stops. Unset for any other port
/// (an admin listener, a server a test builds itself): plain TCP.
std::optional<tls_client_options> suite_tls(std::uint16_t port);

/// A blocking TCP client for 127.0.0.1 (or ::1) with a receive timeout. It reports trouble by
/// throwing std::runtime_error (never through Catch), so it may be used from several threads.
class raw_client {
 public:
  explicit raw_client(std::uint16_t port,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  /// Connects to `port` on the given loopback address.
  raw_client(loopback address, std::uint16_t port,
             std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  /// Connects `socket` and owns it from now on (closed even if the connect fails).
  raw_client(open_socket socket, std::uint16_t port,
             std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  ~raw_client();
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  /// Runs a TLS handshake on the connection; the I/O that follows is over TLS when it succeeds.
  tls_client_result start_tls(const tls_client_options& options);
  /// The TLS session, for another connection to resume (null before a handshake).
  std::shared_ptr<void> session() const;
  /// True after a successful start_tls().
  bool over_tls() const { return ssl_ != nullptr; }
  /// Reads what has arrived, waiting up to `timeout`, past read_response's buffer: >0 bytes, 0
  /// at a clean end, -1 on an error (errno kept), -2 on timeout.
  long receive_some(char* into, std::size_t size, std::chrono::milliseconds timeout);

  void send(std::string_view bytes);
  /// Reads one response; `no_body` for replies to HEAD. Throws on timeout or close.
  http_response read_response(bool no_body = false);
  /// Reads exactly `count` raw bytes (after any response already read). Throws on timeout or
  /// close.
  std::string read_bytes(std::size_t count);
  /// Reads everything until the peer closes or resets, or the timeout passes.
  std::pair<std::string, connection_end> read_until_close(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  /// Closes our sending side (the peer then reads end of stream).
  void shutdown_send();

 private:
  bool fill(std::chrono::milliseconds timeout);
  void connect_to(std::uint16_t port, loopback address = loopback::ipv4);
  // start_tls, which leaves an SSL whose handshake timed out in handshaking_.
  tls_client_result begin_tls(const tls_client_options& options);
  // Goes on with a handshake the server had not answered (waiting up to `timeout`); true once
  // it is done. A close or reset ends it quietly (reads then see that end); an alert throws.
  bool finish_handshake(std::chrono::milliseconds timeout);
  int fd_ = -1;
  std::shared_ptr<void> ssl_;  // SSL*, freed with SSL_free
  // The suite's TLS over a port whose server has not answered the handshake yet (it could not
  // accept): what is sent meanwhile waits in unsent_.
  std::shared_ptr<void> handshaking_;
  std::string unsent_;
  // The error a reset in the handshake left for the first read to report, as over plain TCP.
  int reset_error_ = 0;
  std::string buffer_;
  std::chrono::milliseconds timeout_;
};

/// Sends one request on a new connection and reads one response.
http_response exchange(std::uint16_t port, std::string_view request, bool no_body = false);

/// A minimal valid GET for `target`.
std::string get(std::string_view target, std::string_view extra_headers = {});

/// A config file in the temp folder, removed when this goes out of scope.
struct temp_file {
  std::filesystem::path path;
  explicit temp_file(const std::string& text);
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;
  /// Replaces the file's text.
  void write(const std::string& text) const;
  ~temp_file();
};

}  // namespace stubborn::testing

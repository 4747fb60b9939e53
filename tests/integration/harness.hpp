#pragma once
// Integration-test helpers: an in-process server on 127.0.0.1:0 (RAII), and a raw TCP client
// that sends arbitrary bytes, parses responses, and tells a reset from a clean close.

#include <chrono>
#include <filesystem>
#include <memory>
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
  std::uint16_t port() const { return server_->port(); }
  stubborn::server& get() { return *server_; }

 private:
  std::unique_ptr<stubborn::server> server_;
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
  int fd_ = -1;
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

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "stubborn/config.hpp"
#include "stubborn/control.hpp"

namespace stubborn {

/// The outcome of server::reload().
struct reload_result {
  bool ok = true;
  std::string error;  ///< the config's problems, one per line, when !ok
};

/// An HTTP/1.1 stub server serving one validated config on its own threads.
class server {
 public:
  /// Compiles the route table; throws config_error if the config cannot be compiled, or if a
  /// route proxies while the server is offline ([server] offline or config_overrides::offline).
  explicit server(config cfg);
  /// Stops (without drain) if still running.
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds, listens and starts the I/O threads. Throws std::system_error if it cannot bind
  /// (the main listener or [admin] listen), its what() naming the address; nothing runs then.
  void start();
  /// Stops accepting, lets requests already read finish (up to `drain`), closes the rest.
  void stop(std::chrono::milliseconds drain);
  /// stop() with the current [server] drain_timeout (a reload's value, if one changed it).
  void stop();
  /// Blocks until stop() has completed.
  void wait();

  /// The port actually bound (useful with port 0); valid after start().
  std::uint16_t port() const;
  /// The port of the admin API: [admin] listen's, or port() when it shares the main listener.
  std::uint16_t admin_port() const;
  /// "http://host:port" (the plain listener's; "" when `listen = ""` turned it off).
  std::string url() const;
  /// The port the HTTPS listener bound ([server.tls]); 0 when there is none.
  std::uint16_t tls_port() const;
  /// "https://host:port" of the HTTPS listener; "" when there is none.
  std::string tls_url() const;
  /// Re-reads the config's files (config::sources) and swaps the new route table in, atomically:
  /// requests in flight finish on the table they started with, and routes that did not change
  /// keep their sequence, outage and rate-limit state. If the files have problems, the current
  /// table keeps serving and the problems are returned (and shown by GET /__admin/status).
  /// [server] listen, threads and max_connections, [admin], access_log and [recording] need a
  /// restart.
  /// Runs on the control thread and waits for it; throws std::logic_error after stop().
  reload_result reload();
  /// Runtime routes, reset, reload, the journal and metrics, without HTTP (see control.hpp).
  server_control& control();
  /// Number of routes in the current table.
  std::size_t route_count() const;
  /// Number of I/O threads.
  unsigned thread_count() const;
  /// Connections open right now.
  std::size_t open_connections() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace stubborn

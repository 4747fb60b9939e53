#pragma once
// The admin API under [admin] prefix: routes at runtime, reset, reload, the request journal,
// verification counts, status and Prometheus metrics. Requests reach it from a session like any
// other request; work that reads files or compiles tables runs on the server's control thread,
// and per-thread journals and metrics are copied on their own threads, so no I/O thread blocks
// and nothing is locked on the serving path.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "control/observer.hpp"
#include "stubborn/config.hpp"

namespace stubborn {

struct request_view;
class server_state;

/// One I/O thread as the admin API sees it.
struct observed_thread {
  boost::asio::any_io_executor executor;
  thread_observer* observer = nullptr;
};

/// The result of re-reading the config files.
struct reload_status {
  bool ok = true;
  std::string error;  ///< the problems, one per line, when !ok
  std::chrono::system_clock::time_point at{};  ///< of the last attempt (epoch = never)
  std::uint64_t reloads = 0;    ///< successful reloads so far
  std::uint64_t failures = 0;   ///< failed ones
};

/// What the server offers the admin API; implemented by the server (and by test doubles).
/// Every call may block (files, compiling): the admin API makes them on the control thread.
class admin_host {
 public:
  virtual ~admin_host() = default;
  /// Re-reads the config files and installs the new table if they are valid.
  virtual reload_status reload() = 0;
  virtual reload_status last_reload() const = 0;
  /// The runtime routes, in the order they rank (they come before every file route).
  virtual std::vector<route_spec> runtime_routes() const = 0;
  /// Installs a new set of runtime routes; "" or what is wrong (nothing changes then).
  virtual std::string set_runtime_routes(std::vector<route_spec> routes) = 0;
  virtual std::vector<std::string> config_files() const = 0;
  /// The folder body_file paths in runtime routes are resolved against.
  virtual std::string base_dir() const = 0;
};

/// A reply from the admin API, rendered by the session.
struct admin_reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::string extra_headers;  ///< complete "Name: value\r\n" lines
};

class admin_service {
 public:
  admin_service(admin_config config, server_state& state, admin_host& host,
                std::vector<observed_thread> threads, boost::asio::any_io_executor control);

  /// True if this path belongs to the admin API (the prefix, then '/' or the end).
  bool owns(std::string_view path) const;
  /// Answers one admin request; runs on the calling session's thread.
  boost::asio::awaitable<admin_reply> handle(const request_view& request);

  const admin_config& config() const { return config_; }

 private:
  boost::asio::awaitable<std::vector<journal_entry>> journal();
  boost::asio::awaitable<std::vector<std::pair<std::string, route_metrics>>> metrics();
  boost::asio::awaitable<void> clear_journal();
  template <typename F>
  boost::asio::awaitable<decltype(std::declval<F>()())> on_control(F work);

  boost::asio::awaitable<admin_reply> routes(const request_view& request, std::string_view rest);
  admin_reply status_reply();
  std::string metrics_text(const std::vector<std::pair<std::string, route_metrics>>& metrics);

  admin_config config_;
  server_state& state_;
  admin_host& host_;
  std::vector<observed_thread> threads_;
  boost::asio::any_io_executor control_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace stubborn

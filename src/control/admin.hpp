#pragma once
// The admin API under [admin] prefix: routes at runtime, reset, reload, the request journal,
// verification counts, status and Prometheus metrics, as JSON over HTTP on the control layer.
// Requests reach it from a session like any other request; work that reads files or compiles
// tables runs on the control thread, per-thread journals and metrics are copied on their own
// threads, and status reads a published snapshot, so no I/O thread blocks or waits for a reload.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "control/journal_stream.hpp"
#include "stubborn/config.hpp"
#include "stubborn/control.hpp"

namespace stubborn {

struct request_view;
class control_plane;
class connection_handler;

/// A reply from the admin API, rendered by the session.
struct admin_reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::string extra_headers;  ///< complete "Name: value\r\n" lines
  /// Writes the body itself after the head (the journal's event stream); see handler_reply.
  std::shared_ptr<connection_handler> take_over;
};

/// The admin HTTP/JSON endpoints, written on the control layer.
class admin_service {
 public:
  admin_service(admin_config config, control_plane& control);

  /// True if this path belongs to the admin API (the prefix, then '/' or the end).
  bool owns(std::string_view path) const;
  /// Answers one admin request; runs on the calling session's thread, and never blocks it.
  boost::asio::awaitable<admin_reply> handle(const request_view& request);

  const admin_config& config() const { return config_; }

 private:
  boost::asio::awaitable<admin_reply> routes(const request_view& request, std::string_view rest);
  boost::asio::awaitable<admin_reply> change_route(const request_view& request, std::string name);
  boost::asio::awaitable<admin_reply> status_reply();
  // /requests and /requests/count with scope=cluster: the shared journal, filtered here.
  boost::asio::awaitable<admin_reply> cluster_requests(journal_query filter, bool count);
  admin_reply page_reply(bool head_only) const;
  admin_reply stream_reply(const request_view& request, std::string_view query);
  std::string metrics_text(const server_metrics& metrics);

  admin_config config_;
  control_plane& control_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  journal_stream_slots streams_;
};

}  // namespace stubborn

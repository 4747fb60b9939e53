#pragma once
// Recording what proxy routes relay, to be written out as routes a person could have written:
// one route per distinct request, a sequence where the same request got different answers.
// add() is called by the I/O threads; write() by the control thread, at a snapshot and at exit.

#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

#include "stubborn/config.hpp"

namespace stubborn {

/// One header line as it was sent.
struct recorded_header {
  std::string name;
  std::string value;
};

/// One request relayed to an upstream and the reply relayed back.
struct recorded_exchange {
  std::string method;
  std::string target;  ///< as the client sent it: path and query
  std::vector<recorded_header> request_headers;
  std::string request_body;  ///< de-chunked
  int status = 0;            ///< as the upstream sent it (before status_map)
  std::string reason;
  /// As the upstream sent them, without hop-by-hop and framing fields (Transfer-Encoding, and
  /// Content-Length except in a reply to HEAD, which has no body to measure).
  std::vector<recorded_header> reply_headers;
  std::string reply_body;  ///< de-chunked, whole
};

/// The exchanges recorded so far, and how they are written out.
class recorder {
 public:
  explicit recorder(recording_config config);

  /// Adds one exchange; safe from any thread.
  void add(recorded_exchange exchange);
  /// Writes every exchange so far to the config's `out` (bodies over 4 KiB or not UTF-8 into
  /// files in a folder beside it), replacing what was there. Returns how many routes it wrote;
  /// throws std::runtime_error when a file cannot be written.
  std::size_t write() const;
  /// How many exchanges were recorded.
  std::size_t size() const;
  const recording_config& config() const { return config_; }

 private:
  recording_config config_;
  mutable std::mutex mutex_;
  std::vector<recorded_exchange> exchanges_;
};

}  // namespace stubborn

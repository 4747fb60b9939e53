#pragma once
// Observing a request once it is answered: per-route metrics, the journal and the access log.
// The session fills a request_outcome as it serves and hands it to observe(); nothing here
// touches a socket.

#include <chrono>
#include <string>

#include "stubborn/config.hpp"
#include "wire/peer_address.hpp"

namespace stubborn {

class cluster_link;

struct compiled_route;
struct request_view;
struct route_metrics;
class thread_observer;
class access_log;

/// What was served for one request: filled in by the session as it answers.
struct request_outcome {
  std::chrono::steady_clock::time_point start;  ///< when the request was read whole
  const compiled_route* route = nullptr;        ///< the route that answered; null = none
  int status = 0;                       ///< the final status sent; 0 = none (a fault or a hang)
  fault_kind fault = fault_kind::none;  ///< the fault that broke the reply, if any
  bool rate_limited = false;            ///< a rate limit answered
  bool admin = false;                   ///< the admin API answered
  std::string miss;                     ///< no route: the nearest one and what differed (journal)
  /// A body that streamed to an upstream (the request view then holds none of it): its first
  /// bytes, as many as the journal keeps, and its whole size.
  std::string streamed_body;
  std::uint64_t streamed_bytes = 0;
  bool body_streamed = false;

  /// Starts the next request now; the miss text keeps its capacity.
  void begin();
};

/// One connection's view of its thread's metrics, journal and access log.
class request_observation {
 public:
  /// Any of them may be null (off).
  request_observation(thread_observer* observer, access_log* log, unsigned thread_index,
                      cluster_link* cluster = nullptr)
      : observer_(observer), log_(log), thread_index_(thread_index), cluster_(cluster) {}

  /// Whether anything observes: when nothing does, the session skips the outcome altogether.
  bool on() const { return observer_ || log_; }
  /// Counts a request rejected before it was read whole: under no route, with no latency.
  void count_rejection(int status);
  /// Feeds one answered request to the metrics, the journal and the access log. The admin API's
  /// own traffic goes to the access log only.
  void observe(const request_view& request, const request_outcome& outcome, connection_peer& peer);
  /// The route table changed: route pointers cached from the old one are forgotten.
  void table_changed() {
    metrics_route_ = nullptr;
    metrics_ = nullptr;
  }

 private:
  void log_access(const request_view& request, const request_outcome& outcome,
                  std::chrono::microseconds latency, connection_peer& peer);

  thread_observer* observer_;
  access_log* log_;
  unsigned thread_index_;
  cluster_link* cluster_;  // [cluster] share "journal": each entry also goes to Redis
  // The metrics of the last route served, cached while the table stays the same.
  const compiled_route* metrics_route_ = nullptr;
  route_metrics* metrics_ = nullptr;
  std::string client_text_;  // "address:port", made when the journal first needs it
};

}  // namespace stubborn

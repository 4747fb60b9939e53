#pragma once
// The cluster's shared state ([cluster]): what an I/O thread asks Redis before it plans a request
// of a route whose state is shared, the journal entries it appends, and the health every Redis
// connection of the server reports.
//
// Redis keys, all under "stubborn:<namespace>:":
//   gen                        the namespace's generation; POST /__admin/reset moves it on, so
//                              every state key of the old one is unused (and expires)
//   kg:<key>                   a state key's generation (POST /__admin/reset?key=V)
//   g<gen>:start               the start of outage windows (set by the first request)
//   g<gen>:r:<route>[:k:<kgen>:<key>]:seq      the sequence position
//   g<gen>:r:<route>[...]:limit:<client>       a token bucket's theoretical arrival time (us)
//   g<gen>:r:<route>[...]:limit:<client>:<n>   a fixed window's count
//   g<gen>:k:<kgen>:<key>:start                a state key's start of outage windows
//   routes, routes:order       runtime routes (a hash of JSON) and their order counter
//   journal                    the requests of every instance, a capped stream
//   events                     the pub/sub channel of route changes and resets

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "cluster/redis_client.hpp"
#include "respond/respond.hpp"
#include "stubborn/config.hpp"

namespace stubborn {

/// Whether Redis answers, as all of this server's connections to it see it: up while every
/// connection is up. Logs one line when Redis is lost and one when it is back.
class cluster_health {
 public:
  explicit cluster_health(std::string where) : where_(std::move(where)) {}
  /// Counts one more connection (down until it reports up).
  void add_connection() { connections_.fetch_add(1, std::memory_order_relaxed); }
  /// A connection went up or down (from its own thread).
  void report(bool was_up, bool now_up);
  /// Every connection is up.
  bool up() const;
  const std::string& where() const { return where_; }

 private:
  std::string where_;
  std::atomic<int> connections_{0};
  std::atomic<int> up_{0};
  std::atomic<bool> ever_up_{false};
  std::atomic<bool> logged_down_{false};
};

/// The Redis key prefix of a namespace: "stubborn:<namespace>:".
std::string cluster_prefix(const cluster_config& cluster);
/// The pub/sub channel of a namespace's route changes and resets.
std::string cluster_channel(const cluster_config& cluster);
/// The connection options [cluster] gives (the URL was checked at load).
redis_options cluster_redis_options(const cluster_config& cluster, std::string client_name);

/// One I/O thread's link to the shared state: its own pipelined Redis connection.
class cluster_link {
 public:
  cluster_link(boost::asio::io_context& io, const cluster_config& cluster, cluster_health& health,
               unsigned thread_index);
  cluster_link(const cluster_link&) = delete;
  cluster_link& operator=(const cluster_link&) = delete;
  void start();
  void stop();

  /// Asks Redis what `ask` needs, in one script call; the answer (or `unavailable` past the
  /// timeout, or while Redis is down) comes back on this thread.
  boost::asio::awaitable<void> ask(const shared_ask& ask, shared_answer& answer);
  /// Appends one request (its journal JSON) to the shared journal; nothing waits for it.
  void append_journal(std::string entry_json);
  bool journal_shared() const { return journal_; }

 private:
  redis_connection redis_;
  cluster_health& health_;
  std::string prefix_;
  std::string generation_key_;
  std::string journal_key_;
  std::string journal_max_;
  bool journal_ = false;
  bool up_ = false;
};

/// The script every ask runs (exposed for tests).
const redis_script& shared_state_script();

}  // namespace stubborn

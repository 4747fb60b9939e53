#pragma once
// The control thread's side of [cluster]: runtime routes and resets made on any instance reach
// every instance of the namespace within one pub/sub round trip, the routes are stored in Redis
// for instances that start later (and written back when Redis comes back empty), and the shared
// journal is read back for scope=cluster.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "cluster/redis_client.hpp"
#include "stubborn/config.hpp"

namespace stubborn {

class cluster_health;

class cluster_sync {
 public:
  /// What another instance did, to be done here too (all called on the control thread).
  struct handlers {
    /// The runtime routes are now these (a JSON array of routes, as GET /__admin/routes).
    std::function<void(const std::string& routes_json)> routes;
    /// Sequences, outages, limits and the journal back to their start.
    std::function<void()> reset;
    /// One state key's state dropped.
    std::function<void(const std::string& key)> reset_key;
    /// This instance's runtime routes as a JSON array: written back when Redis lost them.
    std::function<std::string()> held_routes;
  };

  cluster_sync(boost::asio::io_context& io, const cluster_config& cluster, cluster_health& health,
               handlers on);
  ~cluster_sync();
  cluster_sync(const cluster_sync&) = delete;
  cluster_sync& operator=(const cluster_sync&) = delete;
  void start();
  void stop();

  /// This instance changed its runtime routes: store them and tell the others.
  void publish_routes(std::string routes_json);
  /// This instance was reset: a new generation of shared state, the shared journal emptied,
  /// the others told. Completes once Redis has the new generation (or did not answer), so a
  /// request sent to any instance after the reset sees the fresh state.
  boost::asio::awaitable<void> publish_reset();
  /// One state key reset here: its shared state dropped (complete on return), the others told.
  boost::asio::awaitable<void> publish_reset_key(std::string key);
  /// The shared journal's entries (JSON objects as text), oldest first; nullopt when Redis did
  /// not answer.
  boost::asio::awaitable<std::optional<std::vector<std::string>>> read_journal();

 private:
  void on_message(std::string_view message);
  void load_routes(bool write_back);

  std::string prefix_;
  std::string channel_;
  std::string instance_;  // tells this instance's own messages apart
  bool share_routes_;
  cluster_health& health_;
  handlers on_;
  redis_connection redis_;
  redis_subscriber subscriber_;
  bool redis_up_ = false;
  bool subscribed_before_ = false;
  std::string last_routes_;  // the JSON last applied or published
};

}  // namespace stubborn

#pragma once
// The control layer: runtime routes, reset, reload and its status, and the journal and metrics
// collected from the I/O threads. Table changes (reloads, runtime routes) run one at a time on
// the layer's own thread and own its state there, so nothing is locked: what the status and
// metrics read is published as an immutable snapshot, swapped atomically, and an I/O thread
// that asks for a change is suspended (not blocked) until the control thread is done. The admin
// HTTP API and the embedding API (server_control) both sit on it.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "control/observer.hpp"
#include "stubborn/config.hpp"
#include "stubborn/control.hpp"

namespace stubborn {

class cluster_sync;
class cluster_health;

class route_table;
class server_state;
class tls_context;

/// One I/O thread as the control layer sees it.
struct observed_thread {
  boost::asio::io_context::executor_type executor;
  thread_observer* observer = nullptr;  ///< null when the admin layer is off
};

/// What reads of the control state see without waiting: published whole after each change.
struct control_status {
  reload_status last_reload;
  std::vector<std::string> config_files;
  std::vector<route_spec> runtime_routes;  ///< in rank order
  std::string base_dir;                    ///< body_file in runtime routes is read from here
};

/// Where a reader of the journal is: for each observed I/O thread, the count (id >> 8) of the
/// newest entry it has looked at.
struct journal_cursor {
  std::vector<std::uint64_t> seen;
};

/// The journal entries after a cursor, and the cursor past them.
struct journal_batch {
  std::vector<journal_entry> entries;  ///< oldest first (by time)
  journal_cursor next;
  std::uint64_t missed = 0;  ///< entries after the cursor that newer ones pushed out first
  bool more = false;         ///< a thread had more than `max` new entries: ask again now
};

/// A route written as JSON, parsed: the spec, or every problem ("source:line:col: message").
struct parsed_route {
  route_spec spec;
  std::vector<std::string> problems;
};

/// The command line's values over the files' (they hold at start and after every reload).
config with_overrides(config c);

/// The HTTPS listener's OpenSSL state, built from [server.tls] (keeping `previous`'s made CA);
/// what cannot be read throws a config_error at [server.tls], as a config problem would. Its
/// warnings are logged.
std::shared_ptr<const tls_context> build_tls_context(const tls_config& tls,
                                                     const tls_context* previous);

class control_plane final : public server_control {
 public:
  /// `files`: the config as read, overrides applied; `state` serves the table compiled from it.
  /// Starts the control thread.
  control_plane(config files, server_state& state);
  ~control_plane() override;
  control_plane(const control_plane&) = delete;
  control_plane& operator=(const control_plane&) = delete;

  /// The I/O threads whose journals and metrics are collected; set once, before they serve.
  void observe(std::vector<observed_thread> threads, std::size_t journal_capacity);
  /// Ends the control thread once queued work is done (after the I/O threads have ended); every
  /// blocking call throws std::logic_error from then on.
  void stop();

  // For I/O-thread callers: each completes on the caller's executor. Table changes run on the
  // control thread (one at a time); journal, metrics and reset never wait for a reload.

  /// Re-reads the config files on the control thread.
  boost::asio::awaitable<reload_status> async_reload();
  /// Parses a route written as JSON on the control thread (body_file reads a file).
  boost::asio::awaitable<parsed_route> async_parse_route_json(std::string text, std::string source);
  /// See server_control::add_route.
  boost::asio::awaitable<route_change> async_add_route(route_spec spec);
  /// See server_control::add_routes.
  boost::asio::awaitable<route_change> async_add_routes(std::string toml, std::string source);
  /// See server_control::put_route.
  boost::asio::awaitable<route_change> async_put_route(route_spec spec);
  /// See server_control::remove_route.
  boost::asio::awaitable<route_change> async_remove_route(std::string name);
  /// See server_control::clear_routes.
  boost::asio::awaitable<route_change> async_clear_routes();
  /// Sequences, outages and rate limits back to their start; the journal emptied.
  boost::asio::awaitable<void> async_reset();
  /// Drops one state key's state on every keyed route; the routes that held it.
  boost::asio::awaitable<std::size_t> async_reset_key(std::string key);
  /// [cluster] share "journal": the entries of every instance (JSON objects as text), oldest
  /// first; nullopt when Redis does not answer or the journal is not shared.
  boost::asio::awaitable<std::optional<std::vector<std::string>>> async_cluster_journal();
  /// [cluster]: joins the namespace (route changes and resets travel both ways from now on).
  /// Called once, before the I/O threads serve.
  void join_cluster(const cluster_config& cluster, cluster_health& health);
  /// The journal entries `query` admits, oldest first, each thread's copied on that thread.
  boost::asio::awaitable<std::vector<journal_entry>> async_journal(journal_query query);
  /// The entries after `from` that `query` admits (its `limit` aside), each thread's copied on
  /// that thread, looking at no more than `max` of each thread's entries. An empty cursor
  /// starts at the oldest entry kept.
  boost::asio::awaitable<journal_batch> async_journal_after(journal_cursor from,
                                                            journal_query query, std::size_t max);
  /// A cursor at the journal's newest entry now (what follows is new).
  boost::asio::awaitable<journal_cursor> async_journal_end();
  /// Empties every thread's journal.
  boost::asio::awaitable<void> async_clear_journal();
  /// The metrics, summed over the threads.
  boost::asio::awaitable<server_metrics> async_metrics();
  /// Writes the recording on the control thread (see server_control::snapshot_recording).
  boost::asio::awaitable<recording_snapshot> async_snapshot_recording();

  // Never wait: safe on any thread.

  /// The control state as last published.
  std::shared_ptr<const control_status> status() const { return status_.load(); }
  /// The metrics as they were at the last reset (all zero before the first): what the admin
  /// page counts "since reset" from.
  std::shared_ptr<const server_metrics> metrics_at_reset() const { return at_reset_.load(); }
  /// The route table serving now.
  std::shared_ptr<const route_table> table() const;
  std::size_t open_connections() const;
  std::uint64_t refused_connections() const;
  /// Number of I/O threads observed.
  std::size_t thread_count() const { return threads_.size(); }

  /// Runs on the control thread in every reload, after the files are read and before the new
  /// table is installed; tests use it to hold a reload open.
  std::function<void()> reload_hook;

  // server_control: blocking.
  route_change add_route(route_spec spec) override;
  route_change add_routes(std::string_view toml, const std::string& source) override;
  route_change put_route(route_spec spec) override;
  route_change remove_route(std::string_view name) override;
  route_change clear_routes() override;
  std::vector<route_spec> runtime_routes() const override;
  void reset() override;
  std::size_t reset_key(std::string_view key) override;
  reload_status reload() override;
  reload_status last_reload() const override;
  std::vector<journal_entry> journal(const journal_query& query) override;
  std::size_t count(const journal_query& query) override;
  void clear_journal() override;
  server_metrics metrics() override;
  recording_snapshot snapshot_recording() override;

 private:
  // On the control thread only:
  reload_status reload_now();
  route_change add_now(std::vector<route_spec> specs);
  route_change put_now(route_spec spec);
  route_change remove_now(const std::string& name);
  route_change clear_now();
  route_change add_toml_now(const std::string& text, const std::string& source);
  recording_snapshot snapshot_now() const;
  parsed_route parse_json_now(const std::string& text, const std::string& source) const;
  // Compiles the file routes plus `runtime` (which rank first) and swaps the table in; throws
  // config_error when they do not compile together.
  void install(const config& files, const std::vector<route_spec>& runtime);
  // Installs `runtime` as the runtime routes; "" or what is wrong (nothing changes then).
  std::vector<std::string> change_runtime(std::vector<route_spec> runtime);
  bool is_file_route(std::string_view name) const;
  void publish();
  // The runtime routes as a JSON array (as GET /__admin/routes writes them, with secrets).
  std::string runtime_json() const;
  // Another instance's runtime routes, as JSON: installed here (control thread).
  void apply_shared_routes(const std::string& routes_json);
  // The reset itself, here only (a cluster's other instances are told by the caller).
  boost::asio::awaitable<void> reset_here();

  template <typename T>
  T wait_for(boost::asio::awaitable<T> operation) const;
  template <typename F>
  boost::asio::awaitable<std::invoke_result_t<F&>> on_control(F work);

  config files_;  // control thread: the config as read, without the runtime routes
  std::vector<route_spec> runtime_;  // control thread
  reload_status last_;               // control thread
  server_state& state_;
  std::vector<observed_thread> threads_;
  std::size_t journal_capacity_ = 0;
  std::atomic<std::shared_ptr<const control_status>> status_;
  std::atomic<std::shared_ptr<const server_metrics>> at_reset_{
      std::make_shared<const server_metrics>()};
  mutable boost::asio::io_context io_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::atomic<bool> stopped_{false};
  // [cluster]: lives on io_ (after it: gone before it is); null: not in a cluster.
  std::unique_ptr<cluster_sync> cluster_;
  bool applying_shared_ = false;  // control thread: installing another instance's routes
  bool share_journal_ = false;
  std::thread thread_;
};

}  // namespace stubborn

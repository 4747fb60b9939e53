#include "control/control_plane.hpp"

#include "cluster/cluster_sync.hpp"
#include "cluster/shared_state.hpp"

#include <toml++/toml.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <filesystem>
#include <set>
#include <stdexcept>

#include "config/route_json.hpp"
#include "log.hpp"
#include "protocols/proxy/recorder.hpp"
#include "protocols/proxy/upstream.hpp"
#include "protocols/tls/tls_context.hpp"
#include "routing/route_table.hpp"
#include "stubborn/config_error.hpp"
#include "stubborn/load_config.hpp"
#include "wire/server_state.hpp"

namespace stubborn {

namespace json = boost::json;

namespace net = boost::asio;

config with_overrides(config c) {
  const config_overrides& o = c.overrides;
  if (o.listen) {
    c.server.listen = *o.listen;
    c.server.plain_listener = true;  // asked for on the command line, even over listen = ""
  }
  if (o.tls_listen) {
    // Without a [server.tls] table, --tls-listen alone turns HTTPS on with every default.
    if (!c.server.tls) c.server.tls.emplace();
    c.server.tls->listen = *o.tls_listen;
  }
  if (o.threads) c.server.threads = *o.threads;
  if (o.access_log) c.server.access_log = *o.access_log;
  // Offline when either the command line or the files say so.
  if (o.offline) c.server.offline = true;
  return c;
}

bool journal_query::admits(const journal_entry& e) const {
  if (unmatched && !e.route.empty()) return false;
  if (!route.empty() && !(route == "none" ? e.route.empty() : e.route == route)) return false;
  if (!method.empty() && e.method != method) return false;
  if (!path.empty()) {
    if (path.back() == '*') {
      if (e.path.compare(0, path.size() - 1, path, 0, path.size() - 1) != 0) return false;
    } else if (e.path != path) {
      return false;
    }
  }
  if (status && e.status != status) return false;
  if (status_class && e.status / 100 != status_class) return false;
  if (since && e.time < *since) return false;
  if (kind && e.kind != *kind) return false;
  if (inbound && (e.kind != journal_kind::websocket || e.websocket.in != *inbound)) return false;
  return true;
}

std::uint64_t server_metrics::requests(std::string_view route) const {
  for (const auto& entry : routes) {
    if (entry.first == route) return entry.second.total();
  }
  return 0;
}

namespace {

// Runs `work` where it is co_spawned. A named coroutine taking its argument by value: g++ 12
// has miscompiled coroutine lambdas with captures (double frees), see DESIGN.md. `work`
// captures only references and pointers (the awaiting coroutine is suspended until it is done,
// so they stay valid), and must not throw (the loader's exceptions are caught inside it).
template <typename F>
net::awaitable<std::invoke_result_t<F&>> run_work(F work) {
  if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
    work();
    co_return;
  } else {
    co_return work();
  }
}

std::vector<std::string> problem_texts(const config_error& e) {
  std::vector<std::string> texts;
  for (const auto& p : e.problems()) texts.push_back(p.to_string());
  return texts;
}

route_change refused(route_change::outcome why, std::string problem) {
  route_change change;
  change.result = why;
  change.problems.push_back(std::move(problem));
  return change;
}

std::string base_dir_of(const config& files) {
  if (files.files.empty()) return ".";
  std::string dir = std::filesystem::path(files.files.front()).parent_path().string();
  return dir.empty() ? "." : dir;
}

}  // namespace

control_plane::control_plane(config files, server_state& state)
    : files_(std::move(files)), state_(state), work_(io_.get_executor()) {
  // --offline is checked here too: the loader only knows [server] offline.
  std::vector<config_problem> offline = offline_problems(files_, files_.server.offline);
  if (!offline.empty()) throw config_error(std::move(offline));
  publish();
  thread_ = std::thread([this] { io_.run(); });
}

control_plane::~control_plane() {
  stop();
}

void control_plane::observe(std::vector<observed_thread> threads, std::size_t journal_capacity) {
  threads_ = std::move(threads);
  journal_capacity_ = journal_capacity;
}

void control_plane::stop() {
  stopped_.store(true);
  if (cluster_) net::post(io_, [this] { cluster_->stop(); });
  work_.reset();
  if (thread_.joinable()) thread_.join();
}

template <typename F>
net::awaitable<std::invoke_result_t<F&>> control_plane::on_control(F work) {
  co_return co_await net::co_spawn(io_, run_work(std::move(work)), net::use_awaitable);
}

template <typename T>
T control_plane::wait_for(net::awaitable<T> operation) const {
  if (stopped_.load()) throw std::logic_error("the server has stopped: its control API is closed");
  // The operation may need this very thread (a journal copy, a hop back): waiting would hang.
  bool own_thread = io_.get_executor().running_in_this_thread();
  for (const auto& t : threads_) own_thread = own_thread || t.executor.running_in_this_thread();
  if (own_thread) {
    throw std::logic_error("the blocking control API cannot be called on the server's threads");
  }
  // The operation runs on the caller's thread, hopping to the control thread for table changes
  // and to the I/O threads for their journals: a collection never waits for a reload.
  net::io_context caller(1);
  auto result = net::co_spawn(caller, std::move(operation), net::use_future);
  caller.run();
  return result.get();
}

std::shared_ptr<const route_table> control_plane::table() const {
  return state_.table();
}

std::size_t control_plane::open_connections() const {
  return state_.open_connections.load(std::memory_order_relaxed);
}

std::uint64_t control_plane::refused_connections() const {
  return state_.refused_connections.load(std::memory_order_relaxed);
}

void control_plane::publish() {
  auto status = std::make_shared<control_status>();
  status->last_reload = last_;
  status->config_files = files_.files;
  status->runtime_routes = runtime_;
  status->base_dir = base_dir_of(files_);
  status_.store(std::move(status));
}

void control_plane::install(const config& files, const std::vector<route_spec>& runtime) {
  config merged = files;
  merged.routes = runtime;
  merged.routes.insert(merged.routes.end(), files.routes.begin(), files.routes.end());
  std::set<std::string_view> names;
  for (const auto& r : runtime) names.insert(r.name);
  std::vector<config_problem> clashes;
  for (const auto& r : files.routes) {
    if (names.count(r.name)) {
      clashes.push_back({r.position, "the runtime route '" + r.name +
                                         "' has the name of this file route; rename one"});
    }
  }
  if (!clashes.empty()) throw config_error(std::move(clashes));
  // Strict replay: a route that would call an upstream is refused from the files and at runtime.
  std::vector<config_problem> offline = offline_problems(merged, files.server.offline);
  if (!offline.empty()) throw config_error(std::move(offline));
  state_.replace(route_table::compile(merged, state_.table().get()));
}

std::shared_ptr<const tls_context> build_tls_context(const tls_config& tls,
                                                     const tls_context* previous) {
  try {
    std::shared_ptr<const tls_context> built = tls_context::build(tls, previous);
    for (const std::string& warning : built->warnings()) log(log_level::warn, warning);
    return built;
  } catch (const std::runtime_error& e) {
    throw config_error({config_problem{tls.position, e.what()}});
  }
}

reload_status control_plane::reload_now() {
  last_.at = std::chrono::system_clock::now();
  if (files_.sources.empty()) {
    last_.ok = false;
    last_.error = "no config files to re-read: the config was given in code";
    ++last_.failures;
    publish();
    return last_;
  }
  try {
    config fresh = load_config(files_.sources);
    fresh.overrides = files_.overrides;
    fresh = with_overrides(std::move(fresh));
    const server_config& was = files_.server;
    server_config& now = fresh.server;
    if (!(now.listen == was.listen) || now.threads != was.threads ||
        now.max_connections != was.max_connections || now.access_log != was.access_log ||
        !(fresh.admin == files_.admin)) {
      log(log_level::warn,
          "reload: [server] listen, threads, max_connections, access_log and [admin] "
          "keep their values until a restart");
    }
    now.listen = was.listen;
    now.threads = was.threads;
    now.max_connections = was.max_connections;
    now.access_log = was.access_log;
    fresh.admin = files_.admin;
    // A reload may turn strict replay on (no proxy route is left by then), never off: what was
    // promised at start holds until a restart.
    if (was.offline && !now.offline) {
      log(log_level::warn, "reload: [server] offline stays on until a restart");
    }
    now.offline = now.offline || was.offline;
    // Listeners are bound at start: whether there is an HTTPS listener, and where, needs a
    // restart. Its certificates, names and settings do not: they are read again now, and new
    // connections get them.
    if (now.tls.has_value() != was.tls.has_value() || now.plain_listener != was.plain_listener ||
        (now.tls && !(now.tls->listen == was.tls->listen))) {
      log(log_level::warn,
          "reload: whether [server.tls] and [server] listen are on, and where, keep their "
          "values until a restart");
    }
    now.plain_listener = was.plain_listener;
    // The recorder was made at start and holds what was recorded: it stays as it is.
    if (!(fresh.recording == files_.recording)) {
      log(log_level::warn, "reload: [recording] keeps its values until a restart");
    }
    fresh.recording = files_.recording;
    if (!was.tls) {
      now.tls.reset();
    } else {
      if (!now.tls) now.tls = was.tls;
      now.tls->listen = was.tls->listen;
    }
    std::shared_ptr<const tls_context> tls;
    if (now.tls) tls = build_tls_context(*now.tls, state_.current_tls_context().get());
    if (reload_hook) reload_hook();
    install(fresh, runtime_);
    if (tls) state_.replace_tls_context(std::move(tls));
    files_ = std::move(fresh);
    last_.ok = true;
    last_.error.clear();
    ++last_.reloads;
    log(log_level::info, "reloaded " + std::to_string(files_.files.size()) + " file" +
                             (files_.files.size() == 1 ? "" : "s") + ": " +
                             std::to_string(state_.table()->size()) + " routes");
  } catch (const config_error& e) {
    last_.ok = false;
    last_.error.clear();
    for (const auto& p : e.problems()) last_.error += p.to_string() + "\n";
    ++last_.failures;
    log(log_level::error, "reload refused, the previous routes keep serving:\n" +
                              last_.error.substr(0, last_.error.size() - 1));
  }
  publish();
  return last_;
}

std::vector<std::string> control_plane::change_runtime(std::vector<route_spec> runtime) {
  try {
    install(files_, runtime);
  } catch (const config_error& e) {
    return problem_texts(e);
  }
  runtime_ = std::move(runtime);
  publish();
  if (cluster_ && !applying_shared_) cluster_->publish_routes(runtime_json());
  return {};
}

std::string control_plane::runtime_json() const {
  json::array routes;
  for (const route_spec& spec : runtime_) {
    routes.push_back(route_to_json(spec, json_writing{.secrets = true}));
  }
  return json::serialize(routes);
}

void control_plane::apply_shared_routes(const std::string& routes_json) {
  json::error_code ec;
  const json::value parsed = json::parse(routes_json, ec);
  if (ec || !parsed.is_array()) {
    log(log_level::warn, "cluster: the shared runtime routes are not a JSON array; kept ours");
    return;
  }
  std::vector<route_spec> specs;
  for (const json::value& route : parsed.as_array()) {
    parsed_route one = parse_json_now(json::serialize(route), "cluster");
    if (!one.problems.empty()) {
      log(log_level::warn, "cluster: a shared runtime route was refused: " + one.problems.front());
      return;
    }
    specs.push_back(std::move(one.spec));
  }
  applying_shared_ = true;
  const std::vector<std::string> problems = change_runtime(std::move(specs));
  applying_shared_ = false;
  if (!problems.empty()) {
    log(log_level::warn,
        "cluster: the shared runtime routes do not fit this instance's "
        "routes: " +
            problems.front());
  }
}

void control_plane::join_cluster(const cluster_config& cluster, cluster_health& health) {
  share_journal_ = cluster.share_journal;
  cluster_sync::handlers on;
  on.routes = [this](const std::string& routes) { apply_shared_routes(routes); };
  on.reset = [this] { net::co_spawn(io_, reset_here(), net::detached); };
  on.reset_key = [this](const std::string& key) { table()->reset_key(key); };
  on.held_routes = [this] { return runtime_json(); };
  cluster_ = std::make_unique<cluster_sync>(io_, cluster, health, std::move(on));
  net::post(io_, [this] { cluster_->start(); });
}

bool control_plane::is_file_route(std::string_view name) const {
  return std::any_of(files_.routes.begin(), files_.routes.end(),
                     [&](const route_spec& r) { return r.name == name; });
}

route_change control_plane::add_now(std::vector<route_spec> specs) {
  std::set<std::string> names;
  for (const auto& spec : specs) {
    if (spec.name.empty()) {
      return refused(route_change::outcome::invalid, "a runtime route needs a name");
    }
    const bool runtime = std::any_of(runtime_.begin(), runtime_.end(),
                                     [&](const route_spec& r) { return r.name == spec.name; });
    if (runtime || is_file_route(spec.name) || !names.insert(spec.name).second) {
      return refused(route_change::outcome::name_taken, "a route named '" + spec.name + "' exists");
    }
  }
  route_change change;
  for (const auto& spec : specs) change.names.push_back(spec.name);
  // The newest runtime routes rank first among equals.
  std::vector<route_spec> runtime = std::move(specs);
  runtime.insert(runtime.end(), runtime_.begin(), runtime_.end());
  change.problems = change_runtime(std::move(runtime));
  change.result =
      change.problems.empty() ? route_change::outcome::added : route_change::outcome::invalid;
  if (!change.problems.empty()) change.names.clear();
  return change;
}

route_change control_plane::put_now(route_spec spec) {
  if (spec.name.empty()) {
    return refused(route_change::outcome::invalid, "a runtime route needs a name");
  }
  if (is_file_route(spec.name)) {
    return refused(route_change::outcome::file_route,
                   "'" + spec.name + "' is a file route: edit the file to change it");
  }
  route_change change;
  change.names.push_back(spec.name);
  std::vector<route_spec> runtime = runtime_;
  auto found = std::find_if(runtime.begin(), runtime.end(),
                            [&](const route_spec& r) { return r.name == spec.name; });
  const bool replaced = found != runtime.end();
  if (replaced)
    *found = std::move(spec);
  else
    runtime.insert(runtime.begin(), std::move(spec));
  change.problems = change_runtime(std::move(runtime));
  if (!change.problems.empty()) {
    change.names.clear();
    change.result = route_change::outcome::invalid;
  } else {
    change.result = replaced ? route_change::outcome::replaced : route_change::outcome::added;
  }
  return change;
}

route_change control_plane::remove_now(const std::string& name) {
  std::vector<route_spec> runtime = runtime_;
  if (std::erase_if(runtime, [&](const route_spec& r) { return r.name == name; }) == 0) {
    if (is_file_route(name)) {
      return refused(route_change::outcome::file_route,
                     "'" + name + "' is a file route: edit the file to change it");
    }
    return refused(route_change::outcome::not_found, "no route named '" + name + "'");
  }
  route_change change;
  change.problems = change_runtime(std::move(runtime));
  if (!change.problems.empty()) {
    change.result = route_change::outcome::invalid;
    return change;
  }
  change.result = route_change::outcome::removed;
  change.names.push_back(name);
  change.removed = 1;
  return change;
}

route_change control_plane::clear_now() {
  route_change change;
  for (const auto& r : runtime_) change.names.push_back(r.name);
  change.problems = change_runtime({});
  if (!change.problems.empty()) {
    change.names.clear();
    change.result = route_change::outcome::invalid;
    return change;
  }
  change.result = route_change::outcome::removed;
  change.removed = change.names.size();
  return change;
}

route_change control_plane::add_toml_now(const std::string& text, const std::string& source) {
  config parsed;
  try {
    parsed = load_config_text(text, source, base_dir_of(files_));
  } catch (const config_error& e) {
    route_change change;
    change.problems = problem_texts(e);
    return change;
  }
  // The text is valid TOML now (the loader parsed it), so parsing it again cannot fail.
  const toml::table document = toml::parse(text, source);
  route_change change;
  for (const auto& [key, node] : document) {
    if (key.str() == "route") continue;
    const source_position where{source, node.source().begin.line, node.source().begin.column};
    change.problems.push_back(config_problem{where,
                                             "only [[route]] tables can be added at "
                                             "runtime, not '" +
                                                 std::string(key.str()) + "'"}
                                  .to_string());
  }
  if (parsed.routes.empty() && change.problems.empty()) {
    change.problems.push_back(source + ": no [[route]] table to add");
  }
  if (!change.problems.empty()) return change;
  return add_now(std::move(parsed.routes));
}

parsed_route control_plane::parse_json_now(const std::string& text,
                                           const std::string& source) const {
  parsed_route out;
  try {
    out.spec = load_route_json(text, source, base_dir_of(files_));
  } catch (const config_error& e) {
    out.problems = problem_texts(e);
  }
  return out;
}

net::awaitable<reload_status> control_plane::async_reload() {
  co_return co_await on_control([this] { return reload_now(); });
}

net::awaitable<parsed_route> control_plane::async_parse_route_json(std::string text,
                                                                   std::string source) {
  co_return co_await on_control([&] { return parse_json_now(text, source); });
}

net::awaitable<route_change> control_plane::async_add_route(route_spec spec) {
  co_return co_await on_control([&] {
    std::vector<route_spec> specs;
    specs.push_back(std::move(spec));
    return add_now(std::move(specs));
  });
}

net::awaitable<route_change> control_plane::async_add_routes(std::string toml, std::string source) {
  co_return co_await on_control([&] { return add_toml_now(toml, source); });
}

net::awaitable<route_change> control_plane::async_put_route(route_spec spec) {
  co_return co_await on_control([&] { return put_now(std::move(spec)); });
}

net::awaitable<route_change> control_plane::async_remove_route(std::string name) {
  co_return co_await on_control([&] { return remove_now(name); });
}

net::awaitable<route_change> control_plane::async_clear_routes() {
  co_return co_await on_control([this] { return clear_now(); });
}

net::awaitable<recording_snapshot> control_plane::async_snapshot_recording() {
  co_return co_await on_control([this] { return snapshot_now(); });
}

recording_snapshot control_plane::snapshot_now() const {
  recording_snapshot snapshot;
  const std::shared_ptr<recorder> recording = state_.recording;
  if (!recording) {
    snapshot.result = recording_snapshot::outcome::not_recording;
    return snapshot;
  }
  snapshot.file = recording->config().out;
  snapshot.exchanges = recording->size();
  try {
    snapshot.routes = recording->write();
  } catch (const std::exception& e) {
    // A full disk or a missing permission: said to the caller, and the recording goes on.
    snapshot.result = recording_snapshot::outcome::failed;
    snapshot.error = e.what();
  }
  return snapshot;
}

namespace {

// What each I/O thread runs for the collections: named coroutines, as run_work says.
net::awaitable<std::vector<journal_entry>> copy_journal(thread_observer* observer) {
  co_return observer->journal_copy();
}

net::awaitable<std::vector<std::pair<std::string, route_metrics>>> copy_metrics(
    thread_observer* observer) {
  co_return observer->metrics_copy();
}

struct thread_tail {
  std::vector<journal_entry> entries;
  std::uint64_t last = 0;
  std::uint64_t missed = 0;
  bool more = false;
};

net::awaitable<thread_tail> copy_journal_after(thread_observer* observer, std::uint64_t after,
                                               const journal_query* query, std::size_t max) {
  thread_tail tail;
  tail.last = observer->journal_after(after, *query, max, tail.entries, tail.missed);
  tail.more = tail.last < observer->journal_count();
  co_return tail;
}

net::awaitable<std::uint64_t> journal_count_of(thread_observer* observer) {
  co_return observer->journal_count();
}

net::awaitable<void> empty_journal(thread_observer* observer) {
  observer->clear_journal();
  co_return;
}

}  // namespace

net::awaitable<void> control_plane::async_reset() {
  co_await reset_here();
  if (cluster_) co_await net::co_spawn(io_, cluster_->publish_reset(), net::use_awaitable);
}

net::awaitable<void> control_plane::reset_here() {
  // Not on the control thread: a reset never waits for a reload. A table being compiled takes
  // its state from the current one, which this resets.
  at_reset_.store(std::make_shared<const server_metrics>(co_await async_metrics()));
  table()->reset_state();
  co_await async_clear_journal();
}

net::awaitable<std::optional<std::vector<std::string>>> control_plane::async_cluster_journal() {
  if (!cluster_ || !share_journal_) co_return std::nullopt;
  co_return co_await net::co_spawn(io_, cluster_->read_journal(), net::use_awaitable);
}

net::awaitable<std::size_t> control_plane::async_reset_key(std::string key) {
  // The keyed states lock for a moment: no I/O thread waits for more than a map erase.
  const std::size_t routes = table()->reset_key(key);
  if (cluster_) {
    co_await net::co_spawn(io_, cluster_->publish_reset_key(std::move(key)), net::use_awaitable);
  }
  co_return routes;
}

net::awaitable<void> control_plane::async_clear_journal() {
  for (const auto& t : threads_) {
    if (!t.observer) continue;
    co_await net::co_spawn(t.executor, empty_journal(t.observer), net::use_awaitable);
  }
}

net::awaitable<journal_batch> control_plane::async_journal_after(journal_cursor from,
                                                                 journal_query query,
                                                                 std::size_t max) {
  journal_batch batch;
  batch.next = std::move(from);
  batch.next.seen.resize(threads_.size(), 0);
  if (journal_capacity_ == 0) co_return batch;
  for (std::size_t i = 0; i < threads_.size(); ++i) {
    const auto& t = threads_[i];
    if (!t.observer) continue;
    // `query` lives in this frame, which waits for the copy to be done.
    thread_tail tail = co_await net::co_spawn(
        t.executor, copy_journal_after(t.observer, batch.next.seen[i], &query, max),
        net::use_awaitable);
    batch.next.seen[i] = tail.last;
    batch.missed += tail.missed;
    batch.more = batch.more || tail.more;
    batch.entries.insert(batch.entries.end(), std::make_move_iterator(tail.entries.begin()),
                         std::make_move_iterator(tail.entries.end()));
  }
  std::stable_sort(batch.entries.begin(), batch.entries.end(),
                   [](const journal_entry& a, const journal_entry& b) { return a.time < b.time; });
  co_return batch;
}

net::awaitable<journal_cursor> control_plane::async_journal_end() {
  journal_cursor end;
  end.seen.resize(threads_.size(), 0);
  for (std::size_t i = 0; i < threads_.size(); ++i) {
    if (!threads_[i].observer) continue;
    end.seen[i] = co_await net::co_spawn(
        threads_[i].executor, journal_count_of(threads_[i].observer), net::use_awaitable);
  }
  co_return end;
}

net::awaitable<std::vector<journal_entry>> control_plane::async_journal(journal_query query) {
  std::vector<journal_entry> all;
  if (journal_capacity_ == 0) co_return all;
  for (const auto& t : threads_) {
    if (!t.observer) continue;
    auto part = co_await net::co_spawn(t.executor, copy_journal(t.observer), net::use_awaitable);
    all.insert(all.end(), std::make_move_iterator(part.begin()),
               std::make_move_iterator(part.end()));
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const journal_entry& a, const journal_entry& b) { return a.time < b.time; });
  // Each thread keeps `journal` entries; together, the newest `journal` of all of them.
  if (all.size() > journal_capacity_) {
    all.erase(all.begin(), all.end() - static_cast<long>(journal_capacity_));
  }
  std::erase_if(all, [&](const journal_entry& e) { return !query.admits(e); });
  if (query.limit && all.size() > query.limit) {
    all.erase(all.begin(), all.end() - static_cast<long>(query.limit));
  }
  co_return all;
}

net::awaitable<server_metrics> control_plane::async_metrics() {
  server_metrics out;
  for (const auto& t : threads_) {
    if (!t.observer) continue;
    auto part = co_await net::co_spawn(t.executor, copy_metrics(t.observer), net::use_awaitable);
    for (auto& entry : part) {
      const std::string& name = entry.first;  // clang 14 cannot capture a structured binding
      auto found = std::find_if(out.routes.begin(), out.routes.end(),
                                [&](const auto& x) { return x.first == name; });
      if (found == out.routes.end())
        out.routes.push_back(std::move(entry));
      else
        found->second.merge(entry.second);
    }
  }
  std::sort(out.routes.begin(), out.routes.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  const auto now = table();
  if (const auto* limit = now->server_rate_limit()) {
    out.server_rate_limit_evictions = limit->limiter->evictions();
  }
  for (std::size_t i = 0; i < now->size(); ++i) {
    const auto& route = now->route(i);
    if (route.rate_limit) {
      out.route_rate_limit_evictions.emplace_back(route.spec.name,
                                                  route.rate_limit->limiter->evictions());
    }
    if (route.keyed) {
      out.route_state_key_evictions.emplace_back(route.spec.name, route.keyed->evictions());
    }
  }
  out.route_count = now->size();
  if (state_.cluster) out.cluster_redis_up = state_.cluster->up();
  out.open_connections = open_connections();
  out.refused_connections = refused_connections();
  out.tls = now->server().tls.has_value();
  out.tls_handshakes_full = state_.tls.full.load(std::memory_order_relaxed);
  out.tls_handshakes_resumed = state_.tls.resumed.load(std::memory_order_relaxed);
  out.tls_handshake_failures = state_.tls.failures();
  out.tls_on_plain_port = state_.tls.client_hello_on_plain.load(std::memory_order_relaxed);
  for (std::size_t i = 1; i < upstream_failure_count; ++i) {
    out.proxy_errors.emplace_back(failure_name(static_cast<upstream_failure>(i)),
                                  state_.proxy.errors[i].load(std::memory_order_relaxed));
  }
  out.proxy_connections_opened = state_.proxy.connections_opened.load(std::memory_order_relaxed);
  const auto status = this->status();
  out.reloads = status->last_reload.reloads;
  out.reload_failures = status->last_reload.failures;
  co_return out;
}

route_change control_plane::add_route(route_spec spec) {
  return wait_for(async_add_route(std::move(spec)));
}

route_change control_plane::add_routes(std::string_view toml, const std::string& source) {
  return wait_for(async_add_routes(std::string(toml), source));
}

route_change control_plane::put_route(route_spec spec) {
  return wait_for(async_put_route(std::move(spec)));
}

route_change control_plane::remove_route(std::string_view name) {
  return wait_for(async_remove_route(std::string(name)));
}

route_change control_plane::clear_routes() {
  return wait_for(async_clear_routes());
}

std::vector<route_spec> control_plane::runtime_routes() const {
  return status()->runtime_routes;
}

void control_plane::reset() {
  wait_for(async_reset());
}

std::size_t control_plane::reset_key(std::string_view key) {
  return wait_for(async_reset_key(std::string(key)));
}

reload_status control_plane::reload() {
  return wait_for(async_reload());
}

reload_status control_plane::last_reload() const {
  return status()->last_reload;
}

std::vector<journal_entry> control_plane::journal(const journal_query& query) {
  return wait_for(async_journal(query));
}

std::size_t control_plane::count(const journal_query& query) {
  journal_query all = query;
  all.limit = 0;
  return wait_for(async_journal(std::move(all))).size();
}

void control_plane::clear_journal() {
  wait_for(async_clear_journal());
}

server_metrics control_plane::metrics() {
  return wait_for(async_metrics());
}

recording_snapshot control_plane::snapshot_recording() {
  return wait_for(async_snapshot_recording());
}

}  // namespace stubborn

#include "stubborn/server.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <filesystem>
#include <set>
#include <list>
#include <thread>

#include "control/access_log.hpp"
#include "control/admin.hpp"
#include "control/admin_handler.hpp"
#include "log.hpp"
#include "control/observer.hpp"
#include "routing/route_table.hpp"
#include "wire/session.hpp"
#include "stubborn/config_error.hpp"
#include "stubborn/load_config.hpp"

namespace stubborn {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using token = net::as_tuple_t<net::use_awaitable_t<>>;
constexpr token use_tuple{};

namespace {

// One I/O thread with its own io_context: sessions never migrate, so nothing needs a strand.
struct worker {
  connection_registry registry;  // declared first: outlives the io_context's handlers
  // Locking stays on for posts from other threads; per-socket reactor locks are off because a
  // socket is only ever used from its own thread.
  net::io_context io{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work{io.get_executor()};
  net::steady_timer sweep_timer{io};
  // Every worker accepts on its own duplicate of the listening socket, so a connection is
  // accepted and registered by the thread that will serve it.
  std::optional<tcp::acceptor> acceptor;
  std::optional<tcp::acceptor> admin_acceptor;  // [admin] listen, on the first worker only
  std::unique_ptr<thread_observer> observer;
  bool accepting = true;  // touched only on this worker's thread, like the next one
  bool stopping = false;
  std::thread thread;
};

net::awaitable<void> sweep_loop(worker* w) {
  for (;;) {
    w->sweep_timer.expires_after(connection_registry::sweep_interval);
    auto [ec] = co_await w->sweep_timer.async_wait(use_tuple);
    // A completion already queued when stop() cancelled the timer arrives without an error:
    // the flag keeps the loop from re-arming, so the io_context can run out of work.
    if (ec || w->stopping) co_return;
    w->registry.sweep();
    if (w->registry.access_log) w->registry.access_log->hand_over(w->registry.thread_index);
  }
}

bool is_descriptor_exhaustion(const boost::system::error_code& ec) {
  return ec == boost::system::errc::too_many_files_open ||
         ec == boost::system::errc::too_many_files_open_in_system ||
         ec == boost::system::errc::not_enough_memory || ec == net::error::no_buffer_space;
}

// Deals the main listener's connections to the workers in turn, whichever worker accepted them.
// Left to the kernel, the worker that has just accepted wins the next accept of a burst too (it
// tries at once; the other sleeps in epoll_wait), and wrk's 50 connections were measured to
// split 37/63 between two threads: the busier one then sets the latency tail.
struct connection_dealer {
  std::vector<worker*> workers;
  std::atomic<std::size_t> next{0};
  worker* deal() { return workers[next.fetch_add(1, std::memory_order_relaxed) % workers.size()]; }
};

// Starts serving an accepted descriptor on worker `w`, on w's own thread.
void serve_on(worker* w, int fd, const net::ip::tcp& protocol, server_state* state,
              listener_role role) {
  connection_socket socket(w->io);
  boost::system::error_code ec;
  socket.assign(net::generic::stream_protocol(protocol.family(), protocol.protocol()), fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  net::co_spawn(w->io, serve_connection(std::move(socket), state, &w->registry, role),
                net::detached);
}

// Takes connections with accept4() straight into non-blocking descriptors, as many as are
// waiting (letting the worker's other handlers run after every accept_batch of them), then
// waits for the listener to be readable again. A descriptor joins a reactor only
// on the worker that serves it: accepting into an Asio socket registered it with the accepting
// worker's epoll, and dealing it to another worker then cost a getsockname and an epoll_ctl
// DEL + ADD more per connection.
net::awaitable<void> accept_loop(worker* w, tcp::acceptor* acceptor, server_state* state,
                                 std::size_t max_connections, listener_role role,
                                 connection_dealer* dealer) {
  net::steady_timer backoff(w->io);
  boost::system::error_code ignored;
  const tcp protocol = acceptor->local_endpoint(ignored).protocol();
  acceptor->non_blocking(true, ignored);  // accept4 must say EAGAIN, never block the worker
  // Accepting a burst of thousands in one go would hold back the requests of connections
  // already accepted, on this worker and (through the posted hand-offs) on the others.
  constexpr int accept_batch = 16;
  int accepted_in_turn = 0;
  for (;;) {
    if (!w->accepting) co_return;
    if (accepted_in_turn == accept_batch) {
      accepted_in_turn = 0;
      co_await net::post(w->io, use_tuple);
      if (!w->accepting) co_return;
    }
    const int fd = ::accept4(acceptor->native_handle(), nullptr, nullptr,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int error = errno;
      if (error == EAGAIN || error == EWOULDBLOCK) {
        accepted_in_turn = 0;
        auto [ec] = co_await acceptor->async_wait(tcp::acceptor::wait_read, use_tuple);
        if (ec == net::error::operation_aborted) co_return;
      } else if (is_descriptor_exhaustion({error, boost::system::system_category()})) {
        // Out of descriptors: keep the loop alive and retry shortly; never stop accepting.
        backoff.expires_after(std::chrono::milliseconds(50));
        co_await backoff.async_wait(use_tuple);
      } else if (error == EBADF || error == EINVAL) {
        co_return;  // the listener was closed (stop)
      }
      // Anything else (ECONNABORTED, EINTR, EPROTO, ...) concerns that one connection.
      continue;
    }
    if (state->open_connections.load(std::memory_order_relaxed) >= max_connections) {
      state->refused_connections.fetch_add(1, std::memory_order_relaxed);
      ::close(fd);
      continue;
    }
    ++accepted_in_turn;
    const int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    worker* target = dealer ? dealer->deal() : w;
    if (target == w) {
      serve_on(w, fd, protocol, state, role);
      continue;
    }
    // With the UNSAFE_IO hint a reactor must not be touched from another thread: the target
    // registers the descriptor itself.
    net::post(target->io, [target, fd, protocol, state, role] {
      serve_on(target, fd, protocol, state, role);
    });
  }
}

void raise_open_file_limit(std::size_t wanted) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  if (limit.rlim_cur < std::min<std::size_t>(wanted + 64, 4096)) {
    log(log_level::warn, "open-file limit is " + std::to_string(limit.rlim_cur) +
                             ", below max_connections (" + std::to_string(wanted) +
                             "); raise it with ulimit -n");
  }
}

}  // namespace

struct server::impl : admin_host {
  explicit impl(config c) : cfg(with_overrides(std::move(c))), state(route_table::compile(cfg)) {}

  // The command line's values over the file's.
  static config with_overrides(config c) {
    const config_overrides& o = c.overrides;
    if (o.listen) c.server.listen = *o.listen;
    if (o.threads) c.server.threads = *o.threads;
    if (o.access_log) c.server.access_log = *o.access_log;
    return c;
  }

  // admin_host: called on the control thread (and by reload() from any thread).
  reload_status reload() override;
  reload_status last_reload() const override {
    std::lock_guard lock(control_mutex);
    return last;
  }
  std::vector<route_spec> runtime_routes() const override {
    std::lock_guard lock(control_mutex);
    return runtime;
  }
  std::string set_runtime_routes(std::vector<route_spec> routes) override;
  std::vector<std::string> config_files() const override {
    std::lock_guard lock(control_mutex);
    return cfg.files;
  }
  std::string base_dir() const override {
    std::lock_guard lock(control_mutex);
    if (cfg.files.empty()) return ".";
    std::string dir = std::filesystem::path(cfg.files.front()).parent_path().string();
    return dir.empty() ? "." : dir;
  }
  // Compiles file routes plus runtime routes (which rank first) and swaps the table in.
  void install(const config& files, const std::vector<route_spec>& routes);

  config cfg;  // as read from the files (or given in code), without the runtime routes
  server_state state;
  mutable std::mutex control_mutex;  // cfg, runtime, last; one table change at a time
  std::vector<route_spec> runtime;
  reload_status last;
  net::io_context control_io{1};  // reloads and runtime route changes run here
  std::optional<net::executor_work_guard<net::io_context::executor_type>> control_work;
  std::thread control_thread;
  std::unique_ptr<admin_service> admin;
  std::unique_ptr<admin_handler> admin_requests;  // the admin API on its listener
  std::unique_ptr<access_log> log;
  std::list<worker> workers;
  connection_dealer dealer;
  net::io_context accept_io{1};  // owns the listening socket; never run
  std::optional<tcp::acceptor> acceptor;
  std::uint16_t bound_port = 0;
  std::uint16_t admin_port = 0;
  std::string bound_host;
  bool started = false;
  bool stopped = false;
  std::mutex stop_mutex;
  std::condition_variable stop_cv;
};

void server::impl::install(const config& files, const std::vector<route_spec>& routes) {
  config merged = files;
  merged.routes = routes;
  merged.routes.insert(merged.routes.end(), files.routes.begin(), files.routes.end());
  std::set<std::string_view> names;
  for (const auto& r : routes) names.insert(r.name);
  std::vector<config_problem> clashes;
  for (const auto& r : files.routes) {
    if (names.count(r.name)) {
      clashes.push_back({r.position, "the runtime route '" + r.name +
                                         "' has the name of this file route; rename one"});
    }
  }
  if (!clashes.empty()) throw config_error(std::move(clashes));
  state.replace(route_table::compile(merged, state.table().get()));
}

reload_status server::impl::reload() {
  std::lock_guard lock(control_mutex);
  last.at = std::chrono::system_clock::now();
  if (cfg.sources.empty()) {
    last.ok = false;
    last.error = "no config files to re-read: the config was given in code";
    ++last.failures;
    return last;
  }
  try {
    config fresh = load_config(cfg.sources);
    fresh.overrides = cfg.overrides;
    fresh = with_overrides(std::move(fresh));
    const server_config& was = cfg.server;
    server_config& now = fresh.server;
    if (!(now.listen == was.listen) || now.threads != was.threads ||
        now.max_connections != was.max_connections || now.access_log != was.access_log ||
        !(fresh.admin == cfg.admin)) {
      stubborn::log(log_level::warn,
                    "reload: [server] listen, threads, max_connections, access_log and [admin] "
                    "keep their values until a restart");
    }
    now.listen = was.listen;
    now.threads = was.threads;
    now.max_connections = was.max_connections;
    now.access_log = was.access_log;
    fresh.admin = cfg.admin;
    install(fresh, runtime);
    cfg = std::move(fresh);
    last.ok = true;
    last.error.clear();
    ++last.reloads;
    stubborn::log(log_level::info, "reloaded " + std::to_string(cfg.files.size()) + " file" +
                                       (cfg.files.size() == 1 ? "" : "s") + ": " +
                                       std::to_string(state.table()->size()) + " routes");
  } catch (const config_error& e) {
    last.ok = false;
    last.error.clear();
    for (const auto& p : e.problems()) last.error += p.to_string() + "\n";
    ++last.failures;
    stubborn::log(log_level::error, "reload refused, the previous routes keep serving:\n" +
                                        last.error.substr(0, last.error.size() - 1));
  }
  return last;
}

std::string server::impl::set_runtime_routes(std::vector<route_spec> routes) {
  std::lock_guard lock(control_mutex);
  try {
    install(cfg, routes);
  } catch (const config_error& e) {
    std::string text;
    for (const auto& p : e.problems()) text += (text.empty() ? "" : "; ") + p.to_string();
    return text;
  }
  runtime = std::move(routes);
  return {};
}

server::server(config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {}

reload_result server::reload() {
  reload_status status = impl_->reload();
  return {status.ok, status.error};
}

server::~server() {
  if (impl_ && impl_->started && !impl_->stopped) stop(std::chrono::milliseconds(0));
}

void server::start() {
  impl& s = *impl_;
  const server_config& sc = s.cfg.server;
  unsigned threads = sc.threads ? sc.threads : std::max(1u, std::thread::hardware_concurrency());
  raise_open_file_limit(sc.max_connections);

  tcp::resolver resolver(s.accept_io);
  auto results = resolver.resolve(sc.listen.host, std::to_string(sc.listen.port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service);
  tcp::endpoint endpoint = results.begin()->endpoint();
  s.acceptor.emplace(s.accept_io);
  s.acceptor->open(endpoint.protocol());
  s.acceptor->set_option(tcp::acceptor::reuse_address(true));
  s.acceptor->bind(endpoint);
  // A deep backlog: 1,000 clients connecting at once must not wait for SYN retries.
  s.acceptor->listen(4096);
  s.bound_port = s.acceptor->local_endpoint().port();
  s.bound_host = s.acceptor->local_endpoint().address().to_string();

  const admin_config& ac = s.cfg.admin;
  if (!sc.access_log.empty()) s.log = std::make_unique<access_log>(sc.access_log, threads);
  std::vector<observed_thread> observed;
  for (unsigned i = 0; i < threads; ++i) {
    worker& w = s.workers.emplace_back();
    int fd = ::dup(s.acceptor->native_handle());
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "dup");
    w.acceptor.emplace(w.io, endpoint.protocol(), fd);
    w.registry.thread_index = i;
    w.registry.access_log = s.log.get();
    if (ac.enabled) {
      w.observer = std::make_unique<thread_observer>(i, ac.journal, ac.journal_body_bytes);
      w.registry.observer = w.observer.get();
      observed.push_back({w.io.get_executor(), w.observer.get()});
    }
  }
  s.control_work.emplace(s.control_io.get_executor());
  s.control_thread = std::thread([&s] { s.control_io.run(); });
  if (ac.enabled) {
    s.admin = std::make_unique<admin_service>(ac, s.state, s, std::move(observed),
                                              s.control_io.get_executor());
    s.admin_requests = std::make_unique<admin_handler>(*s.admin, ac.listen.has_value());
  }
  // A developer and testing switch (docs/reliability.md): the whole server without the fast
  // path, as a TLS listener will run.
  const transport_kind transport = transport_from_environment();
  stubborn::log(log_level::debug, std::string("connections use the ") +
                                      transport_name(transport) + " transport");
  listener_role main_role;
  main_role.transport = transport;
  if (s.admin && !ac.listen) main_role.handler = s.admin_requests.get();
  if (s.admin && ac.listen) {
    worker& first = s.workers.front();
    auto found = resolver.resolve(ac.listen->host, std::to_string(ac.listen->port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service);
    tcp::endpoint admin_endpoint = found.begin()->endpoint();
    first.admin_acceptor.emplace(first.io);
    first.admin_acceptor->open(admin_endpoint.protocol());
    first.admin_acceptor->set_option(tcp::acceptor::reuse_address(true));
    first.admin_acceptor->bind(admin_endpoint);
    first.admin_acceptor->listen(64);
    s.admin_port = first.admin_acceptor->local_endpoint().port();
    net::co_spawn(first.io,
                  accept_loop(&first, &*first.admin_acceptor, &s.state, sc.max_connections,
                              listener_role{s.admin_requests.get(), transport}, nullptr),
                  net::detached);
  }
  for (auto& w : s.workers) s.dealer.workers.push_back(&w);
  for (auto& w : s.workers) {
    net::co_spawn(w.io, sweep_loop(&w), net::detached);
    net::co_spawn(w.io,
                  accept_loop(&w, &*w.acceptor, &s.state, sc.max_connections, main_role,
                              &s.dealer),
                  net::detached);
    w.thread = std::thread([&w] { w.io.run(); });
  }
  s.started = true;
}

void server::stop(std::chrono::milliseconds drain) {
  impl& s = *impl_;
  if (!s.started || s.stopped) return;
  // 1. Stop accepting: every worker closes its duplicate, then the listening socket goes.
  std::atomic<unsigned> closed{0};
  for (auto& w : s.workers) {
    net::post(w.io, [&w, &closed] {
      w.accepting = false;
      boost::system::error_code ignored;
      w.acceptor->close(ignored);
      if (w.admin_acceptor) w.admin_acceptor->close(ignored);
      closed.fetch_add(1);
    });
  }
  while (closed.load() < s.workers.size()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  boost::system::error_code ignored;
  s.acceptor->close(ignored);
  // 2. Drain: idle connections close now, busy ones after their reply.
  s.state.draining = true;
  for (auto& w : s.workers) net::post(w.io, [&w] { w.registry.begin_drain(); });
  auto deadline = std::chrono::steady_clock::now() + drain;
  while (s.state.open_connections.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // 3. Whatever is left is closed; the threads end when their work is done.
  for (auto& w : s.workers) {
    net::post(w.io, [&w] {
      w.stopping = true;
      w.registry.close_all();
      w.sweep_timer.cancel();
      w.work.reset();
    });
  }
  for (auto& w : s.workers) w.thread.join();
  s.control_work.reset();
  s.control_thread.join();
  if (s.log) {
    // The I/O threads are gone: what they logged last is handed over from here.
    for (auto& w : s.workers) s.log->hand_over(w.registry.thread_index);
    s.log.reset();
  }
  {
    std::lock_guard lock(s.stop_mutex);
    s.stopped = true;
  }
  s.stop_cv.notify_all();
}

void server::wait() {
  std::unique_lock lock(impl_->stop_mutex);
  impl_->stop_cv.wait(lock, [this] { return impl_->stopped; });
}

std::uint16_t server::port() const { return impl_->bound_port; }

std::uint16_t server::admin_port() const {
  return impl_->admin_port ? impl_->admin_port : impl_->bound_port;
}

std::string server::url() const {
  const std::string& host = impl_->bound_host;
  bool v6 = host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(impl_->bound_port);
}

std::size_t server::route_count() const { return impl_->state.table()->size(); }

unsigned server::thread_count() const { return static_cast<unsigned>(impl_->workers.size()); }

std::size_t server::open_connections() const { return impl_->state.open_connections.load(); }

}  // namespace stubborn

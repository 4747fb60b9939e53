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
#include <list>
#include <system_error>
#include <thread>

#include "cluster/shared_state.hpp"
#include "control/access_log.hpp"
#include "control/admin.hpp"
#include "control/admin_handler.hpp"
#include "control/control_plane.hpp"
#include "control/observer.hpp"
#include "log.hpp"
#include "protocols/proxy/recorder.hpp"
#include "protocols/proxy/upstream.hpp"
#include "protocols/tls/tls_context.hpp"
#include "routing/route_table.hpp"
#include "wire/session.hpp"

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
  // Idle keep-alive connections to proxy routes' upstreams (after `io`: gone before it is).
  upstream_pool upstreams;
  // [cluster]: this thread's connection to Redis (after `io`: gone before it is).
  std::unique_ptr<cluster_link> cluster;
  // Every worker accepts on its own duplicate of the listening socket, so a connection is
  // accepted and registered by the thread that will serve it.
  std::optional<tcp::acceptor> acceptor;
  std::optional<tcp::acceptor> admin_acceptor;  // [admin] listen, on the first worker only
  std::optional<tcp::acceptor> tls_acceptor;    // [server.tls] listen, like `acceptor`
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
    const int fd =
        ::accept4(acceptor->native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
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
    net::post(target->io,
              [target, fd, protocol, state, role] { serve_on(target, fd, protocol, state, role); });
  }
}

// A duplicate of a listening socket, for a worker to accept on.
tcp::acceptor::native_handle_type duplicate(tcp::acceptor& listener) {
  const int fd = ::dup(listener.native_handle());
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "dup");
  return fd;
}

tcp protocol_of(const tcp::acceptor& listener) {
  return listener.local_endpoint().protocol();
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

// "host:port", "[v6]:port".
std::string address_text(const listen_address& where) {
  const bool v6 = where.host.find(':') != std::string::npos;
  return (v6 ? "[" + where.host + "]" : where.host) + ":" + std::to_string(where.port);
}

// Opens, binds and listens; what cannot be done throws a std::system_error naming the address
// (and `role`, e.g. " ([admin] listen)"), which the command line prints as it is.
tcp::endpoint listen_on(tcp::acceptor& acceptor, const listen_address& where, int backlog,
                        const std::string& role) {
  try {
    tcp::resolver resolver(acceptor.get_executor());
    auto results = resolver.resolve(where.host, std::to_string(where.port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service);
    tcp::endpoint endpoint = results.begin()->endpoint();
    acceptor.open(endpoint.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(backlog);
    return endpoint;
  } catch (const boost::system::system_error& e) {
    throw std::system_error(std::error_code(e.code()),
                            "cannot listen on " + address_text(where) + role);
  }
}

// The last snapshot, once nothing relays any more. An empty recording does not replace a file
// that an earlier run may have written.
void write_recording_at_exit(const recorder* recording) {
  if (!recording) return;
  const std::string& out = recording->config().out;
  const std::size_t exchanges = recording->size();
  if (exchanges == 0) {
    log(log_level::info, "nothing was recorded; " + out + " is left as it was");
    return;
  }
  try {
    const std::size_t routes = recording->write();
    log(log_level::info, "recording written to " + out + ": " + std::to_string(exchanges) +
                             " exchanges as " + std::to_string(routes) + " routes");
  } catch (const std::exception& e) {
    log(log_level::error, std::string("the recording could not be written: ") + e.what());
  }
}

}  // namespace

struct server::impl {
  explicit impl(config c)
      : cfg(with_overrides(std::move(c))), state(route_table::compile(cfg)), control(cfg, state) {
    state.offline = cfg.server.offline;
    // Made once: a reload's [recording] does not replace it (nor lose what it holds).
    if (cfg.recording) state.recording = std::make_shared<recorder>(*cfg.recording);
  }

  config cfg;  // as given, with the overrides: what holds until a restart is read from here
  server_state state;
  control_plane control;  // runtime routes, reset, reload, journal and metrics; its own thread
  std::unique_ptr<admin_service> admin;
  std::unique_ptr<admin_handler> admin_requests;  // the admin API on its listener
  std::unique_ptr<access_log> log;
  std::list<worker> workers;
  connection_dealer dealer;
  net::io_context accept_io{1};               // owns the listening sockets; never run
  std::optional<tcp::acceptor> acceptor;      // unset when `listen = ""`
  std::optional<tcp::acceptor> tls_acceptor;  // [server.tls]
  std::uint16_t bound_port = 0;
  std::uint16_t admin_port = 0;
  std::uint16_t tls_port = 0;
  std::string bound_host;
  std::string tls_host;
  bool started = false;
  bool stopped = false;
  std::mutex stop_mutex;
  std::condition_variable stop_cv;
};

server::server(config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {}

reload_result server::reload() {
  const reload_status status = impl_->control.reload();
  return {status.ok, status.error};
}

server_control& server::control() {
  return impl_->control;
}

server::~server() {
  if (impl_ && impl_->started && !impl_->stopped) stop(std::chrono::milliseconds(0));
}

void server::start() {
  impl& s = *impl_;
  const server_config& sc = s.cfg.server;
  unsigned threads = sc.threads ? sc.threads : std::max(1u, std::thread::hardware_concurrency());
  raise_open_file_limit(sc.max_connections);

  // Everything that can fail (binding above all) comes before the first thread starts, so a
  // failure leaves nothing running and start() can throw.
  // A deep backlog: 1,000 clients connecting at once must not wait for SYN retries.
  constexpr int backlog = 4096;
  if (sc.plain_listener) {
    s.acceptor.emplace(s.accept_io);
    listen_on(*s.acceptor, sc.listen, backlog, "");
    s.bound_port = s.acceptor->local_endpoint().port();
    s.bound_host = s.acceptor->local_endpoint().address().to_string();
  }
  if (sc.tls) {
    // Certificates are read or made before anything listens: a bad key file fails the start.
    s.state.replace_tls_context(build_tls_context(*sc.tls, nullptr));
    s.tls_acceptor.emplace(s.accept_io);
    listen_on(*s.tls_acceptor, sc.tls->listen, backlog, " ([server.tls] listen)");
    s.tls_port = s.tls_acceptor->local_endpoint().port();
    s.tls_host = s.tls_acceptor->local_endpoint().address().to_string();
  }

  const admin_config& ac = s.cfg.admin;
  if (s.cfg.cluster) {
    s.state.cluster = std::make_shared<cluster_health>(
        cluster_redis_options(*s.cfg.cluster, {}).endpoint.where());
  }
  if (!sc.access_log.empty()) s.log = std::make_unique<access_log>(sc.access_log, threads);
  std::vector<observed_thread> observed;
  for (unsigned i = 0; i < threads; ++i) {
    worker& w = s.workers.emplace_back();
    if (s.acceptor) w.acceptor.emplace(w.io, protocol_of(*s.acceptor), duplicate(*s.acceptor));
    if (s.tls_acceptor) {
      w.tls_acceptor.emplace(w.io, protocol_of(*s.tls_acceptor), duplicate(*s.tls_acceptor));
    }
    w.registry.thread_index = i;
    w.registry.upstreams = &w.upstreams;
    if (s.cfg.cluster) {
      w.cluster = std::make_unique<cluster_link>(w.io, *s.cfg.cluster, *s.state.cluster, i);
      w.registry.cluster = w.cluster.get();
    }
    w.registry.access_log = s.log.get();
    if (ac.enabled) {
      w.observer = std::make_unique<thread_observer>(i, ac.journal, ac.journal_body_bytes);
      w.registry.observer = w.observer.get();
    }
    observed.push_back({w.io.get_executor(), w.observer.get()});
  }
  worker& first = s.workers.front();
  if (ac.enabled && ac.listen) {
    first.admin_acceptor.emplace(first.io);
    listen_on(*first.admin_acceptor, *ac.listen, 64, " ([admin] listen)");
    s.admin_port = first.admin_acceptor->local_endpoint().port();
  }
  // A developer and testing switch (docs/reliability.md): the whole server without the fast
  // path, as a TLS listener will run.
  const transport_kind transport = transport_from_environment();
  stubborn::log(log_level::debug,
                std::string("connections use the ") + transport_name(transport) + " transport");
  s.control.observe(std::move(observed), ac.enabled ? ac.journal : 0);
  if (s.cfg.cluster) s.control.join_cluster(*s.cfg.cluster, *s.state.cluster);
  if (ac.enabled) {
    s.admin = std::make_unique<admin_service>(ac, s.control);
    s.admin_requests = std::make_unique<admin_handler>(*s.admin, ac.listen.has_value());
  }

  listener_role main_role;
  main_role.transport = transport;
  if (s.admin && !ac.listen) main_role.handler = s.admin_requests.get();
  if (first.admin_acceptor) {
    net::co_spawn(first.io,
                  accept_loop(&first, &*first.admin_acceptor, &s.state, sc.max_connections,
                              listener_role{s.admin_requests.get(), transport}, nullptr),
                  net::detached);
  }
  for (auto& w : s.workers) s.dealer.workers.push_back(&w);
  listener_role tls_role = main_role;
  tls_role.transport =
      transport == transport_kind::generic ? transport_kind::tls_generic : transport_kind::tls;
  for (auto& w : s.workers) {
    if (w.cluster) net::post(w.io, [&w] { w.cluster->start(); });
    net::co_spawn(w.io, sweep_loop(&w), net::detached);
    if (w.acceptor) {
      net::co_spawn(
          w.io, accept_loop(&w, &*w.acceptor, &s.state, sc.max_connections, main_role, &s.dealer),
          net::detached);
    }
    if (w.tls_acceptor) {
      net::co_spawn(
          w.io,
          accept_loop(&w, &*w.tls_acceptor, &s.state, sc.max_connections, tls_role, &s.dealer),
          net::detached);
    }
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
      if (w.acceptor) w.acceptor->close(ignored);
      if (w.tls_acceptor) w.tls_acceptor->close(ignored);
      if (w.admin_acceptor) w.admin_acceptor->close(ignored);
      closed.fetch_add(1);
    });
  }
  while (closed.load() < s.workers.size())
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  boost::system::error_code ignored;
  if (s.acceptor) s.acceptor->close(ignored);
  if (s.tls_acceptor) s.tls_acceptor->close(ignored);
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
      if (w.cluster) w.cluster->stop();
      w.registry.close_all();
      w.sweep_timer.cancel();
      w.work.reset();
    });
  }
  for (auto& w : s.workers) w.thread.join();
  // After the I/O threads: an admin request waiting on the control thread is answered first.
  s.control.stop();
  write_recording_at_exit(s.state.recording.get());
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

void server::stop() {
  stop(impl_->state.table()->server().drain_timeout);
}

void server::wait() {
  std::unique_lock lock(impl_->stop_mutex);
  impl_->stop_cv.wait(lock, [this] { return impl_->stopped; });
}

std::uint16_t server::port() const {
  return impl_->bound_port;
}

std::uint16_t server::admin_port() const {
  if (impl_->admin_port) return impl_->admin_port;
  return impl_->acceptor ? impl_->bound_port : impl_->tls_port;
}

std::string server::url() const {
  if (!impl_->acceptor) return "";
  return "http://" + address_text({impl_->bound_host, impl_->bound_port});
}

std::uint16_t server::tls_port() const {
  return impl_->tls_port;
}

std::string server::tls_url() const {
  if (!impl_->tls_acceptor) return "";
  return "https://" + address_text({impl_->tls_host, impl_->tls_port});
}

std::size_t server::route_count() const {
  return impl_->state.table()->size();
}

unsigned server::thread_count() const {
  return static_cast<unsigned>(impl_->workers.size());
}

std::size_t server::open_connections() const {
  return impl_->state.open_connections.load();
}

}  // namespace stubborn

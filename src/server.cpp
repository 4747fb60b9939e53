#include "stubborn/server.hpp"

#include <sys/resource.h>
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
#include <thread>

#include "log.hpp"
#include "route_table.hpp"
#include "session.hpp"

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
  }
}

bool is_descriptor_exhaustion(const boost::system::error_code& ec) {
  return ec == boost::system::errc::too_many_files_open ||
         ec == boost::system::errc::too_many_files_open_in_system ||
         ec == boost::system::errc::not_enough_memory || ec == net::error::no_buffer_space;
}

net::awaitable<void> accept_loop(worker* w, server_state* state, std::size_t max_connections) {
  net::steady_timer backoff(w->io);
  for (;;) {
    connection_socket socket(w->io);
    auto [ec] = co_await w->acceptor->async_accept(socket, use_tuple);
    if (ec == net::error::operation_aborted || !w->accepting) co_return;
    if (ec) {
      if (is_descriptor_exhaustion(ec)) {
        // Out of descriptors: keep the loop alive and retry shortly; never stop accepting.
        backoff.expires_after(std::chrono::milliseconds(50));
        co_await backoff.async_wait(use_tuple);
      }
      continue;
    }
    boost::system::error_code ignored;
    if (state->open_connections.load(std::memory_order_relaxed) >= max_connections) {
      state->refused_connections.fetch_add(1, std::memory_order_relaxed);
      socket.close(ignored);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ignored);
    net::co_spawn(w->io, serve_connection(std::move(socket), state, &w->registry),
                  net::detached);
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

struct server::impl {
  explicit impl(config c) : cfg(std::move(c)), state(route_table::compile(cfg)) {}

  config cfg;
  server_state state;
  std::list<worker> workers;
  net::io_context accept_io{1};  // owns the listening socket; never run
  std::optional<tcp::acceptor> acceptor;
  std::uint16_t bound_port = 0;
  std::string bound_host;
  bool started = false;
  bool stopped = false;
  std::mutex stop_mutex;
  std::condition_variable stop_cv;
};

server::server(config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {}

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

  for (unsigned i = 0; i < threads; ++i) {
    worker& w = s.workers.emplace_back();
    int fd = ::dup(s.acceptor->native_handle());
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "dup");
    w.acceptor.emplace(w.io, endpoint.protocol(), fd);
    net::co_spawn(w.io, sweep_loop(&w), net::detached);
    net::co_spawn(w.io, accept_loop(&w, &s.state, sc.max_connections), net::detached);
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

std::string server::url() const {
  const std::string& host = impl_->bound_host;
  bool v6 = host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(impl_->bound_port);
}

std::size_t server::route_count() const { return impl_->state.table()->size(); }

unsigned server::thread_count() const { return static_cast<unsigned>(impl_->workers.size()); }

std::size_t server::open_connections() const { return impl_->state.open_connections.load(); }

}  // namespace stubborn

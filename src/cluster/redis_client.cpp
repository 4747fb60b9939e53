#include "cluster/redis_client.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include <algorithm>
#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <cstdlib>
#include <deque>
#include <exception>

#include "log.hpp"

namespace stubborn {

namespace net = boost::asio;
using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

redis_script::redis_script(std::string source) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(source.data(), source.size(), digest, &size, EVP_sha1(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string sha1;
  for (unsigned int i = 0; i < size; ++i) {
    sha1 += hex[digest[i] >> 4];
    sha1 += hex[digest[i] & 0xf];
  }
  text_ = std::make_shared<const text>(text{std::move(source), std::move(sha1)});
}

const std::string& redis_script::source() const {
  return text_->source;
}
const std::string& redis_script::sha1() const {
  return text_->sha1;
}

namespace detail {

namespace {

redis_reply copy_reply(const redisReply& from) {
  redis_reply out;
  switch (from.type) {
    case REDIS_REPLY_INTEGER:
      out.kind = redis_reply::type::integer;
      out.integer = from.integer;
      break;
    case REDIS_REPLY_STRING:
      out.kind = redis_reply::type::string;
      out.text.assign(from.str, from.len);
      break;
    case REDIS_REPLY_STATUS:
      out.kind = redis_reply::type::status;
      out.text.assign(from.str, from.len);
      break;
    case REDIS_REPLY_ERROR:
      out.kind = redis_reply::type::error;
      out.text.assign(from.str, from.len);
      break;
    case REDIS_REPLY_ARRAY:
      out.kind = redis_reply::type::array;
      out.elements.reserve(from.elements);
      for (std::size_t i = 0; i < from.elements; ++i)
        out.elements.push_back(copy_reply(*from.element[i]));
      break;
    default:
      out.kind = redis_reply::type::nil;
      break;
  }
  return out;
}

bool is_error(const redis_reply* reply) {
  return reply == nullptr || reply->kind == redis_reply::type::error;
}

}  // namespace

class redis_core;

// One hiredis context and what watches its socket. hiredis's hooks and callbacks get a pointer
// to it; it lives until the context is freed and every wait on its descriptor has completed
// (each wait holds it), so no hook or callback can see it gone.
struct redis_link : std::enable_shared_from_this<redis_link> {
  struct pending {
    redis_connection::reply_handler done;  // empty once given up on (or for setup steps)
    clock_type::time_point issued;
    clock_type::time_point deadline;
  };

  redis_link(redis_core& owner, net::io_context& io) : core(&owner), fd(io) {}
  ~redis_link() {
    if (fd.is_open()) fd.release();  // the socket is hiredis's to close
  }

  redis_core* core;
  redisAsyncContext* ac = nullptr;  // null once freed (or being freed)
  net::posix::stream_descriptor fd;
  bool want_read = false;
  bool want_write = false;
  bool reading = false;  // a wait_read is pending
  bool writing = false;  // a wait_write is pending
  bool setup_failed = false;
  std::string failure;  // why this link was dropped, when we dropped it
  // Commands in the order hiredis will answer them; the first `expired` were given up on and
  // wait only for their late replies, to be discarded.
  std::deque<pending> queue;
  std::size_t expired = 0;
  clock_type::time_point last_read;
};

class redis_core : public std::enable_shared_from_this<redis_core> {
 public:
  using message_handler = redis_subscriber::message_handler;

  redis_core(net::io_context& io, redis_options options, bool subscriber,
             std::vector<std::string> channels, message_handler on_message)
      : io_(io),
        options_(std::move(options)),
        subscriber_(subscriber),
        channels_(std::move(channels)),
        on_message_(std::move(on_message)),
        deadline_timer_(io),
        state_timer_(io),
        resolver_(io) {
    if (options_.endpoint.password.empty()) {
      if (const char* env = std::getenv("STUBBORN_REDIS_PASSWORD")) password_ = env;
    } else {
      password_ = options_.endpoint.password;
    }
    connect_limit_ = std::max(options_.timeout, milliseconds(1000));
    stall_limit_ = std::max(options_.timeout * 4, milliseconds(1000));
    std::sort(channels_.begin(), channels_.end());
    channels_.erase(std::unique(channels_.begin(), channels_.end()), channels_.end());
  }

  void start() {
    if (started_) return;
    started_ = true;
    stopped_ = false;
    backoff_ = milliseconds(100);
    connect();
  }

  void stop() {
    stopped_ = true;
    started_ = false;
    up_ = false;
    ++attempt_;
    state_timer_.cancel();
    cancel_deadline();
    resolver_.cancel();
    drop_link("stopped");
  }

  bool up() const { return up_; }
  void on_state(std::function<void(bool)> callback) { on_state_ = std::move(callback); }
  std::string last_error() const { return last_error_; }
  std::size_t in_flight() const { return link_ ? link_->queue.size() : 0; }

  void command(std::vector<std::string> argv, redis_connection::reply_handler done) {
    if (!up_ || !link_ || !link_->ac || argv.empty()) {
      fail_later(std::move(done));
      return;
    }
    const auto now = clock_type::now();
    if (!send(*link_, argv, std::move(done), now, now + options_.timeout)) return;
    const auto deadline = now + options_.timeout;
    if (!deadline_armed_ || deadline < deadline_at_) arm_deadline(deadline);
  }

  void eval(const redis_script& script, std::vector<std::string> keys,
            std::vector<std::string> args, redis_connection::reply_handler done) {
    std::vector<std::string> argv;
    argv.reserve(3 + keys.size() + args.size());
    argv.emplace_back("EVALSHA");
    argv.push_back(script.sha1());
    argv.push_back(std::to_string(keys.size()));
    for (auto& key : keys) argv.push_back(std::move(key));
    for (auto& arg : args) argv.push_back(std::move(arg));
    std::weak_ptr<redis_core> weak = shared_from_this();
    command(argv, [weak, script, argv, done = std::move(done)](const redis_reply* reply) mutable {
      // NOSCRIPT: Redis restarted or its scripts were flushed. EVAL runs the script and caches
      // it, so the next EVALSHA finds it.
      if (reply && reply->kind == redis_reply::type::error &&
          reply->text.compare(0, 8, "NOSCRIPT") == 0) {
        if (auto self = weak.lock()) {
          argv[0] = "EVAL";
          argv[1] = script.source();
          self->command(std::move(argv), std::move(done));
          return;
        }
      }
      done(reply);
    });
  }

 private:
  // ---- hiredis's event hooks (ev.data is the link) and callbacks (privdata is the link) ----

  static void hook_add_read(void* data) {
    auto* link = static_cast<redis_link*>(data);
    link->want_read = true;
    link->core->wait_read(*link);
  }
  static void hook_del_read(void* data) { static_cast<redis_link*>(data)->want_read = false; }
  static void hook_add_write(void* data) {
    auto* link = static_cast<redis_link*>(data);
    link->want_write = true;
    link->core->wait_write(*link);
  }
  static void hook_del_write(void* data) { static_cast<redis_link*>(data)->want_write = false; }
  // The context is being freed (by us or by hiredis after an error): stop watching its socket,
  // which hiredis closes itself.
  static void hook_cleanup(void* data) {
    auto* link = static_cast<redis_link*>(data);
    link->core->context_gone(*link);
  }

  static void on_connect(const redisAsyncContext* ac, int status) {
    auto* link = static_cast<redis_link*>(ac->data);
    if (status != REDIS_OK) {
      if (link->failure.empty()) link->failure = ac->errstr[0] ? ac->errstr : "connect failed";
      return;  // hiredis frees the context next: context_gone
    }
    link->core->connected(*link);
  }

  static void on_reply(redisAsyncContext*, void* reply, void* privdata) {
    auto* link = static_cast<redis_link*>(privdata);
    if (link->queue.empty()) return;
    auto entry = std::move(link->queue.front());
    link->queue.pop_front();
    if (link->expired > 0) {
      --link->expired;  // its handler already had null: the late reply is dropped
      return;
    }
    if (!entry.done) return;
    if (reply == nullptr) {
      link->core->fail_later(std::move(entry.done));
      return;
    }
    // An exception must not unwind through hiredis's C frames: it is logged here instead.
    try {
      const redis_reply copy = copy_reply(*static_cast<redisReply*>(reply));
      entry.done(&copy);
    } catch (const std::exception& error) {
      log(log_level::error, std::string("a Redis reply's handler failed: ") + error.what());
    }
  }

  static void on_subscribed(redisAsyncContext*, void* reply, void* privdata) {
    if (reply == nullptr) return;  // the context is being freed
    auto* link = static_cast<redis_link*>(privdata);
    const auto& r = *static_cast<redisReply*>(reply);
    if (r.type != REDIS_REPLY_ARRAY || r.elements < 3) return;
    const auto* kind = r.element[0];
    const auto* channel = r.element[1];
    if (kind->type != REDIS_REPLY_STRING || channel->type != REDIS_REPLY_STRING) return;
    const std::string_view kind_text(kind->str, kind->len);
    const std::string_view channel_text(channel->str, channel->len);
    if (kind_text == "message" && r.element[2]->type == REDIS_REPLY_STRING) {
      redis_core* core = link->core;
      if (core->stopped_ || !core->on_message_) return;
      // Keep the core alive should the handler destroy the subscriber.
      auto keep = core->shared_from_this();
      try {
        core->on_message_(channel_text, std::string_view(r.element[2]->str, r.element[2]->len));
      } catch (const std::exception& error) {
        log(log_level::error, std::string("a Redis message's handler failed: ") + error.what());
      }
    } else if (kind_text == "subscribe") {
      link->core->subscribed(*link);
    }
  }

  // ---- the adapter: hiredis's wishes as waits on the descriptor ----

  void wait_read(redis_link& link) {
    if (link.reading || link.ac == nullptr) return;
    link.reading = true;
    link.fd.async_wait(net::posix::descriptor_base::wait_read,
                       [self = shared_from_this(), l = link.shared_from_this()](
                           const boost::system::error_code& ec) { self->readable(*l, ec); });
  }

  void wait_write(redis_link& link) {
    if (link.writing || link.ac == nullptr) return;
    link.writing = true;
    link.fd.async_wait(net::posix::descriptor_base::wait_write,
                       [self = shared_from_this(), l = link.shared_from_this()](
                           const boost::system::error_code& ec) { self->writable(*l, ec); });
  }

  void readable(redis_link& link, const boost::system::error_code& ec) {
    link.reading = false;
    if (ec == net::error::operation_aborted || link.ac == nullptr) return;
    link.last_read = clock_type::now();
    // hiredis asks to read again (addRead) from inside when it still wants to.
    if (link.want_read) redisAsyncHandleRead(link.ac);
  }

  void writable(redis_link& link, const boost::system::error_code& ec) {
    link.writing = false;
    if (ec == net::error::operation_aborted || link.ac == nullptr) return;
    if (link.want_write) {
      if (sigpipe_ignored_) {
        redisAsyncHandleWrite(link.ac);
      } else {
        write_without_sigpipe(link.ac);
      }
    }
    // While the connect is still in progress hiredis returns without asking again.
    if (link.ac != nullptr && link.want_write) wait_write(link);
  }

  // hiredis writes with write(2): to a Redis gone away that raises SIGPIPE, which would end a
  // program that has not ignored it (stubborn's main does; an embedding program may not). The
  // signal is held back for this thread while hiredis writes, and taken if it was raised.
  static void write_without_sigpipe(redisAsyncContext* ac) {
    sigset_t pipe_only;
    sigset_t before;
    sigset_t pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    sigpending(&pending);
    const bool already_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &before);
    redisAsyncHandleWrite(ac);
    sigpending(&pending);
    if (!already_pending && sigismember(&pending, SIGPIPE)) {
      const timespec no_wait{0, 0};
      sigtimedwait(&pipe_only, nullptr, &no_wait);
    }
    pthread_sigmask(SIG_SETMASK, &before, nullptr);
  }

  static bool sigpipe_is_ignored() {
    struct sigaction current {};
    return sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_IGN;
  }

  // ---- connecting ----

  void connect() {
    if (stopped_) return;
    addresses_.clear();
    next_address_ = 0;
    const auto& endpoint = options_.endpoint;
    if (!endpoint.unix_path.empty()) {
      arm_connect_deadline();
      open(redisAsyncConnectUnix(endpoint.unix_path.c_str()));
      return;
    }
    boost::system::error_code ec;
    const auto address = net::ip::make_address(endpoint.host, ec);
    if (!ec) {
      addresses_.push_back(address.to_string());
      try_next_address();
      return;
    }
    // A host name: resolved by Asio (hiredis's own connect would block on getaddrinfo); each
    // address is tried in turn ("localhost" may be ::1 first while Redis listens on 127.0.0.1).
    const unsigned attempt = arm_connect_deadline();
    resolver_.async_resolve(
        endpoint.host, std::to_string(endpoint.port),
        [self = shared_from_this(), attempt](const boost::system::error_code& error,
                                             net::ip::tcp::resolver::results_type results) {
          if (attempt != self->attempt_ || self->stopped_) return;
          if (error || results.empty()) {
            self->attempt_failed("cannot resolve " + self->options_.endpoint.host + ": " +
                                 (error ? error.message() : "no address"));
            return;
          }
          for (const auto& entry : results)
            self->addresses_.push_back(entry.endpoint().address().to_string());
          self->try_next_address();
        });
  }

  void try_next_address() {
    arm_connect_deadline();
    const auto& address = addresses_[next_address_++];
    open(redisAsyncConnect(address.c_str(), options_.endpoint.port));
  }

  // Each address gets connect_limit_ to connect and answer AUTH, SELECT and the rest.
  unsigned arm_connect_deadline() {
    const unsigned attempt = ++attempt_;
    state_timer_.expires_after(connect_limit_);
    state_timer_.async_wait(
        [self = shared_from_this(), attempt](const boost::system::error_code& ec) {
          if (ec || attempt != self->attempt_) return;
          self->resolver_.cancel();
          if (self->link_) {
            self->link_->failure =
                "no answer within " + std::to_string(self->connect_limit_.count()) + " ms";
            self->drop_link({});
          } else {
            self->addresses_.clear();
            self->attempt_failed("no address within " +
                                 std::to_string(self->connect_limit_.count()) + " ms");
          }
        });
    return attempt;
  }

  void open(redisAsyncContext* ac) {
    if (ac == nullptr) {
      attempt_failed("cannot allocate a hiredis context");
      return;
    }
    if (ac->err) {
      std::string why = ac->errstr;
      redisAsyncFree(ac);
      attempt_failed(why);
      return;
    }
    if (options_.endpoint.unix_path.empty()) redisEnableKeepAlive(&ac->c);
    auto link = std::make_shared<redis_link>(*this, io_);
    link->ac = ac;
    link->last_read = clock_type::now();
    boost::system::error_code ec;
    link->fd.assign(ac->c.fd, ec);
    if (ec) {
      link->ac = nullptr;
      redisAsyncFree(ac);
      attempt_failed("cannot watch the socket: " + ec.message());
      return;
    }
    ac->data = link.get();
    ac->ev.data = link.get();
    ac->ev.addRead = hook_add_read;
    ac->ev.delRead = hook_del_read;
    ac->ev.addWrite = hook_add_write;
    ac->ev.delWrite = hook_del_write;
    ac->ev.cleanup = hook_cleanup;
    link_ = link;
    // Asks for the first write event, which tells that the connect finished.
    redisAsyncSetConnectCallback(ac, on_connect);
  }

  // TCP (or the unix socket) is connected: AUTH, SELECT, CLIENT SETNAME (or a PING, so that a
  // stopped Redis whose kernel still accepts connections does not count as up), pipelined.
  void connected(redis_link& link) {
    const auto& endpoint = options_.endpoint;
    std::vector<std::vector<std::string>> steps;
    if (!password_.empty()) {
      if (endpoint.user.empty()) {
        steps.push_back({"AUTH", password_});
      } else {
        steps.push_back({"AUTH", endpoint.user, password_});
      }
    }
    if (endpoint.db != 0) steps.push_back({"SELECT", std::to_string(endpoint.db)});
    if (!options_.client_name.empty()) steps.push_back({"CLIENT", "SETNAME", options_.client_name});
    if (steps.empty()) steps.push_back({"PING"});
    const auto now = clock_type::now();
    const auto last = steps.size() - 1;
    for (std::size_t i = 0; i < steps.size(); ++i) {
      std::string what = steps[i][0] == "CLIENT" ? "CLIENT SETNAME" : steps[i][0];
      auto check = [self = shared_from_this(), l = link.shared_from_this(), what,
                    final = i == last](const redis_reply* reply) {
        self->setup_step(*l, what, reply, final);
      };
      if (!send(link, steps[i], std::move(check), now, clock_type::time_point::max())) return;
    }
  }

  void setup_step(redis_link& link, const std::string& what, const redis_reply* reply, bool final) {
    if (link.setup_failed || &link != link_.get() || stopped_ || link.ac == nullptr) return;
    if (is_error(reply)) {
      link.setup_failed = true;
      link.failure = what + " failed: " + (reply ? reply->text : "no reply");
      // A wrong password or db is a configuration mistake: said once at error level.
      if (reply && last_logged_ != link.failure) {
        last_logged_ = link.failure;
        log(log_level::error, "Redis at " + options_.endpoint.where() + ": " + link.failure);
      }
      drop_link({});
      return;
    }
    if (!final) return;
    if (subscriber_ && !channels_.empty()) {
      std::vector<const char*> argv{"SUBSCRIBE"};
      std::vector<std::size_t> lengths{9};
      for (const auto& channel : channels_) {
        argv.push_back(channel.data());
        lengths.push_back(channel.size());
      }
      subscribed_count_ = 0;
      if (redisAsyncCommandArgv(link.ac, on_subscribed, &link, static_cast<int>(argv.size()),
                                argv.data(), lengths.data()) != REDIS_OK) {
        link.failure = "SUBSCRIBE failed";
        drop_link({});
      }
      return;
    }
    became_up();
  }

  void subscribed(redis_link& link) {
    if (&link != link_.get() || up_ || stopped_) return;
    if (++subscribed_count_ == channels_.size()) became_up();
  }

  void became_up() {
    state_timer_.cancel();
    ++attempt_;
    up_ = true;
    backoff_ = milliseconds(100);
    last_logged_.clear();
    notify(true);
  }

  // ---- sending, deadlines ----

  bool send(redis_link& link, const std::vector<std::string>& argv,
            redis_connection::reply_handler done, clock_type::time_point now,
            clock_type::time_point deadline) {
    constexpr std::size_t inline_args = 16;
    const char* small_argv[inline_args];
    std::size_t small_lengths[inline_args];
    std::vector<const char*> big_argv;
    std::vector<std::size_t> big_lengths;
    const char** args = small_argv;
    std::size_t* lengths = small_lengths;
    if (argv.size() > inline_args) {
      big_argv.resize(argv.size());
      big_lengths.resize(argv.size());
      args = big_argv.data();
      lengths = big_lengths.data();
    }
    for (std::size_t i = 0; i < argv.size(); ++i) {
      args[i] = argv[i].data();
      lengths[i] = argv[i].size();
    }
    if (redisAsyncCommandArgv(link.ac, on_reply, &link, static_cast<int>(argv.size()), args,
                              lengths) != REDIS_OK) {
      fail_later(std::move(done));
      return false;
    }
    link.queue.push_back({std::move(done), now, deadline});
    return true;
  }

  void fail_later(redis_connection::reply_handler done) {
    if (done) net::post(io_, [done = std::move(done)] { done(nullptr); });
  }

  void arm_deadline(clock_type::time_point at) {
    deadline_armed_ = true;
    deadline_at_ = at;
    const unsigned generation = ++deadline_generation_;
    deadline_timer_.expires_at(at);
    deadline_timer_.async_wait(
        [self = shared_from_this(), generation](const boost::system::error_code& ec) {
          if (ec || generation != self->deadline_generation_) return;
          self->deadline_armed_ = false;
          self->deadlines_due();
        });
  }

  void cancel_deadline() {
    ++deadline_generation_;
    deadline_armed_ = false;
    deadline_timer_.cancel();
  }

  // Gives up on the commands past their deadline, and on the connection if nothing came back
  // for stall_limit_ while commands were waiting.
  void deadlines_due() {
    if (!up_ || !link_) return;
    auto& link = *link_;
    const auto now = clock_type::now();
    while (link.expired < link.queue.size() && link.queue[link.expired].deadline <= now) {
      fail_later(std::move(link.queue[link.expired].done));
      link.queue[link.expired].done = nullptr;
      ++link.expired;
    }
    if (link.queue.empty()) return;
    const auto quiet_since = std::max(link.last_read, link.queue.front().issued);
    if (now - quiet_since >= stall_limit_) {
      link.failure = "no reply for " + std::to_string(stall_limit_.count()) + " ms";
      drop_link({});
      return;
    }
    auto next = quiet_since + stall_limit_;
    if (link.expired < link.queue.size()) next = std::min(next, link.queue[link.expired].deadline);
    arm_deadline(next);
  }

  // ---- losing a connection ----

  // Frees the current context; context_gone follows (now, or when hiredis returns from the
  // callback we are in).
  void drop_link(const std::string& why) {
    auto link = link_;
    if (!link) return;
    if (!why.empty() && link->failure.empty()) link->failure = why;
    if (redisAsyncContext* ac = link->ac) {
      link->ac = nullptr;
      redisAsyncFree(ac);
    }
  }

  void context_gone(redis_link& link) {
    if (link.failure.empty() && link.ac != nullptr)
      link.failure = link.ac->errstr[0] ? link.ac->errstr : "connection closed";
    if (link.failure.empty()) link.failure = "connection closed";
    link.ac = nullptr;
    link.want_read = link.want_write = false;
    link.fd.release();  // hiredis closes the socket; release() also cancels our waits
    if (&link != link_.get()) return;
    auto keep = link_;  // the link stays alive until hiredis is done with it
    link_.reset();
    cancel_deadline();
    if (stopped_) return;
    const bool was_up = up_;
    up_ = false;
    if (was_up) {
      last_error_ = link.failure;
      log(log_level::debug, "Redis at " + options_.endpoint.where() + ": lost: " + link.failure);
      notify(false);
      schedule_reconnect();
    } else {
      attempt_failed(link.failure);
    }
  }

  void attempt_failed(const std::string& why) {
    last_error_ = why;
    log(log_level::debug, "Redis at " + options_.endpoint.where() + ": cannot connect: " + why);
    const unsigned attempt = ++attempt_;
    state_timer_.cancel();
    if (stopped_) return;
    if (next_address_ < addresses_.size()) {
      // The host name's next address, at once (posted: we may be inside hiredis's free).
      net::post(io_, [self = shared_from_this(), attempt] {
        if (attempt == self->attempt_ && !self->stopped_) self->try_next_address();
      });
      return;
    }
    notify(false);
    schedule_reconnect();
  }

  void schedule_reconnect() {
    const unsigned attempt = ++attempt_;
    state_timer_.expires_after(backoff_);
    backoff_ = std::min(backoff_ * 2, milliseconds(2000));
    state_timer_.async_wait(
        [self = shared_from_this(), attempt](const boost::system::error_code& ec) {
          if (ec || attempt != self->attempt_ || self->stopped_) return;
          self->connect();
        });
  }

  // Tells on_state of a change, from a handler of its own (never from inside hiredis), and
  // never after stop().
  void notify(bool up) {
    if (reported_ && *reported_ == up) return;
    reported_ = up;
    net::post(io_, [self = shared_from_this(), up] {
      if (self->stopped_ || !self->on_state_) return;
      self->on_state_(up);
    });
  }

  net::io_context& io_;
  redis_options options_;
  bool subscriber_;
  bool sigpipe_ignored_ = sigpipe_is_ignored();
  std::vector<std::string> channels_;
  message_handler on_message_;
  std::string password_;
  milliseconds connect_limit_;
  milliseconds stall_limit_;
  milliseconds backoff_{100};

  bool started_ = false;
  bool stopped_ = false;
  bool up_ = false;
  std::optional<bool> reported_;
  std::function<void(bool)> on_state_;
  std::string last_error_;
  std::string last_logged_;
  std::size_t subscribed_count_ = 0;

  std::vector<std::string> addresses_;  // the host's addresses, for this round of attempts
  std::size_t next_address_ = 0;
  std::shared_ptr<redis_link> link_;
  net::steady_timer deadline_timer_;  // the oldest live command's deadline, or the stall limit
  bool deadline_armed_ = false;
  clock_type::time_point deadline_at_;
  unsigned deadline_generation_ = 0;
  net::steady_timer state_timer_;  // the connect's deadline, or the wait before reconnecting
  unsigned attempt_ = 0;           // invalidates the state timer's and resolver's older waits
  net::ip::tcp::resolver resolver_;
};

}  // namespace detail

// ---- redis_connection ----

redis_connection::redis_connection(net::io_context& io, redis_options options)
    : core_(std::make_shared<detail::redis_core>(io, std::move(options), false,
                                                 std::vector<std::string>{}, nullptr)) {}

redis_connection::~redis_connection() {
  core_->stop();
}

void redis_connection::start() {
  core_->start();
}
void redis_connection::stop() {
  core_->stop();
}
bool redis_connection::up() const {
  return core_->up();
}
void redis_connection::on_state(std::function<void(bool)> callback) {
  core_->on_state(std::move(callback));
}
std::string redis_connection::last_error() const {
  return core_->last_error();
}
std::size_t redis_connection::in_flight() const {
  return core_->in_flight();
}

void redis_connection::command(std::vector<std::string> argv, reply_handler done) {
  core_->command(std::move(argv), std::move(done));
}

void redis_connection::eval(const redis_script& script, std::vector<std::string> keys,
                            std::vector<std::string> args, reply_handler done) {
  core_->eval(script, std::move(keys), std::move(args), std::move(done));
}

namespace {

// The completion handler of an awaitable is move-only; reply_handler is a std::function.
template <typename Handler>
redis_connection::reply_handler resume_with_reply(Handler&& handler) {
  auto shared = std::make_shared<std::decay_t<Handler>>(std::forward<Handler>(handler));
  return [shared](const redis_reply* reply) {
    std::optional<redis_reply> result;
    if (reply) result = *reply;
    (*shared)(std::move(result));
  };
}

struct command_initiation {
  std::shared_ptr<detail::redis_core> core;
  template <typename Handler>
  void operator()(Handler&& handler, std::vector<std::string> argv) const {
    core->command(std::move(argv), resume_with_reply(std::forward<Handler>(handler)));
  }
};

struct eval_initiation {
  std::shared_ptr<detail::redis_core> core;
  template <typename Handler>
  void operator()(Handler&& handler, redis_script script, std::vector<std::string> keys,
                  std::vector<std::string> args) const {
    core->eval(script, std::move(keys), std::move(args),
               resume_with_reply(std::forward<Handler>(handler)));
  }
};

}  // namespace

net::awaitable<std::optional<redis_reply>> redis_connection::async_command(
    std::vector<std::string> argv) {
  return net::async_initiate<const net::use_awaitable_t<>&, void(std::optional<redis_reply>)>(
      command_initiation{core_}, net::use_awaitable, std::move(argv));
}

net::awaitable<std::optional<redis_reply>> redis_connection::async_eval(
    const redis_script& script, std::vector<std::string> keys, std::vector<std::string> args) {
  return net::async_initiate<const net::use_awaitable_t<>&, void(std::optional<redis_reply>)>(
      eval_initiation{core_}, net::use_awaitable, script, std::move(keys), std::move(args));
}

// ---- redis_subscriber ----

redis_subscriber::redis_subscriber(net::io_context& io, redis_options options,
                                   std::vector<std::string> channels, message_handler on_message)
    : core_(std::make_shared<detail::redis_core>(io, std::move(options), true, std::move(channels),
                                                 std::move(on_message))) {}

redis_subscriber::~redis_subscriber() {
  core_->stop();
}

void redis_subscriber::start() {
  core_->start();
}
void redis_subscriber::stop() {
  core_->stop();
}
bool redis_subscriber::up() const {
  return core_->up();
}
void redis_subscriber::on_state(std::function<void(bool)> callback) {
  core_->on_state(std::move(callback));
}
std::string redis_subscriber::last_error() const {
  return core_->last_error();
}

}  // namespace stubborn

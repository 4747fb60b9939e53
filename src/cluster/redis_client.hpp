#pragma once
// A Redis client on the server's own event loop: hiredis's asynchronous API, its socket watched
// by a Boost.Asio descriptor of the io_context it lives on. No thread of its own, no blocking
// call: connect, AUTH, SELECT and every command are non-blocking, each command has a deadline,
// and a lost or silent Redis turns into "down" and a reconnect with backoff.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/redis_url.hpp"

namespace stubborn {

/// One reply from Redis, copied out of hiredis's reply.
struct redis_reply {
  enum class type { nil, integer, string, status, error, array };
  type kind = type::nil;
  long long integer = 0;
  std::string text;                   ///< string, status and error replies
  std::vector<redis_reply> elements;  ///< array replies
};

/// A Lua script run with EVALSHA; its SHA1 (hex, lower case) computed once with OpenSSL.
/// Copies share the text.
class redis_script {
 public:
  explicit redis_script(std::string source);
  /// The Lua text.
  const std::string& source() const;
  /// Its SHA1 as Redis names it in EVALSHA and SCRIPT LOAD.
  const std::string& sha1() const;

 private:
  struct text {
    std::string source;
    std::string sha1;
  };
  std::shared_ptr<const text> text_;
};

/// Where and how to connect.
struct redis_options {
  redis_endpoint endpoint;  ///< src/config/redis_url.hpp (password may be empty; then
                            ///< the STUBBORN_REDIS_PASSWORD environment variable, if set)
  std::chrono::milliseconds timeout{50};  ///< each command's deadline
  std::string client_name;                ///< CLIENT SETNAME after connecting ("" = none)
};

namespace detail {
class redis_core;
}

/// One connection to Redis, living on one io_context (all calls from that context's thread;
/// callbacks run there). Commands are pipelined: many may be in flight; replies come in order.
class redis_connection {
 public:
  /// null: no reply within `timeout`, Redis down or unreachable, or the connection lost.
  using reply_handler = std::function<void(const redis_reply* reply)>;
  redis_connection(boost::asio::io_context& io, redis_options options);
  ~redis_connection();  ///< stop()
  redis_connection(const redis_connection&) = delete;
  redis_connection& operator=(const redis_connection&) = delete;
  /// Connects now, and again after each loss with backoff (100 ms doubling to 2 s).
  void start();
  /// Closes; pending commands complete with null; no reconnect; on_state is not called again.
  void stop();
  /// Connected, AUTH and SELECT done.
  bool up() const;
  /// Called on each change: true once connected (after AUTH/SELECT/CLIENT SETNAME), false on loss
  /// or a failed connect after having been up (and once at start if the first connect fails).
  void on_state(std::function<void(bool up)> callback);
  /// Sends one command; `done` runs on the io_context (never inside this call).
  void command(std::vector<std::string> argv, reply_handler done);
  /// EVALSHA; on a NOSCRIPT error it loads the script (SCRIPT LOAD or EVAL) and retries once.
  void eval(const redis_script& script, std::vector<std::string> keys,
            std::vector<std::string> args, reply_handler done);
  /// command() as a coroutine: nullopt where command() gives null.
  boost::asio::awaitable<std::optional<redis_reply>> async_command(std::vector<std::string> argv);
  /// eval() as a coroutine (the script is copied: it need not outlive the call).
  boost::asio::awaitable<std::optional<redis_reply>> async_eval(const redis_script& script,
                                                                std::vector<std::string> keys,
                                                                std::vector<std::string> args);
  /// Why the last connect or the connection failed ("" if it never did), for logs and status.
  std::string last_error() const;
  /// Commands sent and not yet answered (including those already given up on).
  std::size_t in_flight() const;

 private:
  std::shared_ptr<detail::redis_core> core_;
};

/// A subscriber connection (SUBSCRIBE on its own connection); resubscribes after each reconnect.
/// It notices a closed or refused connection at once; a Redis that is stopped but keeps the
/// socket open is noticed only when it closes it (a subscribed connection sends no commands).
class redis_subscriber {
 public:
  using message_handler = std::function<void(std::string_view channel, std::string_view message)>;
  redis_subscriber(boost::asio::io_context& io, redis_options options,
                   std::vector<std::string> channels, message_handler on_message);
  ~redis_subscriber();
  redis_subscriber(const redis_subscriber&) = delete;
  redis_subscriber& operator=(const redis_subscriber&) = delete;
  /// Connects and subscribes now, and again after each loss with backoff.
  void start();
  /// Closes; no reconnect; neither callback is called again.
  void stop();
  /// Connected and subscribed.
  bool up() const;
  /// As redis_connection's; true once subscribed.
  void on_state(std::function<void(bool up)> callback);
  /// Why the last connect or the connection failed ("" if it never did).
  std::string last_error() const;

 private:
  std::shared_ptr<detail::redis_core> core_;
};

}  // namespace stubborn

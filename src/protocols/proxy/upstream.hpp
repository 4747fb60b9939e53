#pragma once
// The client side of a proxy route: one connection to an upstream (plain TCP or TLS), its
// connect with the route's timeout, and each I/O thread's pool of idle keep-alive connections.
// Timeouts are the caller's: it cancels the connection (cancel()) when its deadline passes.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "protocols/proxy/upstream_reply_parser.hpp"

namespace stubborn {

struct compiled_proxy;

/// Why an upstream gave no usable reply; the name is the metric's `cause` label.
enum class upstream_failure {
  none,
  refused,          ///< the connection was refused (or could not be made)
  reset,            ///< the upstream reset the connection
  closed,           ///< it closed before a complete reply head
  invalid,          ///< it sent something that is not an HTTP/1.x reply
  connect_timeout,  ///< no connection within connect_timeout
  timeout,          ///< no complete reply head within timeout
  tls,              ///< the TLS handshake failed (certificate, name, protocol)
  offline           ///< the server is offline: no outbound connection is made
};
inline constexpr std::size_t upstream_failure_count = 9;

/// The failure's label ("refused", "connect_timeout" ...).
std::string_view failure_name(upstream_failure failure);

/// One connection to an upstream.
class upstream_connection {
 public:
  explicit upstream_connection(const boost::asio::any_io_executor& executor);
  ~upstream_connection();

  /// Sends what a plain socket takes now, without waiting; leaves the rest in `out`. True when
  /// all of it went or `ec` says why not; false (with nothing sent over TLS) when write() must
  /// send the rest.
  bool try_write(std::string_view& out, boost::system::error_code& ec);
  /// Writes all of `out`, waiting for the socket as long as needed.
  boost::asio::awaitable<boost::system::error_code> write(std::string_view out);
  /// Stops whatever the connection waits for (its operations fail with operation_aborted).
  void cancel();
  /// Whether an idle connection looks usable: not closed or reset by the upstream, and no
  /// stray bytes waiting (one non-blocking peek).
  bool still_open();
  /// Closes now; a connection that failed is never reused.
  void close();

  boost::asio::ip::tcp::socket socket;
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls;
  boost::beast::flat_buffer in;  ///< bytes read from the upstream and not yet parsed
  upstream_reply_storage reply;  ///< the reply being read
  std::string out;               ///< the request head being written
  std::chrono::steady_clock::time_point idle_since;
  std::string failure_detail;  ///< what the TLS library said when the handshake failed
  bool reused = false;         ///< it served an earlier request
};

/// Connects to the route's upstream (resolving a host name, then the TLS handshake for https).
/// Returns the failure, or none with the connection ready.
boost::asio::awaitable<upstream_failure> connect_upstream(upstream_connection& connection,
                                                          const compiled_proxy& proxy);

/// One I/O thread's idle upstream connections, by upstream.
class upstream_pool {
 public:
  /// A connection idle since at most this long ago is reused; older ones are closed (upstreams
  /// commonly close idle connections after 60 s or more; nginx's default is 75 s).
  static constexpr std::chrono::seconds max_idle{30};
  /// At most this many idle connections are kept per upstream and thread.
  static constexpr std::size_t max_idle_per_upstream = 256;

  /// An idle connection to `key`, or null.
  std::unique_ptr<upstream_connection> take(std::string_view key,
                                            std::chrono::steady_clock::time_point now);
  /// Keeps a connection whose last reply was complete and persistent.
  void give(std::string_view key, std::unique_ptr<upstream_connection> connection,
            std::chrono::steady_clock::time_point now);
  /// Closes every idle connection.
  void clear() { sets_.clear(); }

 private:
  struct idle_set {
    std::string key;
    std::vector<std::unique_ptr<upstream_connection>> idle;  // most recent last
  };
  std::vector<idle_set> sets_;
};

}  // namespace stubborn

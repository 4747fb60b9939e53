#pragma once
// A proxy route's exchange on one connection: the request forwarded to the route's upstream over
// a pooled keep-alive connection (a body still arriving is streamed as it comes), the reply
// relayed as it arrives (hop-by-hop fields dropped both ways, the route's edits applied, its
// pacing and faults), and 502 or 504 when the upstream fails, as a gateway answers (RFC 9110
// §15.6.3, §15.6.5).

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "protocols/proxy/upstream.hpp"
#include "respond/respond.hpp"
#include "wire/connection_core.hpp"

namespace stubborn {

struct request_outcome;
template <class Transport>
class reply_writer;
template <class Transport>
class reply_executor;

/// What reading more of a request body gave.
enum class body_step {
  more,      ///< a piece is in the source's `pieces`
  done,      ///< the body is complete (nothing new in `pieces`)
  rejected,  ///< the body was bad or too large: the session queued its 4xx, the connection ends
  gone       ///< the client went away
};

/// Where the exchange gets the request body: all of it already read (`complete`), or read
/// piece by piece by the session as the exchange asks.
struct request_body_source {
  bool complete = true;
  std::string* pieces = nullptr;  ///< where next() leaves each piece (cleared by next())
  void* session = nullptr;
  boost::asio::awaitable<body_step> (*next)(void* session) = nullptr;
  bool chunked = false;                 ///< the client framed it chunked
  std::optional<std::uint64_t> length;  ///< its Content-Length
  bool expect_continue = false;         ///< the client waits for 100 Continue before sending it
};

/// What the exchange left the connection in.
struct proxy_result {
  bool carry_on = true;  ///< false: the connection is broken (no lingering close)
  bool close = false;    ///< the reply is the connection's last
};

/// Carries out proxy plans on one connection; proxy_exchange.cpp instantiates it for the
/// transports.
template <class Transport>
class proxy_exchange {
 public:
  proxy_exchange(connection_core<Transport>& core, reply_writer<Transport>& writer,
                 reply_executor<Transport>& executor, request_outcome& served)
      : core_(core), writer_(writer), executor_(executor), served_(served) {}

  /// Forwards `request` to `plan.proxy`'s upstream and relays the reply, with `connection` as
  /// the reply's Connection line. `client_ip` goes into X-Forwarded-For.
  boost::asio::awaitable<proxy_result> run(const response& plan, const request_view& request,
                                           connection_header connection, request_body_source body,
                                           std::string_view client_ip);

 private:
  struct exchange;
  boost::asio::awaitable<upstream_failure> read_head(exchange& x, bool interim_wait);
  boost::asio::awaitable<proxy_result> relay(exchange& x);
  // Relays the upstream's interim reply (100, 103) to the client; false if the client is gone.
  boost::asio::awaitable<bool> relay_interim(exchange& x);
  // Queues a piece of the relayed body, framed as the reply is.
  void append_piece(exchange& x, std::string_view piece);
  // The same, paced (bandwidth, chunks): slice by slice, flushed, with waits between.
  boost::asio::awaitable<bool> send_piece(exchange& x, std::string_view piece, bool last);
  proxy_result fail(exchange& x, upstream_failure failure);
  void attach(upstream_connection* connection);
  void detach();

  connection_core<Transport>& core_;
  reply_writer<Transport>& writer_;
  reply_executor<Transport>& executor_;
  request_outcome& served_;
};

}  // namespace stubborn

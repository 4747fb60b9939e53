#pragma once
// A handler beside respond(): it answers a request asynchronously (a reply that comes from
// elsewhere: the control thread for the admin API, an upstream for a proxied route), and may
// take the connection over after its reply (a 101 upgrade). The session awaits it in place of
// writing a plan, keeps the order of pipelined replies, and hands over when the reply says so.

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>

namespace stubborn {

struct request_view;
class connection_handler;

/// A handler's reply. The session renders it as a reply of the server's own (Server, Date,
/// Content-Type, Content-Length and its Connection line), except one with `take_over`.
struct handler_reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::string extra_headers;  ///< complete "Name: value\r\n" lines
  /// With status 101: the protocol that takes the connection over once the head is written.
  /// The head is then the status line, Server, Date and `extra_headers` (which say Upgrade and
  /// "Connection: upgrade"), with no body and no Content-Length (RFC 9110 §8.6). With another
  /// status (not to HEAD), the head is the status line, Server, Date, Content-Type and
  /// `extra_headers` (which frame the body), and `take_over` writes the body to its end.
  std::shared_ptr<connection_handler> take_over;
};

/// Answers requests asynchronously. Placed on a listener, it takes the requests it claims before
/// the route table sees them (the admin API is one).
class request_handler {
 public:
  virtual ~request_handler() = default;

  /// Whether this handler, placed on a listener, answers `request` instead of the routes.
  virtual bool claims(const request_view& request) const = 0;
  /// Answers `request` (complete, body read) on the connection's thread; `request` stays valid
  /// until the reply is back.
  virtual boost::asio::awaitable<handler_reply> handle(const request_view& request) = 0;
};

}  // namespace stubborn

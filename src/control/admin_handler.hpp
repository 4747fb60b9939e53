#pragma once
// The admin API as a listener's request handler: the session awaits its replies like any
// asynchronous handler's, and has no branch of its own for it.

#include <boost/asio/awaitable.hpp>

#include "wire/request_handler.hpp"

namespace stubborn {

class admin_service;

/// Puts the admin API on a listener: the requests under its prefix, or, on the admin API's own
/// listener, all of them (a path outside the prefix is then a 404 that says where it is).
class admin_handler final : public request_handler {
 public:
  /// `whole_listener`: the admin API has a listener of its own.
  admin_handler(admin_service& admin, bool whole_listener)
      : admin_(admin), whole_listener_(whole_listener) {}

  bool claims(const request_view& request) const override;
  boost::asio::awaitable<handler_reply> handle(const request_view& request) override;

 private:
  admin_service& admin_;
  bool whole_listener_;
};

}  // namespace stubborn

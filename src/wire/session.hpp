#pragma once
// One connection: read with limits, match, render, write, keep-alive rules. Runs as one C++20
// coroutine on the io_context (one thread) that owns the socket, so no strand and no locks.
// The session is a template on its transport (transport.hpp), instantiated in session.cpp.

#include <boost/asio/awaitable.hpp>

#include "wire/connection_registry.hpp"
#include "wire/connection_socket.hpp"
#include "wire/server_state.hpp"
#include "wire/transport.hpp"

namespace stubborn {

class admin_service;

/// What a listener serves: routes, and the admin API under its prefix (when `admin` is set), or
/// the admin API only (its own [admin] listen).
struct listener_role {
  admin_service* admin = nullptr;
  bool admin_only = false;
  /// How its connections carry bytes.
  transport_kind transport = transport_kind::plain;
};

/// Runs one connection to its end over the listener's transport; owns the session in the
/// coroutine frame. The socket's descriptor must be non-blocking and never duplicated (accept4
/// with SOCK_NONBLOCK, or a socketpair made SOCK_NONBLOCK).
boost::asio::awaitable<void> serve_connection(connection_socket socket,
                                              server_state* state,
                                              connection_registry* registry,
                                              listener_role role = {});

}  // namespace stubborn

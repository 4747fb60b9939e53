#pragma once
// One connection: serve_connection() runs the session (session.cpp: the read loop, with limits,
// keep-alive, pipelining, 100-continue, drain and timeouts), which asks respond() or the
// listener's handler what to answer and has the executor (reply_executor.hpp) write it; after a
// handler's 101, the protocol it names takes the connection over (connection_handler.hpp). Runs
// as C++20 coroutines on the io_context (one thread) that owns the socket, so no strand and no
// locks. The session is a template on its transport (transport.hpp), instantiated in
// session.cpp.

#include <boost/asio/awaitable.hpp>

#include "wire/connection_registry.hpp"
#include "wire/connection_socket.hpp"
#include "wire/server_state.hpp"
#include "wire/transport.hpp"

namespace stubborn {

class request_handler;

/// What a listener serves: the routes, after its handler (when set), which answers the requests
/// it claims (the admin API: those under its prefix, or all of them on its own listener).
struct listener_role {
  request_handler* handler = nullptr;
  /// How its connections carry bytes.
  transport_kind transport = transport_kind::plain;
};

/// Runs one connection to its end over the listener's transport; owns the session in the
/// coroutine frame. The socket's descriptor must be non-blocking and never duplicated (accept4
/// with SOCK_NONBLOCK, or a socketpair made SOCK_NONBLOCK).
boost::asio::awaitable<void> serve_connection(connection_socket socket, server_state* state,
                                              connection_registry* registry,
                                              listener_role role = {});

}  // namespace stubborn

#pragma once
// The WebSocket protocol on a connection a route upgraded: Beast's websocket::stream over the
// transport the session handed over (handover_stream.hpp) writes the 101 and frames the
// messages; the route's script (websocket_route.hpp) is played by one scheduler with one timer
// (on_open steps, `every`, close_after, ping_every, idle_timeout, the answers' delayed steps),
// while the connection reads the client's messages and answers them. Every message both ways is
// a journal entry. A held connection costs its transport, Beast's stream and one timer.

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "wire/connection_handler.hpp"

namespace stubborn {

struct request_view;
struct compiled_route;
struct compiled_websocket;
class route_table;
class thread_observer;

/// What the handler needs of the connection it takes over.
struct websocket_context {
  std::shared_ptr<const route_table> table;  ///< keeps the route and its script alive
  const compiled_route* route = nullptr;
  const compiled_websocket* script = nullptr;
  std::string_view subprotocol;         ///< chosen by respond() (a view into the table); "" = none
  thread_observer* observer = nullptr;  ///< this thread's journal; null when off
  std::string client;                   ///< "address:port", for the journal
};

/// The protocol after a WebSocket route's 101: makes the handler for one connection, with a copy
/// of the upgrade request (its templates and journal entries read it).
std::shared_ptr<connection_handler> make_websocket_handler(websocket_context context,
                                                           const request_view& request);

}  // namespace stubborn

#pragma once
// A protocol that takes a connection over after the 101 (Switching Protocols) reply that a
// handler gave (RFC 9110 §15.2.2), as a WebSocket will. The session writes the 101 head, hands
// over the transport with the bytes the client already sent after the request, and ends without
// closing the transport; the connection stays registered, so drain and a forced close cancel
// what the protocol waits for, and the transport is closed when the protocol returns.

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>

#include "wire/connection_registry.hpp"
#include "wire/plain_transport.hpp"
#include "wire/stream_transport.hpp"
#include "wire/tls_stream_transport.hpp"
#include "wire/tls_transport.hpp"

namespace stubborn {

/// Runs a connection from its 101 on, over whichever transport carries it. One take_over() per
/// transport (the set the session is instantiated for): derive from connection_handler_for to
/// write them once, as a template.
class connection_handler {
 public:
  virtual ~connection_handler() = default;

  /// Serves the connection until the protocol ends it. `transport` stays valid until this
  /// returns; `buffered` holds what the client sent after the request, already read.
  virtual boost::asio::awaitable<void> take_over(plain_transport& transport, std::string buffered,
                                                 drain_hook& drain) = 0;
  /// The same over the generic transport.
  virtual boost::asio::awaitable<void> take_over(generic_transport& transport, std::string buffered,
                                                 drain_hook& drain) = 0;
  /// The same over TLS.
  virtual boost::asio::awaitable<void> take_over(tls_transport& transport, std::string buffered,
                                                 drain_hook& drain) = 0;
  /// The same over TLS through ssl_stream.
  virtual boost::asio::awaitable<void> take_over(tls_stream_transport& transport,
                                                 std::string buffered, drain_hook& drain) = 0;
};

/// A connection on its way to a protocol: who takes it, and what the client sent after the
/// request that was answered with 101. Made only for an upgrade.
struct protocol_hand_over {
  std::shared_ptr<connection_handler> handler;
  std::string buffered;
};

/// Implements every take_over() with `Derived::serve(Transport&, std::string, drain_hook&)`, a
/// template.
template <class Derived>
class connection_handler_for : public connection_handler {
 public:
  boost::asio::awaitable<void> take_over(plain_transport& transport, std::string buffered,
                                         drain_hook& drain) override {
    return static_cast<Derived*>(this)->serve(transport, std::move(buffered), drain);
  }
  boost::asio::awaitable<void> take_over(generic_transport& transport, std::string buffered,
                                         drain_hook& drain) override {
    return static_cast<Derived*>(this)->serve(transport, std::move(buffered), drain);
  }
  boost::asio::awaitable<void> take_over(tls_transport& transport, std::string buffered,
                                         drain_hook& drain) override {
    return static_cast<Derived*>(this)->serve(transport, std::move(buffered), drain);
  }
  boost::asio::awaitable<void> take_over(tls_stream_transport& transport, std::string buffered,
                                         drain_hook& drain) override {
    return static_cast<Derived*>(this)->serve(transport, std::move(buffered), drain);
  }
};

}  // namespace stubborn

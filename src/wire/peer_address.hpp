#pragma once
// The peer of a connection, as the rate limiter, the journal and the access log name it.

#include <string>

namespace stubborn {

/// The peer's IP address as text and its port ("" and 0 when it has none, as a UNIX socket).
struct peer_address {
  std::string ip;
  unsigned port = 0;
};

/// The peer's address of one connection, asked of its transport only when first needed: a
/// connection that no rate limit, journal or access log asks about pays no system call for it.
class connection_peer {
 public:
  /// `transport` must outlive this object and have `peer_address peer() const`.
  template <class Transport>
  explicit connection_peer(const Transport& transport)
      : transport_(&transport), lookup_(&lookup<Transport>) {}

  /// The address, looked up on the first call.
  const peer_address& get() {
    if (!known_) {
      address_ = lookup_(transport_);
      known_ = true;
    }
    return address_;
  }

 private:
  template <class Transport>
  static peer_address lookup(const void* transport) {
    return static_cast<const Transport*>(transport)->peer();
  }

  const void* transport_;
  peer_address (*lookup_)(const void*);
  peer_address address_;
  bool known_ = false;
};

}  // namespace stubborn

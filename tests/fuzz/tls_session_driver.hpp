#pragma once
// Drives the real HTTPS session (serve_connection over the TLS transport that runs OpenSSL on the
// socket) over a UNIX socketpair on this thread, as session_driver.hpp does with plain bytes. The
// other end is an OpenSSL client on memory BIOs, so this driver alone decides when bytes move:
// each piece of the request is one SSL_write, so one TLS record, and the server runs until it
// is idle after each. Shared by fuzz_fragmentation_tls and the integration suite's TLS run.

#include <span>
#include <string>
#include <string_view>

namespace stubborn::fuzz {

/// Runs the handshake (trusting the CA made once per process for the fuzz routes' HTTPS
/// listener, and verifying "localhost"), writes each piece as its own record, then sends
/// close_notify and shuts down our sending side; returns every byte the server's records carried
/// until it closed. Aborts through fail() on a hang, a failed handshake, a record the client
/// cannot read, or a close without close_notify (RFC 8446 §6.1).
std::string run_tls_session(std::span<const std::string_view> pieces);

/// True when plain TCP answers `input` otherwise than TLS does, by design: its first byte opens
/// a TLS handshake record (0x16), so the plain port takes it for a ClientHello and closes the
/// connection unanswered, while inside TLS it is request bytes like any other.
inline bool plain_port_takes_for_tls(std::string_view input) {
  return !input.empty() && static_cast<unsigned char>(input.front()) == 0x16;
}

}  // namespace stubborn::fuzz

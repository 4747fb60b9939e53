#pragma once
// A small WebSocket client (RFC 6455) for the tests, on top of raw_client (so it speaks TLS when
// the suite does): the handshake's bytes, masked frames of any shape (malformed ones too), and a
// frame reader.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "harness.hpp"

namespace stubborn::testing {

/// One frame as read.
struct ws_frame {
  bool fin = true;
  int opcode = 0;
  std::string payload;
  /// A close frame's code (0: none).
  int close_code() const {
    return payload.size() >= 2 ? (static_cast<unsigned char>(payload[0]) << 8) |
                                     static_cast<unsigned char>(payload[1])
                               : 0;
  }
  std::string close_reason() const { return payload.size() > 2 ? payload.substr(2) : ""; }
};

/// The RFC's sample key (RFC 6455 §1.3) and its accept value.
inline constexpr std::string_view sample_key = "dGhlIHNhbXBsZSBub25jZQ==";
inline constexpr std::string_view sample_accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The bytes of an upgrade request for `target`, with `extra` header lines.
inline std::string upgrade_request(std::string_view target, std::string_view extra = {}) {
  std::string r = "GET " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  r += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
  r += sample_key;
  r += "\r\nSec-WebSocket-Version: 13\r\n";
  r += extra;
  return r + "\r\n";
}

/// One frame's bytes: masked (as a client must) unless `mask` is false.
inline std::string frame_bytes(int opcode, std::string_view payload, bool fin = true,
                               bool mask = true) {
  std::string out;
  out.push_back(static_cast<char>((fin ? 0x80 : 0) | (opcode & 0x0f)));
  const char mask_bit = mask ? static_cast<char>(0x80) : 0;
  if (payload.size() < 126) {
    out.push_back(static_cast<char>(mask_bit | static_cast<char>(payload.size())));
  } else if (payload.size() < 65536) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(payload.size() >> 8));
    out.push_back(static_cast<char>(payload.size() & 0xff));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) {
      out.push_back(
          static_cast<char>((static_cast<std::uint64_t>(payload.size()) >> shift) & 0xff));
    }
  }
  const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
  if (mask) out.append(reinterpret_cast<const char*>(key), 4);
  for (std::size_t i = 0; i < payload.size(); ++i) {
    out.push_back(mask ? static_cast<char>(payload[i] ^ key[i % 4]) : payload[i]);
  }
  return out;
}

/// A close frame's payload: the code, then the reason.
inline std::string close_payload(int code, std::string_view reason = {}) {
  std::string out;
  out.push_back(static_cast<char>(code >> 8));
  out.push_back(static_cast<char>(code & 0xff));
  out.append(reason);
  return out;
}

/// A client connection that upgraded (or tried to).
class ws_client {
 public:
  /// Connects to `port` and sends the upgrade request for `target`; handshake() reads the reply.
  explicit ws_client(std::uint16_t port, std::string_view target = "/ws",
                     std::string_view extra = {},
                     std::chrono::milliseconds timeout = std::chrono::milliseconds(5000))
      : client_(port, timeout) {
    client_.send(upgrade_request(target, extra));
    response_ = client_.read_response();
  }

  /// The reply to the upgrade request.
  const http_response& response() const { return response_; }
  raw_client& raw() { return client_; }

  void send_frame(int opcode, std::string_view payload, bool fin = true, bool mask = true) {
    client_.send(frame_bytes(opcode, payload, fin, mask));
  }
  void send_text(std::string_view text) { send_frame(1, text); }
  void send_binary(std::string_view bytes) { send_frame(2, bytes); }
  void send_close(int code, std::string_view reason = {}) {
    send_frame(8, close_payload(code, reason));
  }

  /// Reads one frame (the server's are unmasked); throws on timeout or close.
  ws_frame read_frame() {
    const std::string head = client_.read_bytes(2);
    ws_frame f;
    f.fin = (static_cast<unsigned char>(head[0]) & 0x80) != 0;
    f.opcode = static_cast<unsigned char>(head[0]) & 0x0f;
    std::uint64_t size = static_cast<unsigned char>(head[1]) & 0x7f;
    if (size == 126) {
      const std::string ext = client_.read_bytes(2);
      size = (static_cast<unsigned char>(ext[0]) << 8) | static_cast<unsigned char>(ext[1]);
    } else if (size == 127) {
      const std::string ext = client_.read_bytes(8);
      size = 0;
      for (char c : ext) size = (size << 8) | static_cast<unsigned char>(c);
    }
    if (size) f.payload = client_.read_bytes(size);
    return f;
  }
  /// Reads frames until one that is not a ping or pong.
  ws_frame read_message() {
    for (;;) {
      ws_frame f = read_frame();
      if (f.opcode != 9 && f.opcode != 10) return f;
    }
  }

 private:
  raw_client client_;
  http_response response_;
};

}  // namespace stubborn::testing

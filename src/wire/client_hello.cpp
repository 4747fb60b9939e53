#include "wire/client_hello.hpp"

#include <cstddef>
#include <cstdint>

namespace stubborn {

namespace {

// A cursor over big-endian TLS structures (RFC 8446 section 3); every read is bounds-checked and
// a short read leaves the cursor failed.
class reader {
 public:
  explicit reader(std::string_view bytes) : bytes_(bytes) {}
  bool ok() const { return ok_; }
  std::size_t left() const { return bytes_.size(); }
  std::uint32_t number(int width) {
    if (!ok_ || bytes_.size() < static_cast<std::size_t>(width)) return fail();
    std::uint32_t value = 0;
    for (int i = 0; i < width; ++i) value = (value << 8) | static_cast<unsigned char>(bytes_[i]);
    bytes_.remove_prefix(width);
    return value;
  }
  std::string_view take(std::size_t n) {
    if (!ok_ || bytes_.size() < n) {
      fail();
      return {};
    }
    std::string_view taken = bytes_.substr(0, n);
    bytes_.remove_prefix(n);
    return taken;
  }
  // A vector with a `width`-byte length prefix.
  std::string_view vector(int width) { return take(number(width)); }

 private:
  std::uint32_t fail() {
    ok_ = false;
    bytes_ = {};
    return 0;
  }
  std::string_view bytes_;
  bool ok_ = true;
};

constexpr unsigned char handshake_record = 0x16;
constexpr unsigned char client_hello = 0x01;
constexpr std::uint32_t server_name_extension = 0;
constexpr std::uint32_t host_name = 0;

// The host_name of a server_name extension (RFC 6066 section 3).
std::string_view host_name_in(std::string_view extension) {
  reader list(reader(extension).vector(2));
  while (list.ok() && list.left() > 0) {
    const std::uint32_t type = list.number(1);
    const std::string_view name = list.vector(2);
    if (list.ok() && type == host_name) return name;
  }
  return {};
}

// The SNI of a ClientHello handshake message (what of it there is).
std::string_view server_name_in(std::string_view message) {
  reader hello(message);
  if (hello.number(1) != client_hello) return {};
  hello.number(3);     // length: the message may go on in the next record
  hello.take(2 + 32);  // legacy_version, random
  hello.vector(1);     // legacy_session_id
  hello.vector(2);     // cipher_suites
  hello.vector(1);     // legacy_compression_methods
  reader extensions(hello.vector(2));
  if (!hello.ok()) {
    // The extensions run past this record: read what arrived.
    return {};
  }
  while (extensions.ok() && extensions.left() > 0) {
    const std::uint32_t type = extensions.number(2);
    const std::string_view body = extensions.vector(2);
    if (extensions.ok() && type == server_name_extension) return host_name_in(body);
  }
  return {};
}

bool is_token_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-' || c == '_';
}

}  // namespace

first_bytes inspect_first_bytes(std::string_view bytes) {
  first_bytes result;
  if (bytes.empty()) return result;
  if (static_cast<unsigned char>(bytes[0]) != handshake_record) {
    // A request line starts with a method token and a space ("GET ", "OPTIONS ").
    std::size_t i = 0;
    while (i < bytes.size() && i < 16 && is_token_char(bytes[i])) ++i;
    if (i == bytes.size() && i < 16) return result;  // need_more
    result.what = i > 0 && i < bytes.size() && bytes[i] == ' ' ? first_bytes::kind::plain_http
                                                               : first_bytes::kind::other;
    return result;
  }
  if (bytes.size() < 5) return result;
  const std::size_t record =
      5 + ((static_cast<unsigned char>(bytes[3]) << 8) | static_cast<unsigned char>(bytes[4]));
  if (bytes.size() < record && bytes.size() < max_client_hello_bytes) return result;
  result.what = first_bytes::kind::tls;
  result.server_name = server_name_in(bytes.substr(5, record - 5));
  return result;
}

}  // namespace stubborn

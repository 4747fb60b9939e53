#pragma once
// Base64 (RFC 4648 §4, the standard alphabet with padding) both ways: the journal encodes bodies
// that are not text, Basic authentication decodes credentials.

#include <string>
#include <string_view>

namespace stubborn {

/// Encodes `in` as standard base64 with padding (RFC 4648 §4).
std::string base64_encode(std::string_view in);

/// Decodes standard base64 with padding (RFC 4648 §4) into `out`; false on any invalid input
/// (bad length, a character outside the alphabet, misplaced padding, nonzero pad bits).
bool base64_decode(std::string_view in, std::string& out);

}  // namespace stubborn

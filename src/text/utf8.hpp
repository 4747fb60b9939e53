#pragma once
// Strict UTF-8 (RFC 3629): the one validator every part of the server uses to decide whether
// bytes are text, e.g. for JSON, which must be UTF-8 (RFC 8259 §8.1).

#include <cstddef>
#include <string>
#include <string_view>

namespace stubborn {

/// Length (1 to 4) of the well-formed UTF-8 sequence at the start of `s`, or 0 if there is none:
/// no overlong forms, no surrogates (U+D800..U+DFFF), nothing past U+10FFFF (RFC 3629 §4).
std::size_t utf8_sequence_length(std::string_view s);

/// True if all of `s` is well-formed UTF-8 by the rules of utf8_sequence_length.
bool is_valid_utf8(std::string_view s);

/// `s` with each byte that starts no well-formed sequence replaced by U+FFFD: valid UTF-8
/// always, as JSON text must be (RFC 8259 §8.1).
std::string replace_invalid_utf8(std::string_view s);

}  // namespace stubborn

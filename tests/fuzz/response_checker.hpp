#pragma once
// What every byte stream the session writes must be: a sequence of well-formed HTTP/1.1
// responses, framed exactly, with no body where none is allowed and nothing after a close.

#include <string>
#include <string_view>

namespace stubborn::fuzz {

/// Returns "" if `output` is a valid answer to a client that sent `input`, else the first
/// violation found (what and where).
std::string check_responses(std::string_view output, std::string_view input);

/// `output` with Date values blanked and "100 Continue" interim responses removed: the parts
/// that legitimately depend on timing and on how the request bytes were split.
std::string normalize_for_comparison(std::string_view output);

}  // namespace stubborn::fuzz

#pragma once
// Cookies a request sent (RFC 6265 §5.4: `Cookie: a=1; b=2`), read without copying.

#include <string_view>

namespace stubborn {

/// Finds the cookie `name` (case-sensitive) in one Cookie header value; its value, with the
/// optional double quotes around it removed.
bool find_cookie_in(std::string_view cookie_header, std::string_view name, std::string_view& value);

}  // namespace stubborn

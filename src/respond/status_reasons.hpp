#pragma once

#include <string_view>

namespace stubborn {

/// The IANA-registered reason phrase for a status code; empty if the code is unregistered.
std::string_view registered_reason(int status);

}  // namespace stubborn

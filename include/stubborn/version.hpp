#pragma once

namespace stubborn {
/// The release version, also sent in the Server header.
inline constexpr const char* version = "0.1.0";
}  // namespace stubborn

#pragma once
// A guard that runs before toml::parse: TOML text nested too deep overflows toml++'s stack.

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

namespace stubborn {

/// The 1-based line and column where TOML `text` first nests tables deeper than `limit`, found
/// without building anything; nullopt when it does not (or when a syntax error hides it).
std::optional<std::pair<std::uint32_t, std::uint32_t>> find_deep_nesting(std::string_view text,
                                                                         int limit);

}  // namespace stubborn

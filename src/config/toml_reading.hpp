#pragma once
// Text helpers shared by the config readers: names of TOML types, quoting, "did you mean",
// HTTP token checks, JSON text of values, the nesting limit and whole-file reading.

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>
#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

#include "stubborn/config.hpp"

namespace stubborn {

/// Joins the pieces of a message by appending (g++ 12 reports a false -Wrestrict when a string
/// literal is prepended to a temporary string, "'" + std::string(s)).
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::string out;
  (out.append(std::string_view(parts)), ...);
  return out;
}

/// toml++ builds nested values recursively, and so do we when converting `json` tables.
inline constexpr int max_nesting = 32;

/// ASCII lower case of one character; other bytes unchanged.
char ascii_lower(char c);

/// ASCII case-insensitive equality (header names, methods).
bool iequal(std::string_view a, std::string_view b);

/// RFC 9110 §5.6.2: token = 1*tchar.
bool is_token(std::string_view s);

/// RFC 7235 §2.1: token68 (letters, digits and -._~+/, then any '=').
bool is_token68(std::string_view s);

/// True when `s` holds CR, LF, NUL or another control character other than tab.
bool has_control(std::string_view s);

/// True when every byte of `s` is ASCII.
bool is_ascii(std::string_view s);

/// " (did you mean 'status'?)" when one of `known` is close to `unknown`, else "".
std::string suggestion(std::string_view unknown, std::span<const std::string_view> known);

/// "a string", "an integer", "a table"...: how messages name a node's type.
std::string_view type_name(const toml::node& node);

/// 'text', in single quotes.
std::string in_quotes(std::string_view s);

/// "file:line:col".
std::string position_text(const source_position& where);

/// Shortest text that reads back as `d`: 0.4, not 0.400000.
std::string number_text(double d);

/// "\"a\" or \"b\"", or "one of \"a\", \"b\" or \"c\"".
std::string choices_text(std::span<const std::string_view> choices);

/// "values are nested more than 32 levels deep".
std::string too_deep_message();

/// The first node nested deeper than max_nesting below `node` (at `depth`), or null.
const toml::node* too_deep(const toml::node& node, int depth);

/// Reads a regular file whole; on failure says why in `why`.
bool read_whole_file(const std::filesystem::path& path, std::string& out, std::string& why);

/// A JSON array of the strings, in order.
boost::json::array strings_json(const std::vector<std::string>& strings);

}  // namespace stubborn

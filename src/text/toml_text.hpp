#pragma once
// Writing TOML by program (TOML 1.0): keys and strings quoted and escaped so that a parser reads
// back exactly the text given. The text must be valid UTF-8 (TOML documents are, §"Spec").

#include <string>
#include <string_view>

namespace stubborn {

/// `s` as a TOML basic string on one line: "…", with quotes, backslashes and control characters
/// escaped.
std::string toml_string(std::string_view s);

/// `s` as a TOML multi-line basic string ("""…"""), its line feeds kept as they are so that long
/// text stays readable; everything a parser would change (CR, other controls, backslashes, runs of
/// quotes) is escaped.
std::string toml_multiline_string(std::string_view s);

/// `s` as a TOML literal string ('…') when it needs no escape, else as a basic string: regular
/// expressions then read as written.
std::string toml_literal_string(std::string_view s);

/// `s` as a TOML key: bare when it is only letters, digits, '-' and '_', else quoted.
std::string toml_key(std::string_view s);

}  // namespace stubborn

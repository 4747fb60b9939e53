#pragma once
// A parsed request as matching, templates and reply planning see it: views only, no ownership.
// The session owns the bytes (reused per connection) for as long as the request is handled.

#include <cstddef>
#include <span>
#include <string_view>

namespace stubborn {

/// One header line as received (name case preserved).
struct header_field {
  std::string_view name;
  std::string_view value;
};

struct request_view {
  std::string_view method;
  std::string_view target;  ///< as received
  std::string_view path;    ///< raw path of the target, still percent-encoded
  std::string_view query;   ///< after '?', without it; empty if none
  unsigned version = 11;    ///< 10 or 11
  std::span<const header_field> headers;
  std::string_view body;

  /// First header with this name (case-insensitive); empty view and false if absent.
  bool find_header(std::string_view name, std::string_view& value) const;
  /// First query parameter with this (decoded) name; its raw value.
  bool find_query(std::string_view name, std::string_view& raw_value) const;
};

/// ASCII case-insensitive equality, for header names.
bool iequals(std::string_view a, std::string_view b);

}  // namespace stubborn

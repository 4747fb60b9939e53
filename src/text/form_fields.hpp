#pragma once
// The fields of a form body, decoded: application/x-www-form-urlencoded (`+` is a space,
// percent-escapes decoded, any charset parameter accepted) and multipart/form-data (RFC 7578: each
// part's `name` from Content-Disposition; a file part's value is its content).

#include <string>
#include <string_view>
#include <vector>

namespace stubborn {

struct form_field {
  std::string name;
  std::string value;
};

/// Appends the body's fields to `out` (in body order) and returns true when `content_type` is
/// one of the two form types; false (and nothing appended) otherwise. A malformed multipart body
/// gives the fields read before the damage.
bool read_form_fields(std::string_view content_type, std::string_view body,
                      std::vector<form_field>& out);

}  // namespace stubborn

#pragma once
// `path = "/users/{id}/files/*"`: literal segments, {name} segments capturing one segment, and an
// optional trailing /* matching the rest. Compiled once at load; matching allocates nothing.

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace stubborn {

/// A pattern that cannot be compiled; `offset` is into the pattern text.
struct path_pattern_error : std::runtime_error {
  path_pattern_error(std::size_t at, const std::string& what)
      : std::runtime_error(what), offset(at) {}
  std::size_t offset;
};

/// Most {name} captures one route may have (also the size of a match's capture array).
inline constexpr std::size_t max_path_params = 16;

class path_pattern {
 public:
  struct segment {
    std::string literal;  ///< decoded literal text; empty for a parameter
    bool is_param = false;
  };

  /// Throws path_pattern_error.
  static path_pattern compile(std::string_view pattern);

  const std::vector<segment>& segments() const { return segments_; }
  const std::vector<std::string>& param_names() const { return param_names_; }
  bool has_rest() const { return has_rest_; }
  const std::string& text() const { return text_; }

  /// Matches a raw (still percent-encoded) request path; fills `captures` with raw segments.
  bool match(std::string_view path, std::string_view* captures) const;

 private:
  std::string text_;
  std::vector<segment> segments_;
  std::vector<std::string> param_names_;
  bool has_rest_ = false;
};

/// Compares a raw, percent-encoded string with decoded text, without allocating.
bool equals_percent_decoded(std::string_view raw, std::string_view decoded,
                            bool plus_is_space = false);
/// Decodes `raw` into `out` (room for raw.size() bytes); returns the decoded length.
std::size_t percent_decode_into(std::string_view raw, char* out);
/// Appends the percent-decoded form of `raw` (and '+' as space when `plus_is_space`).
void append_percent_decoded(std::string_view raw, std::string& out, bool plus_is_space = false);

}  // namespace stubborn

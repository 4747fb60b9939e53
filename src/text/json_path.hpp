#pragma once
// A JSONPath subset, compiled once at load: `$`, `.name`, `['name']`, `[n]` (negative counts
// from the end), `[*]` and `.*`, `..name` (every member of that name, at any depth) and `..*`
// (every value below). select() walks a parsed document and appends every value the path reaches.

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace boost::json {
class value;
}

namespace stubborn {

/// A path that cannot be compiled; `offset` is into the path text.
struct json_path_error : std::runtime_error {
  json_path_error(std::size_t at, const std::string& what) : std::runtime_error(what), offset(at) {}
  std::size_t offset;
};

class json_path {
 public:
  /// Throws json_path_error. The text starts with `$`.
  static json_path compile(std::string_view text);
  /// The same for a template's `{{json.order.id}}`: `text` is what follows "json." (a name, then
  /// `.name`, `[n]`, ... as above), read as if it were "$." + text.
  static json_path compile_relative(std::string_view text);

  /// Appends every value the path selects from `root`, in document order.
  void select(const boost::json::value& root, std::vector<const boost::json::value*>& out) const;
  /// Selects at most one value (no `[*]`, `.*` or `..` in the path).
  bool is_single() const;
  /// The text as written.
  const std::string& text() const { return text_; }

  enum class step_kind { member, index, wildcard, descendant };
  struct step {
    step_kind kind = step_kind::member;
    std::string name;       ///< member / descendant
    long index = 0;         ///< index
    bool wildcard = false;  ///< descendant: every value below, whatever its name (`..*`)
  };

 private:
  std::string text_;
  std::vector<step> steps_;
};

}  // namespace stubborn

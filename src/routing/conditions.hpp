#pragma once
// [route.when] conditions, and the `cookies` and `form` matchers (which are conditions too),
// compiled once at load. Evaluating them reads what the request carries: headers, query, cookies
// and path parameters without copying; the body parsed as JSON, XML or form fields at most once
// per request (shared by every route that asks, and by the templates afterwards).

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stubborn/config.hpp"

namespace boost::json {
class value;
}
namespace re2 {
class RE2;
}

namespace stubborn {

struct request_view;
class parsed_body;
class json_path;
class xml_path;

/// `actual` holds `expected`: objects by key (extra keys allowed), arrays element-wise in any
/// order (each expected element held by some actual element), numbers by value, others equal.
bool json_contains(const boost::json::value& actual, const boost::json::value& expected);

/// Reused from request to request: what a JSONPath selected (one list per distinct path of the
/// table, valid for the request whose `generation` it carries) and decoded texts.
struct condition_scratch {
  struct selection {
    std::uint64_t generation = 0;
    std::vector<const boost::json::value*> values;
  };
  std::uint64_t generation = 1;  ///< bumped per request
  std::vector<selection> json;   ///< by the table's JSONPath index
  std::vector<std::string> texts;
  std::string decoded;
};

/// The values `path` (the table's JSONPath number `json_index`) selects from the request body,
/// selected once per request; null when the body is not JSON.
const std::vector<const boost::json::value*>* select_json(const json_path& path,
                                                          std::size_t json_index,
                                                          const request_view& request,
                                                          parsed_body& body,
                                                          condition_scratch& scratch);

/// A condition routes can be looked up by instead of tried one by one: a JSONPath selecting at
/// most one value that must equal a string or a number (case-sensitive).
struct equality_key {
  std::size_t json_index = 0;
  const json_path* path = nullptr;
  const boost::json::value* operand = nullptr;  ///< a string or a number
};

/// What conditions read: the request, the matched route's path captures, its body.
struct condition_inputs {
  const request_view& request;
  std::span<const std::string_view> path_params;  ///< raw (percent-encoded) captures
  parsed_body& body;
  condition_scratch& scratch;
  bool head_only = false;  ///< the body is not read yet: body conditions may hold
};

/// One condition, compiled.
struct compiled_condition {
  condition_spec spec;                    ///< as written, for explanations
  std::size_t param_index = 0;            ///< path: which capture
  std::size_t json_index = 0;             ///< json_path: the table's index of this path
  std::shared_ptr<const json_path> json;  ///< json_path
  std::shared_ptr<const xml_path> xml;    ///< xpath
  std::shared_ptr<const boost::json::value> operand;
  std::shared_ptr<const re2::RE2> regex;  ///< regex
  std::string folded;                     ///< ignore_case: the string operand in lower case
  bool reads_body() const;
};

/// A route's conditions: cookies and form as `all` conditions, then [route.when].
class compiled_when {
 public:
  /// Throws config_error. `param_names`: the route's path parameters; `json_paths`: the table's
  /// distinct JSONPaths so far (each condition gets the index of its path; new ones are added).
  static std::unique_ptr<compiled_when> compile(const route_spec& route,
                                                std::span<const std::string> param_names,
                                                std::vector<std::string>& json_paths);
  ~compiled_when();

  /// Every `all` holds, one `any` (if any), no `not`. Head-only: body conditions count as
  /// possibly holding.
  bool holds(const condition_inputs& in) const;
  /// Some condition reads the body.
  bool reads_body() const { return reads_body_; }
  /// The `all` conditions that are equality keys, in order.
  std::vector<equality_key> equality_keys() const;
  /// One line per condition that does not hold ("  $.order.total is 80, wanted gt 100").
  std::string explain(const condition_inputs& in) const;

 private:
  std::vector<compiled_condition> all_, any_, none_;
  bool reads_body_ = false;
};

}  // namespace stubborn

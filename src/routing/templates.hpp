#pragma once
// Reply templates: {{path.NAME}}, {{query.NAME}}, {{header.NAME}}, {{method}}, {{uri}}, and
// {{tls.client_subject}}, {{tls.sni}}, {{tls.version}} (empty over plain HTTP).
// Compiled once at load; a text without placeholders is static and costs nothing per request.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace stubborn {

struct request_view;

/// A template that cannot be compiled; `offset` is into the template text.
struct template_error : std::runtime_error {
  template_error(std::size_t at, const std::string& what) : std::runtime_error(what), offset(at) {}
  std::size_t offset;
};

/// Appends `value` escaped for the inside of a JSON string (invalid UTF-8 becomes U+FFFD).
void append_json_escaped(std::string_view value, std::string& out);

/// How values are escaped where they are inserted.
enum class template_escape {
  none,         ///< inserted as they are
  json_string,  ///< JSON string escaping (bodies whose Content-Type is JSON)
  header_value  ///< CR, LF and other controls removed: no header injection
};

class parsed_body;

/// What a rendering can draw from: the request, the path captures of the matched route, the
/// body as matching parsed it, and the reply's counter, random bits and wall-clock time.
struct template_context {
  const request_view& request;
  std::span<const std::string_view> path_params;  ///< raw (percent-encoded) captures
  parsed_body* body =
      nullptr;                ///< the request body, parsed on demand; null: body placeholders empty
  std::uint64_t counter = 0;  ///< {{counter}}: the requests this route has answered, from 1
  std::uint64_t random = 0;   ///< bits {{uuid}} is drawn from (repeatable under [server] seed)
  std::chrono::system_clock::time_point now{};  ///< {{now}} and its forms
};

class compiled_template {
 public:
  enum class part_kind {
    literal,
    path_param,
    query,
    header,
    method,
    uri,
    tls_client_subject,
    tls_sni,
    tls_version
  };
  struct part {
    part_kind kind = part_kind::literal;
    std::string text;       ///< literal text, or the query / header name
    std::size_t index = 0;  ///< path_param: index into the route's parameters
  };

  /// Throws template_error; `path_params` are the names the route's path defines.
  static compiled_template compile(std::string_view text, std::span<const std::string> path_params);

  bool is_static() const {
    return parts_.empty() || (parts_.size() == 1 && parts_[0].kind == part_kind::literal);
  }
  /// The text when is_static().
  std::string_view static_text() const {
    return parts_.empty() ? std::string_view{} : parts_[0].text;
  }
  /// Appends the rendering to `out`.
  void render(const template_context& context, template_escape escape, std::string& out) const;

 private:
  std::vector<part> parts_;
};

}  // namespace stubborn

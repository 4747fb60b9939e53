#pragma once
// Reply templates: {{path.NAME}}, {{query.NAME}}, {{header.NAME}}, {{cookie.NAME}},
// {{form.NAME}}, {{method}}, {{uri}}, {{body}}, {{json.PATH}}, {{xpath.PATH}}, {{now}},
// {{now.epoch}}, {{now.epoch_ms}}, {{now.http}}, {{uuid}}, {{counter}}, and
// {{tls.client_subject}}, {{tls.sni}}, {{tls.version}} (empty over plain HTTP). Every placeholder
// renders empty when what it reads is absent.
// Compiled once at load; a text without placeholders is static and costs nothing per request.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
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
class json_path;
class xml_path;

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
    tls_version,
    body,
    json,
    xpath,
    form,
    cookie,
    now,
    now_epoch,
    now_epoch_ms,
    now_http,
    uuid,
    counter
  };
  struct part {
    part_kind kind = part_kind::literal;
    std::string text;       ///< literal text, or the query / header / cookie / form name
    std::size_t index = 0;  ///< path_param: index into the route's parameters; uuid: its slot
    /// In a JSON reply, the placeholder is a whole JSON string and renders as a JSON value.
    bool json_value = false;
    std::shared_ptr<const json_path> json;  ///< json: compiled once, shared by copies
    std::shared_ptr<const xml_path> xpath;  ///< xpath
  };

  /// Throws template_error; `path_params` are the names the route's path defines. With
  /// `message` (a WebSocket step), {{message}} is the client's message, rendered from the
  /// request's body.
  static compiled_template compile(std::string_view text, std::span<const std::string> path_params,
                                   bool message = false);
  /// A JSON reply body (`json_text` is valid JSON) as a template: object keys stay literal; a
  /// string that is exactly one placeholder becomes a JSON value ({{json.X}} the value itself or
  /// null, {{counter}}, {{now.epoch}} and {{now.epoch_ms}} numbers, the others strings); other
  /// strings with placeholders stay strings. Render it with template_escape::json_string. Static
  /// (with the text unchanged) when no string holds a placeholder. Throws template_error, whose
  /// offset is into the string that holds the bad placeholder.
  static compiled_template compile_json(std::string_view json_text,
                                        std::span<const std::string> path_params);

  bool is_static() const {
    return parts_.empty() || (parts_.size() == 1 && parts_[0].kind == part_kind::literal);
  }
  /// Some placeholder reads the wall clock ({{now}} and its forms).
  bool uses_clock() const { return uses_clock_; }
  /// Some placeholder reads the route's counter ({{counter}}, {{uuid}}).
  bool uses_counter() const { return uses_counter_; }
  /// Gives each {{uuid}} its own slot from `next` on (so several templates of one reply draw
  /// different UUIDs from the same random bits) and advances `next`.
  void number_uuids(std::size_t& next);
  /// The text when is_static().
  std::string_view static_text() const {
    return parts_.empty() ? std::string_view{} : parts_[0].text;
  }
  /// The parts, in order (literals merged).
  const std::vector<part>& parts() const { return parts_; }
  /// Appends the rendering to `out`.
  void render(const template_context& context, template_escape escape, std::string& out) const;

 private:
  void add_flags(const part& p);

  std::vector<part> parts_;
  bool uses_clock_ = false;
  bool uses_counter_ = false;
};

}  // namespace stubborn

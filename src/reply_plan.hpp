#pragma once
// A route's reply, compiled at load: a static reply is pre-rendered to bytes (all but the Date
// value and the connection header), a templated one keeps its compiled templates. Rendering is a
// pure function from (reply, request, captures) to bytes; no I/O here.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stubborn/config.hpp"
#include "templates.hpp"

namespace stubborn {

struct request_view;

/// What the connection does around a reply (decided by the session).
enum class connection_header {
  none,        ///< HTTP/1.1 persistent: nothing to say
  keep_alive,  ///< HTTP/1.0 persistent: "Connection: keep-alive"
  close        ///< "Connection: close"
};

class compiled_reply {
 public:
  /// Compiles a reply spec; throws template_error for bad templates.
  static compiled_reply compile(const reply_spec& spec, std::span<const std::string> path_params,
                                const std::string& server_header);

  int status() const { return status_; }
  bool is_static() const { return is_static_; }
  /// The static body (when is_static()).
  std::string_view static_body() const { return body_; }

  /// Appends the head to `out` (ending in the blank line) and returns the body to send after it
  /// (a view into this reply for static bodies, into `scratch` for rendered ones). With
  /// `head_only` (HEAD) the head still carries the body's Content-Length, and the returned body
  /// is empty.
  std::string_view render(const request_view& request, std::span<const std::string_view> params,
                          bool head_only, connection_header connection, std::string& out,
                          std::string& scratch) const;

 private:
  struct header_template {
    std::string name;
    compiled_template value;
  };

  int status_ = 200;
  bool is_static_ = true;
  bool body_allowed_ = true;   // false for 204 and 304: no body, no Content-Length
  bool send_date_ = true;
  std::string head_start_;     // status line, Server, "Date: " (when send_date_)
  std::string static_headers_; // "\r\n" after the date, then user headers that are static
  std::string body_;
  std::vector<header_template> header_templates_;
  compiled_template body_template_;
  template_escape body_escape_ = template_escape::none;
};

/// Appends a plain-text reply the server generates itself (404, 405, 400, 505 ...).
void render_server_reply(int status, std::string_view body, std::string_view extra_headers,
                         std::string_view server_header, bool head_only,
                         connection_header connection, std::string& out);

}  // namespace stubborn

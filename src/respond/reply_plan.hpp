#pragma once
// A route's replies, compiled at load, and the pure choice of what to send for one request.
// A static reply is pre-rendered to bytes (all but the Date value and the framing/connection
// headers); a templated one keeps its compiled templates. plan_reply() decides sequence step,
// outage, delay and fault from the route's state and a counter-based random stream; it does no I/O.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "routing/path_pattern.hpp"
#include "routing/templates.hpp"
#include "stubborn/config.hpp"

namespace stubborn {

struct request_view;

/// What the connection does around a reply (decided by the session).
enum class connection_header {
  none,        ///< HTTP/1.1 persistent: nothing to say
  keep_alive,  ///< HTTP/1.0 persistent: "Connection: keep-alive"
  close        ///< "Connection: close"
};

/// A fault's name as the config writes it ("reset", "malformed-chunk"; "" for none).
std::string_view fault_name(fault_kind fault);

/// The header line for `connection` ("" for none), with its CRLF.
std::string_view connection_line(connection_header connection);

/// How the body is delimited on the wire.
enum class body_framing {
  content_length,
  chunked,
  close_delimited  ///< no length: the body ends when the connection closes (HTTP/1.0 streams)
};

/// A reply's head as parts: pre-rendered text (the table's memory, or a caller's buffer), the
/// slot for the Date value, and the framing and connection lines, which are written last because
/// a wait may change them. Nothing here owns memory.
struct reply_head {
  std::string_view start;   ///< status line and the lines before Date ("Date: " last when `date`)
  bool date = false;        ///< the writer puts the Date value (http_date_length bytes) here
  std::string_view fields;  ///< pre-rendered lines after it (starting with the Date line's CRLF)
  std::string_view extra;   ///< lines rendered for this request
  bool has_body = true;     ///< false for 1xx/204/304: no Content-Length, no Transfer-Encoding
  body_framing framing = body_framing::content_length;
  std::size_t content_length = 0;  ///< of the whole body, also for HEAD
  connection_header connection = connection_header::none;
};

/// Appends the head to `out`, ending in the blank line; `date` is the current IMF-fixdate.
void append_head(const reply_head& head, std::string_view date, std::string& out);

/// Which of a reply's templated header lines render_header_lines() writes.
enum class header_selection {
  all,
  without_content_type,  ///< a multipart/byteranges 206: the parts carry the type
  not_modified           ///< a 304: the lines a 200 would send that RFC 9110 §15.4.5 keeps
};

/// True for the header names a 304 repeats from its 200 (RFC 9110 §15.4.5, and Last-Modified).
bool sent_with_not_modified(std::string_view name);

/// A reply's Server-Sent Events, compiled at load: pre-rendered when no event has a template.
class compiled_events {
 public:
  /// Compiles `spec.events`; throws template_error for a bad template.
  static compiled_events compile(const reply_spec& spec, std::span<const std::string> path_params);

  /// The stream as rendered for one request.
  struct rendered {
    std::string_view text;                ///< every event, back to back
    std::span<const std::uint32_t> ends;  ///< where each event ends in `text`
    std::size_t first = 0;                ///< the first event to send (after Last-Event-ID)
  };
  /// Renders the events (a view into this when static, else into `text` and `ends`). With
  /// `last_event_id`, the stream resumes after the first event whose id renders to it (an
  /// unknown id: from the start).
  rendered render(const template_context& context, const std::string_view* last_event_id,
                  std::string& text, std::vector<std::uint32_t>& ends) const;
  std::size_t size() const { return events_.size(); }
  /// How long event `i` waits after the previous one (the first: after the head).
  std::chrono::milliseconds delay(std::size_t i) const { return events_[i].delay; }
  bool is_static() const { return static_; }
  stream_end then() const { return then_; }
  std::chrono::milliseconds heartbeat() const { return heartbeat_; }
  bool uses_clock() const { return uses_clock_; }
  bool uses_counter() const { return uses_counter_; }
  /// Numbers the {{uuid}}s of the events after the reply's others.
  void number_uuids(std::size_t& next);

 private:
  struct event {
    std::optional<compiled_template> data, type, id;
    std::optional<std::chrono::milliseconds> retry;
    std::chrono::milliseconds delay{0};
  };
  void render_event(const event& e, const template_context& context, std::string& out,
                    std::string* id) const;

  std::vector<event> events_;
  bool static_ = true;
  bool uses_clock_ = false;
  bool uses_counter_ = false;
  stream_end then_ = stream_end::close;
  std::chrono::milliseconds heartbeat_{0};
  std::string text_;                             // static: the stream, pre-rendered
  std::vector<std::uint32_t> ends_;              // static: where each event ends
  std::vector<std::optional<std::string>> ids_;  // static: each event's id
};

class compiled_reply {
 public:
  /// Compiles a reply spec; throws template_error for bad templates.
  static compiled_reply compile(const reply_spec& spec, std::span<const std::string> path_params,
                                const std::string& server_header);

  int status() const { return status_; }
  bool is_static() const { return is_static_; }
  /// No delay, hang, interim, fault or pacing: written at once, on the fast path.
  bool is_plain() const { return plain_; }
  bool has_body() const { return body_allowed_; }
  /// The body is no template: render_body() returns a view into this reply.
  bool has_static_body() const { return body_template_.is_static(); }
  /// The static body (when is_static()).
  std::string_view static_body() const { return body_; }
  /// Its Server-Sent Events (a reply with `events`), or null.
  const compiled_events* events() const { return events_.get(); }
  /// Pre-rendered interim (1xx) responses, back to back; empty if none.
  std::string_view interim_bytes() const { return interim_; }
  const reply_spec& script() const { return script_; }
  /// Status line, Server, then "Date: " when sends_date(): everything before the Date value.
  std::string_view head_start() const { return head_start_; }
  /// head_start() without its status line.
  std::string_view head_start_after_status() const {
    return std::string_view(head_start_).substr(status_line_size_);
  }
  /// False when the reply configures its own Date header.
  bool sends_date() const { return send_date_; }
  /// The static lines after the Date value ("\r\n" first when sends_date()).
  std::string_view static_headers() const { return static_headers_; }
  /// static_headers() without Content-Type lines.
  std::string_view static_headers_without_type() const { return static_headers_untyped_; }
  /// The static lines a 304 repeats (after "\r\n" when sends_date()).
  std::string_view static_not_modified_headers() const { return not_modified_headers_; }
  /// The first static Content-Type value, or "" (then see templated_content_type()).
  std::string_view static_content_type() const { return content_type_; }
  /// Its templates read the wall clock: the caller fills template_context::now.
  bool uses_clock() const { return uses_clock_; }
  /// Its templates read the route's counter ({{counter}}, {{uuid}}): the caller counts the
  /// request and fills template_context::counter and ::random.
  bool uses_counter() const { return uses_counter_; }
  /// Renders a templated Content-Type value into `out`; false when there is none.
  bool templated_content_type(const template_context& context, std::string& out) const;
  /// Appends the templated header lines chosen by `selection` to `out`.
  void render_header_lines(const template_context& context, header_selection selection,
                           std::string& out) const;
  /// The body (empty when none is allowed): a view into this reply when static, else rendered
  /// into `scratch`.
  std::string_view render_body(const template_context& context, std::string& scratch) const {
    if (!body_allowed_) return {};
    if (body_template_.is_static()) return body_;
    return render_body_template(context, scratch);
  }

  /// Appends the head to `out` (ending in the blank line) and returns the body to send after it
  /// (a view into this reply for static bodies, into `scratch` for rendered ones). With
  /// `head_only` (HEAD) the head still describes the body, and the returned body is empty.
  /// `extra_headers` are complete "Name: value\r\n" lines added as they are.
  std::string_view render(const template_context& context, bool head_only,
                          connection_header connection, std::string& out, std::string& scratch,
                          std::string_view extra_headers = {},
                          body_framing framing = body_framing::content_length) const;
  /// The same with only the request and the path captures to draw from.
  std::string_view render(const request_view& request, std::span<const std::string_view> params,
                          bool head_only, connection_header connection, std::string& out,
                          std::string& scratch, std::string_view extra_headers = {},
                          body_framing framing = body_framing::content_length) const {
    return render(template_context{request, params}, head_only, connection, out, scratch,
                  extra_headers, framing);
  }

 private:
  std::string_view render_body_template(const template_context& context,
                                        std::string& scratch) const;

  struct header_template {
    std::string name;
    compiled_template value;
  };

  int status_ = 200;
  bool is_static_ = true;
  bool plain_ = true;
  bool body_allowed_ = true;  // false for 204 and 304: no body, no Content-Length
  bool send_date_ = true;
  bool uses_clock_ = false;
  bool uses_counter_ = false;
  std::size_t status_line_size_ = 0;
  std::string head_start_;              // status line, Server, "Date: " (when send_date_)
  std::string static_headers_;          // "\r\n" after the date, then the static user headers
  std::string static_headers_untyped_;  // the same without Content-Type lines
  std::string not_modified_headers_;    // "\r\n" after the date, then the lines a 304 repeats
  std::string content_type_;            // the first static Content-Type value
  std::string body_;
  std::string interim_;
  std::vector<header_template> header_templates_;
  compiled_template body_template_;
  template_escape body_escape_ = template_escape::none;
  reply_spec script_;  // the timing and fault keys, as configured
  std::shared_ptr<const compiled_events> events_;
};

/// The only mutable per-route data: how many requests the route has planned (sequence position
/// and the index into its random stream), and how many it has answered for {{counter}}. Shared
/// by all threads; survives reloads when the route is unchanged.
struct route_state {
  std::atomic<std::uint64_t> planned{0};
  std::atomic<std::uint64_t> answered{0};  ///< only for scripts whose replies read the counter
  std::atomic<std::uint64_t> resets{0};    ///< how often reset() ran: new UUIDs without a seed
  void reset() {
    planned.store(0, std::memory_order_relaxed);
    answered.store(0, std::memory_order_relaxed);
    resets.fetch_add(1, std::memory_order_relaxed);
  }
};

/// An outage compiled: when it applies and what it sends.
struct compiled_outage {
  outage_spec spec;
  std::optional<path_pattern> path;  ///< server-wide outages only
  compiled_reply reply;              ///< the status reply (unless spec.fault)
  std::shared_ptr<route_state> state = std::make_shared<route_state>();
};

/// A route's reply script: the sequence of replies and what happens around them.
struct reply_script {
  std::vector<compiled_reply> replies;  ///< at least one
  std::vector<std::uint64_t> ends;      ///< cumulative repeat counts, one per reply
  sequence_end then = sequence_end::repeat_last;
  std::optional<compiled_outage> outage;
  std::shared_ptr<route_state> state = std::make_shared<route_state>();
  bool stateful = false;  ///< needs the counter (sequence, randomness or an outage)
  bool counts = false;    ///< some reply reads {{counter}} or {{uuid}}: every request is counted
};

/// What to send for one request.
struct reply_plan {
  const compiled_reply* reply = nullptr;  ///< null only for a fault without a reply
  std::chrono::milliseconds delay{0};
  fault_kind fault = fault_kind::none;
  std::uint32_t retry_after = 0;  ///< > 0: add "Retry-After" (an outage window's remaining time)
  std::uint64_t random = 0;       ///< for faults that need random bytes
};

/// The moment the random and time-based choices are made against.
struct plan_clock {
  std::chrono::steady_clock::duration since_start{};  ///< since the table was installed
  std::uint64_t seed = 0;
  std::uint64_t stream = 0;  ///< distinguishes routes within one seed
};

/// Chooses the reply for one request: the outage if it applies, else the next step of the
/// sequence, with its delay sampled. Advances `script.state` when the script is stateful.
reply_plan plan_reply(const reply_script& script, const plan_clock& clock);
/// The same with the position taken by the caller (a state key's counters, or Redis's):
/// `n` is the number of requests the script planned before this one.
reply_plan plan_reply_at(const reply_script& script, const plan_clock& clock, std::uint64_t n);

/// Whether an outage is on for this request; sets `retry_after` for windows.
bool outage_applies(const compiled_outage& outage, const plan_clock& clock, std::uint64_t n,
                    std::uint32_t& retry_after);

/// A uniform double in [0, 1) from (seed, stream, n): reproducible whatever the thread.
double uniform_random(std::uint64_t seed, std::uint64_t stream, std::uint64_t n);
/// 64 random bits from (seed, stream, n).
std::uint64_t random_bits(std::uint64_t seed, std::uint64_t stream, std::uint64_t n);

/// Samples a delay spec with the given uniforms.
std::chrono::milliseconds sample_delay(const delay_spec& delay, double u1, double u2);

/// Appends "HTTP/1.1 <status> <reason>" and CRLF to `out`.
void append_status_line(int status, std::string_view reason, std::string& out);

/// Appends a plain-text reply the server generates itself (404, 405, 400, 505 ...).
void render_server_reply(int status, std::string_view body, std::string_view extra_headers,
                         std::string_view server_header, bool head_only,
                         connection_header connection, std::string& out,
                         std::string_view content_type = "text/plain; charset=utf-8");

}  // namespace stubborn

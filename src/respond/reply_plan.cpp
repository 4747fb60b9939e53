#include "respond/reply_plan.hpp"

#include <charconv>
#include <cmath>

#include "respond/http_date.hpp"
#include "respond/status_reasons.hpp"
#include "routing/request.hpp"

namespace stubborn {

namespace {

void append_number(std::size_t n, std::string& out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

bool has_header(const std::vector<name_value>& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) return true;
  }
  return false;
}

bool contains_json(std::string_view content_type) {
  for (std::size_t i = 0; i + 4 <= content_type.size(); ++i) {
    if (iequals(content_type.substr(i, 4), "json")) return true;
  }
  return false;
}

std::string_view content_type_for_file(std::string_view file) {
  auto dot = file.rfind('.');
  std::string_view ext = dot == std::string_view::npos ? std::string_view{} : file.substr(dot + 1);
  struct entry {
    std::string_view ext, type;
  };
  static constexpr entry types[] = {
      {"json", "application/json"},
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"txt", "text/plain; charset=utf-8"},
      {"xml", "application/xml"},
      {"css", "text/css"},
      {"js", "text/javascript"},
      {"csv", "text/csv"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"pdf", "application/pdf"},
  };
  for (const auto& t : types) {
    if (iequals(t.ext, ext)) return t.type;
  }
  return "application/octet-stream";
}

}  // namespace

void append_status_line(int status, std::string_view reason, std::string& out) {
  out.append("HTTP/1.1 ");
  append_number(static_cast<std::size_t>(status), out);
  // RFC 9112 §4: the SP before the reason is required even when the reason is empty.
  out.push_back(' ');
  out.append(reason);
  out.append("\r\n");
}

compiled_reply compiled_reply::compile(const reply_spec& spec,
                                       std::span<const std::string> path_params,
                                       const std::string& server_header) {
  compiled_reply reply;
  reply.status_ = spec.status;
  // RFC 9110 §15.3.5 / §15.4.5: 204 and 304 carry no content and (204) no Content-Length.
  reply.body_allowed_ = spec.status != 204 && spec.status != 304;
  reply.send_date_ = !has_header(spec.headers, "Date");

  std::string_view reason =
      spec.reason.empty() ? registered_reason(spec.status) : std::string_view{spec.reason};
  append_status_line(spec.status, reason, reply.head_start_);
  reply.status_line_size_ = reply.head_start_.size();
  if (!server_header.empty() && !has_header(spec.headers, "Server")) {
    reply.head_start_.append("Server: ").append(server_header).append("\r\n");
  }
  if (reply.send_date_) {
    reply.head_start_.append("Date: ");
    reply.static_headers_.append("\r\n");
    reply.static_headers_untyped_.append("\r\n");
    reply.not_modified_headers_.append("\r\n");
  }

  std::string content_type;
  for (const auto& h : spec.headers) {
    if (iequals(h.name, "Content-Type")) content_type = h.value;
  }
  if (content_type.empty() && !spec.body.empty() && reply.body_allowed_) {
    switch (spec.source) {
      case body_source::json:
        content_type = "application/json";
        break;
      case body_source::file:
        content_type = content_type_for_file(spec.body_file);
        break;
      default:
        content_type = "text/plain; charset=utf-8";
        break;
    }
    reply.static_headers_.append("Content-Type: ").append(content_type).append("\r\n");
    reply.content_type_ = content_type;
  }

  if (!spec.events.empty()) {
    // The HTML standard, 9.2: an event stream is text/event-stream; intermediaries must not
    // cache or hold it back (unless the route says otherwise).
    if (content_type.empty()) {
      content_type = "text/event-stream";
      reply.static_headers_.append("Content-Type: text/event-stream\r\n");
      reply.content_type_ = content_type;
    }
    if (!has_header(spec.headers, "Cache-Control")) {
      constexpr std::string_view no_cache = "Cache-Control: no-cache\r\n";
      reply.static_headers_.append(no_cache);
      reply.static_headers_untyped_.append(no_cache);
      reply.not_modified_headers_.append(no_cache);
    }
  }

  // Each {{uuid}} of the reply draws its own bits, wherever it is.
  std::size_t uuid_slots = 0;
  const auto note_uses = [&](compiled_template& t) {
    t.number_uuids(uuid_slots);
    reply.uses_clock_ = reply.uses_clock_ || t.uses_clock();
    reply.uses_counter_ = reply.uses_counter_ || t.uses_counter();
  };
  for (const auto& h : spec.headers) {
    auto value = compiled_template::compile(h.value, path_params);
    if (value.is_static()) {
      std::string line = h.name + ": " + std::string(value.static_text()) + "\r\n";
      reply.static_headers_.append(line);
      if (iequals(h.name, "Content-Type")) {
        if (reply.content_type_.empty()) reply.content_type_ = value.static_text();
      } else {
        reply.static_headers_untyped_.append(line);
      }
      if (sent_with_not_modified(h.name)) reply.not_modified_headers_.append(line);
    } else {
      note_uses(value);
      reply.header_templates_.push_back({h.name, std::move(value)});
    }
  }

  if (spec.source == body_source::inline_text) {
    reply.body_template_ = compiled_template::compile(spec.body, path_params);
  } else if (spec.source == body_source::json) {
    // A JSON reply is a template when some string in it holds a placeholder.
    reply.body_template_ = compiled_template::compile_json(spec.body, path_params);
  }
  const bool body_is_template = !reply.body_template_.is_static();
  if (body_is_template) {
    note_uses(reply.body_template_);
  } else {
    reply.body_ = spec.body;  // files, and texts and JSON without placeholders, as written
    reply.body_template_ = {};
  }
  if (body_is_template && (spec.source == body_source::json || contains_json(content_type))) {
    reply.body_escape_ = template_escape::json_string;
  }
  if (!spec.events.empty()) {
    compiled_events events = compiled_events::compile(spec, path_params);
    events.number_uuids(uuid_slots);
    reply.uses_clock_ = reply.uses_clock_ || events.uses_clock();
    reply.uses_counter_ = reply.uses_counter_ || events.uses_counter();
    reply.events_ = std::make_shared<const compiled_events>(std::move(events));
  }
  reply.is_static_ = reply.header_templates_.empty() && !body_is_template;

  for (const auto& interim : spec.interim) {
    append_status_line(interim.status, registered_reason(interim.status), reply.interim_);
    for (const auto& h : interim.headers) {
      reply.interim_.append(h.name).append(": ").append(h.value).append("\r\n");
    }
    reply.interim_.append("\r\n");
  }
  reply.script_ = spec;
  reply.script_.body.clear();  // the body lives in body_ / body_template_ only
  reply.plain_ = spec.delay.type == delay_spec::kind::none && !spec.hang && spec.interim.empty() &&
                 spec.fault == fault_kind::none && spec.chunks.count == 0 && spec.bandwidth == 0 &&
                 spec.events.empty();
  return reply;
}

compiled_events compiled_events::compile(const reply_spec& spec,
                                         std::span<const std::string> path_params) {
  compiled_events compiled;
  compiled.then_ = spec.then;
  compiled.heartbeat_ = spec.heartbeat;
  for (const sse_event_spec& e : spec.events) {
    event ev;
    const auto take = [&](const std::optional<std::string>& text,
                          std::optional<compiled_template>& out) {
      if (!text) return;
      out = compiled_template::compile(*text, path_params);
      compiled.static_ = compiled.static_ && out->is_static();
      compiled.uses_clock_ = compiled.uses_clock_ || out->uses_clock();
      compiled.uses_counter_ = compiled.uses_counter_ || out->uses_counter();
    };
    take(e.data, ev.data);
    take(e.event, ev.type);
    take(e.id, ev.id);
    ev.retry = e.retry;
    ev.delay = e.delay;
    compiled.events_.push_back(std::move(ev));
  }
  if (compiled.static_) {
    // Nothing to render per request: the stream is sent from here.
    const request_view none{};
    const template_context context{none, {}};
    for (const event& e : compiled.events_) {
      std::string id;
      compiled.render_event(e, context, compiled.text_, &id);
      compiled.ends_.push_back(static_cast<std::uint32_t>(compiled.text_.size()));
      compiled.ids_.push_back(e.id ? std::optional<std::string>(std::move(id)) : std::nullopt);
    }
  }
  return compiled;
}

void compiled_events::number_uuids(std::size_t& next) {
  for (event& e : events_) {
    for (auto* t : {&e.data, &e.type, &e.id}) {
      if (*t) (*t)->number_uuids(next);
    }
  }
}

void compiled_events::render_event(const event& e, const template_context& context,
                                   std::string& out, std::string* id) const {
  // The HTML standard, 9.2.6: fields are "name: value" lines; an empty line dispatches the
  // event. A field a client does not need is not written at all.
  if (e.type) {
    out.append("event: ");
    e.type->render(context, template_escape::header_value, out);
    out.push_back('\n');
  }
  if (e.id) {
    out.append("id: ");
    const std::size_t start = out.size();
    // A rendered id loses CR, LF and NUL: a client ignores an id with a NUL.
    e.id->render(context, template_escape::header_value, out);
    if (id) id->assign(out, start, out.size() - start);
    out.push_back('\n');
  }
  if (e.retry) {
    out.append("retry: ");
    append_number(static_cast<std::size_t>(e.retry->count()), out);
    out.push_back('\n');
  }
  if (e.data) {
    std::string rendered;
    e.data->render(context, template_escape::none, rendered);
    // One data line per line of the data; a client joins them with LF again. CRLF, LF and a
    // lone CR each end a line, as the stream format reads them.
    std::string_view rest = rendered;
    for (;;) {
      const std::size_t end = rest.find_first_of("\r\n");
      out.append("data: ").append(rest.substr(0, end)).push_back('\n');
      if (end == std::string_view::npos) break;
      const std::size_t skip =
          rest[end] == '\r' && end + 1 < rest.size() && rest[end + 1] == '\n' ? 2 : 1;
      rest.remove_prefix(end + skip);
    }
  }
  out.push_back('\n');
}

compiled_events::rendered compiled_events::render(const template_context& context,
                                                  const std::string_view* last_event_id,
                                                  std::string& text,
                                                  std::vector<std::uint32_t>& ends) const {
  rendered result;
  if (static_) {
    result.text = text_;
    result.ends = ends_;
    if (last_event_id) {
      for (std::size_t i = 0; i < ids_.size(); ++i) {
        if (ids_[i] && *ids_[i] == *last_event_id) {
          result.first = i + 1;
          break;
        }
      }
    }
    return result;
  }
  text.clear();
  ends.clear();
  bool found = false;
  std::string id;
  for (std::size_t i = 0; i < events_.size(); ++i) {
    render_event(events_[i], context, text, &id);
    ends.push_back(static_cast<std::uint32_t>(text.size()));
    if (!found && last_event_id && events_[i].id && id == *last_event_id) {
      found = true;
      result.first = i + 1;
    }
  }
  result.text = text;
  result.ends = ends;
  return result;
}

bool compiled_reply::templated_content_type(const template_context& context,
                                            std::string& out) const {
  for (const auto& h : header_templates_) {
    if (!iequals(h.name, "Content-Type")) continue;
    h.value.render(context, template_escape::header_value, out);
    return true;
  }
  return false;
}

void compiled_reply::render_header_lines(const template_context& context,
                                         header_selection selection, std::string& out) const {
  for (const auto& h : header_templates_) {
    if (selection == header_selection::without_content_type && iequals(h.name, "Content-Type")) {
      continue;
    }
    if (selection == header_selection::not_modified && !sent_with_not_modified(h.name)) continue;
    out.append(h.name).append(": ");
    h.value.render(context, template_escape::header_value, out);
    out.append("\r\n");
  }
}

std::string_view compiled_reply::render_body_template(const template_context& context,
                                                      std::string& scratch) const {
  scratch.clear();
  body_template_.render(context, body_escape_, scratch);
  return scratch;
}

std::string_view compiled_reply::render(const template_context& context, bool head_only,
                                        connection_header connection, std::string& out,
                                        std::string& scratch, std::string_view extra_headers,
                                        body_framing framing) const {
  std::string extra;
  render_header_lines(context, header_selection::all, extra);
  extra.append(extra_headers);
  const std::string_view body = render_body(context, scratch);
  reply_head head{head_start_,   send_date_, static_headers_, extra,
                  body_allowed_, framing,    body.size(),     connection};
  append_head(head, current_http_date(), out);
  if (head_only) return {};
  return body;
}

void append_head(const reply_head& head, std::string_view date, std::string& out) {
  out.append(head.start);
  if (head.date) out.append(date);
  out.append(head.fields);
  out.append(head.extra);
  if (head.has_body && head.framing != body_framing::close_delimited) {
    if (head.framing == body_framing::chunked) {
      out.append("Transfer-Encoding: chunked\r\n");
    } else {
      out.append("Content-Length: ");
      append_number(head.content_length, out);
      out.append("\r\n");
    }
  }
  out.append(connection_line(head.connection));
  out.append("\r\n");
}

bool sent_with_not_modified(std::string_view name) {
  // RFC 9110 §15.4.5: a 304 carries what a 200 would among these; Last-Modified helps caches.
  static constexpr std::string_view names[] = {
      "Cache-Control", "Content-Location", "Date", "ETag", "Expires", "Vary", "Last-Modified"};
  for (std::string_view n : names) {
    if (iequals(n, name)) return true;
  }
  return false;
}

std::string_view connection_line(connection_header connection) {
  switch (connection) {
    case connection_header::none:
      return {};
    case connection_header::keep_alive:
      return "Connection: keep-alive\r\n";
    case connection_header::close:
      return "Connection: close\r\n";
  }
  return {};
}

std::uint64_t random_bits(std::uint64_t seed, std::uint64_t stream, std::uint64_t n) {
  // splitmix64 over a mix of the three: a counter-based generator, so the n-th choice of a
  // route is the same whichever thread makes it.
  std::uint64_t z = seed ^ (stream * 0x9E3779B97F4A7C15ull) ^ (n * 0xD1B54A32D192ED03ull);
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double uniform_random(std::uint64_t seed, std::uint64_t stream, std::uint64_t n) {
  return static_cast<double>(random_bits(seed, stream, n) >> 11) * 0x1.0p-53;
}

std::chrono::milliseconds sample_delay(const delay_spec& delay, double u1, double u2) {
  using std::chrono::milliseconds;
  switch (delay.type) {
    case delay_spec::kind::none:
      return milliseconds(0);
    case delay_spec::kind::fixed:
      return delay.fixed;
    case delay_spec::kind::uniform: {
      auto span = static_cast<double>((delay.max - delay.min).count());
      return delay.min + milliseconds(static_cast<std::int64_t>(u1 * (span + 1)));
    }
    case delay_spec::kind::lognormal: {
      // Box-Muller: a standard normal from two uniforms; u1 is kept away from 0.
      double z = std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(2.0 * 3.141592653589793 * u2);
      double ms = static_cast<double>(delay.median.count()) * std::exp(delay.sigma * z);
      return milliseconds(static_cast<std::int64_t>(std::min(ms, 24.0 * 3600 * 1000)));
    }
  }
  return milliseconds(0);
}

bool outage_applies(const compiled_outage& outage, const plan_clock& clock, std::uint64_t n,
                    std::uint32_t& retry_after) {
  const outage_spec& spec = outage.spec;
  retry_after = 0;
  if (spec.every.count() > 0 && spec.duration.count() > 0) {
    auto into =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock.since_start) % spec.every;
    if (into < spec.duration) {
      // RFC 9110 §10.2.3: whole seconds until the window ends, never 0.
      auto left = (spec.duration - into).count();
      retry_after = static_cast<std::uint32_t>(std::max<std::int64_t>(1, (left + 999) / 1000));
      return true;
    }
  }
  if (spec.rate > 0 && uniform_random(clock.seed, clock.stream ^ 0x07a6e5ull, n) < spec.rate)
    return true;
  return false;
}

reply_plan plan_reply(const reply_script& script, const plan_clock& clock) {
  reply_plan plan;
  if (!script.stateful) {
    plan.reply = &script.replies.front();
    if (plan.reply->script().delay.type == delay_spec::kind::fixed) {
      plan.delay = plan.reply->script().delay.fixed;
    }
    plan.fault = plan.reply->script().fault;
    return plan;
  }
  return plan_reply_at(script, clock,
                       script.state->planned.fetch_add(1, std::memory_order_relaxed));
}

reply_plan plan_reply_at(const reply_script& script, const plan_clock& clock, std::uint64_t n) {
  reply_plan plan;
  if (script.outage) {
    std::uint32_t retry_after = 0;
    if (outage_applies(*script.outage, clock, n, retry_after)) {
      plan.reply = &script.outage->reply;
      plan.fault = script.outage->spec.fault;
      plan.retry_after = retry_after;
      plan.random = random_bits(clock.seed, clock.stream, n);
      return plan;
    }
  }
  std::uint64_t total = script.ends.back();
  std::uint64_t step = n;
  if (step >= total) step = script.then == sequence_end::cycle ? n % total : total - 1;
  std::size_t index = 0;
  while (step >= script.ends[index]) ++index;
  plan.reply = &script.replies[index];
  const reply_spec& s = plan.reply->script();
  plan.delay = sample_delay(s.delay, uniform_random(clock.seed, clock.stream, n),
                            uniform_random(clock.seed, clock.stream ^ 0xde1a7, n));
  plan.fault = s.fault;
  plan.random = random_bits(clock.seed, clock.stream, n);
  return plan;
}

void render_server_reply(int status, std::string_view body, std::string_view extra_headers,
                         std::string_view server_header, bool head_only,
                         connection_header connection, std::string& out,
                         std::string_view content_type) {
  append_status_line(status, registered_reason(status), out);
  if (!server_header.empty()) out.append("Server: ").append(server_header).append("\r\n");
  out.append("Date: ").append(current_http_date()).append("\r\n");
  out.append(extra_headers);
  if (!body.empty()) out.append("Content-Type: ").append(content_type).append("\r\n");
  out.append("Content-Length: ");
  append_number(body.size(), out);
  out.append("\r\n");
  out.append(connection_line(connection));
  out.append("\r\n");
  if (!head_only) out.append(body);
}

std::string_view fault_name(fault_kind fault) {
  switch (fault) {
    case fault_kind::none:
      return "";
    case fault_kind::reset:
      return "reset";
    case fault_kind::close:
      return "close";
    case fault_kind::empty:
      return "empty";
    case fault_kind::truncate:
      return "truncate";
    case fault_kind::garbage:
      return "garbage";
    case fault_kind::malformed_chunk:
      return "malformed-chunk";
  }
  return "";
}

}  // namespace stubborn

#include "respond/derived_statuses.hpp"

#include <charconv>
#include <string>
#include <vector>

#include "respond/route_rules.hpp"
#include "respond/status_reasons.hpp"
#include "routing/request.hpp"

namespace stubborn {

namespace {

constexpr std::string_view partial_content_line = "HTTP/1.1 206 Partial Content\r\n";

void append_number(std::uint64_t n, std::string& out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

// "a, b, c" from a route's list of media types.
std::string joined(const std::vector<std::string>& types) {
  std::string out;
  for (const auto& t : types) out.append(out.empty() ? "" : ", ").append(t);
  return out;
}

// The ETag of the reply `reply` of `route`: computed at load for a static reply of the script,
// from the body otherwise.
std::string etag_of(const compiled_route& route, const compiled_reply& reply,
                    std::string_view body) {
  const auto& replies = route.script.replies;
  const auto& etags = route.rules.static_etags;
  for (std::size_t i = 0; i < replies.size() && i < etags.size(); ++i) {
    if (&replies[i] == &reply && !etags[i].empty()) return etags[i];
  }
  return body_etag(body);
}

}  // namespace

void plan_server_reply(response& out, respond_scratch& scratch, std::string_view server_header,
                       int status, std::string_view body,
                       std::initializer_list<std::string_view> extra_lines) {
  std::string& h = scratch.head;
  h.clear();
  append_status_line(status, registered_reason(status), h);
  if (!server_header.empty()) h.append("Server: ").append(server_header).append("\r\n");
  h.append("Date: ");
  const std::size_t date_at = h.size();
  h.append("\r\n");
  for (std::string_view line : extra_lines) h.append(line);
  if (!body.empty()) h.append("Content-Type: text/plain; charset=utf-8\r\n");
  out.status = status;
  out.head.start = std::string_view(h).substr(0, date_at);
  out.head.date = true;
  out.head.fields = std::string_view(h).substr(date_at);
  out.head.extra = {};
  out.head.has_body = true;
  out.head.content_length = body.size();
  out.body = body;
  out.body_from_table = false;
}

// A reply with events: the stream rendered (or the table's), where to resume, and its framing.
static void plan_event_stream(response& out, const compiled_events& events,
                              const template_context& context, respond_scratch& scratch) {
  std::string_view last_event_id;
  const bool resumes = context.request.find_header("Last-Event-ID", last_event_id);
  const compiled_events::rendered stream =
      events.render(context, resumes ? &last_event_id : nullptr, scratch.body, scratch.event_ends);
  out.body = stream.text;
  out.body_from_table = events.is_static();
  out.event_ends = stream.ends;
  out.first_event = stream.first;
  out.head.content_length = 0;
  if (context.request.version >= 11) {
    out.head.framing = body_framing::chunked;
  } else {
    // RFC 9112 §6.3: HTTP/1.0 has no chunked coding; the stream ends when the connection does.
    out.head.framing = body_framing::close_delimited;
    if (!out.head_only) out.close_connection();
  }
}

void plan_step_reply(response& out, const template_context& context, respond_scratch& scratch) {
  const compiled_reply& reply = *out.plan.reply;
  out.status = reply.status();
  out.head.start = reply.head_start();
  out.head.date = reply.sends_date();
  out.head.fields = reply.static_headers();
  out.head.has_body = reply.has_body();
  if (reply.is_static() && out.plan.retry_after == 0) {
    // The fast path: every line but the rate-limit fields was rendered at load.
    out.head.extra = scratch.rate;
  } else {
    scratch.head.clear();
    reply.render_header_lines(context, header_selection::all, scratch.head);
    scratch.head.append(scratch.rate);
    if (out.plan.retry_after > 0) {
      scratch.head.append("Retry-After: ");
      append_number(out.plan.retry_after, scratch.head);
      scratch.head.append("\r\n");
    }
    out.head.extra = scratch.head;
  }
  out.body = reply.render_body(context, scratch.body);
  out.body_from_table = reply.has_static_body();
  out.head.content_length = out.body.size();
  if (const compiled_events* events = reply.events())
    plan_event_stream(out, *events, context, scratch);
}

// The order is documented in docs/config.md: auth (401/403), require_length (411), consumes
// (415), produces (406), the reply, validators (304/412), ranges (206/416). These answer at once,
// before the script: no sequence step is used, no delay or fault runs.
bool plan_refusal(response& out, const request_view& request, const compiled_rules& rules,
                  std::string_view server_header, respond_scratch& scratch) {
  std::string_view value;
  switch (rules.check_auth(request)) {
    case auth_result::missing:
      // RFC 9110 §15.5.2: a 401 carries the challenge (none exists for a custom header).
      plan_server_reply(out, scratch, server_header, 401,
                        "Unauthorized: this route needs credentials\n", {rules.challenge()});
      return true;
    case auth_result::wrong:
      plan_server_reply(out, scratch, server_header, 403,
                        "Forbidden: the credentials were not accepted\n");
      return true;
    case auth_result::granted:
      break;
  }
  if (rules.require_length && request.find_header("Transfer-Encoding", value)) {
    // RFC 9110 §15.5.12.
    plan_server_reply(out, scratch, server_header, 411,
                      "Length Required: send the body with a Content-Length\n");
    return true;
  }
  if (!rules.consumes.empty() && !request.body.empty() &&
      (!request.find_header("Content-Type", value) ||
       !content_type_listed(value, rules.consumes))) {
    // RFC 9110 §15.5.16; Accept-Post (W3C LDP) and Accept-Patch (RFC 5789 §3.1) say what
    // would do.
    const std::string types = joined(rules.consumes);
    scratch.body = "Unsupported Media Type: send one of " + types + "\n";
    std::string accept;
    if (request.method == "POST") accept = "Accept-Post: " + types + "\r\n";
    if (request.method == "PATCH") accept = "Accept-Patch: " + types + "\r\n";
    plan_server_reply(out, scratch, server_header, 415, scratch.body, {accept});
    return true;
  }
  if (!rules.produces.empty() && request.find_header("Accept", value) &&
      !accept_admits(value, rules.produces)) {
    // RFC 9110 §15.5.7.
    scratch.body = "Not Acceptable: this route produces " + joined(rules.produces) + "\n";
    plan_server_reply(out, scratch, server_header, 406, scratch.body);
    return true;
  }
  return false;
}

void plan_with_validators(response& out, const template_context& context,
                          const compiled_route& route, std::string_view server_header,
                          respond_scratch& scratch) {
  const request_view& request = context.request;
  const compiled_rules& rules = route.rules;
  const compiled_reply& reply = *out.plan.reply;
  const bool success = reply.status() >= 200 && reply.status() < 300;
  const bool validators = success && (rules.etag || rules.last_modified_time);
  const bool ranged = rules.ranges && reply.status() == 200 && reply.has_body();
  if (!validators && !ranged) {
    plan_step_reply(out, context, scratch);
    return;
  }
  // The whole body first: it decides the ETag and the ranges.
  const std::string_view body = reply.render_body(context, scratch.body);
  // The lines the reply gains: rate-limit fields, validators, Accept-Ranges.
  std::string lines = scratch.rate;
  std::string etag;
  if (validators && rules.etag) {
    etag = etag_of(route, reply, body);
    lines.append("ETag: ").append(etag).append("\r\n");
  }
  if (validators && rules.last_modified_time) {
    lines.append("Last-Modified: ").append(rules.last_modified).append("\r\n");
  }
  if (validators) {
    switch (evaluate_conditions(request, etag, rules.last_modified_time)) {
      case condition_outcome::not_modified: {
        // RFC 9110 §15.4.5: no content, and the lines a 200 would have sent among
        // Cache-Control, Content-Location, Date, ETag, Expires and Vary.
        std::string& h = scratch.head;
        h.clear();
        append_status_line(304, registered_reason(304), h);
        if (!server_header.empty()) h.append("Server: ").append(server_header).append("\r\n");
        if (reply.sends_date()) h.append("Date: ");
        const std::size_t start_end = h.size();
        reply.render_header_lines(context, header_selection::not_modified, h);
        h.append(lines);
        out.status = 304;
        out.head.start = std::string_view(h).substr(0, start_end);
        out.head.date = reply.sends_date();
        out.head.fields = reply.static_not_modified_headers();
        out.head.extra = std::string_view(h).substr(start_end);
        out.head.has_body = false;
        out.head.content_length = 0;
        out.body = {};
        return;
      }
      case condition_outcome::precondition_failed:
        plan_server_reply(out, scratch, server_header, 412, "Precondition Failed\n", {lines});
        return;
      case condition_outcome::proceed:
        break;
    }
  }
  if (ranged) lines.append("Accept-Ranges: bytes\r\n");
  std::string_view range;
  std::string_view if_range;
  // RFC 9110 §14.2: Range is for GET only; §13.1.5: If-Range that no longer matches: all of it.
  if (ranged && request.method == "GET" && request.find_header("Range", range) &&
      (!request.find_header("If-Range", if_range) ||
       if_range_matches(if_range, etag, rules.last_modified_time))) {
    std::vector<byte_range> ranges;
    switch (parse_range(range, body.size(), ranges)) {
      case range_outcome::unsatisfiable:
        lines.append(content_range_line(nullptr, body.size()));
        out.head_only = false;
        plan_server_reply(out, scratch, server_header, 416, "Range Not Satisfiable\n", {lines});
        return;
      case range_outcome::satisfiable: {
        std::string& h = scratch.head;
        h.clear();
        h.append(partial_content_line).append(reply.head_start_after_status());
        const std::size_t start_end = h.size();
        out.status = 206;
        out.head.date = reply.sends_date();
        out.head.has_body = true;
        if (ranges.size() == 1) {
          reply.render_header_lines(context, header_selection::all, h);
          h.append(lines).append(content_range_line(&ranges[0], body.size()));
          out.head.fields = reply.static_headers();
          out.body = body.substr(ranges[0].first, ranges[0].last - ranges[0].first + 1);
          out.body_from_table = reply.has_static_body();
        } else {
          // RFC 9110 §14.6: the parts carry the type; the whole is multipart/byteranges.
          std::string type(reply.static_content_type());
          if (type.empty()) reply.templated_content_type(context, type);
          const std::string boundary = "stubborn-" + body_etag(body).substr(1, 16);
          std::string parts = multipart_byteranges(body, ranges, type, boundary);
          reply.render_header_lines(context, header_selection::without_content_type, h);
          h.append(lines);
          h.append("Content-Type: multipart/byteranges; boundary=").append(boundary);
          h.append("\r\n");
          scratch.body = std::move(parts);  // `body` may have been in scratch.body: no longer used
          out.head.fields = reply.static_headers_without_type();
          out.body = scratch.body;
          out.body_from_table = false;
        }
        out.head.start = std::string_view(h).substr(0, start_end);
        out.head.extra = std::string_view(h).substr(start_end);
        out.head.content_length = out.body.size();
        return;
      }
      case range_outcome::ignore:
        break;
    }
  }
  scratch.head.clear();
  reply.render_header_lines(context, header_selection::all, scratch.head);
  scratch.head.append(lines);
  out.status = reply.status();
  out.head.start = reply.head_start();
  out.head.date = reply.sends_date();
  out.head.fields = reply.static_headers();
  out.head.extra = scratch.head;
  out.head.has_body = reply.has_body();
  out.body = body;
  out.body_from_table = reply.has_static_body();
  out.head.content_length = body.size();
}

}  // namespace stubborn

#pragma once
// The parts of respond() that build a reply head from its parts: a server-generated reply, a
// route's reply step, and the statuses a route derives from the request (401/403, 411, 415, 406,
// 304/412, 206/416). Pure; used by respond.cpp only.

#include <initializer_list>
#include <span>
#include <string_view>

#include "respond/respond.hpp"

namespace stubborn {

/// A plain-text reply the server generates itself (404, 405, 501, 401 ...): status, head and
/// body into `out` (the body must outlive the reply: a literal or `scratch.body`). The caller
/// has set `out.head.connection` and `out.head_only`.
void plan_server_reply(response& out, respond_scratch& scratch, std::string_view server_header,
                       int status, std::string_view body,
                       std::initializer_list<std::string_view> extra_lines = {});

/// The head and body of the reply step `out.plan` chose, with `scratch.rate` and Retry-After;
/// its templates draw from `context` (the request among the rest).
void plan_step_reply(response& out, const template_context& context, respond_scratch& scratch);

/// Access, framing and negotiation (401/403, 411, 415, 406), in that order; true when one of
/// them answers instead of the route's script.
bool plan_refusal(response& out, const request_view& request, const compiled_rules& rules,
                  std::string_view server_header, respond_scratch& scratch);

/// The plain reply step `out.plan` chose for `route`, with its validators (304/412) and byte
/// ranges (206/416) applied. The body and header lines are rendered from one `context`, so the
/// ETag and the ranges describe the body sent.
void plan_with_validators(response& out, const template_context& context,
                          const compiled_route& route, std::string_view server_header,
                          respond_scratch& scratch);

}  // namespace stubborn

#include "respond/respond.hpp"

#include "protocols/proxy/proxy_route.hpp"
#include "protocols/websocket/websocket_route.hpp"
#include "respond/derived_statuses.hpp"
#include "routing/request.hpp"
#include "text/base64.hpp"
#include "text/cookies.hpp"

namespace stubborn {

namespace {

// The route's parameters as the templates see them.
std::span<const std::string_view> params_of(const route_match& match) {
  return std::span(match.params.data(), match.param_count);
}

// The state one request of a route counts against: its state key's when the route has
// `state_key` and the request carries a value for it, else the route's own.
struct state_pick {
  std::shared_ptr<keyed_state> keyed;  // null: the route's own state
  std::string_view key;
  // The cluster's answer ([cluster]): what it holds replaces the state above.
  const shared_answer* shared = nullptr;
  bool admit_all = false;  // Redis did not answer and on_unavailable = "allow"
};

// The value of the route's state key in this request ("" when it does not carry one).
std::string_view state_key_of(const compiled_route& route, const request_view& request,
                              const route_match& match) {
  const state_key_spec& spec = *route.spec.state_key;
  std::string_view value;
  switch (spec.from) {
    case state_key_spec::source::header:
      request.find_header(spec.name, value);
      break;
    case state_key_spec::source::query:
      request.find_query(spec.name, value);
      break;
    case state_key_spec::source::cookie:
      for (const header_field& field : request.headers) {
        if (iequals(field.name, "Cookie") && find_cookie_in(field.value, spec.name, value)) break;
      }
      break;
    case state_key_spec::source::path:
      if (route.state_param < match.param_count) value = match.params[route.state_param];
      break;
  }
  return value;
}

// What this route's request must ask the cluster, if anything: the shared rate limit, sequence
// position and outage start ([cluster] share). A request that a refusal (auth, framing,
// negotiation) will answer takes no sequence position, as without a cluster.
bool ask_cluster(const cluster_config& cluster, const route_match& match, std::string_view key,
                 const request_view& request, const route_table& table,
                 const connection_facts& connection, respond_scratch& scratch, response& out) {
  const compiled_route& route = *match.route;
  const reply_script& script = route.script;
  shared_ask ask;
  ask.route = &route;
  ask.key = key;
  ask.limit = cluster.share_rate_limits && route.rate_limit;
  if (ask.limit) {
    const rate_limiter& limiter = *route.rate_limit->limiter;
    const std::string_view ip =
        limiter.spec().key == rate_limit_key::ip ? connection.client_ip() : std::string_view{};
    ask.limit_key = limiter.key_of(request, ip);
  }
  ask.sequence = cluster.share_sequences && script.stateful && script.ends.back() > 1;
  ask.outage = cluster.share_outages && script.outage && script.outage->spec.every.count() > 0 &&
               script.outage->spec.duration.count() > 0;
  if ((ask.sequence || ask.outage) && route.rules.any &&
      plan_refusal(out, request, route.rules, table.server().server_header, scratch)) {
    ask.sequence = false;
    ask.outage = false;
  }
  if (!ask.limit && !ask.sequence && !ask.outage) return false;
  out.reset();
  out.route = &route;
  out.ask = ask;
  return true;
}

// The value of the route's state key in this request, if the route has one.
std::string_view state_key_in(const route_match& match, const request_view& request) {
  return match.route->keyed ? state_key_of(*match.route, request, match) : std::string_view{};
}

// The local state of `key` ("" = the route's own).
state_pick pick_state(const route_match& match, std::string_view key,
                      const connection_facts& connection) {
  if (key.empty()) return {};
  return {match.route->keyed->acquire(key, connection.clock.now()), key};
}

// The clock of a script's random and time-based choices, read only when the script needs one.
// A state key's outage windows count from that key's first request.
plan_clock clock_of(const reply_script& script, const route_table& table, std::uint64_t stream,
                    const time_source& clock, const state_pick& pick = {}) {
  if (!script.stateful) return plan_clock{};
  const auto now = clock.now();
  plan_clock out = table.clock_for(stream, now);
  if (pick.shared && pick.shared->timed) {
    out.since_start = pick.shared->since_start;
  } else if (pick.keyed) {
    out.since_start = now - pick.keyed->start;
  }
  return out;
}

// The script's next step, counted against the picked state.
reply_plan plan_script(const reply_script& script, const plan_clock& clock,
                       const state_pick& pick) {
  if (pick.shared && pick.shared->sequenced && script.stateful) {
    return plan_reply_at(script, clock, pick.shared->n);
  }
  if (!pick.keyed || !script.stateful) return plan_reply(script, clock);
  return plan_reply_at(script, clock,
                       pick.keyed->script.planned.fetch_add(1, std::memory_order_relaxed));
}

// What the templates of the reply `out.plan` chose draw from: the request, its path captures,
// the body as matching parsed it (parsed at most once per request), and, only when the replies
// read them, the script's counter with its random bits and the wall clock.
template_context context_for(const response& out, const request_view& request,
                             std::span<const std::string_view> params, const reply_script& script,
                             std::uint64_t stream, const route_table& table,
                             const connection_facts& connection, respond_scratch& scratch,
                             const state_pick& pick = {}) {
  template_context context{request, params, &scratch.match.body()};
  if (script.counts) {
    route_state& state = pick.keyed ? pick.keyed->script : *script.state;
    // Shared: the position the cluster gave this request (every instance counts the same).
    context.counter = pick.shared && pick.shared->sequenced
                          ? pick.shared->n + 1
                          : state.answered.fetch_add(1, std::memory_order_relaxed) + 1;
    // Under [server] seed the UUIDs repeat from the start after a reset, as everything random
    // does; without one, a reset must not give out the same UUIDs again.
    const std::uint64_t generation =
        table.server().seed ? 0 : state.resets.load(std::memory_order_relaxed);
    const std::uint64_t seed = table.clock_for(stream, {}).seed;
    context.random = random_bits(seed ^ (generation * 0xA0761D6478BD642Full),
                                 stream ^ 0x7e3a1a7e0000ull, context.counter);
  }
  if (out.plan.reply && out.plan.reply->uses_clock()) context.now = connection.clock.wall_now();
  return context;
}

// Counts the request against `limit`, adding its RateLimit fields to `scratch.rate`; when it is
// over the limit, plans the 429 (or its override) and returns false.
bool within_rate_limit(const compiled_rate_limit& limit, const request_view& request,
                       const route_table& table, const connection_facts& connection,
                       respond_scratch& scratch, response& out, const state_pick& pick = {}) {
  if (pick.admit_all) return true;
  rate_limiter& limiter = *limit.limiter;
  const std::string_view ip =
      limiter.spec().key == rate_limit_key::ip ? connection.client_ip() : std::string_view{};
  // A state key has buckets of its own: one, or one per client of the limit's key. The cluster's
  // answer, when it holds the decision, was made in Redis against every instance's requests.
  const rate_decision decision =
      pick.shared && pick.shared->limited ? pick.shared->limit
      : !pick.keyed ? limiter.admit_at(limiter.key_of(request, ip), connection.clock.now())
      : limiter.spec().key == rate_limit_key::global
          ? limiter.admit_in(pick.keyed->bucket, connection.clock.now())
          : limiter.admit_within(pick.key, limiter.key_of(request, ip), connection.clock.now());
  limiter.append_headers(decision, scratch.rate);
  if (decision.admitted) return true;
  // RFC 6585 §4: 429 with Retry-After; the route's own sequence does not advance.
  out.rate_limited = true;
  out.plan =
      plan_reply(limit.script, clock_of(limit.script, table, limit.stream, connection.clock));
  plan_step_reply(
      out, context_for(out, request, {}, limit.script, limit.stream, table, connection, scratch),
      scratch);
  return false;
}

// A server-wide outage covering the request's path, if one is on now.
bool in_outage(const request_view& request, const route_table& table,
               const connection_facts& connection, respond_scratch& scratch, response& out) {
  const compiled_outage* outage = table.outage_for(request.path);
  if (!outage) return false;
  const std::uint64_t n = outage->state->planned.fetch_add(1, std::memory_order_relaxed);
  const plan_clock clock = table.clock_for(~std::uint64_t{0}, connection.clock.now());
  std::uint32_t retry_after = 0;
  if (!outage_applies(*outage, clock, n, retry_after)) return false;
  out.plan.reply = &outage->reply;
  out.plan.fault = outage->spec.fault;
  out.plan.retry_after = retry_after;
  out.plan.random = random_bits(clock.seed, clock.stream, n);
  plan_step_reply(out, template_context{request, {}, &scratch.match.body()}, scratch);
  return true;
}

void plan_miss(const request_view& request, const route_table& table, respond_scratch& scratch,
               response& out) {
  match_miss miss = table.explain_miss(request, scratch.match);
  scratch.body = std::move(miss.explanation);
  if (table.server().offline) {
    // Strict replay: a request no recorded route answers is one the upstream would have had to.
    scratch.body +=
        "Offline: no recorded route answers this request; it would have needed the "
        "upstream.\n";
  }
  out.miss = scratch.body;
  const std::string_view server_header = table.server().server_header;
  if (miss.method_not_allowed) {
    // RFC 9110 §15.5.6: a 405 lists the methods the resource does support.
    const std::string allow = "Allow: " + miss.allow + "\r\n";
    plan_server_reply(out, scratch, server_header, 405, scratch.body, {allow});
  } else if (miss.forbidden) {
    // RFC 9110 §15.5.4: the route exists, but not for this client's certificate.
    plan_server_reply(out, scratch, server_header, 403, scratch.body);
  } else {
    plan_server_reply(out, scratch, server_header, 404, scratch.body);
  }
}

// The route's reply: the step its script chose, with validators and ranges when it is plain.
void plan_route_reply(response& out, const request_view& request, const route_match& match,
                      const route_table& table, const connection_facts& connection,
                      respond_scratch& scratch, const state_pick& pick) {
  const compiled_route& route = *match.route;
  const std::string_view server_header = table.server().server_header;
  out.plan = plan_script(route.script,
                         clock_of(route.script, table, route.order, connection.clock, pick), pick);
  if (out.plan.reply && out.plan.reply->status() == 408) {
    // RFC 9110 §15.5.9: a server sending 408 closes the connection.
    out.head.connection = connection_header::close;
  }
  const template_context context = context_for(out, request, params_of(match), route.script,
                                               route.order, table, connection, scratch, pick);
  // Delays, faults and pacing keep their script; validators and ranges apply to plain replies.
  if (route.rules.any && out.is_plain()) {
    plan_with_validators(out, context, route, server_header, scratch);
  } else {
    plan_step_reply(out, context, scratch);
  }
}

// A proxy route: its outage or its scripted fault answer in place of the upstream; otherwise the
// plan says "ask the upstream", with the delays sampled.
void plan_proxy(response& out, const request_view& request, const route_match& match,
                const route_table& table, const connection_facts& connection,
                respond_scratch& scratch, const state_pick& pick) {
  const compiled_route& route = *match.route;
  const compiled_proxy& proxy = *route.proxy;
  const reply_script& script = route.script;
  const bool random_delay = proxy.spec.delay.type > delay_spec::kind::fixed ||
                            proxy.spec.delay_reply.type > delay_spec::kind::fixed;
  const plan_clock clock = script.stateful
                               ? clock_of(script, table, route.order, connection.clock, pick)
                           : random_delay ? table.clock_for(route.order, connection.clock.now())
                                          : plan_clock{};
  out.plan = plan_script(script, clock, pick);
  if (script.outage && out.plan.reply == &script.outage->reply) {
    plan_step_reply(out,
                    context_for(out, request, params_of(match), script, route.order, table,
                                connection, scratch, pick),
                    scratch);
    return;
  }
  // The same counter draws the delays whether or not the script advanced it.
  route_state& state = pick.keyed ? pick.keyed->script : *script.state;
  const std::uint64_t n = pick.shared && pick.shared->sequenced ? pick.shared->n
                          : script.stateful ? state.planned.load(std::memory_order_relaxed)
                          : random_delay    ? state.planned.fetch_add(1, std::memory_order_relaxed)
                                            : 0;
  const auto sample = [&](const delay_spec& delay, std::uint64_t salt) {
    return sample_delay(delay, uniform_random(clock.seed, clock.stream ^ salt, n),
                        uniform_random(clock.seed, clock.stream ^ salt ^ 0xde1a7, n));
  };
  if (proxy.fault_reply) {
    out.plan.reply = &*proxy.fault_reply;
    out.plan.fault = proxy.spec.fault;
    out.plan.delay = sample(proxy.spec.delay, 0);
    out.plan.random = random_bits(clock.seed, clock.stream, n);
    plan_step_reply(out,
                    context_for(out, request, params_of(match), script, route.order, table,
                                connection, scratch, pick),
                    scratch);
    return;
  }
  out.plan = {};
  out.plan.delay = sample(proxy.spec.delay, 0);
  out.reply_delay = sample(proxy.spec.delay_reply, 0x5e1a7);
  out.proxy = &proxy;
}

// True when a comma-separated list in any `name` header holds `token` (case-insensitive).
bool header_has_token(const request_view& request, std::string_view name, std::string_view token) {
  for (const header_field& field : request.headers) {
    if (!iequals(field.name, name)) continue;
    std::string_view rest = field.value;
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (iequals(item, token)) return true;
    }
  }
  return false;
}

// The first subprotocol of the route's list that the client offers (RFC 6455 §4.2.2 /subprotocol/).
std::string_view choose_subprotocol(const compiled_websocket& websocket,
                                    const request_view& request) {
  for (const std::string& offered : websocket.subprotocols) {
    if (header_has_token(request, "Sec-WebSocket-Protocol", offered)) return offered;
  }
  return {};
}

// A WebSocket route: its outage answers as on any route; a valid upgrade (RFC 6455 §4.2.1) is
// accepted with 101 by the WebSocket handler; anything else is refused as the RFCs say.
void plan_websocket(response& out, const request_view& request, const route_match& match,
                    const route_table& table, const connection_facts& connection,
                    respond_scratch& scratch, const state_pick& pick) {
  const compiled_route& route = *match.route;
  const reply_script& script = route.script;
  const std::string_view server_header = table.server().server_header;
  if (script.outage) {
    out.plan =
        plan_script(script, clock_of(script, table, route.order, connection.clock, pick), pick);
    if (out.plan.reply == &script.outage->reply) {
      plan_step_reply(out,
                      context_for(out, request, params_of(match), script, route.order, table,
                                  connection, scratch, pick),
                      scratch);
      return;
    }
    out.plan = {};
  }
  constexpr std::string_view upgrade_lines = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
  if (!header_has_token(request, "Upgrade", "websocket")) {
    // RFC 9110 §15.5.22: 426 says which protocol to upgrade to.
    plan_server_reply(out, scratch, server_header, 426,
                      "Upgrade Required: this resource speaks WebSocket (RFC 6455)\n",
                      {upgrade_lines});
    return;
  }
  if (request.method != "GET" || request.version < 11) {
    plan_server_reply(out, scratch, server_header, 400,
                      "Bad Request: a WebSocket upgrade is an HTTP/1.1 GET (RFC 6455 §4.1)\n");
    return;
  }
  if (!header_has_token(request, "Connection", "upgrade")) {
    plan_server_reply(out, scratch, server_header, 400,
                      "Bad Request: a WebSocket upgrade says \"Connection: Upgrade\"\n");
    return;
  }
  std::string_view version;
  if (!request.find_header("Sec-WebSocket-Version", version) || version != "13") {
    // RFC 6455 §4.4: the versions the server speaks, with 426.
    plan_server_reply(out, scratch, server_header, 426,
                      "Upgrade Required: this server speaks WebSocket version 13\n",
                      {"Sec-WebSocket-Version: 13\r\n", upgrade_lines});
    return;
  }
  std::string_view key;
  // RFC 6455 §4.1: the key is 16 random bytes in base64 (24 characters).
  if (!request.find_header("Sec-WebSocket-Key", key) || key.size() != 24 ||
      !base64_decode(key, scratch.body) || scratch.body.size() != 16) {
    plan_server_reply(out, scratch, server_header, 400,
                      "Bad Request: Sec-WebSocket-Key must be 16 bytes in base64\n");
    return;
  }
  out.status = 101;
  out.websocket = route.websocket.get();
  out.subprotocol = choose_subprotocol(*route.websocket, request);
}

}  // namespace

std::chrono::steady_clock::time_point steady_now() {
  return std::chrono::steady_clock::now();
}

std::chrono::system_clock::time_point system_now() {
  return std::chrono::system_clock::now();
}

connection_header decide_connection(unsigned version, const connection_facts& connection) {
  const bool keep_alive = !connection.draining && !connection.wants_close &&
                          (version >= 11 || connection.wants_keep_alive);
  return !keep_alive    ? connection_header::close
         : version < 11 ? connection_header::keep_alive
                        : connection_header::none;
}

void respond(const request_view& request, const route_table& table,
             const connection_facts& connection, respond_scratch& scratch, response& out) {
  out.reset();
  scratch.match.reset();
  scratch.rate.clear();
  const std::string_view server_header = table.server().server_header;
  out.head.connection = decide_connection(request.version, connection);
  out.head_only = request.method == "HEAD";

  // Requests no route can serve, decided before matching.
  if (request.method == "CONNECT") {
    // Not a proxy: no tunnel will be opened, and the connection is not reused.
    out.head.connection = connection_header::close;
    out.head_only = false;
    plan_server_reply(out, scratch, server_header, 501,
                      "CONNECT is not supported: this server is not a proxy\n");
  } else if (request.path == "*") {
    // RFC 9112 §3.2.4: the asterisk form is for a server-wide OPTIONS only.
    if (request.method == "OPTIONS") {
      scratch.body = "Allow: " + table.all_methods() + "\r\n";
      plan_server_reply(out, scratch, server_header, 200, {}, {scratch.body});
    } else {
      out.head.connection = connection_header::close;
      plan_server_reply(out, scratch, server_header, 400, "the * target is only for OPTIONS\n");
    }
  } else if (!table.knows_method(request.method)) {
    // RFC 9110 §9.1: a method the server does not recognise gets 501.
    plan_server_reply(out, scratch, server_header, 501,
                      "Not Implemented: no route knows this method\n");
  } else if (const compiled_rate_limit* limit = table.server_rate_limit();
             limit && !within_rate_limit(*limit, request, table, connection, scratch, out)) {
    // The server's limit answered.
  } else if (table.has_outages() && in_outage(request, table, connection, scratch, out)) {
    // A server-wide outage answered.
  } else if (const route_match match = table.match(request, scratch.match); !match.route) {
    plan_miss(request, table, scratch, out);
  } else {
    const compiled_route& route = *match.route;
    out.route = &route;
    const std::string_view key = state_key_in(match, request);
    const cluster_config* cluster = table.cluster();
    const shared_answer* shared = connection.shared;
    if (cluster && !shared &&
        ask_cluster(*cluster, match, key, request, table, connection, scratch, out)) {
      return;  // planned again once the cluster answers
    }
    state_pick pick = pick_state(match, key, connection);
    if (shared && shared->unavailable) {
      // Redis did not answer in time: [cluster] on_unavailable decides.
      if (cluster && cluster->on_unavailable == cluster_fallback::deny) {
        plan_server_reply(out, scratch, server_header, 503,
                          "Service Unavailable: the cluster's shared state (Redis) did not "
                          "answer in time\n",
                          {"Retry-After: 1\r\n"});
        out.close_after = out.head.connection == connection_header::close;
        return;
      }
      pick.admit_all = cluster && cluster->on_unavailable == cluster_fallback::allow;
    } else {
      pick.shared = shared;
    }
    // The route's own limit speaks for this reply rather than the server's.
    if (route.rate_limit) scratch.rate.clear();
    if (route.rate_limit &&
        !within_rate_limit(*route.rate_limit, request, table, connection, scratch, out, pick)) {
      // The route's limit answered.
    } else if (route.rules.any && plan_refusal(out, request, route.rules, server_header, scratch)) {
      // Access, framing or negotiation answered.
    } else if (route.proxy) {
      plan_proxy(out, request, match, table, connection, scratch, pick);
    } else if (route.websocket) {
      plan_websocket(out, request, match, table, connection, scratch, pick);
    } else {
      plan_route_reply(out, request, match, table, connection, scratch, pick);
    }
  }
  out.close_after = out.head.connection == connection_header::close;
}

expectation respond_to_expectation(const request_view& head, const route_table& table,
                                   const connection_facts& connection, respond_scratch& scratch,
                                   response& reply) {
  // RFC 9110 §10.1.1: the route decides, on the head alone, whether the body is wanted. The
  // previous request's parsed body is forgotten first: a reply's templates must not read it.
  scratch.match.reset();
  const route_match pre = table.match(head, scratch.match, true);
  if (!pre.route) return {};
  if (pre.route->expect != expect_mode::reject) return {false, pre.route->continue_delay};
  // Answer now with the route's reply, at once and as it is (no wait, fault or rate-limit
  // fields); the body is never read, so the connection closes.
  reply.reset();
  scratch.rate.clear();
  reply.route = pre.route;
  const state_pick pick = pick_state(pre, state_key_in(pre, head), connection);
  const reply_plan step = plan_script(
      pre.route->script,
      clock_of(pre.route->script, table, pre.route->order, connection.clock, pick), pick);
  reply.plan.reply = step.reply;
  reply.head.connection = connection_header::close;
  reply.head_only = head.method == "HEAD";
  reply.close_after = true;
  plan_step_reply(reply,
                  context_for(reply, head, params_of(pre), pre.route->script, pre.route->order,
                              table, connection, scratch, pick),
                  scratch);
  if (reply.plan.reply && reply.plan.reply->events()) {
    // A refusal is sent at once, as it is: an event stream's head with no events.
    reply.head.framing = body_framing::content_length;
    reply.head.content_length = 0;
    reply.body = {};
  }
  return {true, {}};
}

}  // namespace stubborn

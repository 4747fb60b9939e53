#include "routing/route_table.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <unordered_map>

#include "respond/status_reasons.hpp"

#include "protocols/proxy/proxy_route.hpp"
#include "protocols/websocket/websocket_route.hpp"
#include "routing/conditions.hpp"
#include "routing/request.hpp"
#include "stubborn/config_error.hpp"
#include "text/json_path.hpp"

namespace stubborn {

namespace json = boost::json;

namespace {

constexpr std::uint32_t no_node = std::numeric_limits<std::uint32_t>::max();

constexpr std::string_view method_names[known_method_count] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};

constexpr std::uint32_t bit(known_method m) {
  return 1u << static_cast<unsigned>(m);
}

compiled_outage compile_outage(const outage_spec& spec, const std::string& server_header) {
  compiled_outage outage;
  outage.spec = spec;
  reply_spec reply;
  reply.status = spec.status;
  reply.source = body_source::inline_text;
  reply.body = std::string(registered_reason(spec.status)) + " (scripted outage)\n";
  outage.reply = compiled_reply::compile(reply, {}, server_header);
  return outage;
}

// A redirect is a status plus a Location header, whose value is a template like any header's.
reply_spec with_redirect(const reply_spec& reply) {
  if (!reply.redirect) return reply;
  reply_spec out = reply;
  out.status = reply.redirect->status;
  out.headers.push_back({"Location", reply.redirect->to, reply.redirect->position});
  return out;
}

reply_script compile_script(const route_spec& spec, std::span<const std::string> params,
                            const std::string& server_header) {
  reply_script script;
  std::uint64_t end = 0;
  bool random = false;
  auto add = [&](const reply_spec& reply) {
    script.replies.push_back(compiled_reply::compile(with_redirect(reply), params, server_header));
    end += std::max(1u, reply.repeat);
    script.ends.push_back(end);
    random = random || reply.delay.type == delay_spec::kind::uniform ||
             reply.delay.type == delay_spec::kind::lognormal || reply.fault == fault_kind::garbage;
  };
  if (spec.replies.empty()) add(spec.reply);
  for (const auto& reply : spec.replies) add(reply);
  script.then = spec.then;
  if (spec.outage) script.outage = compile_outage(*spec.outage, server_header);
  script.stateful = script.replies.size() > 1 || random || script.outage.has_value();
  script.counts = std::any_of(script.replies.begin(), script.replies.end(),
                              [](const compiled_reply& reply) { return reply.uses_counter(); });
  return script;
}

// The literal text every match of a start-anchored regex begins with: the common prefix of RE2's
// possible-match range. That range speaks of whole matches, so only its shared start is safe to
// use for a partial match, and only when the pattern is anchored at the start ("" otherwise).
std::string required_prefix(const re2::RE2& regex, std::string_view pattern) {
  while (pattern.starts_with("(?")) {  // leading flag groups such as (?i)
    std::size_t close = pattern.find(')');
    if (close == std::string_view::npos ||
        pattern.substr(2, close - 2).find_first_not_of("imsU-") != std::string_view::npos) {
      return {};  // a group, not flags: the anchor (if any) is inside it
    }
    pattern.remove_prefix(close + 1);
  }
  if (!pattern.starts_with("^") && !pattern.starts_with("\\A")) return {};
  std::string min, max;
  if (!regex.PossibleMatchRange(&min, &max, 64)) return {};
  std::size_t common = 0;
  while (common < min.size() && common < max.size() && min[common] == max[common]) ++common;
  min.resize(common);
  return min;
}

}  // namespace

std::size_t regex_captures(const compiled_route& route, std::string_view path,
                           std::array<std::string_view, max_path_params>& out) {
  std::array<re2::StringPiece, 1 + 2 * max_path_params> groups;
  const int group_count =
      1 + *std::max_element(route.regex_groups.begin(), route.regex_groups.end());
  if (group_count > static_cast<int>(groups.size()) ||
      !route.regex->Match(re2::StringPiece(path.data(), path.size()), 0, path.size(),
                          re2::RE2::UNANCHORED, groups.data(), group_count)) {
    return 0;
  }
  for (std::size_t k = 0; k < route.regex_groups.size(); ++k) {
    const auto& g = groups[static_cast<std::size_t>(route.regex_groups[k])];
    out[k] = std::string_view(g.data() ? g.data() : "", g.size());
  }
  return route.regex_groups.size();
}

match_scratch::match_scratch() = default;
match_scratch::~match_scratch() = default;
void match_scratch::reset() {
  body_.reset();
  ++conditions_.generation;
}

std::string_view known_method_name(std::size_t index) {
  return method_names[index];
}

int method_index(std::string_view method) {
  for (std::size_t i = 0; i < known_method_count; ++i) {
    if (method_names[i] == method) return static_cast<int>(i);
  }
  return -1;
}

// Routes of one trie list that are found by the value a JSONPath selects from the body (each
// wants it equal to its own string or number), so that a thousand routes on one path told apart
// by an id cost one lookup rather than a thousand tries.
struct route_table::keyed_routes {
  std::size_t json_index = 0;
  const json_path* path = nullptr;
  std::vector<std::pair<std::string, std::vector<std::uint32_t>>> by_string;  // sorted by key
  std::vector<std::pair<double, std::vector<std::uint32_t>>> by_number;       // sorted by key
  std::vector<std::uint32_t> unkeyed;  // the list's other routes, tried one by one
};

struct route_table::node {
  std::vector<std::pair<std::string, std::uint32_t>> literals;  // sorted by text
  std::uint32_t param_child = no_node;
  std::vector<std::uint32_t> end_routes;
  std::vector<std::uint32_t> rest_routes;
  std::unique_ptr<keyed_routes> end_keyed;
  std::unique_ptr<keyed_routes> rest_keyed;
};

compiled_route::compiled_route() = default;
compiled_route::~compiled_route() = default;
route_table::route_table() = default;
route_table::~route_table() = default;

namespace {

// Random streams of 429 replies, apart from the routes' own (which use the route's order).
constexpr std::uint64_t rate_limit_stream = std::uint64_t{1} << 62;

compiled_rate_limit compile_rate_limit(const rate_limit_spec& spec, std::uint64_t stream,
                                       const std::string& server_header) {
  route_spec holder;
  if (spec.reply) {
    holder.reply = *spec.reply;
  } else {
    // RFC 6585 §4.
    holder.reply.status = 429;
    holder.reply.body =
        "Too Many Requests: over the rate limit; retry after the time in Retry-After\n";
    holder.reply.source = body_source::inline_text;
  }
  return {std::make_shared<rate_limiter>(spec), compile_script(holder, {}, server_header), stream};
}

}  // namespace

std::shared_ptr<const route_table> route_table::compile(const config& cfg,
                                                        const route_table* previous) {
  std::shared_ptr<route_table> table(new route_table());
  table->server_ = cfg.server;
  table->cluster_ = cfg.cluster;
  table->nodes_.emplace_back();
  std::vector<config_problem> problems;
  std::vector<std::string> json_paths;  // distinct JSONPaths of every route's conditions

  for (std::size_t i = 0; i < cfg.routes.size(); ++i) {
    const route_spec& spec = cfg.routes[i];
    auto route = std::make_unique<compiled_route>();
    route->name = spec.name.empty() ? "route #" + std::to_string(i + 1) : spec.name;
    route->order = i;
    route->priority = spec.priority;
    route->spec = spec;
    route->any_method = spec.methods.empty();
    for (const auto& m : spec.methods) {
      int index = method_index(m);
      if (index >= 0)
        route->method_mask |= 1u << index;
      else
        route->custom_methods.push_back(m);
    }
    try {
      if (!spec.path_regex.empty()) {
        route->regex = std::make_unique<re2::RE2>(spec.path_regex, re2::RE2::Quiet);
        if (!route->regex->ok()) {
          problems.push_back({spec.path_position, "bad path_regex: " + route->regex->error()});
          continue;
        }
        route->regex_prefix = required_prefix(*route->regex, spec.path_regex);
        std::map<int, std::string> by_index;
        for (const auto& [name, index] : route->regex->NamedCapturingGroups())
          by_index[index] = name;
        for (const auto& [index, name] : by_index) {
          if (route->param_names.size() == max_path_params) break;
          route->param_names.push_back(name);
          route->regex_groups.push_back(index);
        }
      } else {
        route->pattern = path_pattern::compile(spec.path);
        route->param_names = route->pattern->param_names();
      }
    } catch (const path_pattern_error& e) {
      problems.push_back({spec.path_position, std::string("bad path: ") + e.what()});
      continue;
    }
    route->query = spec.query;
    route->headers = spec.headers;
    route->body = spec.body;
    route->scheme = compile_scheme(spec.scheme);
    route->client_cert = spec.client_cert;
    if (spec.body) {
      if (spec.body->kind == body_match_kind::regex) {
        route->body_regex = std::make_unique<re2::RE2>(spec.body->text, re2::RE2::Quiet);
        if (!route->body_regex->ok()) {
          problems.push_back(
              {spec.body->position, "bad body regex: " + route->body_regex->error()});
          continue;
        }
      } else if (spec.body->kind == body_match_kind::json) {
        json::error_code ec;
        auto value = json::parse(spec.body->text, ec);
        if (ec) {
          problems.push_back({spec.body->position, "bad body json: " + ec.message()});
          continue;
        }
        route->body_json = std::make_shared<const json::value>(std::move(value));
      }
    }
    if (!spec.cookies.empty() || !spec.form.empty() || spec.when) {
      try {
        route->when = compiled_when::compile(spec, route->param_names, json_paths);
      } catch (const config_error& e) {
        problems.insert(problems.end(), e.problems().begin(), e.problems().end());
        continue;
      }
    }
    try {
      route->script = compile_script(spec, route->param_names, cfg.server.server_header);
    } catch (const template_error& e) {
      problems.push_back({spec.reply.body_position, e.what()});
      continue;
    }
    std::vector<std::optional<std::string_view>> static_bodies;
    for (const compiled_reply& reply : route->script.replies) {
      static_bodies.push_back(reply.is_static() ? std::optional(reply.static_body())
                                                : std::nullopt);
    }
    if (spec.proxy) {
      if (cfg.server.offline) {
        // Strict replay: refused here too, whatever let the route this far.
        problems.push_back({spec.proxy->position, "route '" + route->name + "' proxies to " +
                                                      spec.proxy->to +
                                                      ", but the server is offline: strict "
                                                      "replay never calls an upstream"});
        continue;
      }
      try {
        route->proxy = compiled_proxy::compile(*spec.proxy, cfg.server.server_header);
      } catch (const config_error& e) {
        problems.insert(problems.end(), e.problems().begin(), e.problems().end());
        continue;
      }
      table->has_proxy_routes_ = true;
    }
    if (spec.websocket) {
      try {
        route->websocket = compiled_websocket::compile(*spec.websocket, route->param_names);
      } catch (const template_error& e) {
        problems.push_back({spec.websocket->position, e.what()});
        continue;
      }
    }
    if (spec.state_key) {
      route->keyed = std::make_shared<keyed_states>(spec.max_state_keys);
      if (spec.state_key->from == state_key_spec::source::path) {
        const auto at =
            std::find(route->param_names.begin(), route->param_names.end(), spec.state_key->name);
        if (at == route->param_names.end()) {
          problems.push_back({spec.path_position, "'state_key' names the path parameter '" +
                                                      spec.state_key->name +
                                                      "', which the path does not have"});
          continue;
        }
        route->state_param = static_cast<std::size_t>(at - route->param_names.begin());
      }
    }
    route->rules = compiled_rules::compile(spec, static_bodies);
    route->expect = spec.expect;
    route->continue_delay = spec.continue_delay;
    if (spec.rate_limit) {
      try {
        route->rate_limit =
            compile_rate_limit(*spec.rate_limit, rate_limit_stream + i, cfg.server.server_header);
      } catch (const template_error& e) {
        problems.push_back({spec.rate_limit->position, e.what()});
        continue;
      }
    }
    table->routes_.push_back(std::move(route));
  }
  for (const auto& spec : cfg.outages) {
    compiled_outage outage = compile_outage(spec, cfg.server.server_header);
    try {
      outage.path = path_pattern::compile(spec.path);
    } catch (const path_pattern_error& e) {
      problems.push_back({spec.position, std::string("bad outage path: ") + e.what()});
      continue;
    }
    table->outages_.push_back(std::move(outage));
  }
  if (cfg.server.rate_limit) {
    try {
      table->server_rate_limit_ = compile_rate_limit(*cfg.server.rate_limit, rate_limit_stream - 1,
                                                     cfg.server.server_header);
    } catch (const template_error& e) {
      problems.push_back({cfg.server.rate_limit->position, e.what()});
    }
  }
  if (!problems.empty()) throw config_error(std::move(problems));
  table->json_path_count_ = json_paths.size();
  std::uint32_t mask = 0;
  for (const auto& route : table->routes_) {
    mask |= route->any_method ? (1u << known_method_count) - 1 : route->method_mask;
    table->any_method_route_ = table->any_method_route_ || route->any_method;
    for (const auto& m : route->custom_methods) table->custom_methods_.push_back(m);
  }
  if (mask & bit(known_method::GET)) mask |= bit(known_method::HEAD);
  std::sort(table->custom_methods_.begin(), table->custom_methods_.end());
  table->custom_methods_.erase(
      std::unique(table->custom_methods_.begin(), table->custom_methods_.end()),
      table->custom_methods_.end());
  for (std::size_t m = 0; m < known_method_count; ++m) {
    if (mask & (1u << m)) {
      table->all_methods_ +=
          (table->all_methods_.empty() ? "" : ", ") + std::string(method_names[m]);
    }
  }
  for (const auto& m : table->custom_methods_) {
    table->all_methods_ += (table->all_methods_.empty() ? "" : ", ") + m;
  }
  table->seed_ = cfg.server.seed ? *cfg.server.seed : std::random_device{}() * 0x100000001ull;
  if (previous) table->carry_state_from(*previous, cfg);

  // Index: path patterns into the segment trie, regex routes into a list by rank.
  for (std::uint32_t r = 0; r < table->routes_.size(); ++r) {
    const compiled_route& route = *table->routes_[r];
    if (!route.pattern) {
      table->regex_routes_.push_back(r);
      continue;
    }
    std::uint32_t at = 0;
    for (const auto& seg : route.pattern->segments()) {
      node& n = table->nodes_[at];
      std::uint32_t next;
      if (seg.is_param) {
        if (n.param_child == no_node) {
          n.param_child = static_cast<std::uint32_t>(table->nodes_.size());
          table->nodes_.emplace_back();
        }
        next = table->nodes_[at].param_child;
      } else {
        auto& lits = n.literals;
        auto it = std::lower_bound(lits.begin(), lits.end(), seg.literal,
                                   [](const auto& e, const std::string& s) { return e.first < s; });
        if (it != lits.end() && it->first == seg.literal) {
          next = it->second;
        } else {
          next = static_cast<std::uint32_t>(table->nodes_.size());
          lits.insert(it, {seg.literal, next});
          table->nodes_.emplace_back();
        }
      }
      at = next;
    }
    if (route.pattern->has_rest())
      table->nodes_[at].rest_routes.push_back(r);
    else
      table->nodes_[at].end_routes.push_back(r);
  }
  for (node& n : table->nodes_) {
    n.end_keyed = key_routes(n.end_routes, table->routes_);
    n.rest_keyed = key_routes(n.rest_routes, table->routes_);
  }
  std::stable_sort(table->regex_routes_.begin(), table->regex_routes_.end(),
                   [&](std::uint32_t a, std::uint32_t b) {
                     return table->routes_[a]->ranks_before(*table->routes_[b]);
                   });
  // Bucket regex routes by the literal prefix every match must start with (the common prefix of
  // RE2's possible-match range), cut after its last '/': a request then looks only at the buckets
  // named by its own path's prefixes ("/", "/api/", "/api/v1/", ...) instead of every regex.
  for (auto r : table->regex_routes_) {
    std::string_view prefix = table->routes_[r]->regex_prefix;
    std::size_t slash = prefix.rfind('/');
    std::string key(slash == std::string_view::npos ? std::string_view{}
                                                    : prefix.substr(0, slash + 1));
    auto& buckets = table->regex_buckets_;
    auto it = std::lower_bound(buckets.begin(), buckets.end(), key,
                               [](const auto& b, const std::string& k) { return b.first < k; });
    if (it == buckets.end() || it->first != key) it = buckets.insert(it, {key, {}});
    it->second.push_back(r);  // regex_routes_ is in rank order, so each bucket is too
  }
  return table;
}

void route_table::match_regex_bucket(std::string_view key, const request_view& request, int method,
                                     match_scratch& scratch, route_match& best) const {
  auto it = std::lower_bound(regex_buckets_.begin(), regex_buckets_.end(), key,
                             [](const auto& b, std::string_view k) { return b.first < k; });
  if (it == regex_buckets_.end() || it->first != key) return;
  std::string_view path = request.path;
  for (auto r : it->second) {
    const compiled_route& route = *routes_[r];
    if (best.route && !route.ranks_before(*best.route)) break;  // the bucket is in rank order
    if (!path.starts_with(route.regex_prefix)) continue;
    if (!re2::RE2::PartialMatch(re2::StringPiece(path.data(), path.size()), *route.regex)) continue;
    std::array<std::string_view, max_path_params> captures{};
    std::size_t capture_count = 0;
    // Conditions on path parameters need the captures before the route is taken.
    if (route.when && !route.regex_groups.empty())
      capture_count = regex_captures(route, path, captures);
    if (!route_accepts(route, request, method, std::span(captures.data(), capture_count), scratch))
      continue;
    best = route_match{};
    best.route = &route;
  }
}

bool route_table::body_accepts(const compiled_route& route, const request_view& request,
                               match_scratch& scratch) const {
  switch (route.body->kind) {
    case body_match_kind::contains:
      if (request.body.find(route.body->text) == std::string_view::npos) return false;
      break;
    case body_match_kind::equals:
      if (request.body != route.body->text) return false;
      break;
    case body_match_kind::regex:
      if (!re2::RE2::PartialMatch(re2::StringPiece(request.body.data(), request.body.size()),
                                  *route.body_regex)) {
        return false;
      }
      break;
    case body_match_kind::json: {
      const json::value* parsed = scratch.body_.json(request);
      if (!parsed) return false;
      if (!json_contains(*parsed, *static_cast<const json::value*>(route.body_json.get()))) {
        return false;
      }
      break;
    }
  }
  return true;
}

bool route_table::matches_except_method(const compiled_route& route, const request_view& request,
                                        std::span<const std::string_view> captures,
                                        match_scratch& scratch, bool check_client_cert) const {
  if (!scheme_accepts(route.scheme, request)) return false;
  if (check_client_cert && route.client_cert &&
      !client_cert_accepts(*route.client_cert, request.tls)) {
    return false;
  }
  for (const auto& q : route.query) {
    std::string_view raw;
    if (!request.find_query(q.name, raw) || !equals_percent_decoded(raw, q.value, true)) {
      return false;
    }
  }
  for (const auto& h : route.headers) {
    bool found = false;
    for (const auto& field : request.headers) {
      if (iequals(field.name, h.name) && field.value == h.value) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  if (route.body && !scratch.ignore_body_ && !body_accepts(route, request, scratch)) return false;
  if (route.when && !route.when->holds({request, captures, scratch.body_, scratch.conditions_,
                                        scratch.ignore_body_})) {
    return false;
  }
  return true;
}

bool route_table::route_accepts(const compiled_route& route, const request_view& request,
                                int method, std::span<const std::string_view> captures,
                                match_scratch& scratch) const {
  if (!route.any_method) {
    if (method >= 0 && (route.method_mask & (1u << method))) {
      // named explicitly
    } else if (method == static_cast<int>(known_method::HEAD) &&
               (route.method_mask & bit(known_method::GET))) {
      // RFC 9110 §9.3.2: HEAD is GET without the content
    } else if (method < 0 && std::find(route.custom_methods.begin(), route.custom_methods.end(),
                                       request.method) != route.custom_methods.end()) {
      // a custom method named explicitly
    } else {
      return false;
    }
  }
  return matches_except_method(route, request, captures, scratch);
}

// Inlined into the trie walk: it runs once per route of every list the path reaches.
[[gnu::always_inline]] inline void route_table::consider(const compiled_route& route,
                                                         std::span<const std::string_view> captures,
                                                         const request_view& request, int method,
                                                         match_scratch& scratch,
                                                         route_match& best) const {
  if (best.route && !route.ranks_before(*best.route)) return;
  if (!route_accepts(route, request, method, captures, scratch)) return;
  best.route = &route;
  best.param_count = captures.size();
  std::copy(captures.begin(), captures.end(), best.params.begin());
}

std::unique_ptr<route_table::keyed_routes> route_table::key_routes(
    const std::vector<std::uint32_t>& list,
    const std::vector<std::unique_ptr<compiled_route>>& routes) {
  // Below this many routes on one list, trying each costs less than looking up.
  constexpr std::size_t min_keyed = 8;
  if (list.size() < min_keyed) return nullptr;
  // The JSONPath the most routes of the list can be found by.
  std::map<std::size_t, std::size_t> uses;
  for (auto r : list) {
    if (!routes[r]->when) continue;
    std::vector<std::size_t> seen;
    for (const equality_key& key : routes[r]->when->equality_keys()) {
      if (std::find(seen.begin(), seen.end(), key.json_index) != seen.end()) continue;
      seen.push_back(key.json_index);
      ++uses[key.json_index];
    }
  }
  const auto most = std::max_element(
      uses.begin(), uses.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  if (most == uses.end() || most->second < min_keyed) return nullptr;
  auto keyed = std::make_unique<keyed_routes>();
  keyed->json_index = most->first;
  std::map<std::string, std::vector<std::uint32_t>, std::less<>> by_string;
  std::map<double, std::vector<std::uint32_t>> by_number;
  for (auto r : list) {
    const equality_key* chosen = nullptr;
    std::vector<equality_key> keys;
    if (routes[r]->when) keys = routes[r]->when->equality_keys();
    for (const equality_key& key : keys) {
      if (key.json_index == keyed->json_index) {
        chosen = &key;
        break;
      }
    }
    if (!chosen) {
      keyed->unkeyed.push_back(r);
      continue;
    }
    keyed->path = chosen->path;
    if (chosen->operand->is_string()) {
      by_string[std::string(chosen->operand->get_string())].push_back(r);
    } else {
      // Numbers equal by value: 100 and 100.0 share a key (+0.0 stands for -0.0 too).
      by_number[chosen->operand->to_number<double>() + 0.0].push_back(r);
    }
  }
  keyed->by_string.assign(std::make_move_iterator(by_string.begin()),
                          std::make_move_iterator(by_string.end()));
  keyed->by_number.assign(by_number.begin(), by_number.end());
  return keyed;
}

void route_table::consider_list(const std::vector<std::uint32_t>& list, const keyed_routes* keyed,
                                std::span<const std::string_view> captures,
                                const request_view& request, int method, match_scratch& scratch,
                                route_match& best) const {
  if (!keyed || scratch.ignore_body_) {
    for (auto r : list) consider(*routes_[r], captures, request, method, scratch, best);
    return;
  }
  // Only the routes wanting the value the request has can match (the others' equality fails);
  // those are tried in full, with the unkeyed ones. consider() keeps the best-ranked.
  const auto* values =
      select_json(*keyed->path, keyed->json_index, request, scratch.body_, scratch.conditions_);
  if (values && !values->empty()) {
    const json::value& value = *values->front();
    const std::vector<std::uint32_t>* hits = nullptr;
    if (value.is_string()) {
      const std::string_view text = value.get_string();
      auto it = std::lower_bound(keyed->by_string.begin(), keyed->by_string.end(), text,
                                 [](const auto& e, std::string_view k) { return e.first < k; });
      if (it != keyed->by_string.end() && it->first == text) hits = &it->second;
    } else if (value.is_number()) {
      const double number = value.to_number<double>() + 0.0;
      auto it = std::lower_bound(keyed->by_number.begin(), keyed->by_number.end(), number,
                                 [](const auto& e, double k) { return e.first < k; });
      if (it != keyed->by_number.end() && it->first == number) hits = &it->second;
    }
    if (hits) {
      for (auto r : *hits) consider(*routes_[r], captures, request, method, scratch, best);
    }
  }
  for (auto r : keyed->unkeyed) consider(*routes_[r], captures, request, method, scratch, best);
}

void route_table::walk(std::uint32_t node_index, std::string_view rest, std::size_t depth,
                       std::array<std::string_view, max_path_params>& captures,
                       const request_view& request, int method, match_scratch& scratch,
                       route_match& best) const {
  // `rest` is what follows the '/' after the consumed segments; data() == nullptr means the path
  // ended with the last segment (no '/' after it).
  const node& n = nodes_[node_index];
  std::span<const std::string_view> taken(captures.data(), depth);
  if (rest.data() == nullptr) {
    if (n.end_keyed) {
      consider_list(n.end_routes, n.end_keyed.get(), taken, request, method, scratch, best);
    } else {
      for (auto r : n.end_routes) consider(*routes_[r], taken, request, method, scratch, best);
    }
    return;
  }
  if (n.rest_keyed) {
    consider_list(n.rest_routes, n.rest_keyed.get(), taken, request, method, scratch, best);
  } else {
    for (auto r : n.rest_routes) consider(*routes_[r], taken, request, method, scratch, best);
  }
  std::size_t slash = rest.find('/');
  std::string_view segment = rest.substr(0, slash);
  std::string_view next =
      slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  if (!n.literals.empty()) {
    // Literals are stored decoded; decode on the stack when short enough.
    char decoded_buffer[256];
    std::string_view key = segment;
    bool searchable = true;
    if (segment.find('%') != std::string_view::npos) {
      if (segment.size() <= sizeof decoded_buffer) {
        key = std::string_view(decoded_buffer, percent_decode_into(segment, decoded_buffer));
      } else {
        searchable = false;
      }
    }
    if (searchable) {
      auto it = std::lower_bound(n.literals.begin(), n.literals.end(), key,
                                 [](const auto& e, std::string_view s) { return e.first < s; });
      if (it != n.literals.end() && it->first == key) {
        walk(it->second, next, depth, captures, request, method, scratch, best);
      }
    } else {
      for (const auto& [text, child] : n.literals) {
        if (equals_percent_decoded(segment, text)) {
          walk(child, next, depth, captures, request, method, scratch, best);
        }
      }
    }
  }
  if (n.param_child != no_node && !segment.empty() && depth < max_path_params) {
    captures[depth] = segment;
    walk(n.param_child, next, depth + 1, captures, request, method, scratch, best);
  }
}

void route_table::size_scratch(match_scratch& scratch) const {
  // One cached selection per distinct JSONPath of this table (grows once per connection).
  if (scratch.conditions_.json.size() < json_path_count_) {
    scratch.conditions_.json.resize(json_path_count_);
  }
}

route_match route_table::match(const request_view& request, match_scratch& scratch,
                               bool head_only) const {
  scratch.ignore_body_ = head_only;
  size_scratch(scratch);
  route_match best;
  int method = method_index(request.method);
  std::string_view path = request.path;
  if (!path.empty() && path.front() == '/') {
    std::array<std::string_view, max_path_params> captures{};
    walk(0, path.substr(1), 0, captures, request, method, scratch, best);
  }
  if (!regex_buckets_.empty()) {
    match_regex_bucket({}, request, method, scratch, best);
    for (std::size_t slash = path.find('/'); slash != std::string_view::npos;
         slash = path.find('/', slash + 1)) {
      match_regex_bucket(path.substr(0, slash + 1), request, method, scratch, best);
    }
  }
  if (best.route && best.route->regex && !best.route->regex_groups.empty()) {
    // Captures only for the winner: submatch extraction may allocate inside RE2.
    std::array<std::string_view, max_path_params> captures{};
    best.param_count = regex_captures(*best.route, path, captures);
    std::copy(captures.begin(), captures.end(), best.params.begin());
  }
  scratch.ignore_body_ = false;
  return best;
}

bool route_table::knows_method(std::string_view method) const {
  return any_method_route_ || method_index(method) >= 0 ||
         std::binary_search(custom_methods_.begin(), custom_methods_.end(), method);
}

const compiled_outage* route_table::outage_for(std::string_view path) const {
  for (const auto& outage : outages_) {
    std::array<std::string_view, max_path_params> captures{};
    if (outage.path->match(path, captures.data())) return &outage;
  }
  return nullptr;
}

plan_clock route_table::clock_for(std::uint64_t stream) const {
  return clock_for(stream, std::chrono::steady_clock::now());
}

plan_clock route_table::clock_for(std::uint64_t stream,
                                  std::chrono::steady_clock::time_point now) const {
  const std::chrono::steady_clock::time_point epoch(
      std::chrono::steady_clock::duration(epoch_.load(std::memory_order_relaxed)));
  return {now - epoch, seed_, stream};
}

void route_table::reset_state() const {
  epoch_.store(std::chrono::steady_clock::now().time_since_epoch().count(),
               std::memory_order_relaxed);
  for (const auto& route : routes_) {
    route->script.state->reset();
    if (route->script.outage) route->script.outage->state->reset();
    if (route->keyed) route->keyed->clear();
    if (route->rate_limit) {
      route->rate_limit->limiter->reset();
      route->rate_limit->script.state->reset();  // its reply's {{counter}} too
    }
  }
  if (server_rate_limit_) {
    server_rate_limit_->limiter->reset();
    server_rate_limit_->script.state->reset();
  }
  for (const auto& outage : outages_) outage.state->reset();
}

std::size_t route_table::reset_key(std::string_view key) const {
  std::size_t held = 0;
  for (const auto& route : routes_) {
    if (!route->keyed) continue;
    if (route->keyed->forget(key)) ++held;
    if (route->rate_limit) route->rate_limit->limiter->forget_within(key);
  }
  return held;
}

void route_table::carry_state_from(const route_table& previous, const config& cfg) {
  epoch_.store(previous.epoch_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  // A seed the config does not fix stays the same, so random choices go on as they were.
  if (!cfg.server.seed && !previous.server_.seed) seed_ = previous.seed_;
  std::unordered_map<std::string_view, const compiled_route*> old;
  for (const auto& route : previous.routes_) old.emplace(route->spec.name, route.get());
  for (auto& route : routes_) {
    auto found = old.find(route->spec.name);
    if (found == old.end() || !(found->second->spec == route->spec)) continue;
    const compiled_route& before = *found->second;
    route->script.state = before.script.state;
    if (route->script.outage && before.script.outage) {
      route->script.outage->state = before.script.outage->state;
    }
    if (route->rate_limit && before.rate_limit) {
      route->rate_limit->limiter = before.rate_limit->limiter;
      route->rate_limit->script.state = before.rate_limit->script.state;
    }
    if (route->keyed && before.keyed) route->keyed = before.keyed;
  }
  for (std::size_t i = 0; i < outages_.size() && i < previous.outages_.size(); ++i) {
    if (outages_[i].spec == previous.outages_[i].spec)
      outages_[i].state = previous.outages_[i].state;
  }
  if (server_rate_limit_ && previous.server_rate_limit_ &&
      server_rate_limit_->limiter->spec() == previous.server_rate_limit_->limiter->spec()) {
    server_rate_limit_->limiter = previous.server_rate_limit_->limiter;
  }
}

}  // namespace stubborn

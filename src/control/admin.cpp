#include "control/admin.hpp"

#include "config/cluster_section.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <ctime>
#include <optional>

#include "config/route_json.hpp"
#include "config/tls_section.hpp"
#include "control/admin_page.hpp"
#include "control/control_plane.hpp"
#include "control/journal_json.hpp"
#include "respond/http_date.hpp"
#include "respond/route_rules.hpp"
#include "routing/path_pattern.hpp"
#include "routing/request.hpp"
#include "routing/route_table.hpp"
#include "stubborn/version.hpp"
#include "text/base64.hpp"
#include "text/utf8.hpp"

namespace stubborn {

namespace net = boost::asio;
namespace json = boost::json;

namespace {

admin_reply json_reply(int status, const json::value& value) {
  admin_reply reply;
  reply.status = status;
  reply.body = json::serialize(value);
  reply.body.push_back('\n');
  return reply;
}

admin_reply error_reply(int status, std::string_view message) {
  return json_reply(status, json::object{{"error", replace_invalid_utf8(message)}});
}

admin_reply problems_reply(const std::vector<std::string>& texts) {
  json::array problems;
  for (const auto& p : texts) problems.emplace_back(p);
  return json_reply(400, json::object{{"error", "the route is not valid"}, {"problems", problems}});
}

admin_reply method_not_allowed(std::string_view allow) {
  admin_reply reply = error_reply(405, "method not allowed here; allowed: " + std::string(allow));
  reply.extra_headers = "Allow: " + std::string(allow) + "\r\n";
  return reply;
}

// "2026-11-24T10:00:00Z", with optional fractional seconds, or milliseconds since the epoch.
std::optional<std::chrono::system_clock::time_point> parse_time(std::string_view text) {
  if (!text.empty() &&
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    // Up to 15 digits: nothing here may throw (this runs inside a coroutine).
    if (text.size() > 15) return std::nullopt;
    return std::chrono::system_clock::time_point(
        std::chrono::milliseconds(std::stoll(std::string(text))));
  }
  std::tm tm{};
  int consumed = 0;
  const std::string s(text);
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::int64_t micros = 0;
  std::size_t i = static_cast<std::size_t>(consumed);
  if (i < s.size() && s[i] == '.') {
    std::int64_t scale = 100'000;
    for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      micros += (s[i] - '0') * scale;
      scale /= 10;
    }
  }
  if (i + 1 != s.size() || (s[i] != 'Z' && s[i] != 'z')) return std::nullopt;
  // system_clock counts nanoseconds in 64 bits: it ends in 2262.
  if (tm.tm_year + 1900 >= 2262) return std::chrono::system_clock::time_point::max();
  const std::time_t seconds = timegm(&tm);
  return std::chrono::system_clock::from_time_t(seconds) + std::chrono::microseconds(micros);
}

// The decoded value of the last parameter `name` in `query`; false when it is not there.
bool query_parameter(std::string_view query, std::string_view wanted, std::string& value) {
  bool found = false;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    std::string name;
    append_percent_decoded(pair.substr(0, eq), name, true);
    if (name != wanted) continue;
    value.clear();
    if (eq != std::string_view::npos) append_percent_decoded(pair.substr(eq + 1), value, true);
    found = true;
  }
  return found;
}

// What journal_query::admits() reads of an entry, from the entry's JSON (the shared journal).
journal_entry entry_from_json(const json::object& o) {
  journal_entry e;
  const auto text = [&o](std::string_view name) -> std::string {
    const json::value* v = o.if_contains(name);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  e.route = text("route");
  e.method = text("method");
  e.path = text("path");
  if (const json::value* status = o.if_contains("status"); status && status->is_int64()) {
    e.status = static_cast<int>(status->as_int64());
  }
  if (auto time = parse_time(text("time"))) e.time = *time;
  e.kind = text("kind") == "websocket" ? journal_kind::websocket : journal_kind::http;
  if (const json::value* ws = o.if_contains("websocket"); ws && ws->is_object()) {
    const json::value* direction = ws->as_object().if_contains("direction");
    e.websocket.in = direction && direction->is_string() && direction->as_string() == "in";
  }
  return e;
}

// Parses the filter parameters; "" or what is wrong.
std::string parse_filter(std::string_view query, journal_query& f) {
  bool kind_given = false;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    std::string name;
    std::string value;
    append_percent_decoded(pair.substr(0, eq), name, true);
    if (eq != std::string_view::npos) append_percent_decoded(pair.substr(eq + 1), value, true);
    if (name == "route") {
      f.route = value;
    } else if (name == "method") {
      f.method = value;
    } else if (name == "path") {
      f.path = value;
    } else if (name == "status") {
      if (value.size() == 3 && value[0] >= '1' && value[0] <= '9' &&
          (value.substr(1) == "xx" || value.substr(1) == "XX")) {
        f.status_class = value[0] - '0';
      } else if (value.size() == 3 && std::all_of(value.begin(), value.end(), ::isdigit)) {
        f.status = std::stoi(value);
      } else {
        return "status must be a status code like 404 or a class like 4xx, not '" + value + "'";
      }
    } else if (name == "since") {
      f.since = parse_time(value);
      if (!f.since) {
        return "since must be a UTC time like 2026-11-24T10:00:00Z (fractions allowed) or "
               "milliseconds since 1970, not '" +
               value + "'";
      }
    } else if (name == "kind") {
      if (value == "http") {
        f.kind = journal_kind::http;
      } else if (value == "websocket") {
        f.kind = journal_kind::websocket;
      } else if (value == "all") {
        f.kind.reset();
      } else {
        return "kind must be http, websocket or all, not '" + value + "'";
      }
      kind_given = true;
    } else if (name == "direction") {
      if (value == "in" || value == "out") {
        f.inbound = value == "in";
      } else {
        return "direction must be in or out, not '" + value + "'";
      }
    } else if (name == "scope") {
      if (value != "cluster" && value != "instance") {
        return "scope must be cluster (every instance of the [cluster] namespace) or instance, "
               "not '" +
               value + "'";
      }
    } else if (name == "limit") {
      if (value.empty() || value.size() > 9 ||
          !std::all_of(value.begin(), value.end(), ::isdigit)) {
        return "limit must be a number, not '" + value + "'";
      }
      f.limit = static_cast<std::size_t>(std::stoul(value));
    } else {
      return "unknown parameter '" + name +
             "'; filters are route, method, path, status, since, kind, direction, "
             "limit and scope";
    }
  }
  // A direction is a WebSocket message's: it asks for those unless a kind says otherwise.
  if (f.inbound && !kind_given) f.kind = journal_kind::websocket;
  return {};
}

// Prometheus label values: backslash, double quote and newline escaped.
std::string label(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

// The query without its `token` parameters; the last one's decoded value goes to `token`.
std::string without_token(std::string_view query, std::string& token) {
  std::string kept;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    std::string name;
    append_percent_decoded(pair.substr(0, eq), name, true);
    if (name == "token") {
      token.clear();
      if (eq != std::string_view::npos) append_percent_decoded(pair.substr(eq + 1), token, true);
      continue;
    }
    if (!kept.empty()) kept.push_back('&');
    kept.append(pair);
  }
  return kept;
}

}  // namespace

admin_service::admin_service(admin_config config, control_plane& control)
    : config_(std::move(config)), control_(control) {}

bool admin_service::owns(std::string_view path) const {
  const std::string& prefix = config_.prefix;
  return path.size() >= prefix.size() && path.compare(0, prefix.size(), prefix) == 0 &&
         (path.size() == prefix.size() || path[prefix.size()] == '/');
}

net::awaitable<admin_reply> admin_service::handle(const request_view& request) {
  std::string_view rest = request.path.substr(config_.prefix.size());
  if (!rest.empty() && rest.back() == '/' && rest.size() > 1) rest.remove_suffix(1);
  const std::string_view method = request.method;
  const bool get = method == "GET" || method == "HEAD";
  const bool page = rest.empty() || rest == "/";
  const bool stream = rest == "/requests/stream";
  // The page and the stream also take the token as ?token= (a browser's EventSource cannot
  // send a header); it is never a filter.
  std::string query_token;
  const std::string query = without_token(request.query, query_token);
  if (!config_.token.empty()) {
    std::string_view authorization;
    bool present = request.find_header("Authorization", authorization);
    std::string_view presented;
    if (present && authorization.size() > 7 && iequals(authorization.substr(0, 7), "Bearer ")) {
      presented = authorization.substr(7);
    } else if (!present && get && (page || stream) && !query_token.empty()) {
      present = true;
      presented = query_token;
    }
    if (!present) {
      admin_reply reply = error_reply(401, "the admin API needs Authorization: Bearer <token>");
      reply.extra_headers = "WWW-Authenticate: Bearer realm=\"stubborn admin\"\r\n";
      co_return reply;
    }
    if (!constant_time_equals(presented, config_.token)) {
      co_return error_reply(403, "the admin token was not accepted");
    }
  }

  if (page) {
    if (!get) co_return method_not_allowed("GET, HEAD");
    co_return page_reply(method == "HEAD");
  }
  if (stream) {
    if (!get) co_return method_not_allowed("GET, HEAD");
    co_return stream_reply(request, query);
  }

  if (rest == "/status") {
    if (!get) co_return method_not_allowed("GET, HEAD");
    co_return co_await status_reply();
  }
  if (rest == "/routes" || rest.substr(0, 8) == "/routes/")
    co_return co_await routes(request, rest);
  if (rest == "/reset") {
    if (method != "POST") co_return method_not_allowed("POST");
    if (std::string key; query_parameter(query, "key", key)) {
      if (key.empty()) co_return error_reply(400, "key must name a state key: ?key=VALUE");
      const std::size_t routes = co_await control_.async_reset_key(key);
      co_return json_reply(200, json::object{{"reset", true}, {"key", key}, {"routes", routes}});
    }
    co_await control_.async_reset();
    co_return json_reply(200, json::object{{"reset", true}});
  }
  if (rest == "/reload") {
    if (method != "POST") co_return method_not_allowed("POST");
    const reload_status result = co_await control_.async_reload();
    if (!result.ok) {
      co_return json_reply(422, json::object{{"reloaded", false}, {"error", result.error}});
    }
    co_return json_reply(200,
                         json::object{{"reloaded", true}, {"routes", control_.table()->size()}});
  }
  if (rest == "/recordings/snapshot") {
    if (method != "POST") co_return method_not_allowed("POST");
    const recording_snapshot snapshot = co_await control_.async_snapshot_recording();
    switch (snapshot.result) {
      case recording_snapshot::outcome::not_recording:
        // The endpoint exists; the server's state forbids it, as with the journal switched off.
        co_return error_reply(409,
                              "the server is not recording: serve a config with a [recording] "
                              "table, or run stubborn record");
      case recording_snapshot::outcome::failed:
        co_return error_reply(500, "the recording could not be written: " + snapshot.error);
      case recording_snapshot::outcome::written:
        break;
    }
    co_return json_reply(200, json::object{{"file", replace_invalid_utf8(snapshot.file)},
                                           {"routes", snapshot.routes},
                                           {"exchanges", snapshot.exchanges}});
  }
  if (rest == "/metrics") {
    if (!get) co_return method_not_allowed("GET, HEAD");
    admin_reply reply;
    reply.body = metrics_text(co_await control_.async_metrics());
    reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
    co_return reply;
  }
  if (rest == "/requests" || rest == "/requests/count" || rest == "/unmatched") {
    if (rest == "/requests" && method == "DELETE") {
      co_await control_.async_clear_journal();
      co_return json_reply(200, json::object{{"cleared", true}});
    }
    if (!get) co_return method_not_allowed(rest == "/requests" ? "GET, HEAD, DELETE" : "GET, HEAD");
    journal_query filter;
    filter.unmatched = rest == "/unmatched";
    if (std::string problem = parse_filter(query, filter); !problem.empty()) {
      co_return error_reply(400, problem);
    }
    if (config_.journal == 0) {
      co_return error_reply(409, "the journal is off ([admin] journal = 0)");
    }
    // A count takes every entry the filters admit: `limit` shapes lists only.
    if (rest == "/requests/count") filter.limit = 0;
    if (std::string scope; query_parameter(query, "scope", scope) && scope == "cluster") {
      co_return co_await cluster_requests(filter, rest == "/requests/count");
    }
    const std::vector<journal_entry> chosen = co_await control_.async_journal(filter);
    if (rest == "/requests/count") {
      co_return json_reply(200, json::object{{"count", chosen.size()}});
    }
    json::array list;
    for (const journal_entry& e : chosen) {
      json::object o = entry_json(e);
      if (filter.unmatched) o["nearest"] = replace_invalid_utf8(e.miss);
      list.push_back(std::move(o));
    }
    co_return json_reply(200, json::object{{"requests", std::move(list)}});
  }
  co_return error_reply(404,
                        "no admin endpoint " + std::string(request.path) + "; see docs/admin.md");
}

namespace {

// Replies by status class ("2xx", ..., "none" for no reply), and the other per-route counts.
struct reply_counts {
  std::uint64_t requests = 0;
  std::array<std::uint64_t, 6> by_class{};  // [0] = no reply, [1..5] = 1xx..5xx
  std::uint64_t rate_limited = 0;
  std::uint64_t faults = 0;

  void add(const route_metrics& m, bool plus) {
    auto apply = [plus](std::uint64_t& to, std::uint64_t n) { to = plus ? to + n : to - n; };
    for (const auto& [status, n] : m.statuses) {
      apply(requests, n);
      const int cls = status / 100;
      apply(by_class[cls >= 1 && cls <= 5 ? static_cast<std::size_t>(cls) : 0], n);
    }
    apply(rate_limited, m.rate_limited);
    apply(faults, m.faults);
  }
};

// The counts of `name` ("" = no route; nullptr = every route) now, less those at the last reset.
reply_counts counts_since(const server_metrics& now, const server_metrics& at_reset,
                          const std::string* name) {
  reply_counts counts;
  for (const auto& [route, m] : now.routes) {
    if (!name || route == *name) counts.add(m, true);
  }
  for (const auto& [route, m] : at_reset.routes) {
    if (!name || route == *name) counts.add(m, false);
  }
  return counts;
}

json::object counts_json(const reply_counts& c) {
  json::object o{{"requests", c.requests}};
  for (std::size_t i = 1; i <= 5; ++i) o[std::to_string(i) + "xx"] = c.by_class[i];
  o["no_reply"] = c.by_class[0];
  o["rate_limited"] = c.rate_limited;
  o["faults"] = c.faults;
  return o;
}

// What a route is doing now: replies since the last reset, where its sequence is, its rate
// limit's buckets, its outage.
json::object route_state_json(const compiled_route& route, const server_metrics& now,
                              const server_metrics& at_reset, const plan_clock& clock) {
  const reply_counts counts = counts_since(now, at_reset, &route.spec.name);
  json::object o{{"hits", counts.requests}};
  const reply_script& script = route.script;
  const std::uint64_t planned = script.state->planned.load(std::memory_order_relaxed);
  if (script.replies.size() > 1 || script.ends.back() > 1) {
    // The reply the next request gets, as plan_reply() picks it (an outage aside).
    const std::uint64_t total = script.ends.back();
    std::uint64_t step = planned;
    bool exhausted = false;
    if (step >= total) {
      exhausted = script.then != sequence_end::cycle;
      step = exhausted ? total - 1 : planned % total;
    }
    std::size_t index = 0;
    while (step >= script.ends[index]) ++index;
    o["sequence"] = json::object{{"replies", script.replies.size()},
                                 {"planned", planned},
                                 {"next", index},
                                 {"then", script.then == sequence_end::cycle ? "cycle" : "repeat"},
                                 {"at_end", exhausted}};
  }
  if (route.rate_limit) {
    const rate_limiter& limiter = *route.rate_limit->limiter;
    o["rate_limit"] = json::object{{"keys", limiter.key_count()},
                                   {"evictions", limiter.evictions()},
                                   {"limited", counts.rate_limited}};
  }
  if (route.keyed) {
    // Sequence, outage and limit above are those of requests without the key.
    o["state_keys"] = json::object{{"keys", route.keyed->size()},
                                   {"max", route.keyed->max_keys()},
                                   {"evictions", route.keyed->evictions()}};
  }
  if (script.outage) {
    const outage_spec& spec = script.outage->spec;
    json::object outage{{"rate", spec.rate}, {"faults", counts.faults}};
    if (spec.every.count() > 0 && spec.duration.count() > 0) {
      // A window's state depends on the time alone (as outage_applies() finds it); a rate's
      // is drawn per request.
      const auto into =
          std::chrono::duration_cast<std::chrono::milliseconds>(clock.since_start) % spec.every;
      outage["every_ms"] = spec.every.count();
      outage["duration_ms"] = spec.duration.count();
      outage["in_window"] = into < spec.duration;
    }
    o["outage"] = std::move(outage);
  }
  return o;
}

}  // namespace

namespace {

std::string joined(const std::vector<std::string>& problems) {
  std::string text;
  for (const auto& p : problems) text += (text.empty() ? "" : "; ") + p;
  return text;
}

}  // namespace

net::awaitable<admin_reply> admin_service::routes(const request_view& request,
                                                  std::string_view rest) {
  const std::string_view method = request.method;
  const bool get = method == "GET" || method == "HEAD";
  std::string name;
  if (rest.size() > 8) append_percent_decoded(rest.substr(8), name);
  auto table = control_.table();
  auto status = control_.status();
  // Each route's state goes with it when routes are read.
  server_metrics metrics;
  if (get) metrics = co_await control_.async_metrics();
  const auto at_reset = control_.metrics_at_reset();
  auto listed = [&](const compiled_route& route) {
    json::object o = route_to_json(route.spec);
    if (get) {
      o["state"] = route_state_json(route, metrics, *at_reset, table->clock_for(route.order));
    }
    const auto& runtime = status->runtime_routes;
    const bool from_runtime = std::any_of(runtime.begin(), runtime.end(), [&](const route_spec& r) {
      return r.name == route.spec.name;
    });
    o["source"] = from_runtime ? "runtime" : "file";
    if (!from_runtime && !route.spec.position.file.empty()) {
      o["defined_at"] = route.spec.position.file + ":" + std::to_string(route.spec.position.line);
    }
    return o;
  };

  if (name.empty()) {
    if (get) {
      json::array list;
      for (std::size_t i = 0; i < table->size(); ++i) list.push_back(listed(table->route(i)));
      co_return json_reply(200, json::object{{"routes", std::move(list)}});
    }
    if (method == "DELETE") {
      // Every runtime route goes; the file routes stay.
      const route_change change = co_await control_.async_clear_routes();
      if (!change.ok()) co_return error_reply(500, joined(change.problems));
      co_return json_reply(200, json::object{{"deleted", change.removed}});
    }
    if (method != "POST") co_return method_not_allowed("GET, HEAD, POST, DELETE");
  } else if (method != "PUT" && method != "DELETE" && !get) {
    co_return method_not_allowed("GET, HEAD, PUT, DELETE");
  }

  if (get) {
    for (std::size_t i = 0; i < table->size(); ++i) {
      if (table->route(i).spec.name == name) co_return json_reply(200, listed(table->route(i)));
    }
    co_return error_reply(404, "no route named '" + name + "'");
  }
  if (method == "DELETE") {
    const route_change change = co_await control_.async_remove_route(name);
    switch (change.result) {
      case route_change::outcome::file_route:
        co_return error_reply(409, change.problems.front());
      case route_change::outcome::not_found:
        co_return error_reply(404, change.problems.front());
      default:
        break;
    }
    if (!change.ok()) co_return error_reply(500, joined(change.problems));
    co_return json_reply(200, json::object{{"deleted", name}});
  }

  // POST (a new route) or PUT (this name, new or replaced).
  const std::string text(request.body);
  const std::string source = std::string(method) + " " + std::string(request.path);
  parsed_route parsed = co_await control_.async_parse_route_json(text, source);
  if (!parsed.problems.empty()) co_return problems_reply(parsed.problems);
  route_spec spec = std::move(parsed.spec);
  route_change change;
  if (method == "PUT") {
    // A name in the body must agree with the URL's; without one, the URL names the route.
    json::error_code ec;
    json::value body = json::parse(text, ec);
    const json::value* written =
        !ec && body.is_object() ? body.as_object().if_contains("name") : nullptr;
    if (written && written->is_string() && written->as_string() != name) {
      co_return error_reply(
          400, "the body names the route '" + spec.name + "' but the URL names '" + name + "'");
    }
    spec.name = name;
    change = co_await control_.async_put_route(std::move(spec));
    if (change.result == route_change::outcome::file_route) {
      co_return error_reply(409, change.problems.front());
    }
  } else {
    const std::string added = spec.name;
    change = co_await control_.async_add_route(std::move(spec));
    if (change.result == route_change::outcome::name_taken) {
      co_return error_reply(409, "a route named '" + added + "' exists; PUT " + config_.prefix +
                                     "/routes/NAME replaces a runtime route");
    }
  }
  if (!change.ok()) co_return error_reply(400, joined(change.problems));
  table = control_.table();
  status = control_.status();
  for (std::size_t i = 0; i < table->size(); ++i) {
    if (table->route(i).spec.name == change.names.front()) {
      const bool replaced = change.result == route_change::outcome::replaced;
      co_return json_reply(replaced ? 200 : 201, listed(table->route(i)));
    }
  }
  co_return error_reply(500, "the route was installed but is not in the table");
}

admin_reply admin_service::page_reply(bool head_only) const {
  admin_reply reply;
  reply.content_type = "text/html; charset=utf-8";
  if (!head_only) reply.body = std::string(admin_page_html());
  // The page loads nothing from elsewhere and talks only to this server; its token is in its
  // URL, so no Referer carries it away, and nothing caches it.
  reply.extra_headers = "Content-Security-Policy: " + std::string(admin_page_csp()) +
                        "\r\n"
                        "Referrer-Policy: no-referrer\r\n"
                        "Cache-Control: no-store\r\n"
                        "X-Content-Type-Options: nosniff\r\n";
  return reply;
}

admin_reply admin_service::stream_reply(const request_view& request, std::string_view query) {
  journal_stream_options options;
  if (std::string problem = parse_filter(query, options.filter); !problem.empty()) {
    return error_reply(400, problem);
  }
  if (config_.journal == 0) return error_reply(409, "the journal is off ([admin] journal = 0)");
  // In a stream, `limit` is how many entries already kept come first.
  options.backlog = options.filter.limit;
  options.filter.limit = 0;
  admin_reply reply;
  reply.content_type = "text/event-stream; charset=utf-8";
  reply.extra_headers = "Cache-Control: no-store\r\nX-Accel-Buffering: no\r\n";
  if (request.method == "HEAD") return reply;
  if (!streams_.try_take()) {
    admin_reply busy = error_reply(
        503, "too many journal streams are open (" + std::to_string(max_journal_streams) + ")");
    busy.extra_headers = "Retry-After: 5\r\n";
    return busy;
  }
  // HTTP/1.1: one chunk per write; HTTP/1.0 has no chunks, so the body ends where the
  // connection does (RFC 9112 §6.3).
  options.chunked = request.version >= 11;
  reply.extra_headers +=
      options.chunked ? "Transfer-Encoding: chunked\r\n" : "Connection: close\r\n";
  reply.take_over = make_journal_stream(control_, std::move(options), streams_);
  return reply;
}

net::awaitable<admin_reply> admin_service::cluster_requests(journal_query filter, bool count) {
  const cluster_config* cluster = control_.table()->cluster();
  if (!cluster || !cluster->share_journal) {
    co_return error_reply(409, "scope=cluster needs [cluster] with \"journal\" in share");
  }
  const std::optional<std::vector<std::string>> stored = co_await control_.async_cluster_journal();
  if (!stored) {
    co_return error_reply(503, "the shared journal is in Redis, which did not answer");
  }
  std::vector<json::object> chosen;
  for (const std::string& text : *stored) {
    json::error_code ec;
    json::value entry = json::parse(text, ec);
    if (ec || !entry.is_object()) continue;
    if (!filter.admits(entry_from_json(entry.as_object()))) continue;
    chosen.push_back(std::move(entry.as_object()));
  }
  if (count)
    co_return json_reply(200, json::object{{"count", chosen.size()}, {"scope", "cluster"}});
  const std::size_t skip =
      filter.limit && chosen.size() > filter.limit ? chosen.size() - filter.limit : 0;
  json::array list;
  for (std::size_t i = skip; i < chosen.size(); ++i) list.push_back(std::move(chosen[i]));
  co_return json_reply(200, json::object{{"requests", std::move(list)}, {"scope", "cluster"}});
}

net::awaitable<admin_reply> admin_service::status_reply() {
  // Read without waiting: a reload in progress publishes its outcome when it is done.
  const auto status = control_.status();
  const reload_status& reload = status->last_reload;
  json::array files;
  for (const auto& f : status->config_files) files.emplace_back(f);
  const auto uptime =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_);
  json::object o{{"version", version},
                 {"uptime_seconds", uptime.count()},
                 {"config_files", std::move(files)},
                 {"routes", control_.table()->size()},
                 {"open_connections", control_.open_connections()},
                 {"refused_connections", control_.refused_connections()},
                 {"threads", control_.thread_count()},
                 {"journal", config_.journal}};
  // The HTTPS listener's settings, as [server.tls] names them (paths, never key contents).
  if (const auto& tls = control_.table()->server().tls) o["tls"] = tls_to_json(*tls);
  json::object last{{"ok", reload.ok}, {"reloads", reload.reloads}, {"failures", reload.failures}};
  if (reload.at.time_since_epoch().count() != 0) last["at"] = rfc3339_utc(reload.at);
  if (!reload.ok) last["error"] = reload.error;
  o["last_reload"] = std::move(last);
  // Replies since the last reset (or the start), by status class: what the admin page counts.
  const server_metrics now = co_await control_.async_metrics();
  o["since_reset"] = counts_json(counts_since(now, *control_.metrics_at_reset(), nullptr));
  o["journal_streams"] = streams_.open();
  if (const cluster_config* cluster = control_.table()->cluster();
      cluster && now.cluster_redis_up) {
    json::array share;
    const bool shared[] = {cluster->share_rate_limits, cluster->share_sequences,
                           cluster->share_outages, cluster->share_routes, cluster->share_journal};
    for (std::size_t i = 0; i < std::size(shared); ++i) {
      if (shared[i]) share.emplace_back(cluster_share_names()[i]);
    }
    static constexpr std::string_view fallbacks[] = {"local", "allow", "deny"};
    o["cluster"] = json::object{
        {"redis", *now.cluster_redis_up ? "up" : "down"},
        {"namespace", cluster->name_space},
        {"share", std::move(share)},
        {"on_unavailable", fallbacks[static_cast<std::size_t>(cluster->on_unavailable)]}};
  }
  co_return json_reply(200, o);
}

namespace {

// The HELP and TYPE lines of one metric family (Prometheus text exposition format).
void append_family(std::string& out, std::string_view name, std::string_view help,
                   std::string_view type) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

// A family with one sample and no labels.
void append_single(std::string& out, std::string_view name, std::string_view help,
                   std::string_view type, std::uint64_t value) {
  append_family(out, name, help, type);
  out.append(name).append(" ").append(std::to_string(value)).append("\n");
}

}  // namespace

std::string admin_service::metrics_text(const server_metrics& all) {
  const auto& metrics = all.routes;
  std::string out;
  auto route_label = [](const std::string& name) {
    return name.empty() ? std::string("route=\"\"") : "route=\"" + label(name) + "\"";
  };
  append_family(out, "stubborn_requests_total",
                "Requests answered, by route (\"\" = no route) and status (\"none\" = no reply: "
                "a fault or a hang).",
                "counter");
  for (const auto& [name, m] : metrics) {
    auto statuses = m.statuses;
    std::sort(statuses.begin(), statuses.end());
    for (const auto& [status, n] : statuses) {
      out += "stubborn_requests_total{" + route_label(name) + ",status=\"" +
             (status ? std::to_string(status) : std::string("none")) + "\"} " + std::to_string(n) +
             "\n";
    }
  }
  append_family(out, "stubborn_request_duration_seconds",
                "From the request read to its reply handed to the socket (delays included).",
                "histogram");
  for (const auto& [name, m] : metrics) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < m.latency.size(); ++i) {
      cumulative += m.latency[i];
      char le[32];
      if (i < latency_bounds_us.size()) {
        std::snprintf(le, sizeof le, "%g", static_cast<double>(latency_bounds_us[i]) / 1e6);
      } else {
        std::snprintf(le, sizeof le, "+Inf");
      }
      out += "stubborn_request_duration_seconds_bucket{" + route_label(name) + ",le=\"" + le +
             "\"} " + std::to_string(cumulative) + "\n";
    }
    char sum[48];
    std::snprintf(sum, sizeof sum, "%.6f", static_cast<double>(m.latency_sum_us) / 1e6);
    out += "stubborn_request_duration_seconds_sum{" + route_label(name) + "} " + sum + "\n";
    out += "stubborn_request_duration_seconds_count{" + route_label(name) + "} " +
           std::to_string(cumulative) + "\n";
  }
  append_family(out, "stubborn_rate_limited_total", "Requests refused by a rate limit.", "counter");
  for (const auto& [name, m] : metrics) {
    if (m.rate_limited) {
      out += "stubborn_rate_limited_total{" + route_label(name) + "} " +
             std::to_string(m.rate_limited) + "\n";
    }
  }
  append_family(out, "stubborn_faults_total",
                "Replies broken on purpose (fault, or an outage's fault).", "counter");
  for (const auto& [name, m] : metrics) {
    if (m.faults) {
      out += "stubborn_faults_total{" + route_label(name) + "} " + std::to_string(m.faults) + "\n";
    }
  }
  append_family(out, "stubborn_websocket_connections", "WebSocket connections open now, by route.",
                "gauge");
  for (const auto& [name, m] : metrics) {
    if (m.websocket_opened) {
      out += "stubborn_websocket_connections{" + route_label(name) + "} " +
             std::to_string(m.websocket_opened - m.websocket_closed) + "\n";
    }
  }
  append_family(out, "stubborn_websocket_messages_total",
                "WebSocket frames by route and direction (in: from clients), control frames "
                "included.",
                "counter");
  for (const auto& [name, m] : metrics) {
    if (m.websocket_opened) {
      out += "stubborn_websocket_messages_total{" + route_label(name) + ",direction=\"in\"} " +
             std::to_string(m.websocket_messages_in) + "\n";
      out += "stubborn_websocket_messages_total{" + route_label(name) + ",direction=\"out\"} " +
             std::to_string(m.websocket_messages_out) + "\n";
    }
  }
  // Keys a full limiter had to forget while their buckets were still in use (each one's next
  // request starts with a full burst): max_keys is too small for the clients seen.
  append_family(out, "stubborn_rate_limit_evictions_total",
                "Busy rate-limit keys dropped because max_keys was reached.", "counter");
  if (all.server_rate_limit_evictions) {
    out += "stubborn_rate_limit_evictions_total{limit=\"server\"} " +
           std::to_string(*all.server_rate_limit_evictions) + "\n";
  }
  for (const auto& [name, evictions] : all.route_rate_limit_evictions) {
    out += "stubborn_rate_limit_evictions_total{limit=\"route\"," + route_label(name) + "} " +
           std::to_string(evictions) + "\n";
  }
  // Keys of routes with state_key dropped at max_state_keys (each one's next request starts over).
  append_family(out, "stubborn_state_keys_evicted_total",
                "State keys dropped because max_state_keys were kept.", "counter");
  for (const auto& [name, evictions] : all.route_state_key_evictions) {
    out += "stubborn_state_keys_evicted_total{" + route_label(name) + "} " +
           std::to_string(evictions) + "\n";
  }
  if (all.cluster_redis_up) {
    append_single(out, "stubborn_cluster_redis_up",
                  "1 while Redis answers every connection of this instance ([cluster]).", "gauge",
                  *all.cluster_redis_up ? 1 : 0);
  }
  append_single(out, "stubborn_open_connections", "Connections open now.", "gauge",
                all.open_connections);
  append_single(out, "stubborn_refused_connections_total",
                "Connections refused at max_connections.", "counter", all.refused_connections);
  append_single(out, "stubborn_tls_on_plain_port_total",
                "TLS ClientHellos sent to the plain listener, closed without a reply.", "counter",
                all.tls_on_plain_port);
  if (all.tls) {
    append_family(out, "stubborn_tls_handshakes_total",
                  "TLS handshakes on the HTTPS listener, by result (and reason, when failed).",
                  "counter");
    out += "stubborn_tls_handshakes_total{result=\"full\"} " +
           std::to_string(all.tls_handshakes_full) + "\n";
    out += "stubborn_tls_handshakes_total{result=\"resumed\"} " +
           std::to_string(all.tls_handshakes_resumed) + "\n";
    for (const auto& [reason, count] : all.tls_handshake_failures) {
      out += "stubborn_tls_handshakes_total{result=\"failed\",reason=\"" + reason + "\"} " +
             std::to_string(count) + "\n";
    }
  }
  append_family(out, "stubborn_proxy_errors_total",
                "Upstream failures on proxy routes, by cause (each answered 502, or 504 for "
                "timeout).",
                "counter");
  for (const auto& [cause, count] : all.proxy_errors) {
    out += "stubborn_proxy_errors_total{cause=\"" + cause + "\"} " + std::to_string(count) + "\n";
  }
  append_single(out, "stubborn_proxy_upstream_connections_total",
                "Connections opened to proxy routes' upstreams (a reused one is not counted).",
                "counter", all.proxy_connections_opened);
  append_single(out, "stubborn_reloads_total", "Successful config reloads.", "counter",
                all.reloads);
  append_single(out, "stubborn_reload_failures_total",
                "Reloads refused because the config was broken.", "counter", all.reload_failures);
  append_single(out, "stubborn_routes", "Routes in the table now.", "gauge", all.route_count);
  return out;
}

}  // namespace stubborn

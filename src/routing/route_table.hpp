#pragma once
// The compiled, immutable route table: built once per config, shared by every connection through
// a shared_ptr<const route_table>. match() walks a segment trie plus a short list of regex routes
// whose possible-match range admits the path; on the hot path it allocates nothing.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "respond/keyed_state.hpp"
#include "respond/rate_limiter.hpp"
#include "respond/reply_plan.hpp"
#include "respond/route_rules.hpp"
#include "routing/conditions.hpp"
#include "routing/parsed_body.hpp"
#include "routing/path_pattern.hpp"
#include "routing/tls_match.hpp"
#include "stubborn/config.hpp"

namespace re2 {
class RE2;
}

namespace stubborn {

struct request_view;
struct compiled_proxy;
struct compiled_websocket;

/// Methods a route can name, as bits; others are kept as strings.
enum class known_method : std::uint8_t {
  GET,
  HEAD,
  POST,
  PUT,
  DELETE,
  CONNECT,
  OPTIONS,
  TRACE,
  PATCH
};
inline constexpr std::size_t known_method_count = 9;

/// The method's bit index, or -1 for a method outside known_method.
int method_index(std::string_view method);

/// The name of the method with this bit index ("GET" for 0).
std::string_view known_method_name(std::size_t index);

/// Per-request scratch state for matching, owned by the caller and reused between requests.
class match_scratch {
 public:
  match_scratch();
  ~match_scratch();
  match_scratch(const match_scratch&) = delete;
  match_scratch& operator=(const match_scratch&) = delete;
  /// Forgets the previous request's parsed body.
  void reset();
  /// The request body, parsed on demand; templates read the same parse as matching did.
  parsed_body& body() { return body_; }

 private:
  friend class route_table;
  parsed_body body_;
  condition_scratch conditions_;
  bool ignore_body_ = false;  // a head-only match in progress
};

struct compiled_route;

/// A rate limit with the 429 reply it sends (the limiter is shared state, kept across reloads
/// of an unchanged route).
struct compiled_rate_limit {
  std::shared_ptr<rate_limiter> limiter;
  reply_script script;  ///< one reply: the 429 (or its override, which may have a delay or fault)
  std::uint64_t stream = 0;  ///< for the override's random choices
};

/// A matched route with its path captures.
struct route_match {
  const compiled_route* route = nullptr;
  std::array<std::string_view, max_path_params> params{};
  std::size_t param_count = 0;
};

/// Why no route matched, worked out only on a miss (slow path, allocates freely).
struct match_miss {
  bool method_not_allowed = false;  ///< some route has this path, none this method
  bool forbidden = false;           ///< for 403: a route would match but for the client certificate
  std::string allow;                ///< for 405: "GET, HEAD, POST"
  std::string explanation;          ///< for 404: the nearest route and what differed
};

class route_table {
 public:
  /// Compiles a validated config; throws config_error for what only compiling can find. With
  /// `previous` (a reload), routes whose spec did not change keep their sequence, outage and
  /// rate-limit state, and time-based choices keep counting from the first table's start.
  static std::shared_ptr<const route_table> compile(const config& cfg,
                                                    const route_table* previous = nullptr);
  ~route_table();

  /// The best route for the request (highest priority, then earliest), or a route_match with
  /// route == nullptr. Allocates nothing unless a body must be parsed as JSON or a regex route
  /// with named groups wins. With `head_only`, body matchers are taken as matching (used to
  /// decide about Expect: 100-continue before the body is read).
  route_match match(const request_view& request, match_scratch& scratch,
                    bool head_only = false) const;
  /// A server-wide [[outage]] covering this path, if any.
  const compiled_outage* outage_for(std::string_view path) const;
  /// The inputs of random and time-based choices for one route (stream = route order).
  plan_clock clock_for(std::uint64_t stream) const;
  /// The same as of `now` (an injected clock in tests).
  plan_clock clock_for(std::uint64_t stream, std::chrono::steady_clock::time_point now) const;
  /// [server.rate_limit], if any.
  const compiled_rate_limit* server_rate_limit() const {
    return server_rate_limit_ ? &*server_rate_limit_ : nullptr;
  }
  /// Puts every sequence, outage and rate limit back to its start.
  void reset_state() const;
  /// Drops the state of one state key on every route with `state_key`; the number of routes
  /// that held it.
  std::size_t reset_key(std::string_view key) const;
  /// Explains a miss: 405 with Allow, or the nearest route for the 404 body.
  match_miss explain_miss(const request_view& request, match_scratch& scratch) const;

  std::size_t size() const { return routes_.size(); }
  bool has_outages() const { return !outages_.empty(); }
  /// Some route forwards to an upstream ([route.proxy]).
  bool has_proxy_routes() const { return has_proxy_routes_; }
  /// A standard method, one some route names, or any method if a route takes every method.
  bool knows_method(std::string_view method) const;
  /// Every method some route serves, for `OPTIONS *`: "GET, HEAD, POST".
  const std::string& all_methods() const { return all_methods_; }
  const server_config& server() const { return server_; }
  /// [cluster], when this table's state is shared through Redis.
  const cluster_config* cluster() const { return cluster_ ? &*cluster_ : nullptr; }
  const compiled_route& route(std::size_t i) const { return *routes_[i]; }

 private:
  struct node;
  struct keyed_routes;
  route_table();
  static std::unique_ptr<keyed_routes> key_routes(
      const std::vector<std::uint32_t>& list,
      const std::vector<std::unique_ptr<compiled_route>>& routes);
  void consider_list(const std::vector<std::uint32_t>& list, const keyed_routes* keyed,
                     std::span<const std::string_view> captures, const request_view& request,
                     int method, match_scratch& scratch, route_match& best) const;
  void carry_state_from(const route_table& previous, const config& cfg);
  bool route_accepts(const compiled_route& route, const request_view& request, int method,
                     std::span<const std::string_view> captures, match_scratch& scratch) const;
  bool matches_except_method(const compiled_route& route, const request_view& request,
                             std::span<const std::string_view> captures, match_scratch& scratch,
                             bool check_client_cert = true) const;
  bool path_matches(const compiled_route& route, std::string_view path) const;
  bool body_accepts(const compiled_route& route, const request_view& request,
                    match_scratch& scratch) const;
  void size_scratch(match_scratch& scratch) const;
  void walk(std::uint32_t node_index, std::string_view rest, std::size_t depth,
            std::array<std::string_view, max_path_params>& captures, const request_view& request,
            int method, match_scratch& scratch, route_match& best) const;
  void consider(const compiled_route& route, std::span<const std::string_view> captures,
                const request_view& request, int method, match_scratch& scratch,
                route_match& best) const;

  server_config server_;
  std::optional<cluster_config> cluster_;
  std::vector<std::unique_ptr<compiled_route>> routes_;
  std::vector<node> nodes_;
  void match_regex_bucket(std::string_view key, const request_view& request, int method,
                          match_scratch& scratch, route_match& best) const;

  std::vector<std::uint32_t> regex_routes_;  // indices into routes_, best rank first
  // Regex routes by required literal prefix (up to its last '/'), sorted by key; rank order inside.
  std::vector<std::pair<std::string, std::vector<std::uint32_t>>> regex_buckets_;
  std::vector<compiled_outage> outages_;
  std::optional<compiled_rate_limit> server_rate_limit_;
  std::vector<std::string> custom_methods_;  // sorted, unique
  bool any_method_route_ = false;            // some route takes every method
  std::string all_methods_;
  // Outage windows count from here; reset_state() moves it to now.
  mutable std::atomic<std::chrono::steady_clock::rep> epoch_{
      std::chrono::steady_clock::now().time_since_epoch().count()};
  std::uint64_t seed_ = 0;
  bool has_proxy_routes_ = false;
  std::size_t json_path_count_ = 0;  // distinct JSONPaths in conditions (the scratch's cache size)
};

/// One route, compiled.
struct compiled_route {
  std::string name;
  std::size_t order = 0;
  int priority = 0;
  std::uint32_t method_mask = 0;  ///< bits of known_method; 0 and no custom = any method
  std::vector<std::string> custom_methods;
  bool any_method = true;
  std::optional<path_pattern> pattern;
  std::unique_ptr<re2::RE2> regex;
  std::string regex_prefix;       ///< literal start of every match; "" when unknown
  std::vector<int> regex_groups;  ///< RE2 group index of each path param, in order
  std::vector<std::string> param_names;
  std::vector<name_value> query;  ///< as configured; the request's are decoded to compare
  std::vector<name_value> headers;
  std::optional<body_matcher_spec> body;
  scheme_match scheme = scheme_match::any;
  std::optional<client_cert_spec> client_cert;
  std::unique_ptr<re2::RE2> body_regex;
  std::shared_ptr<const void> body_json;  ///< boost::json::value, kept opaque here
  std::unique_ptr<compiled_when> when;    ///< cookies, form and [route.when]; null: none
  reply_script script;
  compiled_rules rules;  ///< auth, negotiation, validators, ranges (rules.any: some)
  std::optional<compiled_rate_limit> rate_limit;
  expect_mode expect = expect_mode::send_continue;
  std::chrono::milliseconds continue_delay{0};
  std::unique_ptr<compiled_proxy> proxy;  ///< [route.proxy]: the reply comes from an upstream
  std::unique_ptr<compiled_websocket> websocket;  ///< [route.websocket]: upgrade, then a script
  /// `state_key`: the state of each key value (kept across reloads of an unchanged route).
  std::shared_ptr<keyed_states> keyed;
  std::size_t state_param = 0;  ///< `state_key = "path:NAME"`: the index of NAME's capture
  route_spec spec;              ///< as configured, for explanations and the admin API

  compiled_route();
  ~compiled_route();
  /// True if this route ranks before `other` (priority, then file order).
  bool ranks_before(const compiled_route& other) const {
    return priority != other.priority ? priority > other.priority : order < other.order;
  }
};

/// A regex route's path parameters in `path` (which its regex matches); their count.
std::size_t regex_captures(const compiled_route& route, std::string_view path,
                           std::array<std::string_view, max_path_params>& out);

}  // namespace stubborn

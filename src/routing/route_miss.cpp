// Explaining a miss: the nearest route and what differed (404), the methods the path is served
// for (405), or the client certificate a route wanted (403). Slow path: allocates freely.
#include <re2/re2.h>

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "routing/request.hpp"
#include "routing/route_table.hpp"
#include "text/edit_distance.hpp"

namespace stubborn {

namespace {

constexpr std::uint32_t bit(known_method m) {
  return 1u << static_cast<unsigned>(m);
}

// How far a request path is from a route, for naming the nearest route in a 404: segment by
// segment for patterns ({name} matches any segment, a missing or extra segment costs 3), by
// characters for regexes.
std::size_t path_distance(const compiled_route& route, std::string_view path) {
  if (!route.pattern) return edit_distance(path, route.spec.path_regex);
  std::vector<std::string_view> segments;
  for (std::string_view rest = path.substr(path.empty() ? 0 : 1);;) {
    std::size_t slash = rest.find('/');
    segments.push_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  const auto& pattern = route.pattern->segments();
  std::size_t distance = 0;
  std::size_t common = std::min(segments.size(), pattern.size());
  for (std::size_t i = 0; i < common; ++i) {
    if (!pattern[i].is_param) distance += edit_distance(segments[i], pattern[i].literal);
  }
  std::size_t extra = std::max(segments.size(), pattern.size()) - common;
  if (route.pattern->has_rest() && segments.size() > pattern.size()) extra = 0;
  return distance + 3 * extra;
}

// The route's path parameters in `path`, which its path matches.
std::size_t captures_of(const compiled_route& route, std::string_view path,
                        std::array<std::string_view, max_path_params>& out) {
  if (route.pattern) return route.pattern->match(path, out.data()) ? route.param_names.size() : 0;
  return route.regex_groups.empty() ? 0 : regex_captures(route, path, out);
}

std::string describe_route(const compiled_route& route) {
  std::string text = "\"" + route.name + "\" (";
  if (route.any_method) {
    text += "any method";
  } else {
    std::string methods;
    for (std::size_t m = 0; m < known_method_count; ++m) {
      if (route.method_mask & (1u << m)) {
        if (!methods.empty()) methods += '|';
        methods += known_method_name(m);
      }
    }
    for (const auto& m : route.custom_methods) {
      if (!methods.empty()) methods += '|';
      methods += m;
    }
    text += methods;
  }
  text += " " + (route.pattern ? route.pattern->text() : "~" + route.spec.path_regex) + ")";
  return text;
}

}  // namespace

bool route_table::path_matches(const compiled_route& route, std::string_view path) const {
  if (route.pattern) {
    std::array<std::string_view, max_path_params> captures{};
    return route.pattern->match(path, captures.data());
  }
  return re2::RE2::PartialMatch(re2::StringPiece(path.data(), path.size()), *route.regex);
}

match_miss route_table::explain_miss(const request_view& request, match_scratch& scratch) const {
  size_scratch(scratch);
  match_miss miss;
  int method = method_index(request.method);
  std::vector<const compiled_route*> same_path;
  for (const auto& route : routes_) {
    if (path_matches(*route, request.path)) same_path.push_back(route.get());
  }
  std::string head =
      "No route matched " + std::string(request.method) + " " + std::string(request.target) + "\n";
  if (same_path.empty()) {
    const compiled_route* nearest = nullptr;
    std::size_t best_distance = std::numeric_limits<std::size_t>::max();
    for (const auto& route : routes_) {
      std::size_t d = path_distance(*route, request.path);
      bool method_matches =
          route->any_method || (method >= 0 && (route->method_mask & (1u << method)));
      if (!method_matches) ++d;
      if (d < best_distance) {
        best_distance = d;
        nearest = route.get();
      }
    }
    miss.explanation = head;
    if (nearest)
      miss.explanation += "Nearest route: " + describe_route(*nearest) + ": path differs\n";
    else
      miss.explanation += "No routes are configured.\n";
    return miss;
  }
  std::vector<const compiled_route*> method_ok;
  for (const auto* route : same_path) {
    bool method_matches = route->any_method ||
                          (method >= 0 && (route->method_mask & (1u << method))) ||
                          (method == static_cast<int>(known_method::HEAD) &&
                           (route->method_mask & bit(known_method::GET))) ||
                          std::find(route->custom_methods.begin(), route->custom_methods.end(),
                                    request.method) != route->custom_methods.end();
    if (method_matches) method_ok.push_back(route);
  }
  if (method_ok.empty()) {
    std::uint32_t mask = 0;
    std::vector<std::string> custom;
    for (const auto* route : same_path) {
      mask |= route->method_mask;
      for (const auto& m : route->custom_methods) {
        if (std::find(custom.begin(), custom.end(), m) == custom.end()) custom.push_back(m);
      }
    }
    if (mask & bit(known_method::GET)) mask |= bit(known_method::HEAD);
    for (std::size_t m = 0; m < known_method_count; ++m) {
      if (mask & (1u << m))
        miss.allow += (miss.allow.empty() ? "" : ", ") + std::string(known_method_name(m));
    }
    for (const auto& m : custom) miss.allow += (miss.allow.empty() ? "" : ", ") + m;
    miss.method_not_allowed = true;
    miss.explanation = head + "The path is served only for: " + miss.allow + "\n";
    return miss;
  }
  // A route that would match but for the client certificate: the client is known to be
  // unwelcome there, so RFC 9110 §15.5.4's 403 says more than a 404.
  for (const compiled_route* candidate : method_ok) {
    std::array<std::string_view, max_path_params> captures{};
    const std::size_t count = captures_of(*candidate, request.path, captures);
    if (candidate->client_cert && !client_cert_accepts(*candidate->client_cert, request.tls) &&
        matches_except_method(*candidate, request, std::span(captures.data(), count), scratch,
                              false)) {
      miss.forbidden = true;
      miss.explanation = head + "Nearest route: " + describe_route(*candidate) + ":\n" +
                         client_cert_mismatch(*candidate->client_cert, request.tls);
      return miss;
    }
  }
  // Same path and method: say what the best-ranked such route wanted.
  const compiled_route& route = *method_ok.front();
  std::array<std::string_view, max_path_params> captures{};
  const std::span<const std::string_view> params(captures.data(),
                                                 captures_of(route, request.path, captures));
  std::string why;
  for (const auto& q : route.query) {
    std::string_view raw;
    if (!request.find_query(q.name, raw)) {
      why += "  query parameter '" + q.name + "' is missing (wanted '" + q.value + "')\n";
    } else if (!equals_percent_decoded(raw, q.value, true)) {
      why += "  query parameter '" + q.name + "' is '" + std::string(raw) + "', wanted '" +
             q.value + "'\n";
    }
  }
  for (const auto& h : route.headers) {
    std::string_view value;
    if (!request.find_header(h.name, value)) {
      why += "  header '" + h.name + "' is missing (wanted '" + h.value + "')\n";
    } else if (value != h.value) {
      why +=
          "  header '" + h.name + "' is '" + std::string(value) + "', wanted '" + h.value + "'\n";
    }
  }
  if (!scheme_accepts(route.scheme, request)) {
    why += route.scheme == scheme_match::https ? "  the route is served only over HTTPS\n"
                                               : "  the route is served only over plain HTTP\n";
  }
  if (route.body && !body_accepts(route, request, scratch)) {
    static constexpr std::string_view kinds[] = {"contain", "equal", "match the regex",
                                                 "contain the JSON"};
    why += "  the body does not " + std::string(kinds[static_cast<int>(route.body->kind)]) + " " +
           route.body->text + "\n";
  }
  if (route.client_cert && !client_cert_accepts(*route.client_cert, request.tls)) {
    why += client_cert_mismatch(*route.client_cert, request.tls);
  }
  if (route.when) {
    why += route.when->explain({request, params, scratch.body_, scratch.conditions_, false});
  }
  miss.explanation = head + "Nearest route: " + describe_route(route) + ":\n" + why;
  return miss;
}

}  // namespace stubborn

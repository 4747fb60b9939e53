// Route matching: name, method, path, path_regex, query, headers, body, cookies, form, when,
// scheme, client_cert, priority. Adding a key: a field in route_spec (include/stubborn/config.hpp)
// and one row below, e.g.
//   {"host", string_kind, "a string", "", "the Host header must be this",
//    [](toml_reader&, const toml::node& v, route_reading& r) {
//      r.route.host = v.as_string()->get();
//      return true;
//    },
//    [](const route_spec& r, json::object& o, const json_writing&) {
//      if (!r.host.empty()) o["host"] = r.host;
//    }},
#include <algorithm>
#include <array>
#include <limits>
#include <map>

#include <re2/re2.h>
#include <boost/json.hpp>

#include "config/route_json.hpp"
#include "config/route_reading.hpp"
#include "config/toml_reading.hpp"
#include "config/when_section.hpp"
#include "routing/path_pattern.hpp"

namespace stubborn {
namespace {

namespace json = boost::json;

constexpr std::array<std::string_view, 9> standard_methods = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};

constexpr std::string_view not_a_token =
    " is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)";

bool read_methods(toml_reader& r, const toml::node& node, std::vector<std::string>& out) {
  std::vector<const toml::node*> items;
  if (node.is_string()) {
    items.push_back(&node);
  } else {
    const toml::array& array = *node.as_array();
    if (array.empty()) {
      r.add(r.at(node), "'method' must not be an empty array (leave it out to match any method)");
      return false;
    }
    for (const toml::node& item : array) items.push_back(&item);
  }
  bool ok = true;
  for (const toml::node* item : items) {
    const auto* s = item->as_string();
    if (!s) {
      r.type_error(*item, "each 'method'", "a string");
      ok = false;
      continue;
    }
    const std::string& method = s->get();
    if (!is_token(method)) {
      r.add(r.at(*item), concat("method ", in_quotes(method), not_a_token));
      ok = false;
      continue;
    }
    // RFC 9110 §9.1: methods are case-sensitive, so "get" would never match a GET request.
    const auto standard = std::find_if(standard_methods.begin(), standard_methods.end(),
                                       [&](std::string_view m) { return iequal(m, method); });
    if (standard != standard_methods.end() && *standard != method) {
      r.add(r.at(*item),
            concat("method ", in_quotes(method),
                   " never matches: methods are case-sensitive (did you mean '", *standard, "'?)"));
      ok = false;
      continue;
    }
    if (std::find(out.begin(), out.end(), method) != out.end()) {
      r.add(r.at(*item), concat("method ", in_quotes(method), " is listed twice"));
      ok = false;
      continue;
    }
    out.push_back(method);
  }
  return ok;
}

bool read_query(toml_reader& r, const toml::node& node, std::vector<name_value>& out) {
  for (auto&& [key, value] : *node.as_table()) {
    const std::string name(key.str());
    if (name.empty()) {
      r.add(r.at(key), "a query parameter name must not be empty");
      continue;
    }
    if (auto text = r.scalar_text(value, concat("query parameter ", in_quotes(name)))) {
      out.push_back({name, std::move(*text), r.at(key)});
    }
  }
  return true;
}

bool read_match_headers(toml_reader& r, const toml::node& node, std::vector<name_value>& out) {
  for (auto&& [key, value] : *node.as_table()) {
    const std::string name(key.str());
    if (!is_token(name)) {
      r.add(r.at(key), concat("header name ", in_quotes(name), not_a_token));
      continue;
    }
    const auto same = std::find_if(out.begin(), out.end(),
                                   [&](const name_value& h) { return iequal(h.name, name); });
    if (same != out.end()) {
      r.add(r.at(key),
            concat("header ", in_quotes(name), " is already matched at ",
                   position_text(same->position), " (header names are case-insensitive)"));
      continue;
    }
    auto text = r.scalar_text(value, concat("header ", in_quotes(name)));
    if (!text) continue;
    if (has_control(*text)) {
      r.add(r.at(value), concat("header ", in_quotes(name),
                                " must not contain CR, LF, NUL or other control characters"));
      continue;
    }
    out.push_back({name, std::move(*text), r.at(key)});
  }
  return true;
}

// The keys of `body`, in the order of body_match_kind; exactly one is written.
using body_row = key_row<body_matcher_spec, body_matcher_spec>;
constexpr std::array<body_row, 4> body_rows = {{
    {"contains", string_kind, "a string", "", "the body contains this text", nullptr, nullptr},
    {"equals", string_kind, "a string", "", "the body is exactly this text", nullptr, nullptr},
    {"regex", string_kind, "a string", "", "an RE2 regex matches somewhere in the body", nullptr,
     nullptr},
    {"json", any_kind, "any TOML value", "", "the body is JSON holding this subset", nullptr,
     nullptr},
}};

}  // namespace

bool read_body_matcher(toml_reader& r, const toml::node& node, std::string_view name,
                       std::string_view where, std::optional<body_matcher_spec>& out) {
  const toml::table& table = *node.as_table();
  std::vector<std::string_view> known;
  for (const body_row& row : body_rows) known.push_back(row.name);
  const toml::node* chosen = nullptr;
  std::size_t chosen_index = 0;
  // Not read_keys: a second matcher ends the table's checks.
  for (auto&& [key, value] : table) {
    const auto row = std::find(known.begin(), known.end(), key.str());
    if (row == known.end()) {
      r.unknown_key(key, where, known);
      continue;
    }
    if (chosen) {
      const bool later = r.before(*chosen, value);
      r.add(
          r.at(later ? value : *chosen),
          concat(in_quotes(name), " has one of 'contains', 'equals', 'regex' or 'json', not both '",
                 known[chosen_index], "' and '", key.str(), "'"));
      return false;
    }
    chosen = &value;
    chosen_index = static_cast<std::size_t>(row - known.begin());
  }
  if (!chosen) {
    if (table.empty()) {
      r.add(r.at(node),
            concat(in_quotes(name), " needs one of 'contains', 'equals', 'regex' or 'json'"));
    }
    return false;
  }
  body_matcher_spec spec;
  spec.position = r.at(*chosen);
  spec.kind = static_cast<body_match_kind>(chosen_index);
  if (spec.kind == body_match_kind::json) {
    auto text = r.to_json_text(*chosen);
    if (!text) return false;
    spec.text = std::move(*text);
  } else {
    const std::string* s = r.get_string(*chosen, concat(name, ".", known[chosen_index]));
    if (!s) return false;
    spec.text = *s;
    if (spec.kind == body_match_kind::regex) {
      RE2 re(*s, RE2::Quiet);
      if (!re.ok()) {
        r.add(r.at(*chosen), concat("bad '", name, ".regex': ", re.error()));
        return false;
      }
    }
  }
  out = std::move(spec);
  return true;
}

table_doc body_matcher_doc() {
  return describe(body_rows);
}

json::object body_matcher_json(const body_matcher_spec& matcher) {
  json::object body;
  const std::string key(body_rows[static_cast<std::size_t>(matcher.kind)].name);
  if (matcher.kind == body_match_kind::json) {
    json::error_code ec;
    body[key] = json::parse(matcher.text, ec);
  } else {
    body[key] = matcher.text;
  }
  return body;
}

namespace {

constexpr std::array<std::string_view, 2> scheme_names = {"http", "https"};

// The keys of `client_cert`; at least one is written.
using client_cert_row = key_row<client_cert_spec, client_cert_spec>;
constexpr std::array<client_cert_row, 2> client_cert_rows = {{
    {"subject", string_kind, "a string", "", "the subject, RFC 4514, e.g. \"CN=billing,O=Acme\"",
     [](toml_reader& r, const toml::node& v, client_cert_spec& c) {
       const std::string& text = v.as_string()->get();
       if (text.empty() || has_control(text)) {
         r.add(r.at(v), "'client_cert.subject' must be a subject like \"CN=billing\"");
         return false;
       }
       c.subject = text;
       return true;
     },
     nullptr},
    {"san", string_kind, "a string", "", "one of its subjectAltName DNS names, IPs, emails or URIs",
     [](toml_reader& r, const toml::node& v, client_cert_spec& c) {
       const std::string& text = v.as_string()->get();
       if (text.empty() || has_control(text)) {
         r.add(r.at(v), "'client_cert.san' must be a name like \"billing.internal\"");
         return false;
       }
       c.san = text;
       return true;
     },
     nullptr},
}};

bool read_client_cert(toml_reader& r, const toml::node& node,
                      std::optional<client_cert_spec>& out) {
  client_cert_spec spec;
  spec.position = r.at(node);
  table_place place;
  place.where = "in 'client_cert'";
  place.prefix = "client_cert.";
  const key_hits hits = read_keys<client_cert_spec, client_cert_spec>(
      r, *node.as_table(), client_cert_rows, place, spec);
  if (hits.unknown || !hits.all_ok) return false;
  if (hits.found.empty()) {
    r.add(r.at(node), "'client_cert' needs 'subject' or 'san' (or both)");
    return false;
  }
  out = std::move(spec);
  return true;
}

constexpr std::array<route_row, 13> rows = {{
    {"name", string_kind, "a string", "\"METHOD path\"",
     "unique; unnamed routes are named after their method and path",
     [](toml_reader& r, const toml::node& v, route_reading& reading) {
       const std::string& s = v.as_string()->get();
       if (has_control(s)) {
         r.add(r.at(v), "'name' must not contain control characters");
         return false;
       }
       if (!s.empty()) {
         reading.route.name = s;
         reading.explicit_name = true;
         reading.name_position = r.at(v);
       }
       return true;
     },
     [](const route_spec& r, json::object& o, const json_writing&) { o["name"] = r.name; }},
    {"method", string_kind | array_kind, "a string or an array of strings", "",
     "the request method, or any of several; none = any method",
     [](toml_reader& r, const toml::node& v, route_reading& reading) {
       return read_methods(r, v, reading.route.methods);
     },
     [](const route_spec& r, json::object& o, const json_writing&) {
       if (!r.methods.empty()) o["method"] = strings_json(r.methods);
     },
     key_shape{.items = string_kind}},
    {"path", any_kind, "a string", "", "exact, with {name} segments and an optional trailing /*",
     nullptr,
     [](const route_spec& r, json::object& o, const json_writing&) {
       if (r.path_regex.empty()) o["path"] = r.path;
     },
     key_shape{.kinds = string_kind}},
    {"path_regex", any_kind, "a string", "",
     "an RE2 regex for the whole path, instead of path; named groups are path parameters", nullptr,
     [](const route_spec& r, json::object& o, const json_writing&) {
       if (!r.path_regex.empty()) o["path_regex"] = r.path_regex;
     },
     key_shape{.kinds = string_kind}},
    {"query", table_kind, "a table, e.g. { page = \"2\" }", "",
     "each query parameter present with exactly this value",
     [](toml_reader& r, const toml::node& v, route_reading& reading) {
       return read_query(r, v, reading.route.query);
     },
     [](const route_spec& r, json::object& o, const json_writing&) {
       if (!r.query.empty()) o["query"] = pairs_json(r.query);
     },
     key_shape{.values = scalar_text_kinds}},
    {"headers", table_kind, "a table, e.g. { \"X-Api-Key\" = \"k1\" }", "",
     "each request header present with exactly this value (names case-insensitive)",
     [](toml_reader& r, const toml::node& v, route_reading& reading) {
       return read_match_headers(r, v, reading.route.headers);
     },
     [](const route_spec& r, json::object& o, const json_writing&) {
       if (!r.headers.empty()) o["headers"] = pairs_json(r.headers);
     },
     key_shape{.values = scalar_text_kinds}},
    {"body", table_kind, "a table, e.g. { contains = \"x\" }", "",
     "the request body contains, equals, matches (regex) or holds (json) this",
     [](toml_reader& r, const toml::node& v, route_reading& reading) {
       return read_body_matcher(r, v, "body", "in [route.body]", reading.route.body);
     },
     [](const route_spec& r, json::object& o, const json_writing&) {
       if (r.body) o["body"] = body_matcher_json(*r.body);
     },
     key_shape{.table = body_matcher_doc}},
    {"cookies", table_kind, "a table, e.g. { session = \"s1\" }", "",
     "each cookie sent with exactly this value",
     [](toml_reader& r, const toml::node& v, route_reading& reading) {
       return read_cookie_matchers(r, v, reading.route.cookies);
     },
     [](const route_spec& r, json::object& o, const json_writing&) {
       if (!r.cookies.empty()) o["cookies"] = pairs_json(r.cookies);
     },
     key_shape{.values = scalar_text_kinds}},
    {"form", table_kind, "a table, e.g. { grant_type = \"client_credentials\" }", "",
     "each field of a urlencoded or multipart form body with exactly this value (decoded)",
     [](toml_reader& r, const toml::node& v, route_reading& reading) {
       return read_form_matchers(r, v, reading.route.form);
     },
     [](const route_spec& r, json::object& o, const json_writing&) {
       if (!r.form.empty()) o["form"] = pairs_json(r.form);
     },
     key_shape{.values = scalar_text_kinds}},
    {"when", table_kind, "a table, e.g. { all = [ { json_path = \"$.total\", gt = 100 } ] }", "",
     "conditions: every 'all' holds, one of 'any' (if given), none of 'not'",
     [](toml_reader& r, const toml::node& v, route_reading& reading) {
       return read_when(r, v, reading.route.when);
     },
     [](const route_spec& r, json::object& o, const json_writing&) {
       if (r.when) o["when"] = when_json(*r.when);
     },
     key_shape{.table = when_doc}},
    {"scheme", string_kind, "a string", "", "\"http\" or \"https\": only on that listener",
     [](toml_reader& r, const toml::node& v, route_reading& reading) {
       const auto index = r.get_choice(v, "scheme", scheme_names);
       if (!index) return false;
       reading.route.scheme = std::string(scheme_names[*index]);
       return true;
     },
     [](const route_spec& r, json::object& o, const json_writing&) {
       if (!r.scheme.empty()) o["scheme"] = r.scheme;
     },
     key_shape{.choices = scheme_names}},
    {"client_cert", table_kind, "a table, e.g. { subject = \"CN=billing\" }", "",
     "the TLS client certificate's subject and/or a subjectAltName, exactly",
     [](toml_reader& r, const toml::node& v, route_reading& reading) {
       return read_client_cert(r, v, reading.route.client_cert);
     },
     [](const route_spec& r, json::object& o, const json_writing&) {
       if (!r.client_cert) return;
       json::object cert;
       if (!r.client_cert->subject.empty()) cert["subject"] = r.client_cert->subject;
       if (!r.client_cert->san.empty()) cert["san"] = r.client_cert->san;
       o["client_cert"] = std::move(cert);
     },
     key_shape{.table = [] { return describe(client_cert_rows); }}},
    {"priority", integer_kind, "an integer", "0",
     "higher wins; equal priorities: the earlier route wins",
     [](toml_reader& r, const toml::node& v, route_reading& reading) {
       const std::int64_t n = v.as_integer()->get();
       if (n < std::numeric_limits<int>::min() || n > std::numeric_limits<int>::max()) {
         r.add(r.at(v), concat("'priority' must fit in 32 bits, not ", std::to_string(n)));
         return false;
       }
       reading.route.priority = static_cast<int>(n);
       return true;
     },
     [](const route_spec& r, json::object& o, const json_writing&) {
       if (r.priority) o["priority"] = r.priority;
     }},
}};
static_assert(all_written(rows), "every route key is written to JSON");

std::optional<std::vector<std::string>> path_params(toml_reader& r, const toml::node& node,
                                                    const std::string& text) {
  try {
    return path_pattern::compile(text).param_names();
  } catch (const path_pattern_error& e) {
    r.add(r.at_offset(node, text, e.offset), concat("bad 'path': ", e.what()));
    return std::nullopt;
  }
}

std::optional<std::vector<std::string>> regex_params(toml_reader& r, const toml::node& node,
                                                     const std::string& text) {
  RE2 re(text, RE2::Quiet);
  if (!re.ok()) {
    r.add(r.at(node), concat("bad 'path_regex': ", re.error()));
    return std::nullopt;
  }
  std::map<int, std::string> by_index;
  for (const auto& [name, index] : re.NamedCapturingGroups()) by_index[index] = name;
  if (by_index.size() > max_path_params) {
    r.add(r.at(node), concat("'path_regex' may have at most ", std::to_string(max_path_params),
                             " named groups, not ", std::to_string(by_index.size())));
    return std::nullopt;
  }
  std::vector<std::string> names;
  for (auto& [index, name] : by_index) names.push_back(std::move(name));
  return names;
}

}  // namespace

std::span<const route_row> match_keys() {
  return rows;
}

std::optional<std::vector<std::string>> read_route_path(toml_reader& r, const key_hits& hits,
                                                        route_reading& reading) {
  const toml::node* path = hits.value("path");
  const toml::node* path_regex = hits.value("path_regex");
  route_spec& route = reading.route;
  if (path && path_regex) {
    const toml::node& later = r.before(*path, *path_regex) ? *path_regex : *path;
    r.add(r.at(later), "a route has 'path' or 'path_regex', not both");
  } else if (path) {
    route.path_position = r.at(*path);
    if (const std::string* s = r.get_string(*path, "path")) {
      route.path = *s;
      return path_params(r, *path, *s);
    }
  } else if (path_regex) {
    route.path_position = r.at(*path_regex);
    if (const std::string* s = r.get_string(*path_regex, "path_regex")) {
      route.path_regex = *s;
      return regex_params(r, *path_regex, *s);
    }
  } else {
    r.add(route.position, "a route needs 'path' or 'path_regex'");
  }
  return std::nullopt;
}

}  // namespace stubborn

// Keys of [[route]] from which the server derives statuses before the route's own reply: auth
// (401/403), require_length (411), consumes (415), produces (406), etag and last_modified
// (304/412), ranges (206/416). Adding one: a field in route_spec (include/stubborn/config.hpp),
// the rule in respond/, and one row in `rows`, e.g.
//   {"max_age", integer_kind, "an integer", "", "Cache-Control: max-age on 2xx",
//    [](toml_reader&, const toml::node& v, route_reading& r) {
//      r.route.max_age = v.as_integer()->get();
//      return true;
//    },
//    [](const route_spec& r, json::object& o, const json_writing&) {
//      if (r.max_age) o["max_age"] = *r.max_age;
//    }},
#include <algorithm>
#include <array>
#include <ctime>

#include <boost/json.hpp>

#include "config/route_reading.hpp"
#include "config/toml_reading.hpp"
#include "respond/http_date.hpp"
#include "respond/route_rules.hpp"

namespace stubborn {
namespace {

namespace json = boost::json;

constexpr std::string_view not_a_token =
    " is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)";

// `header = { name, value }`: both are checked once both are known.
using auth_header_row = key_row<auth_spec, auth_spec>;
constexpr std::array<auth_header_row, 2> auth_header_rows = {{
    {"name", any_kind, "a string", "", "the request header carrying the credential", nullptr,
     nullptr, key_shape{.kinds = string_kind}},
    {"value", any_kind, "a string", "", "its value", nullptr, nullptr,
     key_shape{.kinds = string_kind}},
}};

bool read_auth_header(toml_reader& r, const toml::node& node, auth_spec& spec) {
  const toml::table* table = node.as_table();
  if (!table) {
    r.type_error(node, "'header'", "a table, e.g. { name = \"X-Api-Key\", value = \"k\" }");
    return false;
  }
  table_place place;
  place.where = "in [route.auth] header";
  const key_hits hits = read_keys<auth_spec, auth_spec>(r, *table, auth_header_rows, place, spec);
  bool ok = !hits.unknown;
  const toml::node* name_node = hits.value("name");
  const toml::node* value_node = hits.value("value");
  if (!name_node || !value_node) {
    r.add(r.at(node), "[route.auth] 'header' needs a 'name' and a 'value'");
    return false;
  }
  if (const std::string* name = r.get_string(*name_node, "name")) {
    if (!is_token(*name)) {
      r.add(r.at(*name_node), concat("header name ", in_quotes(*name), not_a_token));
      ok = false;
    }
    spec.header_name = *name;
  } else {
    ok = false;
  }
  if (const std::string* value = r.get_string(*value_node, "value")) {
    if (value->empty() || has_control(*value) || value->front() == ' ' || value->back() == ' ') {
      r.add(r.at(*value_node),
            "'value' must be a non-empty string without control characters or spaces at either "
            "end");
      ok = false;
    }
    spec.secret = *value;
  } else {
    ok = false;
  }
  return ok;
}

// Exactly one of them; the others are reported where they were written.
using auth_row = key_row<auth_spec, auth_spec>;
constexpr std::array<auth_row, 3> auth_rows = {{
    {"bearer", any_kind, "a string", "", "Authorization: Bearer <token> (a token68)", nullptr,
     nullptr, key_shape{.kinds = string_kind}},
    {"basic", any_kind, "a string", "", "Authorization: Basic with \"user:password\"", nullptr,
     nullptr, key_shape{.kinds = string_kind}},
    {"header", any_kind, "a table, e.g. { name = \"X-Api-Key\", value = \"k\" }", "",
     "a header with this exact value", nullptr, nullptr,
     key_shape{.kinds = table_kind, .table = [] { return describe(auth_header_rows); }}},
}};

// [route.auth]: exactly one of bearer = "token", basic = "user:pass", header = { name, value }.
std::optional<auth_spec> read_auth(toml_reader& r, const toml::node& node) {
  auth_spec ignored;
  table_place place;
  place.where = "in [route.auth]";
  key_hits hits = read_keys<auth_spec, auth_spec>(r, *node.as_table(), auth_rows, place, ignored);
  bool ok = !hits.unknown;
  // toml++ keeps keys sorted; the conflict is reported where the second one was written.
  std::sort(hits.found.begin(), hits.found.end(),
            [&](const key_hit& x, const key_hit& y) { return r.before(*x.value, *y.value); });
  std::optional<auth_spec> auth;
  const key_hit* first = nullptr;
  for (const key_hit& hit : hits.found) {
    const toml::node& value = *hit.value;
    const std::string_view name = hit.name;
    if (first) {
      r.add(r.at(value), concat("[route.auth] takes one of 'bearer', 'basic' and 'header', not "
                                "both '",
                                first->name, "' and '", name, "'"));
      ok = false;
      continue;
    }
    first = &hit;
    auth_spec spec;
    spec.position = r.at(value);
    if (name == "header") {
      spec.kind = auth_kind::header;
      if (!read_auth_header(r, value, spec)) ok = false;
    } else {
      spec.kind = name == "bearer" ? auth_kind::bearer : auth_kind::basic;
      const std::string* secret = r.get_string(value, name);
      if (!secret) {
        ok = false;
      } else if (secret->empty() || has_control(*secret)) {
        r.add(r.at(value),
              concat(in_quotes(name), " must be a non-empty string without control characters"));
        ok = false;
      } else if (name == "bearer" && !is_token68(*secret)) {
        // RFC 6750 §2.1: b64token, so that clients can send it as it is.
        r.add(r.at(value), concat("'bearer' must be a token68 (letters, digits and -._~+/, then "
                                  "any '='), not \"",
                                  *secret, "\""));
        ok = false;
      } else if (name == "basic" && secret->find(':') == std::string::npos) {
        // RFC 7617 §2: user-id ":" password; the user-id cannot contain a colon.
        r.add(r.at(value), concat("'basic' must be \"user:password\", not \"", *secret, "\""));
        ok = false;
      }
      if (secret) spec.secret = *secret;
    }
    auth = std::move(spec);
  }
  if (!first && ok) {
    r.add(r.at(node), "[route.auth] needs one of 'bearer', 'basic' or 'header'");
    return std::nullopt;
  }
  return ok ? auth : std::nullopt;
}

json::value auth_json(const auth_spec& auth, const json_writing& how) {
  if (!how.secrets) {
    // Secrets are not echoed: only which kind of credentials the route wants.
    switch (auth.kind) {
      case auth_kind::bearer:
        return json::value("bearer");
      case auth_kind::basic:
        return json::value("basic");
      case auth_kind::header:
        return json::value(concat("header:", auth.header_name));
    }
  }
  json::object o;
  const std::string kind(auth_rows[static_cast<std::size_t>(auth.kind)].name);
  if (auth.kind == auth_kind::header) {
    o[kind] = json::object{{"name", auth.header_name}, {"value", auth.secret}};
  } else {
    o[kind] = auth.secret;
  }
  return o;
}

bool read_last_modified(toml_reader& r, const toml::node& node, std::string& out) {
  const std::string& s = node.as_string()->get();
  // RFC 9110 §5.6.7: we send it as written, so it must be the preferred IMF-fixdate form.
  const auto time = parse_http_date(s);
  std::array<char, http_date_length> formatted{};
  if (time) format_http_date(static_cast<std::time_t>(*time), formatted.data());
  if (!time || s.size() != http_date_length ||
      std::string_view(formatted.data(), http_date_length) != s) {
    r.add(r.at(node), concat("'last_modified' must be an IMF-fixdate like "
                             "\"Sun, 06 Nov 1994 08:49:37 GMT\", not \"",
                             s, "\""));
    return false;
  }
  out = s;
  return true;
}

// produces / consumes: "type/subtype" or an array of them, kept in lower case.
bool read_media_types(toml_reader& r, const toml::node& node, std::string_view key,
                      std::vector<std::string>& out) {
  std::vector<const toml::node*> items;
  if (node.is_string()) {
    items.push_back(&node);
  } else {
    const toml::array& array = *node.as_array();
    if (array.empty()) {
      r.add(r.at(node),
            concat(in_quotes(key), " must not be an empty array (leave it out instead)"));
      return false;
    }
    for (const toml::node& item : array) items.push_back(&item);
  }
  bool all_ok = true;
  for (const toml::node* item : items) {
    const std::string* s = r.get_string(*item, concat("each ", in_quotes(key)));
    if (!s) {
      all_ok = false;
      continue;
    }
    const auto slash = s->find('/');
    const bool ok = slash != std::string::npos && is_token(s->substr(0, slash)) &&
                    is_token(s->substr(slash + 1)) && s->find('*') == std::string::npos;
    if (!ok) {
      r.add(r.at(*item), concat(in_quotes(key),
                                " lists media types like \"application/json\" (no wildcards or "
                                "parameters), not \"",
                                *s, "\""));
      all_ok = false;
      continue;
    }
    std::string lower;
    for (char c : *s) lower.push_back(ascii_lower(c));
    out.push_back(std::move(lower));
  }
  return all_ok;
}

constexpr std::array<route_row, 7> rows = {{
    {"auth", table_kind, "a table, written [route.auth]", "",
     "credentials required: 401 without them, 403 with wrong ones",
     [](toml_reader& r, const toml::node& v, route_reading& reading) {
       reading.route.auth = read_auth(r, v);
       return reading.route.auth.has_value();
     },
     [](const route_spec& r, json::object& o, const json_writing& how) {
       if (r.auth) o["auth"] = auth_json(*r.auth, how);
     },
     key_shape{.table = [] { return describe(auth_rows); }}},
    {"etag", boolean_kind, "a boolean (true or false)", "false",
     "a strong ETag from the body on 2xx; If-None-Match gives 304, If-Match 412",
     [](toml_reader&, const toml::node& v, route_reading& reading) {
       reading.route.etag = v.as_boolean()->get();
       return true;
     },
     [](const route_spec& r, json::object& o, const json_writing&) {
       if (r.etag) o["etag"] = true;
     }},
    {"last_modified", string_kind, "a string", "",
     "an IMF-fixdate sent as Last-Modified; If-Modified-Since gives 304",
     [](toml_reader& r, const toml::node& v, route_reading& reading) {
       return read_last_modified(r, v, reading.route.last_modified);
     },
     [](const route_spec& r, json::object& o, const json_writing&) {
       if (!r.last_modified.empty()) o["last_modified"] = r.last_modified;
     }},
    {"ranges", boolean_kind, "a boolean (true or false)", "false",
     "Accept-Ranges: bytes; a Range on GET gives 206 or 416",
     [](toml_reader&, const toml::node& v, route_reading& reading) {
       reading.route.ranges = v.as_boolean()->get();
       return true;
     },
     [](const route_spec& r, json::object& o, const json_writing&) {
       if (r.ranges) o["ranges"] = true;
     }},
    {"produces", string_kind | array_kind, "a string or an array of strings", "",
     "media types of the reply; an Accept excluding all of them gives 406",
     [](toml_reader& r, const toml::node& v, route_reading& reading) {
       return read_media_types(r, v, "produces", reading.route.produces);
     },
     [](const route_spec& r, json::object& o, const json_writing&) {
       if (!r.produces.empty()) o["produces"] = strings_json(r.produces);
     },
     key_shape{.items = string_kind}},
    {"consumes", string_kind | array_kind, "a string or an array of strings", "",
     "media types accepted in a request body; another gives 415",
     [](toml_reader& r, const toml::node& v, route_reading& reading) {
       return read_media_types(r, v, "consumes", reading.route.consumes);
     },
     [](const route_spec& r, json::object& o, const json_writing&) {
       if (!r.consumes.empty()) o["consumes"] = strings_json(r.consumes);
     },
     key_shape{.items = string_kind}},
    {"require_length", boolean_kind, "a boolean (true or false)", "false",
     "a chunked request body (no Content-Length) gives 411",
     [](toml_reader&, const toml::node& v, route_reading& reading) {
       reading.route.require_length = v.as_boolean()->get();
       return true;
     },
     [](const route_spec& r, json::object& o, const json_writing&) {
       if (r.require_length) o["require_length"] = true;
     }},
}};
static_assert(all_written(rows), "every route key is written to JSON");

}  // namespace

std::span<const route_row> derived_keys() {
  return rows;
}

}  // namespace stubborn

// [route.proxy]. Adding a key: a field in proxy_spec (include/stubborn/config.hpp), what the
// proxy does with it, and one row in `rows`, e.g.
//   {"retries", integer_kind, "an integer", "0", "connect again this many times before 502",
//    [](toml_reader& r, const toml::node& v, proxy_spec& p) {
//      return read_retries(r, v, p.retries);
//    },
//    [](const proxy_spec& p, json::object& o, const json_writing&) {
//      if (p.retries) o["retries"] = p.retries;
//    }},
#include "config/proxy_section.hpp"

#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include <boost/json.hpp>

#include "config/reply_section.hpp"
#include "config/reply_timing.hpp"
#include "config/route_json.hpp"
#include "config/tls_section.hpp"
#include "config/toml_reading.hpp"
#include "respond/reply_plan.hpp"
#include "stubborn/load_config.hpp"

namespace stubborn {
namespace {

namespace json = boost::json;

constexpr std::string_view duration_type = "a duration string with a unit, e.g. \"10s\"";
constexpr std::string_view names_type = "an array of header names, e.g. [\"Cookie\"]";
// The proxy frames both messages and manages both connections itself.
constexpr std::array<std::string_view, 3> framing_headers = {"Content-Length", "Transfer-Encoding",
                                                             "Connection"};

// remove = ["Cookie"]: header names (RFC 9110 §5.1), not the ones the proxy itself sets.
bool read_header_names(toml_reader& r, const toml::node& node, std::string_view key,
                       std::vector<std::string>& out) {
  bool ok = true;
  for (const toml::node& item : *node.as_array()) {
    const std::string* name = item.is_string() ? &item.as_string()->get() : nullptr;
    if (!name) {
      r.type_error(item, concat("each ", in_quotes(key)), "a string");
      ok = false;
    } else if (!is_token(*name)) {
      r.add(r.at(item), concat("header name ", in_quotes(*name),
                               " is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)"));
      ok = false;
    } else if (std::any_of(framing_headers.begin(), framing_headers.end(),
                           [&](std::string_view h) { return iequal(h, *name); })) {
      r.add(r.at(item),
            concat("header ", in_quotes(*name), " is set by the server and cannot be configured"));
      ok = false;
    } else {
      out.push_back(*name);
    }
  }
  return ok;
}

// status_map = { 200 = 503 }: keys are upstream statuses, values the statuses sent instead.
bool read_status_map(toml_reader& r, const toml::node& node,
                     std::vector<std::pair<int, int>>& out) {
  bool ok = true;
  std::vector<std::pair<int, int>> map;
  for (auto&& [key, value] : *node.as_table()) {
    const std::string_view text = key.str();
    const bool digits = text.size() == 3 && std::all_of(text.begin(), text.end(), [](char c) {
                          return c >= '0' && c <= '9';
                        });
    const int from = digits ? std::stoi(std::string(text)) : 0;
    if (from < 100 || from > 599) {
      r.add(r.at(key),
            concat("'status_map' keys are upstream statuses \"100\"..\"599\", not \"", text, "\""));
      ok = false;
      continue;
    }
    const auto to = r.get_integer(value, concat("status_map.", text));
    if (!to) {
      ok = false;
    } else if (*to < 200 || *to > 599) {
      // The status replaces a final one: an interim (1xx) status cannot end a reply.
      r.add(r.at(value), concat("'status_map.", text, "' must be a final status 200..599, not ",
                                std::to_string(*to)));
      ok = false;
    } else {
      map.emplace_back(from, static_cast<int>(*to));
    }
  }
  std::sort(map.begin(), map.end());
  if (ok) out = std::move(map);
  return ok;
}

constexpr std::array<proxy_row, 17> rows = {{
    {"to", string_kind, "a string", "", "the upstream: \"http://host[:port][/base]\" or https://",
     [](toml_reader& r, const toml::node& v, proxy_spec& p) {
       std::string problem = parse_upstream_url(v.as_string()->get(), p, "'to'");
       if (problem.empty()) return true;
       r.add(r.at(v), std::move(problem));
       return false;
     },
     [](const proxy_spec& p, json::object& o, const json_writing&) { o["to"] = p.to; }},
    {"strip_prefix", string_kind, "a string", "",
     "removed from the start of the request path before the upstream's base path is added",
     [](toml_reader& r, const toml::node& v, proxy_spec& p) {
       const std::string& s = v.as_string()->get();
       if (s.size() < 2 || s.front() != '/' || s.back() == '/' || has_control(s) ||
           s.find_first_of(" ?#") != std::string::npos) {
         r.add(r.at(v), concat("'strip_prefix' must be a path that starts with '/' and does not "
                               "end with one, e.g. \"/api\", not \"",
                               s, "\""));
         return false;
       }
       p.strip_prefix = s;
       return true;
     },
     [](const proxy_spec& p, json::object& o, const json_writing&) {
       if (!p.strip_prefix.empty()) o["strip_prefix"] = p.strip_prefix;
     }},
    {"connect_timeout", string_kind, duration_type, "\"2s\"",
     "no connection to the upstream by then: 502",
     [](toml_reader& r, const toml::node& v, proxy_spec& p) {
       return r.read_duration(v, "connect_timeout", false, p.connect_timeout);
     },
     [](const proxy_spec& p, json::object& o, const json_writing&) {
       if (p.connect_timeout != proxy_spec{}.connect_timeout) {
         o["connect_timeout"] = duration_text(p.connect_timeout);
       }
     }},
    {"timeout", string_kind, duration_type, "\"30s\"",
     "no complete reply head from the upstream by then: 504",
     [](toml_reader& r, const toml::node& v, proxy_spec& p) {
       return r.read_duration(v, "timeout", false, p.timeout);
     },
     [](const proxy_spec& p, json::object& o, const json_writing&) {
       if (p.timeout != proxy_spec{}.timeout) o["timeout"] = duration_text(p.timeout);
     }},
    {"headers", table_kind, "a table, e.g. { \"X-Stub\" = \"1\" }", "",
     "set on the upstream request (replacing the client's), as written",
     [](toml_reader& r, const toml::node& v, proxy_spec& p) {
       return read_reply_headers(r, v, std::nullopt, p.headers);
     },
     [](const proxy_spec& p, json::object& o, const json_writing&) {
       if (!p.headers.empty()) o["headers"] = pairs_json(p.headers);
     },
     key_shape{.values = scalar_text_kinds}},
    {"remove", array_kind, names_type, "", "header names removed from the upstream request",
     [](toml_reader& r, const toml::node& v, proxy_spec& p) {
       return read_header_names(r, v, "remove", p.remove);
     },
     [](const proxy_spec& p, json::object& o, const json_writing&) {
       if (!p.remove.empty()) o["remove"] = strings_json(p.remove);
     },
     key_shape{.items = string_kind}},
    {"preserve_host", boolean_kind, "a boolean (true or false)", "false",
     "send the client's Host (else the upstream's, with the client's in X-Forwarded-Host)",
     [](toml_reader&, const toml::node& v, proxy_spec& p) {
       p.preserve_host = v.as_boolean()->get();
       return true;
     },
     [](const proxy_spec& p, json::object& o, const json_writing&) {
       if (p.preserve_host) o["preserve_host"] = true;
     }},
    {"ca", string_kind, "a string", "",
     "https only: a PEM file of the CAs trusted for the upstream (default: the system's)",
     [](toml_reader& r, const toml::node& v, proxy_spec& p) {
       return read_path(r, v, "ca", true, p.ca);
     },
     [](const proxy_spec& p, json::object& o, const json_writing&) {
       if (!p.ca.empty()) o["ca"] = p.ca;
     }},
    {"verify", boolean_kind, "a boolean (true or false)", "true",
     "https only: check the upstream's certificate and name",
     [](toml_reader&, const toml::node& v, proxy_spec& p) {
       p.verify = v.as_boolean()->get();
       return true;
     },
     [](const proxy_spec& p, json::object& o, const json_writing&) {
       if (!p.verify) o["verify"] = false;
     }},
    {"delay", string_kind | table_kind, delay_forms, "", "wait before forwarding the request",
     [](toml_reader& r, const toml::node& v, proxy_spec& p) {
       return read_delay(r, v, p.delay, "delay");
     },
     [](const proxy_spec& p, json::object& o, const json_writing&) {
       if (p.delay.type != delay_spec::kind::none) o["delay"] = delay_json(p.delay);
     },
     key_shape{.table = delay_doc}},
    {"delay_reply", string_kind | table_kind, delay_forms, "",
     "wait before relaying the upstream's reply",
     [](toml_reader& r, const toml::node& v, proxy_spec& p) {
       return read_delay(r, v, p.delay_reply, "delay_reply");
     },
     [](const proxy_spec& p, json::object& o, const json_writing&) {
       if (p.delay_reply.type != delay_spec::kind::none) {
         o["delay_reply"] = delay_json(p.delay_reply);
       }
     },
     key_shape{.table = delay_doc}},
    {"fault", string_kind,
     "one of \"reset\", \"close\", \"empty\", \"truncate\", \"garbage\" or \"malformed-chunk\"", "",
     "reset, close, empty, garbage: without calling the upstream; truncate, malformed-chunk: "
     "cut the relayed reply",
     [](toml_reader& r, const toml::node& v, proxy_spec& p) {
       const auto index = r.get_choice(v, "fault", fault_names());
       if (index) p.fault = fault_at(*index);
       return index.has_value();
     },
     [](const proxy_spec& p, json::object& o, const json_writing&) {
       if (p.fault != fault_kind::none) o["fault"] = fault_name(p.fault);
     },
     key_shape{.choices = fault_texts}},
    {"chunks", table_kind, "a table, e.g. { count = 10, over = \"2s\" }", "",
     "relay the body chunked, in `count` chunks spread over `over`",
     [](toml_reader& r, const toml::node& v, proxy_spec& p) { return read_chunks(r, v, p.chunks); },
     [](const proxy_spec& p, json::object& o, const json_writing&) {
       if (p.chunks.count) o["chunks"] = chunks_json(p.chunks);
     },
     key_shape{.table = chunks_doc}},
    {"bandwidth", integer_kind | string_kind,
     "a size per second, e.g. \"64KiB/s\", or an integer (bytes per second)", "",
     "relay the body at this many bytes per second",
     [](toml_reader& r, const toml::node& v, proxy_spec& p) {
       return read_bandwidth(r, v, p.bandwidth);
     },
     [](const proxy_spec& p, json::object& o, const json_writing&) {
       if (p.bandwidth) o["bandwidth"] = p.bandwidth;
     }},
    {"status_map", table_kind, "a table, e.g. { 200 = 503 }", "",
     "upstream status -> status sent; the body is kept",
     [](toml_reader& r, const toml::node& v, proxy_spec& p) {
       return read_status_map(r, v, p.status_map);
     },
     [](const proxy_spec& p, json::object& o, const json_writing&) {
       if (p.status_map.empty()) return;
       json::object map;
       for (const auto& [from, to] : p.status_map) map[std::to_string(from)] = to;
       o["status_map"] = std::move(map);
     },
     key_shape{.values = integer_kind}},
    {"reply_headers", table_kind, "a table, e.g. { \"X-Proxied\" = \"1\" }", "",
     "set on the relayed reply (replacing the upstream's), as written",
     [](toml_reader& r, const toml::node& v, proxy_spec& p) {
       return read_reply_headers(r, v, std::nullopt, p.reply_headers);
     },
     [](const proxy_spec& p, json::object& o, const json_writing&) {
       if (!p.reply_headers.empty()) o["reply_headers"] = pairs_json(p.reply_headers);
     },
     key_shape{.values = scalar_text_kinds}},
    {"reply_remove", array_kind, names_type, "", "header names removed from the relayed reply",
     [](toml_reader& r, const toml::node& v, proxy_spec& p) {
       return read_header_names(r, v, "reply_remove", p.reply_remove);
     },
     [](const proxy_spec& p, json::object& o, const json_writing&) {
       if (!p.reply_remove.empty()) o["reply_remove"] = strings_json(p.reply_remove);
     },
     key_shape{.items = string_kind}},
}};
static_assert(all_written(rows), "every proxy key is written to JSON");

constexpr std::array<route_row, 1> route_rows = {{
    {"proxy", table_kind, "a table, written [route.proxy]", "",
     "forward requests to a real upstream and relay its replies",
     [](toml_reader& r, const toml::node& v, route_reading& reading) {
       reading.route.proxy = read_proxy(r, v);
       return reading.route.proxy.has_value();
     },
     [](const route_spec& r, json::object& o, const json_writing& how) {
       if (!r.proxy) return;
       json::object proxy;
       write_keys<proxy_spec, proxy_spec>(rows, *r.proxy, proxy, how);
       o["proxy"] = std::move(proxy);
     },
     key_shape{.table = [] { return describe(proxy_keys()); }}},
}};

// What a proxy route cannot have, as messages name it.
struct reply_key {
  std::string_view key;
  std::string_view named;
};
constexpr std::array<reply_key, 8> reply_keys_of_route = {{
    {"reply", "[route.reply]"},
    {"replies", "[[route.replies]]"},
    {"then", "'then'"},
    {"etag", "'etag'"},
    {"last_modified", "'last_modified'"},
    {"ranges", "'ranges'"},
    {"continue_delay", "'continue_delay'"},
    {"expect", "expect = \"reject\""},
}};

}  // namespace

std::span<const proxy_row> proxy_keys() {
  return rows;
}

std::span<const route_row> proxy_route_keys() {
  return route_rows;
}

std::optional<proxy_spec> read_proxy(toml_reader& r, const toml::node& node) {
  const std::size_t problems = r.problems().size();
  proxy_spec proxy;
  proxy.position = r.at(node);
  table_place place;
  place.where = "in [route.proxy]";
  const key_hits hits = read_keys<proxy_spec, proxy_spec>(r, *node.as_table(), rows, place, proxy);
  const key_hit* to = hits.find("to");
  if (!to) {
    r.add(r.at(node),
          "[route.proxy] needs 'to': the upstream's URL, e.g. to = \"http://127.0.0.1:9000\"");
  }
  // A plain-HTTP upstream has no certificate to check.
  if (to && to->ok && !proxy.tls) {
    for (const std::string_view key : {"ca", "verify"}) {
      if (const key_hit* hit = hits.find(key); hit && hit->ok) {
        r.add(r.at(*hit->value), concat(in_quotes(key), " is only for an https:// upstream, and \"",
                                        proxy.to, "\" is plain HTTP"));
      }
    }
  }
  const toml::node* chunks = hits.value("chunks");
  const toml::node* bandwidth = hits.value("bandwidth");
  if (chunks && bandwidth) {
    // The body goes out as timed chunks or as a throttled stream; the proxy does not mix them.
    r.add(r.at(r.before(*chunks, *bandwidth) ? *bandwidth : *chunks),
          "[route.proxy] has 'chunks' or 'bandwidth', not both");
  }
  if (r.problems().size() != problems) return std::nullopt;
  return proxy;
}

void check_proxy_route(toml_reader& r, const key_hits& hits, const route_reading& reading) {
  if (!hits.value("proxy")) return;
  for (const reply_key& conflict : reply_keys_of_route) {
    const toml::node* value = hits.value(conflict.key);
    if (!value) continue;
    // RFC 9110 §10.1.1: the upstream answers Expect: 100-continue; the default only forwards it.
    if (conflict.key == "expect" && reading.route.expect != expect_mode::reject) continue;
    r.add(r.at(*value), concat("a proxy route relays its upstream's reply; ", conflict.named,
                               " cannot be used with [route.proxy]"));
  }
}

}  // namespace stubborn

// The [server.tls] table and its [[server.tls.names]] entries. Adding a key: a field in
// tls_config or tls_name_spec (include/stubborn/config.hpp) and one row below, e.g.
//   {"session_tickets", boolean_kind, "a boolean (true or false)", "true", "resume sessions",
//    [](toml_reader&, const toml::node& v, tls_config& t) {
//      t.session_tickets = v.as_boolean()->get();
//      return true;
//    },
//    [](const tls_config& t, json::object& o, const json_writing&) {
//      o["session_tickets"] = t.session_tickets;
//    }},
#include "config/tls_section.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <map>
#include <string>
#include <utility>

#include <boost/json.hpp>

#include "config/route_json.hpp"
#include "config/tls_alerts.hpp"
#include "config/toml_reading.hpp"
#include "stubborn/load_config.hpp"

namespace stubborn {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

using row = key_row<tls_config, tls_config>;
using name_row = key_row<tls_name_spec, tls_name_spec>;

constexpr std::string_view duration_type = "a duration string with a unit, e.g. \"10s\"";
constexpr std::string_view version_type = "a string, e.g. \"1.2\"";

constexpr std::array<std::string_view, 4> version_names = {"1.0", "1.1", "1.2", "1.3"};
constexpr std::array<std::string_view, 3> client_auth_names = {"none", "request", "require"};
constexpr std::array<std::string_view, 5> fault_names = {"expired", "not-yet-valid", "wrong-host",
                                                         "self-signed", "untrusted-issuer"};
constexpr std::array<std::string_view, 3> handshake_words = {"stall", "reset", "close"};

// Not get_choice: every version is one edit from another, so a suggestion would only mislead.
bool read_version(toml_reader& r, const toml::node& v, std::string_view key, tls_version& out) {
  const std::string& text = v.as_string()->get();
  const auto found = std::find(version_names.begin(), version_names.end(), text);
  if (found == version_names.end()) {
    r.add(r.at(v),
          concat(in_quotes(key), " must be ", choices_text(version_names), ", not \"", text, "\""));
    return false;
  }
  out = static_cast<tls_version>(found - version_names.begin() + 1);
  return true;
}

// A handshake table, { delay = "5s" } or { alert = "NAME" }: read_handshake takes one of them.
using handshake_row = key_row<handshake_spec, handshake_spec>;
const std::array<handshake_row, 2> handshake_rows = {{
    {"delay", string_kind, "a duration string with a unit, e.g. \"5s\"", "",
     "answer the ClientHello after this delay", nullptr, nullptr},
    {"alert", string_kind, "a string", "",
     "answer with this fatal alert, named as RFC 8446 section 6 names it", nullptr, nullptr,
     key_shape{.choices = tls_alert_names()}},
}};

}  // namespace

// Files read at start (`must_exist`) are checked here too, so a missing one is named with its
// place in the file.
bool read_path(toml_reader& r, const toml::node& v, std::string_view key, bool must_exist,
               std::string& out) {
  const std::string& written = v.as_string()->get();
  if (written.empty() || has_control(written)) {
    r.add(r.at(v), concat(in_quotes(key), " must be a file path"));
    return false;
  }
  const fs::path path = fs::path(written).is_absolute()
                            ? fs::path(written)
                            : (r.base_dir() / fs::path(written)).lexically_normal();
  if (must_exist) {
    std::error_code ec;
    const bool regular = fs::is_regular_file(path, ec);
    if (!regular) {
      r.add(r.at(v), concat("cannot read ", in_quotes(key), " \"", written,
                            "\": ", ec ? ec.message() : std::string("not a regular file")));
      return false;
    }
  }
  out = path.string();
  return true;
}

namespace {

bool read_ciphers(toml_reader& r, const toml::node& v, std::string& out) {
  const std::string& text = v.as_string()->get();
  if (text.empty() || has_control(text)) {
    r.add(r.at(v), "'ciphers' must be an OpenSSL cipher list, e.g. \"ECDHE+AESGCM\"");
    return false;
  }
  out = text;
  return true;
}

bool is_dns_label(std::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
    return false;
  }
  return std::all_of(label.begin(), label.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool is_ip_address(std::string_view host) {
  const std::string text(host);
  unsigned char buffer[16];
  return inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

// RFC 1123 section 2.1: letters, digits and hyphens in labels of at most 63, 253 in all.
bool is_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (std::string_view rest = name;;) {
    const std::size_t dot = rest.find('.');
    if (!is_dns_label(rest.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    rest.remove_prefix(dot + 1);
  }
}

bool read_hosts(toml_reader& r, const toml::node& v, std::vector<std::string>& out) {
  const toml::array& array = *v.as_array();
  if (array.empty()) {
    r.add(r.at(v), "'hosts' must name at least one host for the made certificate");
    return false;
  }
  out.clear();
  bool ok = true;
  for (const toml::node& item : array) {
    const std::string* host = item.is_string() ? &item.as_string()->get() : nullptr;
    if (!host) {
      r.type_error(item, "each 'hosts'", "a string");
      ok = false;
      continue;
    }
    if (!is_tls_host(*host, true)) {
      r.add(r.at(item), concat("'hosts' holds host names (\"api.test\", \"*.test\") and IP "
                               "addresses, not \"",
                               *host, "\""));
      ok = false;
      continue;
    }
    out.push_back(*host);
  }
  return ok;
}

// handshake = "stall" | "reset" | "close" | { delay = "5s" } | { alert = "NAME" }.
bool read_handshake(toml_reader& r, const toml::node& v, handshake_spec& out) {
  if (const auto* word = v.as_string()) {
    const auto found = std::find(handshake_words.begin(), handshake_words.end(), word->get());
    if (found == handshake_words.end()) {
      r.add(r.at(v), concat("'handshake' must be ", choices_text(handshake_words),
                            ", or a table { delay = \"5s\" } or { alert = \"NAME\" }, not \"",
                            word->get(), "\"", suggestion(word->get(), handshake_words)));
      return false;
    }
    constexpr std::array<handshake_spec::kind, 3> kinds = {
        handshake_spec::kind::stall, handshake_spec::kind::reset, handshake_spec::kind::close};
    out.type = kinds[static_cast<std::size_t>(found - handshake_words.begin())];
    return true;
  }
  const toml::table& table = *v.as_table();
  const toml::node* chosen = nullptr;
  std::string_view chosen_key;
  for (auto&& [key, value] : table) {
    // A name, not the binding, in the lambda: clang 14 cannot capture structured bindings.
    const std::string_view name = key.str();
    const auto row = std::find_if(handshake_rows.begin(), handshake_rows.end(),
                                  [&](const handshake_row& h) { return h.name == name; });
    if (row == handshake_rows.end()) {
      std::vector<std::string_view> known;
      for (const handshake_row& h : handshake_rows) known.push_back(h.name);
      r.unknown_key(key, "in 'handshake'", known);
      return false;
    }
    if (chosen) {
      r.add(r.at(r.before(*chosen, value) ? value : *chosen),
            "'handshake' has one of 'delay' or 'alert', not both");
      return false;
    }
    chosen = &value;
    chosen_key = key.str();
  }
  if (!chosen) {
    r.add(r.at(v), "'handshake' needs 'delay' (e.g. { delay = \"5s\" }) or 'alert'");
    return false;
  }
  if (chosen_key == "delay") {
    if (!r.read_duration(*chosen, "handshake.delay", false, out.delay)) return false;
    out.type = handshake_spec::kind::delay;
    return true;
  }
  const std::string* name = r.get_string(*chosen, "handshake.alert");
  if (!name) return false;
  const int code = tls_alert_code(*name);
  if (code < 0) {
    r.add(r.at(*chosen), concat("unknown TLS alert \"", *name,
                                "\" (the names of RFC 8446 section 6, e.g. \"handshake_failure\")",
                                suggestion(*name, tls_alert_names())));
    return false;
  }
  out.type = handshake_spec::kind::alert;
  out.alert = *name;
  out.alert_code = code;
  return true;
}

json::value handshake_json(const handshake_spec& h) {
  switch (h.type) {
    case handshake_spec::kind::normal:
      return nullptr;
    case handshake_spec::kind::delay:
      return json::object{{"delay", duration_text(h.delay)}};
    case handshake_spec::kind::stall:
      return "stall";
    case handshake_spec::kind::reset:
      return "reset";
    case handshake_spec::kind::close:
      return "close";
    case handshake_spec::kind::alert:
      return json::object{{"alert", h.alert}};
  }
  return nullptr;
}

constexpr std::array<name_row, 6> name_rows = {{
    {"name", string_kind, "a string", "", "the SNI name: exact, or \"*.suffix\"",
     [](toml_reader& r, const toml::node& v, tls_name_spec& n) {
       const std::string& name = v.as_string()->get();
       if (is_ip_address(name)) {
         // RFC 6066 section 3: a literal IP address is never sent as a server name.
         r.add(r.at(v), concat("'name' must be a host name, not the IP address \"", name,
                               "\": clients never send an IP address as SNI"));
         return false;
       }
       if (!is_tls_host(name, true)) {
         r.add(r.at(v), concat("'name' must be a host name (\"slow.localhost\") or a wildcard "
                               "(\"*.test\"), not \"",
                               name, "\""));
         return false;
       }
       n.name = name;
       return true;
     },
     [](const tls_name_spec& n, json::object& o, const json_writing&) { o["name"] = n.name; }},
    {"cert", string_kind, "a string", "",
     "a certificate with one fault: expired, not-yet-valid, wrong-host, self-signed, "
     "untrusted-issuer",
     [](toml_reader& r, const toml::node& v, tls_name_spec& n) {
       const auto index = r.get_choice(v, "cert", fault_names);
       if (!index) return false;
       n.cert = static_cast<certificate_fault>(*index + 1);
       return true;
     },
     [](const tls_name_spec& n, json::object& o, const json_writing&) {
       if (n.cert != certificate_fault::none) {
         o["cert"] = fault_names[static_cast<std::size_t>(n.cert) - 1];
       }
     },
     key_shape{.choices = fault_names}},
    {"handshake", string_kind | table_kind,
     "a string (\"stall\", \"reset\", \"close\") or a table ({ delay = \"5s\" }, "
     "{ alert = \"NAME\" })",
     "", "what the handshake does: delay, stall, reset, close or a fatal alert",
     [](toml_reader& r, const toml::node& v, tls_name_spec& n) {
       return read_handshake(r, v, n.handshake);
     },
     [](const tls_name_spec& n, json::object& o, const json_writing&) {
       if (n.handshake.type != handshake_spec::kind::normal) {
         o["handshake"] = handshake_json(n.handshake);
       }
     },
     key_shape{.table = [] { return describe(handshake_rows); }, .choices = handshake_words}},
    {"min_version", string_kind, version_type, "", "the oldest TLS version offered to this name",
     [](toml_reader& r, const toml::node& v, tls_name_spec& n) {
       return read_version(r, v, "min_version", n.min_version);
     },
     [](const tls_name_spec& n, json::object& o, const json_writing&) {
       if (n.min_version != tls_version::unset) o["min_version"] = tls_version_name(n.min_version);
     },
     key_shape{.choices = version_names}},
    {"max_version", string_kind, version_type, "", "the newest TLS version offered to this name",
     [](toml_reader& r, const toml::node& v, tls_name_spec& n) {
       return read_version(r, v, "max_version", n.max_version);
     },
     [](const tls_name_spec& n, json::object& o, const json_writing&) {
       if (n.max_version != tls_version::unset) o["max_version"] = tls_version_name(n.max_version);
     },
     key_shape{.choices = version_names}},
    {"ciphers", string_kind, "a string", "", "OpenSSL cipher list for this name",
     [](toml_reader& r, const toml::node& v, tls_name_spec& n) {
       return read_ciphers(r, v, n.ciphers);
     },
     [](const tls_name_spec& n, json::object& o, const json_writing&) {
       if (!n.ciphers.empty()) o["ciphers"] = n.ciphers;
     }},
}};
static_assert(all_written(name_rows), "every [[server.tls.names]] key is written to JSON");

// Both versions read: min_version must not be newer than max_version.
void check_versions(toml_reader& r, const key_hits& hits, tls_version min, tls_version max) {
  const key_hit* min_hit = hits.find("min_version");
  const key_hit* max_hit = hits.find("max_version");
  if (!max_hit || !max_hit->ok || (min_hit && !min_hit->ok)) return;
  if (min == tls_version::unset || max == tls_version::unset || min <= max) return;
  r.add(r.at(*max_hit->value),
        concat("'max_version' \"", tls_version_name(max), "\" is older than 'min_version' \"",
               tls_version_name(min), "\""));
}

bool read_names(toml_reader& r, const toml::node& v, std::vector<tls_name_spec>& out) {
  const toml::array* array = v.as_array();
  if (!array) {
    r.type_error(v, "'names'", "an array of tables, written [[server.tls.names]]");
    return false;
  }
  std::map<std::string, source_position> seen;
  bool ok = true;
  for (const toml::node& element : *array) {
    const toml::table* table = element.as_table();
    if (!table) {
      r.type_error(element, "each 'names'", "a table, written [[server.tls.names]]");
      ok = false;
      continue;
    }
    tls_name_spec entry;
    entry.position = r.at(*table);
    table_place place;
    place.where = "in [[server.tls.names]]";
    const key_hits hits =
        read_keys<tls_name_spec, tls_name_spec>(r, *table, name_rows, place, entry);
    ok = ok && hits.all_ok && !hits.unknown;
    check_versions(r, hits, entry.min_version, entry.max_version);
    const key_hit* name = hits.find("name");
    if (!name) {
      r.add(entry.position, "a [[server.tls.names]] entry needs 'name', the SNI name it is for");
      ok = false;
      continue;
    }
    if (!name->ok) continue;
    // DNS names are case-insensitive (RFC 4343): "API.test" and "api.test" are one name.
    std::string key = entry.name;
    std::transform(key.begin(), key.end(), key.begin(), ascii_lower);
    auto [first, inserted] = seen.emplace(key, r.at(*name->value));
    if (!inserted) {
      r.add(r.at(*name->value), concat("name \"", entry.name, "\" is already configured at ",
                                       position_text(first->second)));
      ok = false;
      continue;
    }
    out.push_back(std::move(entry));
  }
  return ok;
}

constexpr std::array<row, 14> rows = {{
    {"listen", string_kind, "a string", "\"127.0.0.1:8443\"",
     "host:port or [v6]:port for HTTPS; port 0 picks a free one",
     [](toml_reader& r, const toml::node& v, tls_config& t) {
       std::string problem = parse_listen_address(v.as_string()->get(), t.listen, "'listen'");
       if (problem.empty()) return true;
       r.add(r.at(v), std::move(problem));
       return false;
     },
     [](const tls_config& t, json::object& o, const json_writing&) {
       const bool v6 = t.listen.host.find(':') != std::string::npos;
       o["listen"] =
           concat(v6 ? "[" : "", t.listen.host, v6 ? "]:" : ":", std::to_string(t.listen.port));
     }},
    {"cert", string_kind, "a string", "", "PEM certificate chain; omitted: one is made at start",
     [](toml_reader& r, const toml::node& v, tls_config& t) {
       return read_path(r, v, "cert", true, t.cert);
     },
     [](const tls_config& t, json::object& o, const json_writing&) {
       if (!t.cert.empty()) o["cert"] = t.cert;
     }},
    {"key", string_kind, "a string", "", "the PEM private key of 'cert'",
     [](toml_reader& r, const toml::node& v, tls_config& t) {
       return read_path(r, v, "key", true, t.key);
     },
     [](const tls_config& t, json::object& o, const json_writing&) {
       if (!t.key.empty()) o["key"] = t.key;
     }},
    {"hosts", array_kind, "an array of strings", "[\"localhost\", \"127.0.0.1\", \"::1\"]",
     "names and IPs of the made certificate; \"*.suffix\" makes one per SNI name",
     [](toml_reader& r, const toml::node& v, tls_config& t) { return read_hosts(r, v, t.hosts); },
     [](const tls_config& t, json::object& o, const json_writing&) {
       o["hosts"] = strings_json(t.hosts);
     },
     key_shape{.items = string_kind}},
    {"ca_out", string_kind, "a string", "", "write the signing CA's PEM here, for clients",
     [](toml_reader& r, const toml::node& v, tls_config& t) {
       return read_path(r, v, "ca_out", false, t.ca_out);
     },
     [](const tls_config& t, json::object& o, const json_writing&) {
       if (!t.ca_out.empty()) o["ca_out"] = t.ca_out;
     }},
    {"ca_cert", string_kind, "a string", "", "a CA (PEM) that signs the made certificates",
     [](toml_reader& r, const toml::node& v, tls_config& t) {
       return read_path(r, v, "ca_cert", true, t.ca_cert);
     },
     [](const tls_config& t, json::object& o, const json_writing&) {
       if (!t.ca_cert.empty()) o["ca_cert"] = t.ca_cert;
     }},
    {"ca_key", string_kind, "a string", "", "the PEM private key of 'ca_cert'",
     [](toml_reader& r, const toml::node& v, tls_config& t) {
       return read_path(r, v, "ca_key", true, t.ca_key);
     },
     [](const tls_config& t, json::object& o, const json_writing&) {
       if (!t.ca_key.empty()) o["ca_key"] = t.ca_key;
     }},
    {"min_version", string_kind, version_type, "\"1.2\"", "the oldest TLS version accepted",
     [](toml_reader& r, const toml::node& v, tls_config& t) {
       return read_version(r, v, "min_version", t.min_version);
     },
     [](const tls_config& t, json::object& o, const json_writing&) {
       o["min_version"] = tls_version_name(t.min_version);
     },
     key_shape{.choices = version_names}},
    {"max_version", string_kind, version_type, "", "the newest TLS version; unset = the newest",
     [](toml_reader& r, const toml::node& v, tls_config& t) {
       return read_version(r, v, "max_version", t.max_version);
     },
     [](const tls_config& t, json::object& o, const json_writing&) {
       if (t.max_version != tls_version::unset) o["max_version"] = tls_version_name(t.max_version);
     },
     key_shape{.choices = version_names}},
    {"ciphers", string_kind, "a string", "", "OpenSSL cipher list (TLS 1.2 and older)",
     [](toml_reader& r, const toml::node& v, tls_config& t) {
       return read_ciphers(r, v, t.ciphers);
     },
     [](const tls_config& t, json::object& o, const json_writing&) {
       if (!t.ciphers.empty()) o["ciphers"] = t.ciphers;
     }},
    {"client_auth", string_kind, "a string", "\"none\"",
     "\"none\", \"request\" or \"require\" a client certificate",
     [](toml_reader& r, const toml::node& v, tls_config& t) {
       const auto index = r.get_choice(v, "client_auth", client_auth_names);
       if (!index) return false;
       t.client_auth = static_cast<client_auth_mode>(*index);
       return true;
     },
     [](const tls_config& t, json::object& o, const json_writing&) {
       o["client_auth"] = client_auth_names[static_cast<std::size_t>(t.client_auth)];
     },
     key_shape{.choices = client_auth_names}},
    {"client_ca", string_kind, "a string", "", "PEM of the CAs whose client certificates count",
     [](toml_reader& r, const toml::node& v, tls_config& t) {
       return read_path(r, v, "client_ca", true, t.client_ca);
     },
     [](const tls_config& t, json::object& o, const json_writing&) {
       if (!t.client_ca.empty()) o["client_ca"] = t.client_ca;
     }},
    {"handshake_timeout", string_kind, duration_type, "\"10s\"",
     "a handshake not finished by then is closed",
     [](toml_reader& r, const toml::node& v, tls_config& t) {
       return r.read_duration(v, "handshake_timeout", false, t.handshake_timeout);
     },
     [](const tls_config& t, json::object& o, const json_writing&) {
       o["handshake_timeout"] = duration_text(t.handshake_timeout);
     }},
    {"names", array_kind, "an array of tables, written [[server.tls.names]]", "",
     "per SNI name: a certificate fault, a handshake failure, versions, ciphers",
     [](toml_reader& r, const toml::node& v, tls_config& t) { return read_names(r, v, t.names); },
     [](const tls_config& t, json::object& o, const json_writing& how) {
       if (t.names.empty()) return;
       json::array names;
       for (const tls_name_spec& n : t.names) {
         json::object entry;
         write_keys<tls_name_spec, tls_name_spec>(name_rows, n, entry, how);
         names.push_back(std::move(entry));
       }
       o["names"] = std::move(names);
     },
     key_shape{.table = [] { return describe(tls_name_keys()); }}},
}};
static_assert(all_written(rows), "every [server.tls] key is written to JSON");

// Keys that only work together: each written without its partner is a problem where it stands.
void check_pairs(toml_reader& r, const key_hits& hits) {
  constexpr std::array<std::array<std::string_view, 3>, 4> pairs = {{
      {"cert", "key", "the certificate's private key"},
      {"key", "cert", "the certificate the key belongs to"},
      {"ca_cert", "ca_key", "the CA's private key"},
      {"ca_key", "ca_cert", "the CA certificate the key belongs to"},
  }};
  for (const auto& [have, needs, what] : pairs) {
    const toml::node* value = hits.value(have);
    if (value && !hits.value(needs)) {
      r.add(r.at(*value), concat(in_quotes(have), " needs ", in_quotes(needs), ", ", what));
    }
  }
}

}  // namespace

std::span<const key_row<tls_config, tls_config>> tls_keys() {
  return rows;
}

std::span<const key_row<tls_name_spec, tls_name_spec>> tls_name_keys() {
  return name_rows;
}

std::string_view tls_version_name(tls_version version) {
  if (version == tls_version::unset) return {};
  return version_names[static_cast<std::size_t>(version) - 1];
}

bool is_tls_host(std::string_view host, bool wildcard) {
  if (is_ip_address(host)) return true;
  if (wildcard && host.starts_with("*.")) host.remove_prefix(2);
  return is_dns_name(host);
}

std::optional<tls_config> read_tls(toml_reader& reader, const toml::node& node) {
  const toml::table* table = node.as_table();
  if (!table) {
    reader.type_error(node, "'tls'", "a table, written [server.tls]");
    return std::nullopt;
  }
  const std::size_t problems = reader.problems().size();
  tls_config tls;
  tls.position = reader.at(*table);
  table_place place;
  place.where = "in [server.tls]";
  const key_hits hits = read_keys<tls_config, tls_config>(reader, *table, rows, place, tls);
  check_pairs(reader, hits);
  check_versions(reader, hits, tls.min_version, tls.max_version);
  const key_hit* client_auth = hits.find("client_auth");
  if (client_auth && client_auth->ok && tls.client_auth != client_auth_mode::none &&
      !hits.value("client_ca")) {
    reader.add(reader.at(*client_auth->value),
               concat("'client_auth' = \"", client_auth_names[static_cast<int>(tls.client_auth)],
                      "\" needs 'client_ca', the CAs whose client certificates are accepted"));
  }
  if (reader.problems().size() != problems) return std::nullopt;
  return tls;
}

json::object tls_to_json(const tls_config& tls) {
  json::object o;
  write_keys<tls_config, tls_config>(rows, tls, o, {});
  return o;
}

}  // namespace stubborn

#include "protocols/proxy/recorder.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <utility>

#include "config/toml_reading.hpp"
#include "respond/status_reasons.hpp"
#include "routing/path_pattern.hpp"
#include "text/toml_text.hpp"
#include "text/utf8.hpp"
#include "wire/request_parser.hpp"

namespace stubborn {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t inline_body_limit = 4096;
constexpr std::size_t line_limit = 100;

// Fields the replaying server writes itself (framing, Date: RFC 9110 §6.6.1 wants the time it
// sends the reply) or that belong to one connection (RFC 9110 §7.6.1). The loader refuses the
// first three in a route.
constexpr std::array<std::string_view, 9> dropped_headers = {
    "Content-Length", "Transfer-Encoding", "Connection", "Date",
    "Keep-Alive",     "Proxy-Connection",  "TE",         "Trailer",
    "Upgrade"};

// A HEAD reply's Content-Length is replayed up to this size (see make_answer()).
constexpr std::uint64_t max_head_stand_in = 1024 * 1024;

bool is_dropped(std::string_view name) {
  return std::any_of(dropped_headers.begin(), dropped_headers.end(),
                     [&](std::string_view d) { return iequal(d, name); });
}

// What a route can tell requests of one method and path apart by: the query parameters as a
// route's `query` compares them (the first of each decoded name, its value decoded with '+' as
// space) and the body (`equals` needs text: a body that is not UTF-8 cannot be matched).
struct request_key {
  std::map<std::string, std::string> query;
  std::optional<std::string> body;
  bool operator==(const request_key&) const = default;
};

struct written_header {
  std::string name;
  std::string value;
  bool operator==(const written_header&) const = default;
};

// A reply as it will be written: what two replies are compared by.
struct answer {
  int status = 200;
  std::string reason;  // "" = the registered phrase
  std::vector<written_header> headers;
  std::string body;
  std::vector<std::string> notes;  // what could not be written, as comments
  bool operator==(const answer&) const = default;
};

// One distinct request: one route.
struct distinct_request {
  request_key key;
  std::map<std::string, std::string> raw_pairs;  // name -> "name=value" as sent, for the name
  std::vector<answer> answers;                   // in the order they were given
  std::size_t first_seen = 0;
};

// The requests of one method and path.
struct request_group {
  std::string method;
  std::string raw_path;  // as first sent
  bool regex = false;    // the path cannot be written as a `path` pattern
  std::size_t path_rank = 0;
  std::size_t first_seen = 0;
  std::vector<distinct_request> requests;
};

struct recording_plan {
  std::vector<request_group> groups;
  std::vector<std::string> skipped;  // exchanges that cannot become a route, and why
  std::size_t exchanges = 0;
};

bool is_standard_method_miscased(std::string_view method) {
  constexpr std::array<std::string_view, 9> standard = {
      "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  return std::any_of(standard.begin(), standard.end(),
                     [&](std::string_view m) { return iequal(m, method) && m != method; });
}

// The parameters as request_view::find_query() sees them: the first pair of each decoded name
// counts, so a later pair of the same name never does.
void read_query(std::string_view query, request_key& key,
                std::map<std::string, std::string>& raw_pairs) {
  std::set<std::string> seen;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    std::string name;
    append_percent_decoded(pair.substr(0, eq), name);
    if (name.empty() || !seen.insert(name).second) continue;
    std::string value;
    if (eq != std::string_view::npos) append_percent_decoded(pair.substr(eq + 1), value, true);
    // TOML holds only UTF-8: a parameter that is not text cannot be matched on.
    if (!is_valid_utf8(name) || !is_valid_utf8(value)) continue;
    key.query.emplace(name, std::move(value));
    raw_pairs.emplace(std::move(name), std::string(pair));
  }
}

bool redacted(const recording_config& config, std::string_view name) {
  return std::any_of(config.redact.begin(), config.redact.end(),
                     [&](const std::string& r) { return iequal(r, name); });
}

answer make_answer(const recorded_exchange& e, const recording_config& config) {
  answer a;
  a.status = e.status;
  if (!e.reason.empty() && e.reason != registered_reason(e.status)) {
    if (is_valid_utf8(e.reason) && !has_control(e.reason)) {
      a.reason = e.reason;
    } else {
      a.notes.push_back("the reason phrase was left out: it is not printable UTF-8 text");
    }
  }
  bool has_location = false;
  for (const recorded_header& h : e.reply_headers) {
    if (is_dropped(h.name)) continue;
    if (!is_token(h.name) || !is_valid_utf8(h.name)) {
      a.notes.push_back("a header whose name is not an HTTP token was left out");
      continue;
    }
    has_location = has_location || iequal(h.name, "Location");
    if (redacted(config, h.name)) {
      a.headers.push_back({h.name, "<redacted>"});
      continue;
    }
    if (!is_valid_utf8(h.value) || has_control(h.value)) {
      a.notes.push_back(h.name + " was left out: its value is not printable UTF-8 text");
    } else if (h.value.find("{{") != std::string::npos) {
      a.notes.push_back(h.name + " was left out: '{{' in its value would be read as a template");
    } else {
      a.headers.push_back({h.name, h.value});
    }
  }
  // RFC 9110 §15.4: the loader wants a Location on a redirect; an upstream may have sent none.
  if (a.status >= 300 && a.status <= 399 && a.status != 304 && !has_location) {
    a.headers.push_back({"Location", ""});
    a.notes.push_back("the upstream sent no Location; an empty one stands in for it");
  }
  // RFC 9110 §15.3.5, §15.3.6, §15.4.5: these statuses carry no content.
  if (e.status == 204 || e.status == 205 || e.status == 304) {
    if (!e.reply_body.empty()) a.notes.push_back("the body of this status was left out");
  } else if (e.method == "HEAD") {
    // RFC 9110 §9.3.2: a HEAD reply's Content-Length is the length of the body a GET would
    // get. The server writes Content-Length from the route's body, and a HEAD-only route never
    // sends it: a body of that many spaces stands in, so the replayed head says the same.
    std::uint64_t length = 0;
    for (const recorded_header& h : e.reply_headers) {
      if (!iequal(h.name, "Content-Length")) continue;
      const auto [end, ec] =
          std::from_chars(h.value.data(), h.value.data() + h.value.size(), length);
      if (ec != std::errc() || end != h.value.data() + h.value.size()) length = 0;
    }
    if (length > max_head_stand_in) {
      a.notes.push_back("the Content-Length of this HEAD reply (" + std::to_string(length) +
                        ") was left out: it is over " + std::to_string(max_head_stand_in) +
                        " bytes");
    } else if (length > 0) {
      a.body.assign(length, ' ');
      a.notes.push_back(
          "HEAD: the body stands for the upstream's Content-Length; it is never sent");
    }
  } else {
    a.body = e.reply_body;
  }
  return a;
}

// Why an exchange cannot become a route; "" when it can.
std::string unusable(const recorded_exchange& e, std::string_view path) {
  if (!is_token(e.method)) return "the method is not an HTTP token";
  if (is_standard_method_miscased(e.method)) return "the method is a miscased standard method";
  // RFC 9112 §3.2.4: the server answers OPTIONS * itself, and CONNECT is no route's either.
  if (e.method == "CONNECT") return "CONNECT is answered by the server itself";
  if (path.empty() || path.front() != '/') return "the target has no path";
  if (!is_valid_utf8(path)) return "the path is not UTF-8";
  if (e.status < 200 || e.status > 999) return "the status is not a final one (200..999)";
  return {};
}

// The path pattern compares decoded segments (path_pattern), so two spellings of one path are
// one group; a path with '{', '}' or '*' is written as a regex over the raw path instead.
std::string group_key(const std::string& method, std::string_view raw_path, bool regex) {
  std::string key = method;
  key.push_back(regex ? 'R' : 'P');
  if (regex) return key.append(raw_path);
  std::size_t pos = 0;
  while (pos <= raw_path.size()) {
    std::size_t slash = raw_path.find('/', pos);
    if (slash == std::string_view::npos) slash = raw_path.size();
    std::string segment;
    append_percent_decoded(raw_path.substr(pos, slash - pos), segment);
    // Length-prefixed: a decoded segment may hold any byte.
    key.append(std::to_string(segment.size())).push_back(':');
    key.append(segment);
    pos = slash + 1;
  }
  return key;
}

recording_plan plan_recording(const std::vector<recorded_exchange>& exchanges,
                              const recording_config& config) {
  recording_plan plan;
  plan.exchanges = exchanges.size();
  std::map<std::string, std::size_t> groups;  // group key -> index
  std::map<std::string, std::size_t> paths;   // path part of the key -> rank
  for (std::size_t i = 0; i < exchanges.size(); ++i) {
    const recorded_exchange& e = exchanges[i];
    std::string_view path;
    std::string_view query;
    if (!split_target(e.target, path, query)) path = {};
    if (std::string why = unusable(e, path); !why.empty()) {
      // A comment line: only a token (no control characters) may be quoted in it.
      const std::string method = is_token(e.method) ? " (" + e.method + ")" : "";
      plan.skipped.push_back("exchange " + std::to_string(i + 1) + method +
                             " was left out: " + why);
      continue;
    }
    const bool regex = path.find_first_of("{}*") != std::string_view::npos;
    const std::string key = group_key(e.method, path, regex);
    const std::string path_key = key.substr(e.method.size());
    const std::size_t path_rank = paths.emplace(path_key, paths.size()).first->second;
    auto [at, added] = groups.emplace(key, plan.groups.size());
    if (added) {
      request_group& g = plan.groups.emplace_back();
      g.method = e.method;
      g.raw_path = std::string(path);
      g.regex = regex;
      g.path_rank = path_rank;
      g.first_seen = i;
    }
    request_group& group = plan.groups[at->second];
    request_key request;
    std::map<std::string, std::string> raw_pairs;
    read_query(query, request, raw_pairs);
    if (is_valid_utf8(e.request_body)) request.body = e.request_body;
    auto same = std::find_if(group.requests.begin(), group.requests.end(),
                             [&](const distinct_request& d) { return d.key == request; });
    if (same == group.requests.end()) {
      same = group.requests.insert(group.requests.end(), distinct_request{});
      same->key = std::move(request);
      same->raw_pairs = std::move(raw_pairs);
      same->first_seen = i;
    }
    same->answers.push_back(make_answer(e, config));
  }
  // Groups never share a request, except that a GET route answers HEAD too (RFC 9110 §9.3.2):
  // within a path HEAD comes first. Regex routes match one raw path only, and go before the
  // patterns, which match every spelling of theirs.
  std::stable_sort(plan.groups.begin(), plan.groups.end(),
                   [](const request_group& a, const request_group& b) {
                     if (a.regex != b.regex) return a.regex;
                     if (a.path_rank != b.path_rank) return a.path_rank < b.path_rank;
                     const bool a_head = a.method == "HEAD";
                     if (a_head != (b.method == "HEAD")) return a_head;
                     return a.first_seen < b.first_seen;
                   });
  return plan;
}

// What a group's routes match on: only the parameters and the body that differ between its
// requests (a parameter present in some and missing in others differs too).
struct group_matchers {
  std::set<std::string> query;
  bool body = false;
};

group_matchers differing(const request_group& group) {
  group_matchers m;
  const request_key& first = group.requests.front().key;
  for (const distinct_request& d : group.requests) {
    for (const auto& [name, value] : d.key.query) {
      auto other = first.query.find(name);
      if (other == first.query.end() || other->second != value) m.query.insert(name);
    }
    for (const auto& [name, value] : first.query) {
      if (!d.key.query.contains(name)) m.query.insert(name);
    }
    if (d.key.body != first.body) m.body = true;
  }
  return m;
}

// One route as written: a distinct request with the matchers it uses.
struct route_plan {
  const distinct_request* request = nullptr;
  std::vector<std::pair<std::string, std::string>> query;
  const std::string* body = nullptr;  // `body = { equals = ... }`
  std::size_t matchers() const { return query.size() + (body ? 1 : 0); }
};

std::vector<route_plan> routes_of(const request_group& group) {
  const group_matchers m = differing(group);
  std::vector<route_plan> routes;
  for (const distinct_request& d : group.requests) {
    route_plan r;
    r.request = &d;
    for (const auto& [name, value] : d.key.query) {
      if (m.query.contains(name)) r.query.emplace_back(name, value);
    }
    if (m.body && d.key.body) r.body = &*d.key.body;
    routes.push_back(std::move(r));
  }
  // A route that matches on more goes first: a route ranked before another that also takes its
  // request would match on a subset of the same values, and with as many matchers, on the same.
  std::stable_sort(routes.begin(), routes.end(), [](const route_plan& a, const route_plan& b) {
    return a.matchers() > b.matchers();
  });
  return routes;
}

// Spellings of one field name that differ in letter case only, in increasing byte order: a
// repeated field (Set-Cookie) becomes one TOML key per line, since keys are case-sensitive and
// field names are not (RFC 9110 §5.1), and toml++ hands a table's keys over sorted, so the lines
// keep their order. Readable ones first ("Set-Cookie", "set-cookie"); when more are needed, the
// letters count as bits (lower case = 1, the first letter the highest).
std::vector<std::string> spellings(const std::string& name, std::size_t count) {
  std::string upper = name;
  std::string lower = name;
  std::string title = name;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    upper[i] = static_cast<char>(std::toupper(c));
    lower[i] = static_cast<char>(std::tolower(c));
    const bool word_start = i == 0 || name[i - 1] == '-';
    title[i] = word_start ? upper[i] : lower[i];
  }
  std::vector<std::string> readable = {upper, title, name, lower};
  std::sort(readable.begin(), readable.end());
  readable.erase(std::unique(readable.begin(), readable.end()), readable.end());
  // The name as sent first, when enough readable spellings sort after it.
  const auto given = std::find(readable.begin(), readable.end(), name);
  if (count <= static_cast<std::size_t>(readable.end() - given)) {
    return {given, given + static_cast<long>(count)};
  }
  if (count <= readable.size()) {
    return {readable.end() - static_cast<long>(count), readable.end()};
  }
  std::vector<std::size_t> letters;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (std::isalpha(static_cast<unsigned char>(name[i]))) letters.push_back(i);
  }
  // The last 16 letters vary; those before keep their case.
  if (letters.size() > 16) letters.erase(letters.begin(), letters.end() - 16);
  const std::uint64_t variants = std::uint64_t{1} << letters.size();
  const std::uint64_t wanted = std::min<std::uint64_t>(count, variants);
  std::vector<std::string> out;
  for (std::uint64_t v = variants - wanted; v < variants; ++v) {
    std::string spelled = name;
    for (std::size_t k = 0; k < letters.size(); ++k) {
      const bool lower_case = (v >> (letters.size() - 1 - k)) & 1;
      const auto c = static_cast<unsigned char>(spelled[letters[k]]);
      spelled[letters[k]] = static_cast<char>(lower_case ? std::tolower(c) : std::toupper(c));
    }
    out.push_back(std::move(spelled));
  }
  return out;
}

// The header lines of a reply as TOML key/value pairs, repeated names spelled apart.
std::vector<std::pair<std::string, std::string>> header_pairs(
    const std::vector<written_header>& headers) {
  std::vector<std::pair<std::string, std::string>> pairs;
  std::vector<bool> done(headers.size(), false);
  for (std::size_t i = 0; i < headers.size(); ++i) {
    if (done[i]) continue;
    std::vector<std::size_t> same;
    for (std::size_t j = i; j < headers.size(); ++j) {
      if (!done[j] && iequal(headers[j].name, headers[i].name)) same.push_back(j);
    }
    const std::vector<std::string> names = spellings(headers[i].name, same.size());
    for (std::size_t k = 0; k < same.size(); ++k) {
      done[same[k]] = true;
      if (k < names.size()) {
        pairs.emplace_back(names[k], headers[same[k]].value);
      } else {
        // More lines than spellings (a name of one or two letters): RFC 9110 §5.3 lets them
        // combine into one, comma-separated.
        pairs.back().second += ", " + headers[same[k]].value;
      }
    }
  }
  return pairs;
}

// The extension of a body file: the server picks a Content-Type from it when the reply has none.
std::string_view extension_for(const answer& a) {
  std::string_view type;
  for (const written_header& h : a.headers) {
    if (iequal(h.name, "Content-Type")) type = h.value;
  }
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  struct entry {
    std::string_view type, ext;
  };
  static constexpr entry types[] = {{"application/json", "json"}, {"text/html", "html"},
                                    {"text/plain", "txt"},        {"application/xml", "xml"},
                                    {"text/xml", "xml"},          {"text/css", "css"},
                                    {"text/javascript", "js"},    {"application/javascript", "js"},
                                    {"text/csv", "csv"},          {"image/svg+xml", "svg"},
                                    {"image/png", "png"},         {"image/jpeg", "jpg"},
                                    {"image/gif", "gif"},         {"application/pdf", "pdf"}};
  for (const entry& e : types) {
    if (iequal(e.type, type)) return e.ext;
  }
  return "bin";
}

// Bodies written to files beside the TOML file, each once.
struct body_files {
  std::string folder;                                             // its name, beside the TOML file
  std::vector<std::pair<std::string, const std::string*>> files;  // name in folder, contents
  std::map<std::string_view, std::string> by_content;             // contents -> name

  std::string add(const answer& a) {
    auto found = by_content.find(a.body);
    if (found != by_content.end()) return folder + "/" + found->second;
    std::string number = std::to_string(files.size() + 1);
    if (number.size() < 3) number.insert(0, 3 - number.size(), '0');
    std::string name = number + "." + std::string(extension_for(a));
    files.emplace_back(name, &a.body);
    by_content.emplace(a.body, name);
    return folder + "/" + name;
  }
};

// Inline text when short, UTF-8 and no template ('{{'), with no control characters but tabs
// and line ends (readable); else a file, which is never a template.
bool body_inline(std::string_view body) {
  if (body.size() > inline_body_limit || !is_valid_utf8(body)) return false;
  if (body.find("{{") != std::string_view::npos) return false;
  return std::none_of(body.begin(), body.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t' && c != '\n' && c != '\r') || u == 0x7f;
  });
}

void write_reply(const answer& a, unsigned repeat, const std::string& table, body_files& files,
                 std::string& out) {
  for (const std::string& note : a.notes) out += "# " + note + "\n";
  out += "status = " + std::to_string(a.status) + "\n";
  if (!a.reason.empty()) out += "reason = " + toml_string(a.reason) + "\n";
  if (repeat > 1) out += "repeat = " + std::to_string(repeat) + "\n";
  const auto headers = header_pairs(a.headers);
  std::string inline_headers = "headers = {";
  for (std::size_t i = 0; i < headers.size(); ++i) {
    inline_headers +=
        (i ? ", " : " ") + toml_key(headers[i].first) + " = " + toml_string(headers[i].second);
  }
  inline_headers += " }";
  const bool headers_inline = inline_headers.size() <= line_limit;
  if (!headers.empty() && headers_inline) out += inline_headers + "\n";
  if (!a.body.empty()) {
    if (!body_inline(a.body)) {
      out += "body_file = " + toml_string(files.add(a)) + "\n";
    } else if (a.body.find('\n') != std::string::npos) {
      out += "body = " + toml_multiline_string(a.body) + "\n";
    } else {
      out += "body = " + toml_string(a.body) + "\n";
    }
  }
  if (!headers.empty() && !headers_inline) {
    out += "[" + table + ".headers]\n";
    for (const auto& [name, value] : headers)
      out += toml_key(name) + " = " + toml_string(value) + "\n";
  }
}

// "GET /users/1", or "GET /search?q=red" with the parameters it matches on.
std::string route_name(const request_group& group, const route_plan& route) {
  std::string name = group.method + " " + group.raw_path;
  for (std::size_t i = 0; i < route.query.size(); ++i) {
    name += (i ? "&" : "?") + route.request->raw_pairs.at(route.query[i].first);
  }
  return replace_invalid_utf8(name);
}

// "^/a\{b\}$": the raw path, anchored, each RE2 metacharacter escaped.
std::string path_regex(std::string_view raw) {
  std::string out = "^";
  for (char c : raw) {
    if (std::string_view("\\.+*?()|[]{}^$").find(c) != std::string_view::npos) out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('$');
  return out;
}

struct rendered {
  std::string text;
  std::size_t routes = 0;
};

rendered render(const recording_plan& plan, body_files& files) {
  std::string routes_text;
  std::set<std::string> names;
  std::size_t routes = 0;
  bool some_without_server = false;
  for (const request_group& group : plan.groups) {
    for (const route_plan& route : routes_of(group)) {
      ++routes;
      std::string name = route_name(group, route);
      if (!names.insert(name).second) {
        for (std::size_t n = 2;; ++n) {
          std::string numbered = name + " #" + std::to_string(n);
          if (names.insert(numbered).second) {
            name = std::move(numbered);
            break;
          }
        }
      }
      std::string& out = routes_text;
      out += "\n[[route]]\nname = " + toml_string(name) + "\n";
      out += "method = " + toml_string(group.method) + "\n";
      if (group.regex) {
        out += "path_regex = " + toml_literal_string(path_regex(group.raw_path)) + "\n";
      } else {
        out += "path = " + toml_string(group.raw_path) + "\n";
      }
      if (!route.query.empty()) {
        out += "query = {";
        for (std::size_t i = 0; i < route.query.size(); ++i) {
          out += (i ? ", " : " ") + toml_key(route.query[i].first) + " = " +
                 toml_string(route.query[i].second);
        }
        out += " }\n";
      }
      if (route.body) out += "body = { equals = " + toml_string(*route.body) + " }\n";
      // Runs of the same answer: one reply with `repeat`.
      std::vector<std::pair<const answer*, unsigned>> runs;
      for (const answer& a : route.request->answers) {
        const bool has_server = std::any_of(a.headers.begin(), a.headers.end(),
                                            [](const auto& h) { return iequal(h.name, "Server"); });
        some_without_server = some_without_server || !has_server;
        if (!runs.empty() && *runs.back().first == a) {
          ++runs.back().second;
        } else {
          runs.emplace_back(&a, 1u);
        }
      }
      if (runs.size() == 1) {
        out += "[route.reply]\n";
        write_reply(*runs[0].first, 1, "route.reply", files, out);
      } else {
        for (const auto& [a, repeat] : runs) {
          out += "[[route.replies]]\n";
          write_reply(*a, repeat, "route.replies", files, out);
        }
      }
    }
  }
  rendered r;
  r.routes = routes;
  r.text = "# Recorded by stubborn: " + std::to_string(plan.exchanges) + " exchange" +
           (plan.exchanges == 1 ? "" : "s") + ", written as " + std::to_string(routes) + " route" +
           (routes == 1 ? "" : "s") +
           " (docs/recording.md).\n# Replay: stubborn --offline THIS_FILE\n";
  for (const std::string& s : plan.skipped) r.text += "# " + s + "\n";
  if (some_without_server) {
    // A route's own Server header replaces server_header: with none here, the replies that had
    // no Server header get none either.
    r.text += "\n[server]\nserver_header = \"\"\n";
  }
  r.text += routes_text;
  return r;
}

std::atomic<std::uint64_t> temporary_count{0};

// Written whole beside `path`, then renamed over it (rename(2) is atomic): a reader sees the
// old file or the new one, never half of one.
void replace_file(const fs::path& path, std::string_view bytes) {
  fs::path temporary = path;
  temporary += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(++temporary_count);
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (out) out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (out) out.flush();
    if (!out) {
      const int error = errno;
      std::error_code ignored;
      fs::remove(temporary, ignored);
      throw std::runtime_error("cannot write " + temporary.string() + ": " +
                               std::strerror(error ? error : EIO));
    }
  }
  std::error_code ec;
  fs::rename(temporary, path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw std::runtime_error("cannot replace " + path.string() + ": " + ec.message());
  }
}

// Body files of earlier snapshots that this one no longer names ("007.json"): the folder is the
// recording's own.
void remove_stale_bodies(const fs::path& folder, const body_files& files) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) return;
  std::set<std::string> current;
  for (const auto& [name, contents] : files.files) current.insert(name);
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    const std::size_t dot = name.find('.');
    const bool ours = dot != std::string::npos && dot > 0 &&
                      std::all_of(name.begin(), name.begin() + static_cast<long>(dot),
                                  [](char c) { return c >= '0' && c <= '9'; });
    if (ours && !current.contains(name)) fs::remove(entry.path(), ec);
  }
  if (files.files.empty()) fs::remove(folder, ec);  // only when empty
}

}  // namespace

recorder::recorder(recording_config config) : config_(std::move(config)) {}

void recorder::add(recorded_exchange exchange) {
  std::lock_guard lock(mutex_);
  exchanges_.push_back(std::move(exchange));
}

std::size_t recorder::size() const {
  std::lock_guard lock(mutex_);
  return exchanges_.size();
}

std::size_t recorder::write() const {
  std::vector<recorded_exchange> exchanges;
  {
    // Copied, so that the I/O threads adding exchanges never wait for the files.
    std::lock_guard lock(mutex_);
    exchanges = exchanges_;
  }
  if (config_.out.empty()) throw std::runtime_error("the recording has no 'out' file");
  const fs::path out(config_.out);
  const fs::path parent = out.parent_path();
  body_files files;
  files.folder = out.stem().string() + ".bodies";
  const fs::path folder = parent / files.folder;

  const recording_plan plan = plan_recording(exchanges, config_);
  const rendered text = render(plan, files);

  std::error_code ec;
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec) throw std::runtime_error("cannot create " + parent.string() + ": " + ec.message());
  if (!files.files.empty()) {
    fs::create_directories(folder, ec);
    if (ec) throw std::runtime_error("cannot create " + folder.string() + ": " + ec.message());
  }
  for (const auto& [name, contents] : files.files) replace_file(folder / name, *contents);
  replace_file(out, text.text);
  remove_stale_bodies(folder, files);
  return text.routes;
}

}  // namespace stubborn

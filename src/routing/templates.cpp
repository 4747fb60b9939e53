#include "routing/templates.hpp"

#include <array>
#include <boost/json.hpp>
#include <charconv>
#include <cstdio>
#include <ctime>

#include "respond/http_date.hpp"
#include "routing/parsed_body.hpp"
#include "routing/path_pattern.hpp"
#include "routing/request.hpp"
#include "text/json_path.hpp"
#include "text/json_text.hpp"
#include "text/utf8.hpp"
#include "text/xml_path.hpp"

namespace stubborn {

namespace json = boost::json;

namespace {

void append_escaped(std::string_view value, template_escape escape, std::string& out) {
  switch (escape) {
    case template_escape::none:
      out.append(value);
      return;
    case template_escape::header_value:
      // RFC 9110 §5.5: CR, LF and NUL are never allowed in a field value; other controls
      // are dropped too so no request can shape our headers.
      for (char c : value) {
        auto u = static_cast<unsigned char>(c);
        if (u >= 0x20 && u != 0x7f)
          out.push_back(c);
        else if (c == '\t')
          out.push_back(c);
      }
      return;
    case template_escape::json_string:
      // JSON text is UTF-8 (RFC 8259 §8.1): bytes that do not form UTF-8 become U+FFFD.
      for (std::size_t i = 0; i < value.size();) {
        auto lead = static_cast<unsigned char>(value[i]);
        if (lead >= 0x80) {
          std::size_t length = utf8_sequence_length(value.substr(i));
          if (length == 0) {
            out.append("\xEF\xBF\xBD");
            ++i;
          } else {
            out.append(value.substr(i, length));
            i += length;
          }
          continue;
        }
        char c = value[i++];
        auto u = static_cast<unsigned char>(c);
        switch (c) {
          case '"':
            out.append("\\\"");
            break;
          case '\\':
            out.append("\\\\");
            break;
          case '\n':
            out.append("\\n");
            break;
          case '\r':
            out.append("\\r");
            break;
          case '\t':
            out.append("\\t");
            break;
          default:
            if (u < 0x20) {
              char buf[8];
              std::snprintf(buf, sizeof buf, "\\u%04x", u);
              out.append(buf);
            } else {
              out.push_back(c);
            }
        }
      }
      return;
  }
}

}  // namespace

void append_json_escaped(std::string_view value, std::string& out) {
  append_escaped(value, template_escape::json_string, out);
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

constexpr std::string_view placeholder_list =
    "path.NAME, query.NAME, header.NAME, cookie.NAME, form.NAME, json.PATH, xpath.PATH, body, "
    "method, uri, now, now.epoch, now.epoch_ms, now.http, uuid or counter";

using part_kind = compiled_template::part_kind;

compiled_template::part literal_part(std::string text) {
  compiled_template::part p;
  p.text = std::move(text);
  return p;
}

// One placeholder's expression (`expr`, trimmed, a view into the template text at `at`), whose
// braces open at `open`.
compiled_template::part compile_placeholder(std::string_view expr, std::size_t at, std::size_t open,
                                            std::span<const std::string> path_params,
                                            bool message) {
  compiled_template::part p;
  const auto named = [&](std::string_view prefix) {
    return expr.size() > prefix.size() && expr.starts_with(prefix);
  };
  if (expr == "method") {
    p.kind = part_kind::method;
  } else if (expr == "uri") {
    p.kind = part_kind::uri;
  } else if (expr == "body" || (message && expr == "message")) {
    // A WebSocket answer renders with the client's message as the request's body.
    p.kind = part_kind::body;
  } else if (expr == "uuid") {
    p.kind = part_kind::uuid;
  } else if (expr == "counter") {
    p.kind = part_kind::counter;
  } else if (expr == "now") {
    p.kind = part_kind::now;
  } else if (expr == "now.epoch") {
    p.kind = part_kind::now_epoch;
  } else if (expr == "now.epoch_ms") {
    p.kind = part_kind::now_epoch_ms;
  } else if (expr == "now.http") {
    p.kind = part_kind::now_http;
  } else if (expr.starts_with("now.")) {
    throw template_error(open, "unknown placeholder {{" + std::string(expr) +
                                   "}}: use now, now.epoch, now.epoch_ms or now.http");
  } else if (expr.starts_with("path.")) {
    std::string_view name = expr.substr(5);
    std::size_t index = 0;
    while (index < path_params.size() && path_params[index] != name) ++index;
    if (index == path_params.size()) {
      std::string known;
      for (const auto& n : path_params) known += (known.empty() ? "" : ", ") + n;
      throw template_error(
          open, "{{" + std::string(expr) + "}}: the path has no parameter '" + std::string(name) +
                    "'" +
                    (known.empty() ? std::string(" (it has none)") : " (it has: " + known + ")"));
    }
    p.kind = part_kind::path_param;
    p.index = index;
  } else if (named("query.")) {
    p.kind = part_kind::query;
    p.text = expr.substr(6);
  } else if (named("header.")) {
    p.kind = part_kind::header;
    p.text = expr.substr(7);
  } else if (named("cookie.")) {
    p.kind = part_kind::cookie;
    p.text = expr.substr(7);
  } else if (named("form.")) {
    p.kind = part_kind::form;
    p.text = expr.substr(5);
  } else if (named("json.") || named("json[")) {
    // {{json.order.id}}, or {{json['order id']}} for a name that needs quotes.
    const std::size_t skip = expr[4] == '.' ? 5 : 4;
    p.kind = part_kind::json;
    try {
      p.json = std::make_shared<const json_path>(json_path::compile_relative(expr.substr(skip)));
    } catch (const json_path_error& e) {
      throw template_error(at + skip + e.offset,
                           "bad JSON path in {{" + std::string(expr) + "}}: " + e.what());
    }
  } else if (named("xpath.")) {
    p.kind = part_kind::xpath;
    try {
      p.xpath = std::make_shared<const xml_path>(xml_path::compile(expr.substr(6)));
    } catch (const xml_path_error& e) {
      throw template_error(at + 6, "{{" + std::string(expr) + "}}: " + e.what());
    }
  } else if (expr == "tls.client_subject") {
    p.kind = part_kind::tls_client_subject;
  } else if (expr == "tls.sni") {
    p.kind = part_kind::tls_sni;
  } else if (expr == "tls.version") {
    p.kind = part_kind::tls_version;
  } else if (expr.starts_with("tls.")) {
    throw template_error(open, "unknown placeholder {{" + std::string(expr) +
                                   "}}: use tls.client_subject, tls.sni or tls.version");
  } else {
    throw template_error(open, "unknown placeholder {{" + std::string(expr) + "}}: use " +
                                   std::string(placeholder_list));
  }
  return p;
}

template <typename Number>
void append_number(Number n, std::string& out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

// splitmix64's finaliser: every input bit affects every output bit.
std::uint64_t mix_bits(std::uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void append_hex(std::uint64_t bits, int digits, std::string& out) {
  static constexpr char hex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i) out.push_back(hex[(bits >> (4 * i)) & 0xf]);
}

// RFC 9562 §5.4: 122 random bits, version 4 in bits 48..51, variant 0b10 in bits 64..65.
void append_uuid(std::uint64_t random, std::size_t slot, std::string& out) {
  std::uint64_t high = mix_bits(random ^ ((2 * slot + 1) * 0xD1B54A32D192ED03ull));
  std::uint64_t low = mix_bits(random ^ ((2 * slot + 2) * 0xD1B54A32D192ED03ull));
  high = (high & ~std::uint64_t{0xf000}) | 0x4000;
  low = (low & ~(std::uint64_t{3} << 62)) | (std::uint64_t{2} << 62);
  append_hex(high >> 32, 8, out);
  out.push_back('-');
  append_hex(high >> 16, 4, out);
  out.push_back('-');
  append_hex(high, 4, out);
  out.push_back('-');
  append_hex(low >> 48, 4, out);
  out.push_back('-');
  append_hex(low, 12, out);
}

std::int64_t epoch_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// Floor division, so an instant before 1970 still names the second it falls in.
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

// RFC 3339 in UTC with milliseconds: 2026-12-06T13:45:07.123Z.
void append_rfc3339_ms(std::chrono::system_clock::time_point t, std::string& out) {
  const std::int64_t ms = epoch_ms(t);
  const auto seconds = static_cast<std::time_t>(floor_div(ms, 1000));
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[40];
  const int n = std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                              tm.tm_sec, static_cast<int>(ms - floor_div(ms, 1000) * 1000));
  out.append(text, static_cast<std::size_t>(n));
}

// The first value `path` selects from the request's JSON body; null when none (or no JSON).
const json::value* first_json_value(const compiled_template::part& p,
                                    const template_context& context) {
  if (!context.body) return nullptr;
  const json::value* root = context.body->json(context.request);
  if (!root) return nullptr;
  std::vector<const json::value*> found;
  p.json->select(*root, found);
  return found.empty() ? nullptr : found.front();
}

// Renders one placeholder's value, escaped for its place.
void render_part(const compiled_template::part& p, const template_context& context,
                 template_escape escape, std::string& decoded, std::string& out) {
  const request_view& request = context.request;
  switch (p.kind) {
    case part_kind::literal:
      out.append(p.text);
      return;
    case part_kind::method:
      append_escaped(request.method, escape, out);
      return;
    case part_kind::uri:
      append_escaped(request.target, escape, out);
      return;
    case part_kind::path_param:
      decoded.clear();
      if (p.index < context.path_params.size()) {
        append_percent_decoded(context.path_params[p.index], decoded);
      }
      append_escaped(decoded, escape, out);
      return;
    case part_kind::query: {
      std::string_view raw;
      decoded.clear();
      if (request.find_query(p.text, raw)) append_percent_decoded(raw, decoded, true);
      append_escaped(decoded, escape, out);
      return;
    }
    case part_kind::header: {
      std::string_view value;
      request.find_header(p.text, value);
      append_escaped(value, escape, out);
      return;
    }
    case part_kind::cookie: {
      std::string_view value;
      if (find_request_cookie(request, p.text, value)) append_escaped(value, escape, out);
      return;
    }
    case part_kind::form: {
      std::string_view value;
      if (context.body && find_form_field(*context.body, request, p.text, value)) {
        append_escaped(value, escape, out);
      }
      return;
    }
    case part_kind::body:
      append_escaped(request.body, escape, out);
      return;
    case part_kind::json: {
      const json::value* value = first_json_value(p, context);
      if (!value) return;
      if (const json::string* text = value->if_string()) {
        append_escaped(std::string_view(text->data(), text->size()), escape, out);
      } else {
        decoded.clear();
        append_json_text(*value, decoded);
        append_escaped(decoded, escape, out);
      }
      return;
    }
    case part_kind::xpath: {
      if (!context.body) return;
      const xml_document* document = context.body->xml(request);
      if (!document) return;
      std::vector<std::string> found;
      p.xpath->select(*document, found);
      if (!found.empty()) append_escaped(found.front(), escape, out);
      return;
    }
    case part_kind::now:
      append_rfc3339_ms(context.now, out);
      return;
    case part_kind::now_epoch:
      append_number(floor_div(epoch_ms(context.now), 1000), out);
      return;
    case part_kind::now_epoch_ms:
      append_number(epoch_ms(context.now), out);
      return;
    case part_kind::now_http: {
      char date[http_date_length];
      format_http_date(static_cast<std::time_t>(floor_div(epoch_ms(context.now), 1000)), date);
      out.append(date, http_date_length);
      return;
    }
    case part_kind::uuid:
      append_uuid(context.random, p.index, out);
      return;
    case part_kind::counter:
      append_number(context.counter, out);
      return;
    case part_kind::tls_client_subject:
      if (request.tls) append_escaped(request.tls->client_subject, escape, out);
      return;
    case part_kind::tls_sni:
      if (request.tls) append_escaped(request.tls->sni, escape, out);
      return;
    case part_kind::tls_version:
      if (request.tls) append_escaped(request.tls->version, escape, out);
      return;
  }
}

// A placeholder that is a whole string of a JSON reply, rendered as a JSON value.
void render_json_value(const compiled_template::part& p, const template_context& context,
                       std::string& decoded, std::string& out) {
  switch (p.kind) {
    case part_kind::json:
      if (const json::value* value = first_json_value(p, context)) {
        append_json_text(*value, out);
      } else {
        out.append("null");
      }
      return;
    case part_kind::counter:
    case part_kind::now_epoch:
    case part_kind::now_epoch_ms:
      render_part(p, context, template_escape::none, decoded, out);
      return;
    default:
      out.push_back('"');
      render_part(p, context, template_escape::json_string, decoded, out);
      out.push_back('"');
      return;
  }
}

}  // namespace

void compiled_template::add_flags(const part& p) {
  switch (p.kind) {
    case part_kind::now:
    case part_kind::now_epoch:
    case part_kind::now_epoch_ms:
    case part_kind::now_http:
      uses_clock_ = true;
      break;
    case part_kind::counter:
    case part_kind::uuid:
      uses_counter_ = true;
      break;
    default:
      break;
  }
}

compiled_template compiled_template::compile(std::string_view text,
                                             std::span<const std::string> path_params,
                                             bool message) {
  compiled_template result;
  std::string literal;
  auto flush_literal = [&] {
    if (!literal.empty()) {
      result.parts_.push_back(literal_part(std::move(literal)));
      literal.clear();
    }
  };
  std::size_t pos = 0;
  std::size_t uuids = 0;
  while (pos < text.size()) {
    std::size_t open = text.find("{{", pos);
    if (open == std::string_view::npos) {
      literal.append(text.substr(pos));
      break;
    }
    literal.append(text.substr(pos, open - pos));
    std::size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) {
      throw template_error(open, "'{{' is not closed by '}}'");
    }
    std::string_view expr = trim(text.substr(open + 2, close - open - 2));
    part p = compile_placeholder(expr, static_cast<std::size_t>(expr.data() - text.data()), open,
                                 path_params, message);
    if (p.kind == part_kind::uuid) p.index = uuids++;
    result.add_flags(p);
    flush_literal();
    result.parts_.push_back(std::move(p));
    pos = close + 2;
  }
  flush_literal();
  return result;
}

namespace {

// Appends `value` as JSON text to the template being built: literals into `literal`, strings
// with placeholders as parts.
void compile_json_value(const json::value& value, std::span<const std::string> path_params,
                        std::string& literal, std::vector<compiled_template::part>& parts) {
  const auto flush = [&] {
    if (!literal.empty()) {
      parts.push_back(literal_part(std::move(literal)));
      literal.clear();
    }
  };
  switch (value.kind()) {
    case json::kind::object: {
      literal += '{';
      bool first = true;
      for (const json::key_value_pair& member : value.get_object()) {
        if (!first) literal += ',';
        first = false;
        literal += json::serialize(json::string(member.key()));
        literal += ':';
        compile_json_value(member.value(), path_params, literal, parts);
      }
      literal += '}';
      return;
    }
    case json::kind::array: {
      literal += '[';
      bool first = true;
      for (const json::value& element : value.get_array()) {
        if (!first) literal += ',';
        first = false;
        compile_json_value(element, path_params, literal, parts);
      }
      literal += ']';
      return;
    }
    case json::kind::string: {
      const std::string_view text(value.get_string().data(), value.get_string().size());
      if (text.find("{{") == std::string_view::npos) {
        literal += json::serialize(value);
        return;
      }
      compiled_template inner = compiled_template::compile(text, path_params);
      if (inner.is_static()) {
        literal += json::serialize(value);
        return;
      }
      // The template's own parts, with the flag that tells render() it is a whole string.
      std::vector<compiled_template::part> inner_parts = inner.parts();
      if (inner_parts.size() == 1) {
        flush();
        inner_parts[0].json_value = true;
        parts.push_back(std::move(inner_parts[0]));
        return;
      }
      literal += '"';
      for (auto& p : inner_parts) {
        if (p.kind == part_kind::literal) {
          append_json_escaped(p.text, literal);
        } else {
          flush();
          parts.push_back(std::move(p));
        }
      }
      literal += '"';
      return;
    }
    default:
      append_json_text(value, literal);
      return;
  }
}

}  // namespace

compiled_template compiled_template::compile_json(std::string_view json_text,
                                                  std::span<const std::string> path_params) {
  compiled_template result;
  if (json_text.find("{{") == std::string_view::npos) {
    result.parts_.push_back(literal_part(std::string(json_text)));
    return result;
  }
  json::error_code ec;
  const json::value value = json::parse(json_text, ec);
  if (ec) {
    result.parts_.push_back(literal_part(std::string(json_text)));
    return result;
  }
  std::string literal;
  std::vector<part> parts;
  compile_json_value(value, path_params, literal, parts);
  if (!literal.empty()) parts.push_back(literal_part(std::move(literal)));
  if (parts.size() == 1 && parts[0].kind == part_kind::literal) {
    // Strings that only looked like templates: the text stays as written.
    result.parts_.push_back(literal_part(std::string(json_text)));
    return result;
  }
  std::size_t uuids = 0;
  for (auto& p : parts) {
    if (p.kind == part_kind::uuid) p.index = uuids++;
    result.add_flags(p);
  }
  result.parts_ = std::move(parts);
  return result;
}

void compiled_template::number_uuids(std::size_t& next) {
  for (auto& p : parts_) {
    if (p.kind == part_kind::uuid) p.index = next++;
  }
}

void compiled_template::render(const template_context& context, template_escape escape,
                               std::string& out) const {
  std::string decoded;
  for (const auto& p : parts_) {
    if (p.kind == part_kind::literal) {
      out.append(p.text);
    } else if (p.json_value) {
      render_json_value(p, context, decoded, out);
    } else {
      render_part(p, context, escape, decoded, out);
    }
  }
}

}  // namespace stubborn

#include "routing/templates.hpp"

#include <cstdio>

#include "routing/path_pattern.hpp"
#include "routing/request.hpp"
#include "text/utf8.hpp"

namespace stubborn {

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

}  // namespace

compiled_template compiled_template::compile(std::string_view text,
                                             std::span<const std::string> path_params) {
  compiled_template result;
  std::string literal;
  auto flush_literal = [&] {
    if (!literal.empty()) {
      result.parts_.push_back({part_kind::literal, std::move(literal), 0});
      literal.clear();
    }
  };
  std::size_t pos = 0;
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
    part p;
    if (expr == "method") {
      p.kind = part_kind::method;
    } else if (expr == "uri") {
      p.kind = part_kind::uri;
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
    } else if (expr.starts_with("query.") && expr.size() > 6) {
      p.kind = part_kind::query;
      p.text = expr.substr(6);
    } else if (expr.starts_with("header.") && expr.size() > 7) {
      p.kind = part_kind::header;
      p.text = expr.substr(7);
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
      throw template_error(open, "unknown placeholder {{" + std::string(expr) +
                                     "}}: use path.NAME, query.NAME, header.NAME, method or uri");
    }
    flush_literal();
    result.parts_.push_back(std::move(p));
    pos = close + 2;
  }
  flush_literal();
  return result;
}

void compiled_template::render(const template_context& context, template_escape escape,
                               std::string& out) const {
  std::string decoded;
  for (const auto& p : parts_) {
    switch (p.kind) {
      case part_kind::literal:
        out.append(p.text);
        break;
      case part_kind::method:
        append_escaped(context.request.method, escape, out);
        break;
      case part_kind::uri:
        append_escaped(context.request.target, escape, out);
        break;
      case part_kind::path_param:
        decoded.clear();
        if (p.index < context.path_params.size()) {
          append_percent_decoded(context.path_params[p.index], decoded);
        }
        append_escaped(decoded, escape, out);
        break;
      case part_kind::query: {
        std::string_view raw;
        decoded.clear();
        if (context.request.find_query(p.text, raw)) append_percent_decoded(raw, decoded, true);
        append_escaped(decoded, escape, out);
        break;
      }
      case part_kind::header: {
        std::string_view value;
        context.request.find_header(p.text, value);
        append_escaped(value, escape, out);
        break;
      }
      case part_kind::tls_client_subject:
        if (context.request.tls) append_escaped(context.request.tls->client_subject, escape, out);
        break;
      case part_kind::tls_sni:
        if (context.request.tls) append_escaped(context.request.tls->sni, escape, out);
        break;
      case part_kind::tls_version:
        if (context.request.tls) append_escaped(context.request.tls->version, escape, out);
        break;
    }
  }
}

}  // namespace stubborn

// Path patterns and templates compiled from fuzzer text, then matched and rendered against a
// request built from fuzzer bytes. Besides crashes: errors point inside their text, captures lie
// inside the path, the percent-decoding helpers agree with each other, header-escaped values hold
// no control characters, and JSON-escaped values round-trip through a JSON parser.

#include <fuzzer/FuzzedDataProvider.h>

#include <array>
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "routing/path_pattern.hpp"
#include "routing/request.hpp"
#include "routing/templates.hpp"
#include "session_driver.hpp"
#include "wire/request_parser.hpp"

namespace {

using namespace stubborn;
using stubborn::fuzz::fail;

bool within(std::string_view part, std::string_view whole) {
  if (part.empty()) return true;
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

// Well-formed UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above U+10FFFF.
bool is_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80             ? 1
                    : (c & 0xE0) == 0xC0 ? 2
                    : (c & 0xF0) == 0xE0 ? 3
                    : (c & 0xF8) == 0xF0 ? 4
                                         : 0;
    if (n == 0 || i + n > s.size()) return false;
    std::uint32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (std::size_t k = 1; k < n; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    static constexpr std::uint32_t min_for_length[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_length[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

void check_decoding(std::string_view raw, std::string_view other) {
  for (bool plus : {false, true}) {
    std::string decoded;
    append_percent_decoded(raw, decoded, plus);
    if (!equals_percent_decoded(raw, decoded, plus)) fail("raw does not equal its decoding", raw);
    if (equals_percent_decoded(raw, other, plus) != (decoded == other)) {
      fail("equals_percent_decoded disagrees with append_percent_decoded", raw);
    }
    if (!plus) {
      std::string buffer(raw.size(), '\0');
      buffer.resize(percent_decode_into(raw, buffer.data()));
      if (buffer != decoded) fail("percent_decode_into disagrees with append_percent_decoded", raw);
    }
  }
}

// Renders one placeholder alone with each escape and checks what each escape promises.
void check_placeholder(const std::string& expression, std::span<const std::string> names,
                       const template_context& context, std::string_view raw_value) {
  compiled_template t;
  try {
    t = compiled_template::compile("{{" + expression + "}}", names);
  } catch (const template_error&) {
    return;
  }
  std::string plain, header, json;
  t.render(context, template_escape::none, plain);
  t.render(context, template_escape::header_value, header);
  t.render(context, template_escape::json_string, json);
  if (!raw_value.empty() && plain != raw_value) fail("placeholder rendered another value", plain);
  for (char c : header) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) fail("control character in a header value", header);
  }
  // JSON-escaped text must parse as a JSON string and give back the value. Bytes that are not
  // UTF-8 pass through unchanged (the body is then not valid JSON): checked only for UTF-8 input.
  if (!is_utf8(plain)) return;
  boost::json::error_code ec;
  boost::json::value v = boost::json::parse("\"" + json + "\"", ec);
  if (ec || !v.is_string() || std::string_view(v.as_string()) != plain) {
    fail("JSON escaping does not round-trip", json);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider provider(data, size);
  std::string pattern_text = provider.ConsumeRandomLengthString(96);
  std::string template_text = provider.ConsumeRandomLengthString(128);
  std::string method = provider.ConsumeRandomLengthString(16);
  std::string target = provider.ConsumeRandomLengthString(160);
  std::vector<std::string> header_text;
  std::size_t header_count = provider.ConsumeIntegralInRange<std::size_t>(0, 4);
  for (std::size_t i = 0; i < 2 * header_count; ++i) {
    header_text.push_back(provider.ConsumeRandomLengthString(48));
  }
  std::string body = provider.ConsumeRemainingBytesAsString();

  request_view request;
  request.method = method;
  request.target = target;
  bool split = split_target(request.target, request.path, request.query);
  if (split && (!within(request.path, target) && request.path != "/")) {
    fail("split_target: path outside the target", target);
  }
  if (split && !within(request.query, target)) fail("split_target: query outside", target);
  std::vector<header_field> fields;
  for (std::size_t i = 0; i + 1 < header_text.size(); i += 2) {
    fields.push_back({header_text[i], header_text[i + 1]});
  }
  request.headers = fields;
  request.body = body;

  std::vector<std::string> names;
  std::array<std::string_view, max_path_params> captures{};
  std::size_t capture_count = 0;
  try {
    path_pattern pattern = path_pattern::compile(pattern_text);
    if (pattern.param_names().size() > max_path_params) fail("too many parameters", pattern_text);
    names = pattern.param_names();
    if (pattern.match(request.path, captures.data())) {
      capture_count = names.size();
      for (std::size_t i = 0; i < capture_count; ++i) {
        if (captures[i].empty() || !within(captures[i], request.path)) {
          fail("capture outside the path", request.path);
        }
      }
    }
  } catch (const path_pattern_error& e) {
    if (e.offset > pattern_text.size()) fail("pattern error offset past the end", pattern_text);
  }
  template_context context{request, std::span(captures.data(), capture_count)};

  try {
    compiled_template t = compiled_template::compile(template_text, names);
    std::string out;
    for (auto escape :
         {template_escape::none, template_escape::header_value, template_escape::json_string}) {
      out.clear();
      t.render(context, escape, out);
    }
    if (t.is_static() && out != t.static_text()) fail("static template renders otherwise", out);
  } catch (const template_error& e) {
    if (e.offset > template_text.size()) fail("template error offset past the end", template_text);
  }

  check_decoding(target, body);
  check_decoding(request.query, header_text.empty() ? body : header_text[0]);
  check_placeholder("method", names, context, method);
  check_placeholder("uri", names, context, target);
  for (std::size_t i = 0; i < capture_count; ++i) {
    check_placeholder("path." + names[i], names, context, {});
  }
  for (const auto& f : fields) {
    std::string_view value;
    request.find_header(f.name, value);
    // Placeholder names are trimmed of spaces and end at the first "}}": only names that come
    // through both unchanged are compared.
    bool plain_name = f.name.find('}') == std::string_view::npos && !f.name.empty() &&
                      f.name.front() != ' ' && f.name.back() != ' ';
    if (plain_name) check_placeholder("header." + std::string(f.name), names, context, value);
    if (f.value.find('}') == std::string_view::npos) {
      check_placeholder("query." + std::string(f.value), names, context, {});
    }
  }
  return 0;
}

#include "routing/conditions.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>

#include "routing/parsed_body.hpp"
#include "routing/path_pattern.hpp"
#include "routing/request.hpp"
#include "stubborn/config_error.hpp"
#include "text/json_path.hpp"
#include "text/xml_path.hpp"

namespace stubborn {

namespace json = boost::json;

namespace {

bool numbers_equal(const json::value& a, const json::value& b) {
  if (a.is_int64() && b.is_int64()) return a.get_int64() == b.get_int64();
  if (a.is_uint64() && b.is_uint64()) return a.get_uint64() == b.get_uint64();
  return a.to_number<double>() == b.to_number<double>();
}

// Deep equality with numbers compared by value (100 equals 100.0).
bool json_equal(const json::value& a, const json::value& b) {
  if (a.is_number() && b.is_number()) return numbers_equal(a, b);
  if (a.kind() != b.kind()) return false;
  if (a.is_object()) {
    const auto& x = a.get_object();
    const auto& y = b.get_object();
    if (x.size() != y.size()) return false;
    for (const auto& [key, value] : x) {
      auto it = y.find(key);
      if (it == y.end() || !json_equal(value, it->value())) return false;
    }
    return true;
  }
  if (a.is_array()) {
    const auto& x = a.get_array();
    const auto& y = b.get_array();
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (!json_equal(x[i], y[i])) return false;
    }
    return true;
  }
  return a == b;
}

char fold(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}

void append_folded(std::string_view text, std::string& out) {
  for (char c : text) out.push_back(fold(c));
}

bool text_equals(std::string_view a, std::string_view b, bool ignore_case) {
  return ignore_case ? iequals(a, b) : a == b;
}

// A text that is a whole number (JSON syntax, surrounding spaces allowed).
bool parse_number(std::string_view text, double& out) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc{} && ptr == end;
}

// One value a subject selected: a JSON value (json_path) or a text (everything else).
struct value_ref {
  const json::value* json = nullptr;
  std::string_view text;
};

bool as_number(const value_ref& v, double& out) {
  if (v.json) {
    if (!v.json->is_number()) return false;
    out = v.json->to_number<double>();
    return true;
  }
  return parse_number(v.text, out);
}

// The text a JSON value is compared as by contains and regex: a string without its quotes,
// anything else as JSON text.
std::string_view text_of(const value_ref& v, std::string& storage) {
  if (!v.json) return v.text;
  if (v.json->is_string()) return v.json->get_string();
  storage = json::serialize(*v.json);
  return storage;
}

bool equals_operand(const value_ref& v, const json::value& want, bool ignore_case) {
  if (want.is_string()) {
    if (v.json)
      return v.json->is_string() &&
             text_equals(v.json->get_string(), want.get_string(), ignore_case);
    return text_equals(v.text, want.get_string(), ignore_case);
  }
  if (want.is_number()) {
    // A JSON number equals by value and never equals a string; a text that is a number (a
    // header, a query parameter, an XML element) compares by its value.
    if (v.json) return v.json->is_number() && numbers_equal(*v.json, want);
    double n = 0;
    return parse_number(v.text, n) && n == want.to_number<double>();
  }
  if (want.is_bool()) {
    if (v.json) return v.json->is_bool() && v.json->get_bool() == want.get_bool();
    return v.text == (want.get_bool() ? "true" : "false");
  }
  if (v.json) return json_equal(*v.json, want);
  json::error_code ec;
  const json::value parsed = json::parse(v.text, ec);
  return !ec && json_equal(parsed, want);
}

// gt / ge / lt / le: numbers by value, strings in byte order; a number and a string never compare.
int compare_operand(const value_ref& v, const json::value& want, bool& comparable) {
  comparable = false;
  if (want.is_number()) {
    if (v.json && v.json->is_int64() && want.is_int64()) {
      comparable = true;
      const auto a = v.json->get_int64();
      const auto b = want.get_int64();
      return a < b ? -1 : a > b ? 1 : 0;
    }
    double a = 0;
    if (!as_number(v, a)) return 0;
    const double b = want.to_number<double>();
    comparable = a == a;  // NaN never compares
    return a < b ? -1 : a > b ? 1 : 0;
  }
  std::string_view a;
  if (v.json) {
    if (!v.json->is_string()) return 0;
    a = v.json->get_string();
  } else {
    a = v.text;
  }
  comparable = true;
  const int c = a.compare(std::string_view(want.get_string()));
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

bool satisfies(const compiled_condition& c, const value_ref& v) {
  const json::value& want = *c.operand;
  const bool ignore_case = c.spec.ignore_case;
  switch (c.spec.op) {
    case condition_operator::equals:
      return equals_operand(v, want, ignore_case);
    case condition_operator::one_of:
      for (const json::value& item : want.get_array()) {
        if (equals_operand(v, item, ignore_case)) return true;
      }
      return false;
    case condition_operator::contains: {
      std::string storage;
      const std::string_view text = text_of(v, storage);
      if (!ignore_case) return text.find(std::string_view(want.get_string())) != text.npos;
      std::string folded;
      append_folded(text, folded);
      return folded.find(c.folded) != std::string::npos;
    }
    case condition_operator::regex: {
      std::string storage;
      const std::string_view text = text_of(v, storage);
      return re2::RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *c.regex);
    }
    case condition_operator::gt:
    case condition_operator::ge:
    case condition_operator::lt:
    case condition_operator::le: {
      bool comparable = false;
      const int order = compare_operand(v, want, comparable);
      if (!comparable) return false;
      switch (c.spec.op) {
        case condition_operator::gt:
          return order > 0;
        case condition_operator::ge:
          return order >= 0;
        case condition_operator::lt:
          return order < 0;
        default:
          return order <= 0;
      }
    }
    case condition_operator::json: {
      if (v.json) return json_contains(*v.json, want);
      json::error_code ec;
      const json::value parsed = json::parse(v.text, ec);
      return !ec && json_contains(parsed, want);
    }
    case condition_operator::present:
      return true;
  }
  return false;
}

// Calls `visit` on each value the condition's subject selects, until it returns true. Returns
// whether it did; `count` says how many values were visited. `body_kind_ok` is false when the
// body is not of the kind the subject reads (not JSON, not XML).
template <class Visit>
bool visit_values(const compiled_condition& c, const condition_inputs& in, std::size_t& count,
                  bool& body_kind_ok, Visit&& visit) {
  count = 0;
  body_kind_ok = true;
  const request_view& request = in.request;
  const std::string_view name = c.spec.selector;
  auto offer = [&](const value_ref& v) {
    ++count;
    return visit(v);
  };
  switch (c.spec.subject) {
    case condition_subject::json_path: {
      const auto* values = select_json(*c.json, c.json_index, request, in.body, in.scratch);
      if (!values) {
        body_kind_ok = false;
        return false;
      }
      for (const json::value* value : *values) {
        if (offer({value, {}})) return true;
      }
      return false;
    }
    case condition_subject::xpath: {
      const xml_document* doc = in.body.xml(request);
      if (!doc) {
        body_kind_ok = false;
        return false;
      }
      in.scratch.texts.clear();
      c.xml->select(*doc, in.scratch.texts);
      for (const std::string& text : in.scratch.texts) {
        if (offer({nullptr, text})) return true;
      }
      return false;
    }
    case condition_subject::header:
      for (const header_field& field : request.headers) {
        if (iequals(field.name, name) && offer({nullptr, field.value})) return true;
      }
      return false;
    case condition_subject::query: {
      std::string_view rest = request.query;
      while (!rest.empty()) {
        const std::size_t amp = rest.find('&');
        const std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        const std::size_t eq = pair.find('=');
        if (!equals_percent_decoded(pair.substr(0, eq), name)) continue;
        in.scratch.decoded.clear();
        if (eq != std::string_view::npos) {
          append_percent_decoded(pair.substr(eq + 1), in.scratch.decoded, true);
        }
        if (offer({nullptr, in.scratch.decoded})) return true;
      }
      return false;
    }
    case condition_subject::cookie: {
      std::string_view value;
      return find_request_cookie(request, name, value) && offer({nullptr, value});
    }
    case condition_subject::form:
      for (const form_field& field : in.body.form(request)) {
        if (field.name == name && offer({nullptr, field.value})) return true;
      }
      return false;
    case condition_subject::path:
      if (c.param_index >= in.path_params.size()) return false;
      in.scratch.decoded.clear();
      append_percent_decoded(in.path_params[c.param_index], in.scratch.decoded);
      return offer({nullptr, in.scratch.decoded});
    case condition_subject::body:
      return offer({nullptr, request.body});
  }
  return false;
}

enum class verdict { no, yes, unknown };

verdict evaluate(const compiled_condition& c, const condition_inputs& in) {
  if (in.head_only && c.reads_body()) return verdict::unknown;
  std::size_t count = 0;
  bool body_kind_ok = true;
  if (c.spec.op == condition_operator::present) {
    visit_values(c, in, count, body_kind_ok, [](const value_ref&) { return true; });
    return (count > 0) == c.operand->get_bool() ? verdict::yes : verdict::no;
  }
  return visit_values(c, in, count, body_kind_ok,
                      [&](const value_ref& v) { return satisfies(c, v); })
             ? verdict::yes
             : verdict::no;
}

constexpr std::string_view operator_names[] = {"equals", "contains", "regex", "one_of",  "gt",
                                               "ge",     "lt",       "le",    "present", "json"};

std::string describe_subject(const condition_spec& spec) {
  switch (spec.subject) {
    case condition_subject::json_path:
    case condition_subject::xpath:
      return spec.selector;
    case condition_subject::header:
      return "header '" + spec.selector + "'";
    case condition_subject::query:
      return "query parameter '" + spec.selector + "'";
    case condition_subject::cookie:
      return "cookie '" + spec.selector + "'";
    case condition_subject::form:
      return "form field '" + spec.selector + "'";
    case condition_subject::path:
      return "path parameter '" + spec.selector + "'";
    case condition_subject::body:
      return "the body";
  }
  return {};
}

std::string shortened(std::string text) {
  constexpr std::size_t limit = 120;
  if (text.size() > limit) {
    text.resize(limit);
    text += "...";
  }
  return text;
}

std::string describe_value(const value_ref& v) {
  if (v.json) return shortened(json::serialize(*v.json));
  return shortened(json::serialize(json::string_view(v.text.data(), v.text.size())));
}

std::string describe_wanted(const compiled_condition& c) {
  std::string text = std::string(operator_names[static_cast<std::size_t>(c.spec.op)]);
  text += c.spec.op == condition_operator::present ? " = " : " ";
  text += shortened(c.spec.operand);
  if (c.spec.ignore_case) text += " (ignoring case)";
  return text;
}

// "$.order.total is 80" / "header 'X-Tier' is absent" / "the body is not JSON".
std::string describe_found(const compiled_condition& c, const condition_inputs& in) {
  std::size_t count = 0;
  bool body_kind_ok = true;
  std::vector<std::string> values;
  visit_values(c, in, count, body_kind_ok, [&](const value_ref& v) {
    values.push_back(describe_value(v));
    return values.size() == 3;
  });
  const std::string subject = describe_subject(c.spec);
  if (!body_kind_ok) {
    return subject + " finds nothing: the body is not " +
           (c.spec.subject == condition_subject::xpath ? "XML" : "JSON");
  }
  if (values.empty()) return subject + " is absent";
  if (values.size() == 1) return subject + " is " + values.front();
  std::string list;
  for (const auto& v : values) list += (list.empty() ? "" : ", ") + v;
  return subject + " selects " + list + (count > values.size() ? ", ..." : "");
}

}  // namespace

bool json_contains(const json::value& actual, const json::value& expected) {
  if (expected.is_object()) {
    if (!actual.is_object()) return false;
    const auto& have = actual.get_object();
    for (const auto& [key, want] : expected.get_object()) {
      auto it = have.find(key);
      if (it == have.end() || !json_contains(it->value(), want)) return false;
    }
    return true;
  }
  if (expected.is_array()) {
    if (!actual.is_array()) return false;
    for (const auto& want : expected.get_array()) {
      bool found = false;
      for (const auto& have : actual.get_array()) {
        if (json_contains(have, want)) {
          found = true;
          break;
        }
      }
      if (!found) return false;
    }
    return true;
  }
  if (expected.is_number() && actual.is_number()) return numbers_equal(actual, expected);
  return actual == expected;
}

const std::vector<const json::value*>* select_json(const json_path& path, std::size_t json_index,
                                                   const request_view& request, parsed_body& body,
                                                   condition_scratch& scratch) {
  const json::value* doc = body.json(request);
  if (!doc) return nullptr;
  auto& selection = scratch.json[json_index];
  if (selection.generation != scratch.generation) {
    selection.values.clear();
    path.select(*doc, selection.values);
    selection.generation = scratch.generation;
  }
  return &selection.values;
}

std::vector<equality_key> compiled_when::equality_keys() const {
  std::vector<equality_key> keys;
  for (const auto& c : all_) {
    if (c.spec.subject == condition_subject::json_path && c.spec.op == condition_operator::equals &&
        !c.spec.ignore_case && (c.operand->is_string() || c.operand->is_number()) &&
        c.json->is_single()) {
      keys.push_back({c.json_index, c.json.get(), c.operand.get()});
    }
  }
  return keys;
}

bool compiled_condition::reads_body() const {
  switch (spec.subject) {
    case condition_subject::json_path:
    case condition_subject::xpath:
    case condition_subject::form:
    case condition_subject::body:
      return true;
    default:
      return false;
  }
}

compiled_when::~compiled_when() = default;

std::unique_ptr<compiled_when> compiled_when::compile(const route_spec& route,
                                                      std::span<const std::string> param_names,
                                                      std::vector<std::string>& json_paths) {
  auto when = std::make_unique<compiled_when>();
  std::vector<config_problem> problems;
  auto add = [&](const condition_spec& spec, std::vector<compiled_condition>& into) {
    compiled_condition c;
    c.spec = spec;
    json::error_code ec;
    c.operand = std::make_shared<const json::value>(json::parse(spec.operand, ec));
    if (ec) {
      problems.push_back({spec.operand_position, "bad operand: " + ec.message()});
      return;
    }
    try {
      switch (spec.subject) {
        case condition_subject::json_path: {
          c.json = std::make_shared<const json_path>(json_path::compile(spec.selector));
          auto it = std::find(json_paths.begin(), json_paths.end(), spec.selector);
          c.json_index = static_cast<std::size_t>(it - json_paths.begin());
          if (it == json_paths.end()) json_paths.push_back(spec.selector);
          break;
        }
        case condition_subject::xpath:
          c.xml = std::make_shared<const xml_path>(xml_path::compile(spec.selector));
          break;
        case condition_subject::path: {
          auto it = std::find(param_names.begin(), param_names.end(), spec.selector);
          if (it == param_names.end()) {
            std::string known;
            for (const auto& n : param_names) known += (known.empty() ? "" : ", ") + n;
            problems.push_back(
                {spec.selector_position,
                 "the path has no parameter '" + spec.selector + "'" +
                     (known.empty() ? " (it has none)" : " (it has: " + known + ")")});
            return;
          }
          c.param_index = static_cast<std::size_t>(it - param_names.begin());
          break;
        }
        default:
          break;
      }
    } catch (const json_path_error& e) {
      problems.push_back({spec.selector_position, std::string("bad json_path: ") + e.what()});
      return;
    } catch (const xml_path_error& e) {
      problems.push_back({spec.selector_position, std::string("bad xpath: ") + e.what()});
      return;
    }
    if (spec.op == condition_operator::regex) {
      auto re = std::make_shared<re2::RE2>(std::string(c.operand->get_string()), re2::RE2::Quiet);
      if (!re->ok()) {
        problems.push_back({spec.operand_position, "bad regex: " + re->error()});
        return;
      }
      c.regex = std::move(re);
    }
    if (spec.ignore_case && c.operand->is_string())
      append_folded(c.operand->get_string(), c.folded);
    when->reads_body_ = when->reads_body_ || c.reads_body();
    into.push_back(std::move(c));
  };
  auto as_equals = [](condition_subject subject, const name_value& pair) {
    condition_spec spec;
    spec.subject = subject;
    spec.selector = pair.name;
    spec.op = condition_operator::equals;
    spec.operand = json::serialize(json::value(json::string(pair.value)));
    spec.position = spec.selector_position = spec.operand_position = pair.position;
    return spec;
  };
  for (const auto& cookie : route.cookies)
    add(as_equals(condition_subject::cookie, cookie), when->all_);
  for (const auto& field : route.form) add(as_equals(condition_subject::form, field), when->all_);
  if (route.when) {
    for (const auto& spec : route.when->all) add(spec, when->all_);
    for (const auto& spec : route.when->any) add(spec, when->any_);
    for (const auto& spec : route.when->none) add(spec, when->none_);
  }
  if (!problems.empty()) throw config_error(std::move(problems));
  return when;
}

bool compiled_when::holds(const condition_inputs& in) const {
  for (const auto& c : all_) {
    if (evaluate(c, in) == verdict::no) return false;
  }
  if (!any_.empty()) {
    bool some = false;
    for (const auto& c : any_) {
      if (evaluate(c, in) != verdict::no) {
        some = true;
        break;
      }
    }
    if (!some) return false;
  }
  for (const auto& c : none_) {
    if (evaluate(c, in) == verdict::yes) return false;
  }
  return true;
}

std::string compiled_when::explain(const condition_inputs& in) const {
  std::string why;
  for (const auto& c : all_) {
    if (evaluate(c, in) == verdict::no) {
      why += "  " + describe_found(c, in) + ", wanted " + describe_wanted(c) + "\n";
    }
  }
  if (!any_.empty()) {
    bool some = false;
    for (const auto& c : any_) some = some || evaluate(c, in) != verdict::no;
    if (!some) {
      why += "  none of 'any' holds:\n";
      for (const auto& c : any_) {
        why += "    " + describe_found(c, in) + ", wanted " + describe_wanted(c) + "\n";
      }
    }
  }
  for (const auto& c : none_) {
    if (evaluate(c, in) == verdict::yes) {
      why += "  " + describe_found(c, in) + ", which 'not' excludes (" + describe_wanted(c) + ")\n";
    }
  }
  return why;
}

}  // namespace stubborn

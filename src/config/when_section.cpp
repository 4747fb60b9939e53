#include "config/when_section.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>

#include "config/toml_reading.hpp"
#include "text/json_path.hpp"
#include "text/xml_path.hpp"

namespace stubborn {
namespace {

namespace json = boost::json;

// The keys of a condition: its subjects (in the order of condition_subject), its operators (in
// the order of condition_operator), then ignore_case. read_condition takes one subject and one
// operator; the kinds are checked there, after the condition's shape.
using condition_row = key_row<condition_spec, condition_spec>;
constexpr unsigned scalar_kinds = string_kind | integer_kind | float_kind | boolean_kind;
constexpr std::size_t subject_count = 8;
constexpr std::size_t operator_count = 10;
constexpr std::array<condition_row, subject_count + operator_count + 1> condition_rows = {{
    {"json_path", string_kind, "a string", "",
     "subject: the values a JSONPath selects from the body, parsed as JSON", nullptr, nullptr},
    {"xpath", string_kind, "a string", "",
     "subject: the nodes an XPath 1.0 expression selects from the body, parsed as XML", nullptr,
     nullptr},
    {"header", string_kind, "a string", "", "subject: the request header of that name", nullptr,
     nullptr},
    {"query", string_kind, "a string", "",
     "subject: the query parameter of that name, percent-decoded", nullptr, nullptr},
    {"cookie", string_kind, "a string", "", "subject: the cookie of that name", nullptr, nullptr},
    {"form", string_kind, "a string", "", "subject: the form field of that name, decoded", nullptr,
     nullptr},
    {"path", string_kind, "a string", "", "subject: the path parameter of that name", nullptr,
     nullptr},
    {"body", boolean_kind, "true", "", "subject: the whole body, as text (written body = true)",
     nullptr, nullptr},
    {"equals", scalar_kinds | array_kind | table_kind, "a string, number, boolean, array or table",
     "", "operator: the value equals this one", nullptr, nullptr},
    {"contains", string_kind, "a string", "", "operator: the value contains this text", nullptr,
     nullptr},
    {"regex", string_kind, "a string", "", "operator: an RE2 regex matches the value", nullptr,
     nullptr},
    {"one_of", array_kind, "an array, e.g. [\"a\", \"b\"]", "",
     "operator: the value equals one of these", nullptr, nullptr, key_shape{.items = scalar_kinds}},
    {"gt", integer_kind | float_kind | string_kind,
     "a number (or a string, compared in byte order)", "",
     "operator: the value is greater than this", nullptr, nullptr},
    {"ge", integer_kind | float_kind | string_kind,
     "a number (or a string, compared in byte order)", "", "operator: the value is at least this",
     nullptr, nullptr},
    {"lt", integer_kind | float_kind | string_kind,
     "a number (or a string, compared in byte order)", "", "operator: the value is less than this",
     nullptr, nullptr},
    {"le", integer_kind | float_kind | string_kind,
     "a number (or a string, compared in byte order)", "", "operator: the value is at most this",
     nullptr, nullptr},
    {"present", boolean_kind, "true or false", "",
     "operator: true, the subject selects something; false, nothing", nullptr, nullptr},
    {"json", any_kind, "any TOML value", "", "operator: the value is JSON containing this value",
     nullptr, nullptr},
    {"ignore_case", boolean_kind, "a boolean (true or false)", "false",
     "beside equals, contains or one_of: ASCII letters compare without case", nullptr, nullptr},
}};

template <std::size_t N>
constexpr std::array<std::string_view, N> row_names(std::size_t first) {
  std::array<std::string_view, N> out{};
  for (std::size_t i = 0; i < N; ++i) out[i] = condition_rows[first + i].name;
  return out;
}
constexpr std::array<std::string_view, subject_count> subject_names = row_names<subject_count>(0);
constexpr std::array<std::string_view, operator_count> operator_names =
    row_names<operator_count>(subject_count);
constexpr std::string_view subject_list =
    "json_path, xpath, header, query, cookie, form, path or body";
constexpr std::string_view operator_list =
    "equals, contains, regex, one_of, gt, ge, lt, le, present or json";

// The lists of [route.when]: each an array of conditions.
using when_row = key_row<when_spec, when_spec>;
constexpr std::array<when_row, 3> when_rows = {{
    {"all", array_kind,
     "an array of conditions, e.g. [ { header = \"X-Tier\", equals = \"gold\" } ]", "",
     "every one must hold", nullptr, nullptr,
     key_shape{.table = [] { return describe(condition_rows); }}},
    {"any", array_kind,
     "an array of conditions, e.g. [ { header = \"X-Tier\", equals = \"gold\" } ]", "",
     "at least one must hold", nullptr, nullptr,
     key_shape{.table = [] { return describe(condition_rows); }}},
    {"not", array_kind,
     "an array of conditions, e.g. [ { header = \"X-Tier\", equals = \"gold\" } ]", "",
     "none may hold", nullptr, nullptr,
     key_shape{.table = [] { return describe(condition_rows); }}},
}};

// A type error when `node` is not of a kind its condition row accepts.
bool check_kind(toml_reader& r, const toml::node& node, const condition_row& row) {
  if (kind_of(node) & row.accepts) return true;
  r.type_error(node, in_quotes(row.name), row.type);
  return false;
}

bool read_named_values(toml_reader& r, const toml::node& node, std::string_view what,
                       std::vector<name_value>& out) {
  bool ok = true;
  for (auto&& [key, value] : *node.as_table()) {
    const std::string name(key.str());
    if (name.empty()) {
      r.add(r.at(key), concat("a ", what, " name must not be empty"));
      ok = false;
      continue;
    }
    if (auto text = r.scalar_text(value, concat(what, " ", in_quotes(name)))) {
      out.push_back({name, std::move(*text), r.at(key)});
    } else {
      ok = false;
    }
  }
  return ok;
}

// The subject's text, checked for what it names (a path that compiles, a header token, ...).
bool check_selector(toml_reader& r, const toml::node& node, condition_subject subject,
                    std::string& out) {
  const condition_row& row = condition_rows[static_cast<std::size_t>(subject)];
  const std::string_view key = row.name;
  if (subject == condition_subject::body) {
    const auto* flag = node.as_boolean();
    if (!flag || !flag->get()) {
      r.add(r.at(node), "the body as a subject is written 'body = true'");
      return false;
    }
    return true;
  }
  if (!check_kind(r, node, row)) return false;
  const std::string* text = &node.as_string()->get();
  if (text->empty()) {
    r.add(r.at(node), concat("'", key, "' must not be empty"));
    return false;
  }
  switch (subject) {
    case condition_subject::json_path:
      try {
        json_path::compile(*text);
      } catch (const json_path_error& e) {
        r.add(r.at_offset(node, *text, e.offset), concat("bad json_path: ", e.what()));
        return false;
      }
      break;
    case condition_subject::xpath:
      try {
        xml_path::compile(*text);
      } catch (const xml_path_error& e) {
        r.add(r.at(node), concat("bad xpath: ", e.what()));
        return false;
      }
      break;
    case condition_subject::header:
      if (!is_token(*text)) {
        r.add(r.at(node), concat("header name ", in_quotes(*text),
                                 " is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)"));
        return false;
      }
      break;
    default:
      break;
  }
  out = *text;
  return true;
}

// The operator's value, checked for its type; serialised as JSON into `out`.
bool check_operand(toml_reader& r, const toml::node& node, condition_operator op,
                   std::string& out) {
  const condition_row& row = condition_rows[subject_count + static_cast<std::size_t>(op)];
  if (!check_kind(r, node, row)) return false;
  switch (op) {
    case condition_operator::regex: {
      RE2 re(node.as_string()->get(), RE2::Quiet);
      if (!re.ok()) {
        r.add(r.at(node), concat("bad 'regex': ", re.error()));
        return false;
      }
      break;
    }
    case condition_operator::one_of: {
      const toml::array* list = node.as_array();
      if (list->empty()) {
        r.add(r.at(node), "'one_of' must not be empty");
        return false;
      }
      for (const toml::node& item : *list) {
        if (!(kind_of(item) & row.shape.items)) {
          r.type_error(item, "each 'one_of' value", "a string, number or boolean");
          return false;
        }
      }
      break;
    }
    default:
      break;
  }
  auto text = r.to_json_text(node);
  if (!text) return false;
  out = std::move(*text);
  return true;
}

bool read_condition(toml_reader& r, const toml::node& node, std::string_view list_name,
                    std::vector<condition_spec>& out) {
  const toml::table* table = node.as_table();
  if (!table) {
    r.type_error(node, concat("each condition in '", list_name, "'"),
                 "a table like { header = \"X-Tier\", equals = \"gold\" }");
    return false;
  }
  condition_spec spec;
  spec.position = r.at(node);
  const toml::node* subject = nullptr;
  const toml::node* op = nullptr;
  const toml::node* ignore_case = nullptr;
  std::string_view subject_key, op_key;
  std::vector<std::string_view> known;
  for (const condition_row& row : condition_rows) known.push_back(row.name);
  bool ok = true;
  for (auto&& [key, value] : *table) {
    const std::string_view name = key.str();
    const auto s = std::find(subject_names.begin(), subject_names.end(), name);
    const auto o = std::find(operator_names.begin(), operator_names.end(), name);
    if (s != subject_names.end()) {
      if (subject) {
        const bool later = r.before(*subject, value);
        r.add(r.at(later ? value : *subject),
              concat("a condition has one subject, not both '", later ? subject_key : name,
                     "' and '", later ? name : subject_key, "'"));
        return false;
      }
      subject = &value;
      subject_key = name;
      spec.subject = static_cast<condition_subject>(s - subject_names.begin());
    } else if (o != operator_names.end()) {
      if (op) {
        const bool later = r.before(*op, value);
        r.add(r.at(later ? value : *op),
              concat("a condition has one operator, not both '", later ? op_key : name, "' and '",
                     later ? name : op_key, "'"));
        return false;
      }
      op = &value;
      op_key = name;
      spec.op = static_cast<condition_operator>(o - operator_names.begin());
    } else if (name == "ignore_case") {
      ignore_case = &value;
    } else {
      r.unknown_key(key,
                    concat("in a condition (subjects: ", subject_list,
                           "; operators: ", operator_list, ", with ignore_case)"),
                    known);
      ok = false;
    }
  }
  if (!ok) return false;
  if (!subject) {
    r.add(spec.position, concat("a condition needs a subject: ", subject_list));
    return false;
  }
  if (!op) {
    r.add(spec.position, concat("a condition needs an operator: ", operator_list));
    return false;
  }
  spec.selector_position = r.at(*subject);
  spec.operand_position = r.at(*op);
  if (!check_selector(r, *subject, spec.subject, spec.selector)) return false;
  if (!check_operand(r, *op, spec.op, spec.operand)) return false;
  if (ignore_case) {
    if (!check_kind(r, *ignore_case, condition_rows.back())) return false;
    const bool flag = ignore_case->as_boolean()->get();
    const bool textual = spec.op == condition_operator::contains ||
                         (spec.op == condition_operator::equals && op->is_string()) ||
                         (spec.op == condition_operator::one_of &&
                          std::all_of(op->as_array()->begin(), op->as_array()->end(),
                                      [](const toml::node& n) { return n.is_string(); }));
    if (!textual) {
      r.add(r.at(*ignore_case),
            "'ignore_case' goes only with 'equals', 'contains' or 'one_of' "
            "and string values");
      return false;
    }
    spec.ignore_case = flag;
  }
  out.push_back(std::move(spec));
  return true;
}

json::value condition_json(const condition_spec& c) {
  json::object o;
  const std::string subject(subject_names[static_cast<std::size_t>(c.subject)]);
  if (c.subject == condition_subject::body) {
    o[subject] = true;
  } else {
    o[subject] = c.selector;
  }
  json::error_code ec;
  o[std::string(operator_names[static_cast<std::size_t>(c.op)])] = json::parse(c.operand, ec);
  if (c.ignore_case) o["ignore_case"] = true;
  return o;
}

}  // namespace

bool read_cookie_matchers(toml_reader& r, const toml::node& node, std::vector<name_value>& out) {
  return read_named_values(r, node, "cookie", out);
}

bool read_form_matchers(toml_reader& r, const toml::node& node, std::vector<name_value>& out) {
  return read_named_values(r, node, "form field", out);
}

bool read_when(toml_reader& r, const toml::node& node, std::optional<when_spec>& out) {
  when_spec when;
  when.position = r.at(node);
  std::vector<std::string_view> lists;
  for (const when_row& row : when_rows) lists.push_back(row.name);
  bool ok = true;
  for (auto&& [key, value] : *node.as_table()) {
    // A name, not the binding, in the lambda: clang 14 cannot capture structured bindings.
    const std::string_view name = key.str();
    const auto row = std::find_if(when_rows.begin(), when_rows.end(),
                                  [&](const when_row& w) { return w.name == name; });
    if (row == when_rows.end()) {
      r.unknown_key(key, "in [route.when] (all, any, not)", lists);
      ok = false;
      continue;
    }
    const std::string_view list = row->name;
    std::vector<condition_spec>& into = list == "all"   ? when.all
                                        : list == "any" ? when.any
                                                        : when.none;
    const toml::array* conditions = value.as_array();
    if (!conditions) {
      r.type_error(value, concat("'when.", list, "'"), row->type);
      ok = false;
      continue;
    }
    if (conditions->empty() && list == "any") {
      r.add(r.at(value), "'when.any' must not be empty: no condition could ever hold");
      ok = false;
      continue;
    }
    for (const toml::node& condition : *conditions) {
      ok = read_condition(r, condition, list, into) && ok;
    }
  }
  if (!ok) return false;
  out = std::move(when);
  return true;
}

void check_when_params(toml_reader& r, const when_spec& when,
                       const std::vector<std::string>& params) {
  for (const auto* list : {&when.all, &when.any, &when.none}) {
    for (const condition_spec& c : *list) {
      if (c.subject != condition_subject::path ||
          std::find(params.begin(), params.end(), c.selector) != params.end()) {
        continue;
      }
      std::string known;
      for (const auto& name : params) known += (known.empty() ? "" : ", ") + name;
      r.add(c.selector_position, concat("the path has no parameter ", in_quotes(c.selector),
                                        known.empty() ? std::string(" (it has none)")
                                                      : concat(" (it has: ", known, ")")));
    }
  }
}

table_doc when_doc() {
  return describe(when_rows);
}

json::object when_json(const when_spec& when) {
  json::object o;
  auto list = [](const std::vector<condition_spec>& conditions) {
    json::array a;
    for (const auto& c : conditions) a.push_back(condition_json(c));
    return a;
  };
  if (!when.all.empty()) o["all"] = list(when.all);
  if (!when.any.empty()) o["any"] = list(when.any);
  if (!when.none.empty()) o["not"] = list(when.none);
  return o;
}

}  // namespace stubborn

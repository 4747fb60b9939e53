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

constexpr std::array<std::string_view, 8> subject_names = {"json_path", "xpath", "header", "query",
                                                           "cookie",    "form",  "path",   "body"};
constexpr std::array<std::string_view, 10> operator_names = {
    "equals", "contains", "regex", "one_of", "gt", "ge", "lt", "le", "present", "json"};
constexpr std::string_view subject_list =
    "json_path, xpath, header, query, cookie, form, path or body";
constexpr std::string_view operator_list =
    "equals, contains, regex, one_of, gt, ge, lt, le, present or json";

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
  const std::string_view key = subject_names[static_cast<std::size_t>(subject)];
  if (subject == condition_subject::body) {
    const auto* flag = node.as_boolean();
    if (!flag || !flag->get()) {
      r.add(r.at(node), "the body as a subject is written 'body = true'");
      return false;
    }
    return true;
  }
  const std::string* text = r.get_string(node, key);
  if (!text) return false;
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

bool is_scalar(const toml::node& node) {
  return node.is_string() || node.is_integer() || node.is_floating_point() || node.is_boolean();
}

// The operator's value, checked for its type; serialised as JSON into `out`.
bool check_operand(toml_reader& r, const toml::node& node, condition_operator op,
                   std::string& out) {
  const std::string_view key = operator_names[static_cast<std::size_t>(op)];
  switch (op) {
    case condition_operator::contains:
    case condition_operator::regex: {
      const std::string* text = r.get_string(node, key);
      if (!text) return false;
      if (op == condition_operator::regex) {
        RE2 re(*text, RE2::Quiet);
        if (!re.ok()) {
          r.add(r.at(node), concat("bad 'regex': ", re.error()));
          return false;
        }
      }
      break;
    }
    case condition_operator::one_of: {
      const toml::array* list = node.as_array();
      if (!list) {
        r.type_error(node, "'one_of'", "an array, e.g. [\"a\", \"b\"]");
        return false;
      }
      if (list->empty()) {
        r.add(r.at(node), "'one_of' must not be empty");
        return false;
      }
      for (const toml::node& item : *list) {
        if (!is_scalar(item)) {
          r.type_error(item, "each 'one_of' value", "a string, number or boolean");
          return false;
        }
      }
      break;
    }
    case condition_operator::gt:
    case condition_operator::ge:
    case condition_operator::lt:
    case condition_operator::le:
      if (!node.is_integer() && !node.is_floating_point() && !node.is_string()) {
        r.type_error(node, concat("'", key, "'"), "a number (or a string, compared in byte order)");
        return false;
      }
      break;
    case condition_operator::present:
      if (!node.is_boolean()) {
        r.type_error(node, "'present'", "true or false");
        return false;
      }
      break;
    case condition_operator::equals:
      if (node.is_date() || node.is_time() || node.is_date_time()) {
        r.type_error(node, "'equals'", "a string, number, boolean, array or table");
        return false;
      }
      break;
    case condition_operator::json:
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
  std::vector<std::string_view> known(subject_names.begin(), subject_names.end());
  known.insert(known.end(), operator_names.begin(), operator_names.end());
  known.push_back("ignore_case");
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
    const auto flag = r.get_bool(*ignore_case, "ignore_case");
    if (!flag) return false;
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
    spec.ignore_case = *flag;
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
  constexpr std::array<std::string_view, 3> lists = {"all", "any", "not"};
  bool ok = true;
  for (auto&& [key, value] : *node.as_table()) {
    const auto list = std::find(lists.begin(), lists.end(), key.str());
    if (list == lists.end()) {
      r.unknown_key(key, "in [route.when] (all, any, not)", lists);
      ok = false;
      continue;
    }
    std::vector<condition_spec>& into = list == lists.begin()       ? when.all
                                        : list == lists.begin() + 1 ? when.any
                                                                    : when.none;
    const toml::array* conditions = value.as_array();
    if (!conditions) {
      r.type_error(value, concat("'when.", *list, "'"),
                   "an array of conditions, e.g. [ { header = \"X-Tier\", equals = \"gold\" } ]");
      ok = false;
      continue;
    }
    if (conditions->empty() && *list == "any") {
      r.add(r.at(value), "'when.any' must not be empty: no condition could ever hold");
      ok = false;
      continue;
    }
    for (const toml::node& condition : *conditions) {
      ok = read_condition(r, condition, *list, into) && ok;
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

#include "text/json_path.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <limits>

namespace stubborn {

namespace {

namespace json = boost::json;

// A name written after '.' or '..': what JSON keys usually are. Anything else (spaces, quotes,
// punctuation) is written in brackets: $['a b'].
bool is_name_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '$' || c == '@' || u >= 0x80;
}

std::string quoted_char(char c) {
  if (static_cast<unsigned char>(c) < 0x20) return "a control character";
  return std::string("'") + c + "'";
}

class path_reader {
 public:
  explicit path_reader(std::string_view text) : text_(text) {}

  std::vector<json_path::step> read() {
    if (text_.empty() || text_[0] != '$') throw json_path_error(0, "path must start with '$'");
    std::size_t at = 1;
    std::vector<json_path::step> steps;
    while (at < text_.size()) {
      const char c = text_[at];
      if (c == '.' && at + 1 < text_.size() && text_[at + 1] == '.') {
        steps.push_back(read_descendant(at));
      } else if (c == '.') {
        steps.push_back(read_dot(at));
      } else if (c == '[') {
        steps.push_back(read_bracket(at));
      } else {
        throw json_path_error(at, "unexpected " + quoted_char(c) + ": a step starts with '.' or '['");
      }
    }
    return steps;
  }

 private:
  // `.name` or `.*`; `at` is on the '.'.
  json_path::step read_dot(std::size_t& at) {
    const std::size_t dot = at++;
    json_path::step step;
    if (at < text_.size() && text_[at] == '*') {
      ++at;
      step.kind = json_path::step_kind::wildcard;
      return step;
    }
    step.name = read_name(at);
    if (step.name.empty()) throw json_path_error(dot + 1, "expected a name after '.'");
    return step;
  }

  // `..name`, `..*` or `..['name']`; `at` is on the first '.'.
  json_path::step read_descendant(std::size_t& at) {
    at += 2;
    json_path::step step;
    step.kind = json_path::step_kind::descendant;
    if (at < text_.size() && text_[at] == '*') {
      ++at;
      step.wildcard = true;
      return step;
    }
    if (at < text_.size() && text_[at] == '[') {
      const std::size_t open = at;
      json_path::step inner = read_bracket(at);
      if (inner.kind == json_path::step_kind::index) {
        throw json_path_error(open, "'..' takes a name or '*', not an index");
      }
      step.wildcard = inner.kind == json_path::step_kind::wildcard;
      step.name = std::move(inner.name);
      return step;
    }
    const std::size_t start = at;
    step.name = read_name(at);
    if (step.name.empty()) throw json_path_error(start, "expected a name after '..'");
    return step;
  }

  std::string read_name(std::size_t& at) {
    const std::size_t start = at;
    while (at < text_.size() && is_name_char(text_[at])) ++at;
    if (at < text_.size() && text_[at] != '.' && text_[at] != '[') {
      throw json_path_error(at, "unexpected " + quoted_char(text_[at]) +
                                    " in a name (write other names as ['name'])");
    }
    return std::string(text_.substr(start, at - start));
  }

  // `[n]`, `[*]`, `['name']` or `["name"]`; `at` is on the '['.
  json_path::step read_bracket(std::size_t& at) {
    const std::size_t open = at++;
    json_path::step step;
    skip_spaces(at);
    if (at >= text_.size()) throw json_path_error(open, "unclosed '['");
    const char c = text_[at];
    if (c == '*') {
      ++at;
      step.kind = json_path::step_kind::wildcard;
    } else if (c == '\'' || c == '"') {
      step.name = read_quoted(at);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      step.kind = json_path::step_kind::index;
      step.index = read_index(at);
    } else if (c == ']') {
      throw json_path_error(at, "empty '[]': expected an index, '*' or a quoted name");
    } else {
      throw json_path_error(at, "expected an index, '*' or a quoted name after '['");
    }
    skip_spaces(at);
    if (at >= text_.size()) throw json_path_error(open, "unclosed '['");
    if (text_[at] != ']') {
      throw json_path_error(at, "expected ']' but found " + quoted_char(text_[at]));
    }
    ++at;
    return step;
  }

  std::string read_quoted(std::size_t& at) {
    const std::size_t open = at;
    const char quote = text_[at++];
    std::string name;
    while (at < text_.size() && text_[at] != quote) {
      if (text_[at] == '\\' && at + 1 < text_.size()) ++at;  // \' \" \\ : the next character
      name += text_[at++];
    }
    if (at >= text_.size()) throw json_path_error(open, std::string("unclosed quote ") + quote);
    ++at;
    return name;
  }

  long read_index(std::size_t& at) {
    const std::size_t start = at;
    if (text_[at] == '-') ++at;
    const std::size_t digits = at;
    while (at < text_.size() && text_[at] >= '0' && text_[at] <= '9') ++at;
    if (at == digits) throw json_path_error(start, "expected digits after '-'");
    long index = 0;
    const auto [end, error] = std::from_chars(text_.data() + start, text_.data() + at, index);
    if (error != std::errc() || end != text_.data() + at) {
      throw json_path_error(start, "index out of range");
    }
    return index;
  }

  void skip_spaces(std::size_t& at) const {
    while (at < text_.size() && (text_[at] == ' ' || text_[at] == '\t')) ++at;
  }

  std::string_view text_;
};

using steps_t = std::vector<json_path::step>;

void apply(const steps_t& steps, std::size_t i, const json::value& value,
           std::vector<const json::value*>& out);

// Every value below `value` (pre-order, so in document order) that the descendant step reaches,
// each followed by the rest of the path.
void descend(const steps_t& steps, std::size_t i, const json::value& value,
             std::vector<const json::value*>& out) {
  const json_path::step& step = steps[i];
  if (const json::object* object = value.if_object()) {
    for (const json::key_value_pair& member : *object) {
      if (step.wildcard || member.key() == step.name) apply(steps, i + 1, member.value(), out);
      descend(steps, i, member.value(), out);
    }
  } else if (const json::array* array = value.if_array()) {
    for (const json::value& element : *array) {
      if (step.wildcard) apply(steps, i + 1, element, out);
      descend(steps, i, element, out);
    }
  }
}

// Depth first: each value reached goes through the remaining steps before its next sibling, so
// the results come out in document order with no intermediate list.
void apply(const steps_t& steps, std::size_t i, const json::value& value,
           std::vector<const json::value*>& out) {
  if (i == steps.size()) {
    out.push_back(&value);
    return;
  }
  const json_path::step& step = steps[i];
  switch (step.kind) {
    case json_path::step_kind::member:
      if (const json::object* object = value.if_object()) {
        if (const json::value* member = object->if_contains(step.name)) {
          apply(steps, i + 1, *member, out);
        }
      }
      return;
    case json_path::step_kind::index:
      if (const json::array* array = value.if_array()) {
        const long size = static_cast<long>(array->size());
        const long at = step.index < 0 ? size + step.index : step.index;
        if (at >= 0 && at < size) apply(steps, i + 1, (*array)[static_cast<std::size_t>(at)], out);
      }
      return;
    case json_path::step_kind::wildcard:
      if (const json::object* object = value.if_object()) {
        for (const json::key_value_pair& member : *object) apply(steps, i + 1, member.value(), out);
      } else if (const json::array* array = value.if_array()) {
        for (const json::value& element : *array) apply(steps, i + 1, element, out);
      }
      return;
    case json_path::step_kind::descendant:
      descend(steps, i, value, out);
      return;
  }
}

}  // namespace

json_path json_path::compile(std::string_view text) {
  json_path path;
  path.steps_ = path_reader(text).read();
  path.text_ = std::string(text);
  return path;
}

json_path json_path::compile_relative(std::string_view text) {
  const std::string_view prefix = !text.empty() && text[0] == '[' ? "$" : "$.";
  std::string full(prefix);
  full += text;
  json_path path;
  try {
    path.steps_ = path_reader(full).read();
  } catch (const json_path_error& error) {
    // Offsets into the text as written, without the "$." read in front of it.
    const std::size_t at = error.offset > prefix.size() ? error.offset - prefix.size() : 0;
    throw json_path_error(at, error.what());
  }
  path.text_ = std::string(text);
  return path;
}

void json_path::select(const boost::json::value& root,
                       std::vector<const boost::json::value*>& out) const {
  apply(steps_, 0, root, out);
}

bool json_path::is_single() const {
  for (const step& s : steps_) {
    if (s.kind == step_kind::wildcard || s.kind == step_kind::descendant) return false;
  }
  return true;
}

}  // namespace stubborn

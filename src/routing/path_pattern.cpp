#include "routing/path_pattern.hpp"

namespace stubborn {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// Decodes the next character of a raw, percent-encoded string; a malformed escape stands for
// itself, as most servers treat it.
char next_decoded(std::string_view raw, std::size_t& i) {
  if (raw[i] == '%' && i + 2 < raw.size()) {
    int hi = hex_value(raw[i + 1]);
    int lo = hex_value(raw[i + 2]);
    if (hi >= 0 && lo >= 0) {
      i += 3;
      return static_cast<char>(hi * 16 + lo);
    }
  }
  return raw[i++];
}

}  // namespace

bool equals_percent_decoded(std::string_view raw, std::string_view decoded, bool plus_is_space) {
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < raw.size()) {
    if (j == decoded.size()) return false;
    char c = plus_is_space && raw[i] == '+' ? (++i, ' ') : next_decoded(raw, i);
    if (c != decoded[j]) return false;
    ++j;
  }
  return j == decoded.size();
}

std::size_t percent_decode_into(std::string_view raw, char* out) {
  std::size_t i = 0;
  std::size_t len = 0;
  while (i < raw.size()) out[len++] = next_decoded(raw, i);
  return len;
}

void append_percent_decoded(std::string_view raw, std::string& out, bool plus_is_space) {
  std::size_t i = 0;
  while (i < raw.size()) {
    if (plus_is_space && raw[i] == '+') {
      out.push_back(' ');
      ++i;
    } else {
      out.push_back(next_decoded(raw, i));
    }
  }
}

path_pattern path_pattern::compile(std::string_view pattern) {
  path_pattern result;
  result.text_ = pattern;
  if (pattern.empty() || pattern.front() != '/') {
    throw path_pattern_error(0, "a path must start with '/'");
  }
  if (auto at = pattern.find_first_of("?#"); at != std::string_view::npos) {
    throw path_pattern_error(at, pattern[at] == '?'
                                     ? "a path cannot hold a query: match it with 'query = { ... }'"
                                     : "a path cannot hold a fragment ('#')");
  }
  std::size_t pos = 1;
  for (;;) {
    std::size_t end = pattern.find('/', pos);
    if (end == std::string_view::npos) end = pattern.size();
    std::string_view text = pattern.substr(pos, end - pos);
    bool last = end == pattern.size();
    if (text == "*") {
      if (!last) throw path_pattern_error(pos, "'*' may only end a path, as a trailing '/*'");
      result.has_rest_ = true;
      break;
    }
    if (!text.empty() && text.front() == '{') {
      if (text.back() != '}' || text.size() < 3) {
        throw path_pattern_error(pos, "a parameter is written {name} and fills a whole segment");
      }
      std::string_view name = text.substr(1, text.size() - 2);
      for (std::size_t k = 0; k < name.size(); ++k) {
        if (!is_name_char(name[k])) {
          throw path_pattern_error(pos + 1 + k,
                                   "a parameter name may hold only letters, digits, '_' and '-'");
        }
      }
      for (const auto& existing : result.param_names_) {
        if (existing == name) {
          throw path_pattern_error(pos, "parameter {" + std::string(name) + "} appears twice");
        }
      }
      if (result.param_names_.size() == max_path_params) {
        throw path_pattern_error(pos, "a path may have at most 16 parameters");
      }
      result.param_names_.emplace_back(name);
      result.segments_.push_back({std::string{}, true});
    } else {
      if (auto brace = text.find_first_of("{}"); brace != std::string_view::npos) {
        throw path_pattern_error(pos + brace,
                                 "a parameter is written {name} and fills a whole segment");
      }
      if (text.find('*') != std::string_view::npos) {
        throw path_pattern_error(pos + text.find('*'),
                                 "'*' may only end a path, as a trailing '/*'");
      }
      segment literal;
      append_percent_decoded(text, literal.literal);
      result.segments_.push_back(std::move(literal));
    }
    if (last) break;
    pos = end + 1;
  }
  return result;
}

bool path_pattern::match(std::string_view path, std::string_view* captures) const {
  if (path.empty() || path.front() != '/') return false;
  std::size_t pos = 1;
  std::size_t param = 0;
  for (std::size_t s = 0; s < segments_.size(); ++s) {
    if (pos > path.size()) return false;
    std::size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view text = path.substr(pos, end - pos);
    const segment& seg = segments_[s];
    if (seg.is_param) {
      if (text.empty()) return false;
      captures[param++] = text;
    } else if (!equals_percent_decoded(text, seg.literal)) {
      return false;
    }
    bool path_done = end == path.size();
    if (s + 1 == segments_.size()) {
      // Last pattern segment: the path must end here, or continue as "/rest" for a trailing /*.
      if (has_rest_) return !path_done;
      return path_done;
    }
    if (path_done) return false;
    pos = end + 1;
  }
  // Only "/*" (no segments before the star) gets here, or the pattern "/".
  if (has_rest_) return true;
  return false;
}

}  // namespace stubborn

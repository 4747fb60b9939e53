#include "config/toml_reading.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <vector>

#include "text/edit_distance.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

namespace stubborn {

namespace fs = std::filesystem;
namespace json = boost::json;

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           extra.find(c) != std::string_view::npos;
  });
}

bool is_token68(std::string_view s) {
  std::size_t i = 0;
  auto plain = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
  };
  while (i < s.size() && plain(s[i])) ++i;
  if (i == 0) return false;
  while (i < s.size() && s[i] == '=') ++i;
  return i == s.size();
}

// RFC 9110 §5.5: field values are visible characters, spaces and tabs; no CR, LF, NUL or CTL.
bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

std::string suggestion(std::string_view unknown, std::span<const std::string_view> known) {
  std::string_view best;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  // The first of equally close candidates wins: tables list their keys in a fixed order.
  for (std::string_view candidate : known) {
    // Typos: case does not count, and swapping two letters ("stauts") is one edit.
    const std::size_t distance =
        edit_distance(unknown, candidate, {.ignore_ascii_case = true, .transpositions = true});
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  const std::size_t allowed = best.size() <= 4 ? 1 : 2;
  if (best_distance > allowed) return {};
  std::string text = " (did you mean '";
  text += best;
  text += "'?)";
  return text;
}

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// Built by appending: g++ 12 warns (-Wrestrict, a false positive) on "'" + std::string(s).
std::string in_quotes(std::string_view s) {
  std::string text;
  text.reserve(s.size() + 2);
  text += '\'';
  text += s;
  text += '\'';
  return text;
}

std::string position_text(const source_position& where) {
  std::string text = where.file;
  text += ':';
  text += std::to_string(where.line);
  text += ':';
  text += std::to_string(where.column);
  return text;
}

std::string number_text(double d) {
  std::array<char, 32> buffer{};
  const auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), d);
  return std::string(buffer.data(), static_cast<std::size_t>(end - buffer.data()));
}

std::string choices_text(std::span<const std::string_view> choices) {
  const std::size_t n = choices.size();
  std::string text = n > 2 ? "one of " : "";
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) text += i + 1 == n ? " or " : ", ";
    text += '"';
    text += choices[i];
    text += '"';
  }
  return text;
}

std::string too_deep_message() {
  std::string text = "values are nested more than ";
  text += std::to_string(max_nesting);
  text += " levels deep";
  return text;
}

const toml::node* too_deep(const toml::node& node, int depth) {
  if (depth > max_nesting) return &node;
  if (const toml::table* table = node.as_table()) {
    for (auto&& [key, value] : *table) {
      if (const toml::node* found = too_deep(value, depth + 1)) return found;
    }
  } else if (const toml::array* array = node.as_array()) {
    for (const toml::node& value : *array) {
      if (const toml::node* found = too_deep(value, depth + 1)) return found;
    }
  }
  return nullptr;
}

bool read_whole_file(const fs::path& path, std::string& out, std::string& why) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    why = "it does not exist";
    return false;
  }
  if (fs::is_directory(status)) {
    why = "it is a folder";
    return false;
  }
  if (!fs::is_regular_file(status)) {
    // A FIFO, socket or device such as /dev/zero would block or never end.
    why = "it is not a regular file";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = std::strerror(errno);
    return false;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    why = "read error";
    return false;
  }
  out = std::move(buffer).str();
  return true;
}

boost::json::array strings_json(const std::vector<std::string>& strings) {
  boost::json::array array;
  for (const std::string& s : strings) array.emplace_back(s);
  return array;
}

}  // namespace stubborn

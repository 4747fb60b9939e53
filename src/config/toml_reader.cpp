#include "config/toml_reader.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include <boost/json/value.hpp>

#include "config/duration.hpp"
#include "config/toml_reading.hpp"
#include "routing/templates.hpp"
#include "text/json_text.hpp"

namespace stubborn {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// steady_clock counts nanoseconds in 64 bits: keep timers far from overflow.
constexpr std::chrono::milliseconds max_timeout = std::chrono::hours{168};

}  // namespace

void toml_reader::begin_file(const std::string& name, const fs::path& base_dir) {
  file_ = name;
  file_index_ = file_count_++;
  base_dir_ = base_dir;
}

void toml_reader::set_json_regions(
    std::unordered_map<const toml::node*, toml::source_region> regions) {
  json_regions_ = std::move(regions);
}

void toml_reader::set_region(const toml::node& node, const toml::source_region& region) {
  json_regions_[&node] = region;
}

void toml_reader::add(source_position where, std::string message) {
  add_in(file_index_, std::move(where), std::move(message));
}

void toml_reader::add_in(std::size_t file_index, source_position where, std::string message) {
  indexed_problem problem{file_index, {}};
  problem.problem.where = std::move(where);
  problem.problem.message = std::move(message);
  problems_.push_back(std::move(problem));
}

source_position toml_reader::at(const toml::source_region& region) const {
  return {file_, region.begin.line, region.begin.column};
}

source_position toml_reader::at(const toml::node& node) const {
  return at(region(node));
}

source_position toml_reader::at(const toml::key& key) const {
  return at(key.source());
}

// toml++ gives nodes built in code (from JSON) no source region and no way to set one, so
// theirs are kept in json_regions_; keys can carry their own.
const toml::source_region& toml_reader::region(const toml::node& node) const {
  if (!json_regions_.empty()) {
    const auto found = json_regions_.find(&node);
    if (found != json_regions_.end()) return found->second;
  }
  return node.source();
}

bool toml_reader::before(const toml::node& a, const toml::node& b) const {
  return region(a).begin < region(b).begin;
}

// Only when the source text is exactly the value between two quotes (one line, ASCII, no
// escapes) does an offset into the value map to a column.
source_position toml_reader::at_offset(const toml::node& node, std::string_view value,
                                       std::size_t offset) const {
  source_position where = at(node);
  const toml::source_region& written = region(node);
  if (written.begin.line == written.end.line && written.end.column > written.begin.column &&
      written.end.column - written.begin.column == value.size() + 2 && is_ascii(value) &&
      offset <= value.size()) {
    where.column += static_cast<std::uint32_t>(1 + offset);
  }
  return where;
}

void toml_reader::type_error(const toml::node& node, std::string_view what,
                             std::string_view expected) {
  add(at(node), concat(what, " must be ", expected, ", not ", type_name(node)));
}

void toml_reader::unknown_key(const toml::key& key, std::string_view where,
                              std::span<const std::string_view> known) {
  add(at(key),
      concat("unknown key ", in_quotes(key.str()), " ", where, suggestion(key.str(), known)));
}

const std::string* toml_reader::get_string(const toml::node& node, std::string_view key) {
  if (const auto* s = node.as_string()) return &s->get();
  type_error(node, in_quotes(key), "a string");
  return nullptr;
}

std::optional<std::int64_t> toml_reader::get_integer(const toml::node& node, std::string_view key) {
  if (const auto* i = node.as_integer()) return i->get();
  type_error(node, in_quotes(key), "an integer");
  return std::nullopt;
}

std::optional<bool> toml_reader::get_bool(const toml::node& node, std::string_view key) {
  if (const auto* b = node.as_boolean()) return b->get();
  type_error(node, in_quotes(key), "a boolean (true or false)");
  return std::nullopt;
}

std::optional<double> toml_reader::get_number(const toml::node& node, std::string_view key) {
  if (const auto* d = node.as_floating_point()) return d->get();
  if (const auto* i = node.as_integer()) return static_cast<double>(i->get());
  type_error(node, in_quotes(key), "a number (a float or an integer)");
  return std::nullopt;
}

std::optional<std::size_t> toml_reader::get_choice(const toml::node& node, std::string_view key,
                                                   std::span<const std::string_view> choices) {
  const auto* s = node.as_string();
  if (!s) {
    type_error(node, in_quotes(key), choices_text(choices));
    return std::nullopt;
  }
  const auto found = std::find(choices.begin(), choices.end(), s->get());
  if (found != choices.end()) return static_cast<std::size_t>(found - choices.begin());
  add(at(node), concat(in_quotes(key), " must be ", choices_text(choices), ", not \"", s->get(),
                       "\"", suggestion(s->get(), choices)));
  return std::nullopt;
}

std::optional<std::string> toml_reader::scalar_text(const toml::node& node, std::string_view what) {
  if (const auto* s = node.as_string()) return s->get();
  if (const auto* i = node.as_integer()) return std::to_string(i->get());
  if (const auto* b = node.as_boolean()) return std::string(b->get() ? "true" : "false");
  type_error(node, what, "a string, an integer or a boolean");
  return std::nullopt;
}

bool toml_reader::read_duration(const toml::node& node, std::string_view key, bool zero_allowed,
                                std::chrono::milliseconds& out) {
  const auto* s = node.as_string();
  if (!s) {
    type_error(node, in_quotes(key), "a duration string with a unit, e.g. \"10s\"");
    return false;
  }
  const auto parsed = parse_duration(s->get());
  if (!parsed) {
    add(at(node), concat(in_quotes(key),
                         " must be a number with a unit (ms, s, m or h), e.g. \"10s\", not \"",
                         s->get(), "\""));
  } else if (*parsed > max_timeout) {
    add(at(node), concat(in_quotes(key), " must be at most 168h (a week)"));
  } else if (!zero_allowed && parsed->count() == 0) {
    add(at(node), concat(in_quotes(key), " must be more than 0s"));
  } else {
    out = *parsed;
    return true;
  }
  return false;
}

void toml_reader::read_size(const toml::node& node, std::string_view key, std::size_t min,
                            std::size_t max, std::size_t& out) {
  std::optional<std::size_t> bytes;
  if (const auto* i = node.as_integer()) {
    if (i->get() < 0) {
      add(at(node), concat(in_quotes(key), " must not be negative"));
      return;
    }
    bytes = static_cast<std::size_t>(i->get());
  } else if (const auto* s = node.as_string()) {
    bytes = parse_size(s->get());
    if (!bytes) {
      add(at(node), concat(in_quotes(key),
                           " must be a number of bytes, optionally with a unit (KB, KiB, "
                           "MB, MiB, GB, GiB), e.g. \"16KiB\", not \"",
                           s->get(), "\""));
      return;
    }
  } else {
    type_error(node, in_quotes(key), "an integer or a size string, e.g. \"16KiB\"");
    return;
  }
  if (*bytes < min) {
    add(at(node), concat(in_quotes(key), " must be at least ", std::to_string(min), ", not ",
                         std::to_string(*bytes)));
  } else if (*bytes > max) {
    add(at(node), concat(in_quotes(key), " must be at most ", std::to_string(max), ", not ",
                         std::to_string(*bytes)));
  } else {
    out = *bytes;
  }
}

bool toml_reader::read_status(const toml::node& node, int& out) {
  auto n = get_integer(node, "status");
  if (!n) return false;
  if (*n >= 100 && *n <= 199) {
    add(at(node), concat("status ", std::to_string(*n),
                         ": 1xx responses are interim and sent by the server itself; a final "
                         "status must be 200..999"));
    return false;
  }
  if (*n < 200 || *n > 999) {
    add(at(node),
        concat("status ", std::to_string(*n), " is out of range: a final status must be 200..999"));
    return false;
  }
  out = static_cast<int>(*n);
  return true;
}

bool toml_reader::check_template(const toml::node& node, const std::string& text,
                                 const std::vector<std::string>& params, const std::string& what,
                                 bool message) {
  try {
    compiled_template::compile(text, params, message);
    return true;
  } catch (const template_error& e) {
    add(at_offset(node, text, e.offset), concat("bad template in ", what, ": ", e.what()));
    return false;
  }
}

bool toml_reader::read_body_file(const toml::node& node, const std::string& written,
                                 std::string& out) {
  const fs::path relative(written);
  if (written.empty()) {
    add(at(node), "'body_file' must not be empty");
    return false;
  }
  if (relative.is_absolute()) {
    add(at(node), concat("'body_file' must be relative to the config file's folder, not an "
                         "absolute path: \"",
                         written, "\""));
    return false;
  }
  // Resolve symlinks on both sides, so a link pointing out of the folder is caught too.
  std::error_code ec;
  fs::path base = fs::weakly_canonical(base_dir_, ec);
  fs::path target;
  if (!ec) target = fs::weakly_canonical(base_dir_ / relative, ec);
  if (ec) {
    add(at(node), concat("cannot read 'body_file' \"", written, "\": ", ec.message()));
    return false;
  }
  if (base.filename().empty()) base = base.parent_path();
  const fs::path inside = target.lexically_relative(base);
  if (inside.empty() || *inside.begin() == "..") {
    add(at(node), concat("'body_file' \"", written, "\" is outside the config file's folder"));
    return false;
  }
  std::string why;
  if (!read_whole_file(target, out, why)) {
    add(at(node), concat("cannot read 'body_file' \"", written, "\": ", why));
    return false;
  }
  return true;
}

namespace {

void to_json(toml_reader& reader, const toml::node& node, json::value& out, bool& ok) {
  switch (node.type()) {
    case toml::node_type::table: {
      json::object& object = out.emplace_object();
      for (auto&& [key, value] : *node.as_table()) to_json(reader, value, object[key.str()], ok);
      return;
    }
    case toml::node_type::array: {
      json::array& array = out.emplace_array();
      for (const toml::node& value : *node.as_array()) {
        array.emplace_back(nullptr);
        to_json(reader, value, array.back(), ok);
      }
      return;
    }
    case toml::node_type::string:
      out = node.as_string()->get();
      return;
    case toml::node_type::integer:
      out = node.as_integer()->get();
      return;
    case toml::node_type::floating_point: {
      const double d = node.as_floating_point()->get();
      if (!std::isfinite(d)) {
        reader.add(reader.at(node), "JSON has no infinity or NaN");
        ok = false;
        return;
      }
      out = d;
      return;
    }
    case toml::node_type::boolean:
      out = node.as_boolean()->get();
      return;
    default:
      reader.add(reader.at(node),
                 concat("JSON has no dates or times: write ", type_name(node), " as a string"));
      ok = false;
      return;
  }
}

}  // namespace

std::optional<std::string> toml_reader::to_json_text(const toml::node& node) {
  json::value value;
  bool ok = true;
  to_json(*this, node, value, ok);
  if (!ok) return std::nullopt;
  std::string text;
  append_json_text(value, text);
  return text;
}

}  // namespace stubborn

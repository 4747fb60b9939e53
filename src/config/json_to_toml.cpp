#include "config/json_to_toml.hpp"

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

#include "config/json_token_scanner.hpp"
#include "config/toml_reading.hpp"

namespace stubborn {
namespace {

namespace json = boost::json;

toml::source_region region_of(const json_token& token) {
  toml::source_region region;
  region.begin = {token.begin.line, token.begin.column};
  region.end = {token.end.line, token.end.column};
  return region;
}

// A boost::json::basic_parser handler that builds toml++ nodes, so that routes sent as JSON are
// read by the same code as routes in a file. Each node's place in the JSON text goes into
// `regions`, keyed by its address (stable: toml++ containers own their nodes through pointers).
// What TOML cannot hold (null, integers above 2^63 - 1, a key written twice) is a problem here,
// as toml::parse would make it one.
class json_to_toml_handler {
 public:
  static constexpr std::size_t max_array_size = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t max_object_size = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t max_string_size = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t max_key_size = std::numeric_limits<std::size_t>::max();

  json_to_toml_handler(std::string_view text, std::string name)
      : tokens_(text), name_(std::move(name)) {}

  std::unique_ptr<toml::node> root;
  std::unordered_map<const toml::node*, toml::source_region> regions;
  std::vector<std::pair<toml::source_region, std::string>> problems;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    open(toml::table{});
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    open_.pop_back();
    return true;
  }
  bool on_array_begin(json::error_code&) {
    open(toml::array{});
    return true;
  }
  bool on_array_end(std::size_t, json::error_code&) {
    open_.pop_back();
    return true;
  }
  bool on_key_part(json::string_view part, std::size_t, json::error_code&) {
    text_.append(part.data(), part.size());
    return true;
  }
  bool on_key(json::string_view part, std::size_t, json::error_code&) {
    text_.append(part.data(), part.size());
    key_ = toml::key(std::move(text_), region_of(tokens_.next()));
    text_.clear();
    return true;
  }
  bool on_string_part(json::string_view part, std::size_t, json::error_code&) {
    text_.append(part.data(), part.size());
    return true;
  }
  bool on_string(json::string_view part, std::size_t, json::error_code&) {
    text_.append(part.data(), part.size());
    place(toml::value<std::string>(std::move(text_)));
    text_.clear();
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t n, json::string_view, json::error_code&) {
    place(toml::value<std::int64_t>(n));
    return true;
  }
  bool on_uint64(std::uint64_t n, json::string_view, json::error_code&) {
    problems.emplace_back(region_of(tokens_.next()),
                          "integer " + std::to_string(n) + " is too large: at most " +
                              std::to_string(std::numeric_limits<std::int64_t>::max()));
    return true;
  }
  bool on_double(double d, json::string_view, json::error_code&) {
    if (!std::isfinite(d)) {
      problems.emplace_back(region_of(tokens_.next()), "number is too large for a double");
      return true;
    }
    place(toml::value<double>(d));
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    place(toml::value<bool>(b));
    return true;
  }
  bool on_null(json::error_code&) {
    problems.emplace_back(region_of(tokens_.next()),
                          "null is not allowed: leave the key out to get its default");
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  // Puts a new value where the parser is: the root, the next array element, or the last key's.
  template <typename Node>
  toml::node& place(Node&& node) {
    const toml::source_region region = region_of(tokens_.next());
    toml::node* placed = nullptr;
    if (open_.empty()) {
      root = std::make_unique<std::decay_t<Node>>(std::forward<Node>(node));
      placed = root.get();
    } else if (toml::array* array = open_.back()->as_array()) {
      array->push_back(std::forward<Node>(node));
      placed = &array->back();
    } else if (toml::table& table = *open_.back()->as_table(); table.contains(key_.str())) {
      const toml::source_position first = table.find(key_.str())->first.source().begin;
      problems.emplace_back(key_.source(), "key '" + std::string(key_.str()) +
                                               "' is already set at " +
                                               position_text({name_, first.line, first.column}));
      // The parser goes on inside a container written twice; what it holds is dropped.
      discarded_.push_back(std::make_unique<std::decay_t<Node>>(std::forward<Node>(node)));
      placed = discarded_.back().get();
    } else {
      placed = &table.insert(key_, std::forward<Node>(node)).first->second;
    }
    regions.emplace(placed, region);
    return *placed;
  }

  template <typename Container>
  void open(Container&& container) {
    open_.push_back(&place(std::forward<Container>(container)));
  }

  json_token_scanner tokens_;
  std::string name_;
  std::vector<toml::node*> open_;  // the containers being filled, innermost last
  toml::key key_;
  std::string text_;  // a string or key arriving in parts
  std::vector<std::unique_ptr<toml::node>> discarded_;
};

// "invalid JSON: ..." for what Boost.JSON stopped at, at `offset` in `text`.
std::string json_syntax_message(std::string_view text, std::size_t offset,
                                const json::error_code& ec) {
  if (ec == json::error::too_deep) return too_deep_message();
  if (ec == json::error::incomplete) return "invalid JSON: the text ends before the value does";
  if (ec == json::error::extra_data) return "invalid JSON: more text after the value";
  std::string message = "invalid JSON: ";
  message += ec.message();
  if (offset < text.size()) {
    const auto byte = static_cast<unsigned char>(text[offset]);
    if (byte > 0x20 && byte < 0x7f) {
      message += " at '";
      message += static_cast<char>(byte);
      message += '\'';
    } else {
      static constexpr char hex[] = "0123456789abcdef";
      message += " at byte 0x";
      message += hex[byte >> 4];
      message += hex[byte & 0xf];
    }
  }
  return message;
}

}  // namespace

toml_from_json json_to_toml(std::string_view text, const std::string& name, int max_depth) {
  json::parse_options options;
  options.max_depth = static_cast<std::size_t>(max_depth);
  json::basic_parser<json_to_toml_handler> parser(options, text, name);
  json::error_code ec;
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (!ec && used < text.size()) ec = json::error::extra_data;
  toml_from_json out;
  if (ec) {
    const text_position where = json_token_scanner::position_of(text, used);
    toml::source_region region;
    region.begin = {where.line, where.column};
    region.end = region.begin;
    out.problems.emplace_back(region, json_syntax_message(text, used, ec));
    return out;
  }
  json_to_toml_handler& built = parser.handler();
  out.problems = std::move(built.problems);
  if (!out.problems.empty()) return out;
  out.root = std::move(built.root);
  out.regions = std::move(built.regions);
  return out;
}

}  // namespace stubborn

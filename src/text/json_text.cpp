#include "text/json_text.hpp"

#include <array>
#include <boost/json.hpp>
#include <charconv>
#include <string_view>

namespace stubborn {

namespace json = boost::json;

void append_json_text(const json::value& value, std::string& out) {
  switch (value.kind()) {
    case json::kind::object: {
      out += '{';
      bool first = true;
      for (const json::key_value_pair& member : value.get_object()) {
        if (!first) out += ',';
        first = false;
        out += json::serialize(json::string(member.key()));
        out += ':';
        append_json_text(member.value(), out);
      }
      out += '}';
      return;
    }
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const json::value& element : value.get_array()) {
        if (!first) out += ',';
        first = false;
        append_json_text(element, out);
      }
      out += ']';
      return;
    }
    case json::kind::double_: {
      std::array<char, 32> buffer{};
      const auto [end, ec] =
          std::to_chars(buffer.data(), buffer.data() + buffer.size(), value.get_double());
      std::string_view text(buffer.data(), static_cast<std::size_t>(end - buffer.data()));
      out += text;
      // Keep it a float for JSON readers that tell 2 from 2.0.
      if (text.find_first_of(".e") == std::string_view::npos) out += ".0";
      return;
    }
    default:
      out += json::serialize(value);
      return;
  }
}

}  // namespace stubborn

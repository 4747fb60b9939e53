#pragma once
// JSON text as the config and the templates write it: compact, a double in its shortest form
// ("100.5", not Boost's "1.005E2") and still a float ("2.0", for readers that tell 2 from 2.0).

#include <string>

namespace boost::json {
class value;
}

namespace stubborn {

/// Appends `value` as JSON text.
void append_json_text(const boost::json::value& value, std::string& out);

}  // namespace stubborn

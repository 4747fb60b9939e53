#pragma once
// A reply's Server-Sent Events: `events = [ { data, event, id, retry, delay } ]`, and the keys
// that say what follows them (`then`, `heartbeat`), checked against the reply they sit in.

#include <array>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <toml++/toml.h>
#include <boost/json/value.hpp>

#include "config/key_table.hpp"
#include "config/toml_reader.hpp"
#include "stubborn/config.hpp"

namespace stubborn {

/// An event being read, with the route's path parameters for its templates (nullopt: unknown).
struct event_reading {
  sse_event_spec& event;
  const std::optional<std::vector<std::string>>& params;
};

/// One key of an event.
using event_row = key_row<event_reading, sse_event_spec>;

/// The keys of one event: data, event, id, retry, delay.
std::span<const event_row> event_keys();

/// `events = [ { data = "..." }, ... ]`; false when some event has a problem.
bool read_events(toml_reader& reader, const toml::node& node,
                 const std::optional<std::vector<std::string>>& params,
                 std::vector<sse_event_spec>& out);

/// The JSON of a reply's events, as they are written in a config.
boost::json::value events_json(const std::vector<sse_event_spec>& events);

/// The names of stream_end values, as configs write them.
inline constexpr std::array<std::string_view, 2> stream_end_texts = {"close", "hold"};

/// The names of stream_end values, as configs write them ("close", "hold").
std::span<const std::string_view> stream_end_names();

}  // namespace stubborn

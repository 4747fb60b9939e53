#pragma once
// The timing keys of a reply: delay, interim responses, chunks, bandwidth and repeat, each a
// small table (or value) with its own keys.

#include <cstdint>
#include <string_view>
#include <vector>

#include <toml++/toml.h>
#include <boost/json/value.hpp>

#include "config/key_table.hpp"
#include "config/toml_reader.hpp"
#include "stubborn/config.hpp"

namespace stubborn {

/// `delay = "250ms"`, `{ min = "100ms", max = "400ms" }` or `{ median = "200ms", sigma = 0.4 }`;
/// messages name the key `key` ("delay", or "delay_reply" in [route.proxy]).
bool read_delay(toml_reader& reader, const toml::node& node, delay_spec& out,
                std::string_view key = "delay");
/// `interim = [ { status = 103, headers = { ... } } ]`.
bool read_interims(toml_reader& reader, const toml::node& node, std::vector<interim_spec>& out);
/// `chunks = { count = 10, over = "2s" }`.
bool read_chunks(toml_reader& reader, const toml::node& node, chunks_spec& out);
/// `bandwidth = "64KiB/s"` or bytes per second.
bool read_bandwidth(toml_reader& reader, const toml::node& node, std::uint64_t& out);
/// `repeat = 3` in [[route.replies]].
bool read_repeat(toml_reader& reader, const toml::node& node, unsigned& out);

/// The JSON of a delay, as it is written in a config.
boost::json::value delay_json(const delay_spec& delay);
/// The JSON of interim responses.
boost::json::value interims_json(const std::vector<interim_spec>& interims);
/// The JSON of chunks.
boost::json::value chunks_json(const chunks_spec& chunks);

/// The keys of a delay table ({ min, max } or { median, sigma }).
table_doc delay_doc();
/// The keys of an interim response.
table_doc interim_doc();
/// The keys of `chunks`.
table_doc chunks_doc();

/// What 'delay' may be, as messages say it.
inline constexpr std::string_view delay_forms =
    "a duration like \"250ms\", a table { min = \"100ms\", max = \"400ms\" } or a table "
    "{ median = \"200ms\", sigma = 0.4 }";

}  // namespace stubborn

#pragma once
// [route.reply] and [[route.replies]]: status, reason, headers, body, redirect, and the timing
// keys whose readers are in reply_timing.hpp.

#include <array>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "config/key_table.hpp"
#include "config/toml_reader.hpp"
#include "stubborn/config.hpp"

namespace stubborn {

/// A reply being read: path parameters (nullopt: unknown, templates are not checked) and
/// whether it is one entry of [[route.replies]].
struct reply_reading {
  reply_spec& reply;
  const std::optional<std::vector<std::string>>& params;
  bool in_sequence;
};

/// One key of a reply.
using reply_row = key_row<reply_reading, reply_spec>;

/// The keys of [[route.replies]] entries; [route.reply] has all but 'repeat'.
std::span<const reply_row> reply_keys();

/// Reads [route.reply], or one [[route.replies]] entry when `in_sequence`, into `reply`.
void read_reply(toml_reader& reader, const toml::node& node,
                const std::optional<std::vector<std::string>>& params, bool in_sequence,
                reply_spec& reply);

/// Reply headers (also an interim response's): tokens, not the server's own, no controls;
/// templates checked against `params` when known.
bool read_reply_headers(toml_reader& reader, const toml::node& node,
                        const std::optional<std::vector<std::string>>& params,
                        std::vector<name_value>& out);

/// The names of fault_kind values after none, as configs write them.
inline constexpr std::array<std::string_view, 6> fault_texts = {
    "reset", "close", "empty", "truncate", "garbage", "malformed-chunk"};

/// The names of fault_kind values after none, as configs write them (fault_texts).
std::span<const std::string_view> fault_names();

/// The fault_kind a name from fault_names() stands for.
fault_kind fault_at(std::size_t index);

}  // namespace stubborn

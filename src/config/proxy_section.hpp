#pragma once
// [route.proxy]: the upstream a route forwards requests to, how the forwarded request is changed,
// and the failures layered on what it relays.

#include <optional>
#include <span>

#include <toml++/toml.h>

#include "config/key_table.hpp"
#include "config/route_reading.hpp"
#include "config/toml_reader.hpp"
#include "stubborn/config.hpp"

namespace stubborn {

/// One key of [route.proxy].
using proxy_row = key_row<proxy_spec, proxy_spec>;

/// The keys of [route.proxy], in the order "did you mean" tries them.
std::span<const proxy_row> proxy_keys();

/// Reads [route.proxy]; the `ca` path is resolved against the config file's folder. Nullopt
/// when the table has problems (they are recorded in `reader`).
std::optional<proxy_spec> read_proxy(toml_reader& reader, const toml::node& node);

/// A proxy route relays its upstream's reply: reports the route keys that script a reply of
/// its own ([route.reply], [[route.replies]], then, etag, last_modified, ranges, continue_delay,
/// expect = "reject"), each where it is written.
void check_proxy_route(toml_reader& reader, const key_hits& hits, const route_reading& reading);

}  // namespace stubborn

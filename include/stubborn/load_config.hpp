#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "stubborn/config.hpp"
#include "stubborn/config_error.hpp"

namespace stubborn {

/// Reads TOML files, or folders of *.toml taken in name order, merges and validates them.
/// Throws config_error listing every problem found, each with file:line:col.
config load_config(const std::vector<std::string>& paths);

/// Same for TOML text; `name` is used in messages, `base_dir` resolves body_file.
config load_config_text(std::string_view text, const std::string& name,
                        const std::string& base_dir = ".");

/// Parses one route written as a JSON object with the same keys as a [[route]] table, e.g.
/// {"method":"GET","path":"/x","reply":{"status":200,"body":"hi"}}, validated exactly like a
/// route in a file. `source` names the input in messages (e.g. "POST /__admin/routes");
/// `base_dir` resolves body_file. Throws config_error listing every problem, each with
/// source:line:col in the JSON text.
route_spec load_route_json(std::string_view json_text, const std::string& source,
                           const std::string& base_dir = ".");

/// Same for several routes: one route object, an array of them, or {"route": [...]}.
std::vector<route_spec> load_routes_json(std::string_view json_text, const std::string& source,
                                         const std::string& base_dir = ".");

/// When `offline` (strict replay: --offline or [server] offline = true), one problem for each
/// route of `cfg` that proxies, at its [route.proxy] table; none otherwise. load_config reports
/// them itself for [server] offline; the server checks the routes it installs with the
/// effective value (files and command line), at start, at a reload and for runtime routes.
std::vector<config_problem> offline_problems(const config& cfg, bool offline);

}  // namespace stubborn

namespace stubborn {

/// Parses "host:port" or "[v6]:port" (port 0..65535) into `out`; returns "" or what is wrong,
/// naming the value as `subject` (e.g. "'listen'" or "--listen").
std::string parse_listen_address(std::string_view text, listen_address& out,
                                 std::string_view subject);

/// Parses an upstream URL, "http://host[:port][/base]" or "https://...", into the `to`, `tls`,
/// `host`, `port` and `base_path` of `out`; returns "" or what is wrong, naming the value as
/// `subject` (e.g. "'to'" or "--upstream").
std::string parse_upstream_url(std::string_view text, proxy_spec& out, std::string_view subject);

}  // namespace stubborn

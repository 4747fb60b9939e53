#pragma once
// Matching on what the request carries: `cookies = { ... }`, `form = { ... }` and [route.when]
// with its all / any / not conditions.

#include <optional>
#include <vector>

#include <toml++/toml.h>
#include <boost/json/object.hpp>

#include "config/key_table.hpp"
#include "config/toml_reader.hpp"
#include "stubborn/config.hpp"

namespace stubborn {

/// `cookies = { session = "s1" }`: each cookie sent with exactly this value.
bool read_cookie_matchers(toml_reader& r, const toml::node& node, std::vector<name_value>& out);
/// `form = { grant_type = "client_credentials" }`: each form field with exactly this value.
bool read_form_matchers(toml_reader& r, const toml::node& node, std::vector<name_value>& out);
/// [route.when]: checks every condition (subjects, operators, paths, regexes) at load.
bool read_when(toml_reader& r, const toml::node& node, std::optional<when_spec>& out);

/// The keys of [route.when], and of each of its conditions.
table_doc when_doc();

/// Reports `path` conditions naming a parameter the route's path does not have.
void check_when_params(toml_reader& r, const when_spec& when,
                       const std::vector<std::string>& params);

/// The [route.when] table as written, for the admin API.
boost::json::object when_json(const when_spec& when);

}  // namespace stubborn

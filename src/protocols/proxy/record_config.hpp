#pragma once
// `stubborn record`: the config it serves, written as TOML text so that the public loader checks
// it exactly as it checks a file (the upstream URL above all).

#include <string>

namespace stubborn {

/// What `stubborn record` was given on the command line.
struct record_settings {
  std::string upstream;  ///< --upstream: the URL every request is proxied to
  std::string out;       ///< --out: the TOML file the recording is written to
};

/// The config of a recording session: one proxy route for every method and path ("/*" matches
/// "/" too), the admin API on the same listener, and [recording] writing to `out`.
std::string record_config_text(const record_settings& settings);

}  // namespace stubborn

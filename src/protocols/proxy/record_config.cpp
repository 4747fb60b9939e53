#include "protocols/proxy/record_config.hpp"

#include "text/toml_text.hpp"

namespace stubborn {

std::string record_config_text(const record_settings& settings) {
  std::string text;
  text += "# stubborn record: every request is proxied to the upstream and what it answers is\n";
  text += "# recorded; the file is written at exit and by POST /__admin/recordings/snapshot.\n";
  text += "\n[admin]\n";
  text += "prefix = \"/__admin\"  # on the same listener, before the route below\n";
  text += "\n[recording]\n";
  text += "out = " + toml_string(settings.out) + "\n";
  text += "\n[[route]]\n";
  text += "name = \"record\"\n";
  text += "path = \"/*\"  # every path, \"/\" included; any method\n";
  text += "[route.proxy]\n";
  text += "to = " + toml_string(settings.upstream) + "\n";
  return text;
}

}  // namespace stubborn

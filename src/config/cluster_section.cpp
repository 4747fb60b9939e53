// The [cluster] table. Adding a key: a field in cluster_config (include/stubborn/config.hpp) and
// one row below.
#include "config/cluster_section.hpp"

#include <array>

#include "config/redis_url.hpp"
#include "config/toml_reading.hpp"
#include "stubborn/load_config.hpp"

namespace stubborn {
namespace {

using row = key_row<cluster_config, cluster_config>;

constexpr std::array<std::string_view, 5> share_names = {"rate_limits", "sequences", "outages",
                                                         "routes", "journal"};
constexpr std::array<std::string_view, 3> fallback_names = {"local", "allow", "deny"};

bool* share_flag(cluster_config& c, std::size_t index) {
  std::array<bool*, 5> flags = {&c.share_rate_limits, &c.share_sequences, &c.share_outages,
                                &c.share_routes, &c.share_journal};
  return flags[index];
}

// A namespace is part of every Redis key and channel: printable, no spaces or braces.
bool valid_namespace(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

constexpr std::array<row, 6> rows = {{
    {"redis", string_kind, "a string", "\"redis://127.0.0.1:6379/0\"",
     "redis://[user:password@]host:port/db or unix:///path?db=N",
     [](toml_reader& r, const toml::node& v, cluster_config& c) {
       redis_endpoint endpoint;
       std::string problem = parse_redis_url(v.as_string()->get(), endpoint);
       if (!problem.empty()) {
         r.add(r.at(v), std::move(problem));
         return false;
       }
       c.redis = v.as_string()->get();
       return true;
     },
     nullptr},
    {"namespace", string_kind, "a string", "\"stubborn\"",
     "instances with the same namespace share state; letters, digits and -_.:",
     [](toml_reader& r, const toml::node& v, cluster_config& c) {
       const std::string& s = v.as_string()->get();
       if (!valid_namespace(s)) {
         r.add(r.at(v), concat("'namespace' must be 1..64 letters, digits, '-', '_', '.' or ':', "
                               "not \"",
                               s, "\""));
         return false;
       }
       c.name_space = s;
       return true;
     },
     nullptr},
    {"share", array_kind, "an array of strings",
     R"(["rate_limits", "sequences", "outages", "routes", "journal"])",
     "what the instances share; the rest stays per instance",
     [](toml_reader& r, const toml::node& v, cluster_config& c) {
       for (std::size_t i = 0; i < share_names.size(); ++i) *share_flag(c, i) = false;
       bool ok = true;
       for (const toml::node& item : *v.as_array()) {
         const auto index = r.get_choice(item, "share", share_names);
         if (!index) {
           ok = false;
           continue;
         }
         *share_flag(c, *index) = true;
       }
       return ok;
     },
     nullptr, key_shape{.items = string_kind, .choices = share_names}},
    {"on_unavailable", string_kind, "\"local\", \"allow\" or \"deny\"", "\"local\"",
     "when Redis cannot answer: per-instance state, admit everything, or 503",
     [](toml_reader& r, const toml::node& v, cluster_config& c) {
       const auto index = r.get_choice(v, "on_unavailable", fallback_names);
       if (index) c.on_unavailable = static_cast<cluster_fallback>(*index);
       return index.has_value();
     },
     nullptr, key_shape{.choices = fallback_names}},
    {"timeout", string_kind, "a duration string with a unit, e.g. \"50ms\"", "\"50ms\"",
     "each Redis command's deadline; past it, on_unavailable decides",
     [](toml_reader& r, const toml::node& v, cluster_config& c) {
       return r.read_duration(v, "timeout", false, c.timeout);
     },
     nullptr},
    {"journal_max", integer_kind, "an integer", "10000",
     "entries the shared journal stream keeps (approximately), 1..10000000",
     [](toml_reader& r, const toml::node& v, cluster_config& c) {
       const std::int64_t n = v.as_integer()->get();
       if (n < 1 || n > 10'000'000) {
         r.add(r.at(v), concat("'journal_max' must be 1..10000000, not ", std::to_string(n)));
         return false;
       }
       c.journal_max = static_cast<std::size_t>(n);
       return true;
     },
     nullptr},
}};

}  // namespace

std::span<const key_row<cluster_config, cluster_config>> cluster_keys() {
  return rows;
}

std::span<const std::string_view> cluster_share_names() {
  return share_names;
}

void read_cluster(toml_reader& reader, const toml::node& node,
                  std::optional<cluster_config>& cluster,
                  std::map<std::string, source_position>& set_once) {
  const toml::table* table = node.as_table();
  if (!table) {
    reader.type_error(node, "'cluster'", "a table, written [cluster]");
    return;
  }
  if (!cluster) {
    cluster.emplace();
    cluster->position = reader.at(node);
  }
  table_place place;
  place.where = "in [cluster]";
  place.set_once = &set_once;
  place.table = "[cluster]";
  read_keys<cluster_config, cluster_config>(reader, *table, rows, place, *cluster);
}

}  // namespace stubborn

// The [admin] table. Adding a key: a field in admin_config (include/stubborn/config.hpp) and one
// row below, e.g.
//   {"read_only", boolean_kind, "a boolean (true or false)", "false", "refuse changes",
//    [](toml_reader& r, const toml::node& v, admin_config& a) {
//      a.read_only = v.as_boolean()->get();
//      return true;
//    },
//    nullptr},
#include "config/admin_section.hpp"

#include <algorithm>
#include <array>

#include "config/toml_reading.hpp"
#include "stubborn/load_config.hpp"

namespace stubborn {
namespace {

using row = key_row<admin_config, admin_config>;

constexpr std::array<row, 6> rows = {{
    {"enabled", boolean_kind, "a boolean (true or false)", "true",
     "serve the admin API under 'prefix'",
     [](toml_reader&, const toml::node& v, admin_config& a) {
       a.enabled = v.as_boolean()->get();
       return true;
     },
     nullptr},
    {"prefix", string_kind, "a string", "\"/__admin\"", "admin paths start with this",
     [](toml_reader& r, const toml::node& v, admin_config& a) {
       const std::string& s = v.as_string()->get();
       const bool bad_char = std::any_of(s.begin(), s.end(), [](char c) {
         return c == '?' || c == '#' || c == '%' || c == ' ' ||
                static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f;
       });
       if (s.size() < 2 || s.front() != '/' || s.back() == '/' || bad_char) {
         r.add(r.at(v), concat("'prefix' must be a path like \"/__admin\": starting with '/', "
                               "not ending with one, without spaces, '?', '#' or '%', not \"",
                               s, "\""));
         return false;
       }
       a.prefix = s;
       return true;
     },
     nullptr},
    {"listen", string_kind, "a string", "", "its own listener, host:port; unset = the main one",
     [](toml_reader& r, const toml::node& v, admin_config& a) {
       listen_address address;
       std::string problem = parse_listen_address(v.as_string()->get(), address, "'listen'");
       if (!problem.empty()) {
         r.add(r.at(v), std::move(problem));
         return false;
       }
       a.listen = address;
       return true;
     },
     nullptr},
    {"token", string_kind, "a string", "",
     "\"\" = open; else requests need Authorization: Bearer <token>",
     [](toml_reader& r, const toml::node& v, admin_config& a) {
       const std::string& s = v.as_string()->get();
       if (s.empty() || !is_token68(s)) {
         r.add(r.at(v),
               "'token' must be a token68 (letters, digits and -._~+/, then any '='), "
               "sent as Authorization: Bearer <token>");
         return false;
       }
       a.token = s;
       return true;
     },
     nullptr},
    {"journal", integer_kind, "an integer", "1000", "the newest requests kept; 0 = no journal",
     [](toml_reader& r, const toml::node& v, admin_config& a) {
       const std::int64_t n = v.as_integer()->get();
       if (n < 0 || n > 1'000'000) {
         r.add(r.at(v), concat("'journal' must be 0 (off)..1000000, not ", std::to_string(n)));
         return false;
       }
       a.journal = static_cast<std::size_t>(n);
       return true;
     },
     nullptr},
    {"journal_body_bytes", integer_kind | string_kind,
     "an integer or a size string, e.g. \"16KiB\"", "\"4KiB\"",
     "request body bytes kept per journal entry",
     [](toml_reader& r, const toml::node& v, admin_config& a) {
       const std::size_t problems = r.problems().size();
       r.read_size(v, "journal_body_bytes", 0, 64 * 1024 * 1024, a.journal_body_bytes);
       return r.problems().size() == problems;
     },
     nullptr},
}};

}  // namespace

std::span<const key_row<admin_config, admin_config>> admin_keys() {
  return rows;
}

void read_admin(toml_reader& reader, const toml::node& node, admin_config& admin,
                std::map<std::string, source_position>& set_once) {
  const toml::table* table = node.as_table();
  if (!table) {
    reader.type_error(node, "'admin'", "a table, written [admin]");
    return;
  }
  table_place place;
  place.where = "in [admin]";
  place.set_once = &set_once;
  place.table = "[admin]";
  read_keys<admin_config, admin_config>(reader, *table, rows, place, admin);
}

}  // namespace stubborn

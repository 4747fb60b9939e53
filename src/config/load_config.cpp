// Loading configs: files and folders of TOML, TOML text, and routes posted as JSON. The sections
// are read by their own readers (server_section, admin_section, route_section and the files it
// joins, outage_section, recording_section); this file walks the documents, merges files, names
// the routes and checks what spans sections (listeners, [recording], offline).
#include "stubborn/load_config.hpp"

#include <algorithm>
#include <array>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "config/admin_section.hpp"
#include "config/cluster_section.hpp"
#include "config/config_schema.hpp"
#include "config/json_to_toml.hpp"
#include "config/key_table.hpp"
#include "config/nesting_scanner.hpp"
#include "config/outage_section.hpp"
#include "config/recording_section.hpp"
#include "config/route_reading.hpp"
#include "config/server_section.hpp"
#include "config/toml_reader.hpp"
#include "config/toml_reading.hpp"
#include "stubborn/config_error.hpp"

namespace stubborn {
namespace {

namespace fs = std::filesystem;

config_problem offline_problem(const route_spec& route) {
  return {route.proxy->position,
          concat("route ", in_quotes(route.name), " proxies to ", route.proxy->to,
                 ", but the server is offline: strict replay never calls an upstream")};
}

// Routes sent as JSON join a running server; its settings come from the files.
constexpr std::string_view server_not_here =
    "[server] cannot be set here, only routes: server settings come from the configuration files";

class loader;

// The top level of a file.
using top_row = key_row<loader, config>;

class loader {
 public:
  // One file, or one folder of *.toml files taken in name order.
  void load_path(const std::string& path) {
    std::error_code ec;
    if (!fs::is_directory(path, ec)) {
      load_file(path);
      return;
    }
    std::vector<std::string> names;
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code type_ec;
      if (it->path().extension() == ".toml" && it->is_regular_file(type_ec)) {
        names.push_back(it->path().filename().string());
      }
    }
    if (ec) {
      reader_.begin_file(path, ".");
      reader_.add({path, 0, 0}, concat("cannot read folder: ", ec.message()));
      return;
    }
    std::sort(names.begin(), names.end());
    if (names.empty()) {
      reader_.begin_file(path, ".");
      reader_.add({path, 0, 0}, "no *.toml files in this folder");
      return;
    }
    for (const std::string& name : names) load_file((fs::path(path) / name).string());
  }

  void load_file(const std::string& path) {
    fs::path base = fs::path(path).parent_path();
    reader_.begin_file(path, base.empty() ? fs::path(".") : base);
    std::string text;
    std::string why;
    if (!read_whole_file(path, text, why)) {
      reader_.add({path, 0, 0}, concat("cannot read file: ", why));
      return;
    }
    cfg_.files.push_back(path);
    parse_and_read(text);
  }

  void load_text(std::string_view text, const std::string& name, const fs::path& base_dir) {
    reader_.begin_file(name, base_dir);
    cfg_.files.push_back(name);
    parse_and_read(text);
  }

  // Routes written as JSON (see load_route_json): json_to_toml builds the toml++ nodes a file
  // would have given, with their JSON positions, and the file's readers read them. Invalid JSON
  // and what TOML cannot hold stop the text, as a TOML syntax error stops its file.
  void load_json(std::string_view text, const std::string& name, const fs::path& base_dir,
                 bool one_route) {
    reader_.begin_file(name, base_dir);
    // Deep enough for anything a file could hold (the {"route": [...]} form is one level deeper
    // than the file); too_deep() below is the exact check. Boost.JSON itself does not recurse.
    toml_from_json built = json_to_toml(text, name, max_nesting + 1);
    for (auto& [where, message] : built.problems)
      reader_.add(reader_.at(where), std::move(message));
    if (!built.problems.empty()) return;
    reader_.set_json_regions(std::move(built.regions));
    read_json_root(*built.root, one_route);
    reader_.set_json_regions({});
  }

  // Names the routes, sorts the problems and throws if there are any.
  config finish() {
    name_routes();
    check_listeners();
    check_recording();
    check_offline();
    std::vector<indexed_problem>& problems = reader_.problems();
    if (problems.empty()) return std::move(cfg_);
    std::stable_sort(problems.begin(), problems.end(),
                     [](const indexed_problem& a, const indexed_problem& b) {
                       return std::tie(a.file_index, a.problem.where.line, a.problem.where.column) <
                              std::tie(b.file_index, b.problem.where.line, b.problem.where.column);
                     });
    std::vector<config_problem> sorted;
    sorted.reserve(problems.size());
    for (indexed_problem& p : problems) sorted.push_back(std::move(p.problem));
    throw config_error(std::move(sorted));
  }

 private:
  friend struct top_level;

  void parse_and_read(std::string_view text);
  void read_json_root(toml::node& root, bool one_route);
  void read_top_level(const toml::table& root, const table_place& place);

  void read_routes(const toml::node& node) {
    const toml::array* array = node.as_array();
    if (!array) {
      reader_.type_error(node, "'route'", "an array of tables, written [[route]]");
      return;
    }
    for (const toml::node& element : *array) {
      if (const toml::table* table = element.as_table()) {
        route_reading reading = read_route(reader_, *table);
        cfg_.routes.push_back(std::move(reading.route));
        route_meta_.push_back(
            {reader_.file_index(), reading.explicit_name, std::move(reading.name_position)});
      } else {
        reader_.type_error(element, "each 'route'", "a table");
      }
    }
  }

  // Explicit names must be unique; generated ones ("GET /users/{id}") get " #2", " #3"...
  void name_routes() {
    std::map<std::string, source_position> explicit_names;
    for (std::size_t i = 0; i < cfg_.routes.size(); ++i) {
      const route_meta& meta = route_meta_[i];
      if (!meta.explicit_name) continue;
      auto [first, inserted] = explicit_names.emplace(cfg_.routes[i].name, meta.name_position);
      if (!inserted) {
        reader_.add_in(meta.file_index, meta.name_position,
                       concat("route name ", in_quotes(cfg_.routes[i].name), " is already used at ",
                              position_text(first->second)));
      }
    }
    std::set<std::string> taken;
    for (const auto& [name, position] : explicit_names) taken.insert(name);
    for (std::size_t i = 0; i < cfg_.routes.size(); ++i) {
      if (route_meta_[i].explicit_name) continue;
      route_spec& route = cfg_.routes[i];
      std::string base;
      for (const std::string& method : route.methods) {
        if (!base.empty()) base += ',';
        base += method;
      }
      if (base.empty()) base = "ANY";
      base += ' ';
      base += route.path_regex.empty() ? route.path : route.path_regex;
      std::string name = base;
      for (int n = 2; taken.count(name) != 0; ++n) name = concat(base, " #", std::to_string(n));
      taken.insert(name);
      route.name = std::move(name);
    }
  }

  // `listen = ""` turns the plain listener off: then only [server.tls] can serve.
  void check_listeners() {
    if (cfg_.server.plain_listener || cfg_.server.tls) return;
    const auto listen = server_keys_set_.find("listen");
    if (listen == server_keys_set_.end()) return;
    const source_position& where = listen->second;
    const auto file = std::find(cfg_.files.begin(), cfg_.files.end(), where.file);
    reader_.add_in(static_cast<std::size_t>(file - cfg_.files.begin()), where,
                   "'listen' = \"\" turns plain HTTP off, so [server.tls] is needed: without it "
                   "nothing would listen");
  }

  // [recording] tables merge across files; one of them names the file to write.
  void check_recording() {
    if (!cfg_.recording || !cfg_.recording->out.empty()) return;
    if (recording_keys_set_.count("out") != 0) return;  // written, with a problem reported there
    reader_.add_in(recording_file_index_, cfg_.recording->position,
                   "[recording] needs 'out': the TOML file the routes are written to, e.g. out = "
                   "\"recorded.toml\"");
  }

  // [server] offline = true: strict replay, so no route may call an upstream.
  void check_offline() {
    if (!cfg_.server.offline) return;
    for (std::size_t i = 0; i < cfg_.routes.size(); ++i) {
      if (!cfg_.routes[i].proxy) continue;
      config_problem problem = offline_problem(cfg_.routes[i]);
      reader_.add_in(route_meta_[i].file_index, problem.where, std::move(problem.message));
    }
  }

  // Everything about one route that matters only while loading.
  struct route_meta {
    std::size_t file_index = 0;
    bool explicit_name = false;
    source_position name_position;
  };

  toml_reader reader_;
  config cfg_;
  std::vector<route_meta> route_meta_;  // parallel to cfg_.routes
  std::map<std::string, source_position> server_keys_set_;
  std::map<std::string, source_position> admin_keys_set_;
  std::map<std::string, source_position> cluster_keys_set_;
  std::map<std::string, source_position> recording_keys_set_;
  std::size_t recording_file_index_ = 0;  // the file of the first [recording] table
};

// The top-level keys, each read by its section.
struct top_level {
  static bool server(toml_reader&, const toml::node& v, loader& l) {
    read_server(l.reader_, v, l.cfg_.server, l.server_keys_set_);
    return true;
  }
  static bool route(toml_reader&, const toml::node& v, loader& l) {
    l.read_routes(v);
    return true;
  }
  static bool outage(toml_reader&, const toml::node& v, loader& l) {
    read_server_outages(l.reader_, v, l.cfg_.outages);
    return true;
  }
  static bool admin(toml_reader&, const toml::node& v, loader& l) {
    read_admin(l.reader_, v, l.cfg_.admin, l.admin_keys_set_);
    return true;
  }
  static bool cluster(toml_reader&, const toml::node& v, loader& l) {
    read_cluster(l.reader_, v, l.cfg_.cluster, l.cluster_keys_set_);
    return true;
  }
  static bool recording(toml_reader&, const toml::node& v, loader& l) {
    if (!l.cfg_.recording) l.recording_file_index_ = l.reader_.file_index();
    read_recording(l.reader_, v, l.cfg_.recording, l.recording_keys_set_);
    return true;
  }
};

constexpr std::array<top_row, 6> top_rows = {{
    {"server", any_kind, "a table", "", "the listener, timeouts and limits", &top_level::server,
     nullptr, key_shape{.kinds = table_kind, .table = [] { return describe(server_keys()); }}},
    {"route", any_kind, "an array of tables, written [[route]]", "", "the routes, in order",
     &top_level::route, nullptr,
     key_shape{.kinds = array_kind, .table = [] { return describe(route_keys()); }}},
    {"outage", any_kind, "an array of tables, written [[outage]]", "",
     "outages over a path pattern", &top_level::outage, nullptr,
     key_shape{.kinds = array_kind, .table = [] { return describe(outage_keys()); }}},
    {"admin", any_kind, "a table, written [admin]", "", "the admin API and the journal",
     &top_level::admin, nullptr,
     key_shape{.kinds = table_kind, .table = [] { return describe(admin_keys()); }}},
    {"recording", any_kind, "a table, written [recording]", "",
     "what proxy routes relay, written out as routes", &top_level::recording, nullptr,
     key_shape{.kinds = table_kind, .table = [] { return describe(recording_keys()); }}},
    {"cluster", any_kind, "a table, written [cluster]", "",
     "shared state in Redis for instances behind one load balancer", &top_level::cluster, nullptr,
     key_shape{.kinds = table_kind, .table = [] { return describe(cluster_keys()); }}},
}};

void loader::parse_and_read(std::string_view text) {
  // The scanner may count a header like [route.reply] a level short (it cannot tell which
  // parts are arrays of tables), never long: with twice the limit it only stops what is
  // certainly too deep, before toml++ recurses into it; too_deep() below is the exact check.
  if (auto deep = find_deep_nesting(text, 2 * max_nesting)) {
    reader_.add({reader_.file(), deep->first, deep->second}, too_deep_message());
    return;
  }
  toml::table root;
  try {
    root = toml::parse(text, std::string_view(reader_.file()));
  } catch (const toml::parse_error& e) {
    reader_.add(reader_.at(e.source()), std::string(e.description()));
    return;
  }
  if (const toml::node* deep = too_deep(root, 0)) {
    reader_.add(reader_.at(*deep), too_deep_message());
    return;
  }
  table_place place;
  place.where = "at the top level";
  read_top_level(root, place);
}

void loader::read_top_level(const toml::table& root, const table_place& place) {
  read_keys<loader, config>(reader_, root, top_rows, place, *this);
}

// The root as the equivalent file would have it: { route = [ ... ] }, then read like one.
void loader::read_json_root(toml::node& root, bool one_route) {
  const toml::source_region root_region = reader_.region(root);
  toml::table document;
  reader_.set_region(document, root_region);
  toml::table* object = root.as_table();
  toml::array* array = root.as_array();
  const bool routes_document = object && !one_route && object->contains("route");
  if (routes_document) {
    document = std::move(*object);
  } else if (object) {
    if (const auto server = object->find("server"); server != object->end()) {
      reader_.add(reader_.at(server->first), std::string(server_not_here));
      object->erase(server);
    }
    auto& routes = document.insert(toml::key("route", root_region), toml::array{}).first->second;
    reader_.set_region(routes, root_region);
    routes.as_array()->push_back(std::move(*object));
    reader_.set_region(routes.as_array()->back(), root_region);
  } else if (array && !one_route) {
    auto& routes =
        document.insert(toml::key("route", root_region), std::move(*array)).first->second;
    reader_.set_region(routes, root_region);
  } else {
    reader_.add(reader_.at(root),
                concat(one_route ? "expected a route (a JSON object)"
                                 : "expected a route (a JSON object) or an array of routes",
                       ", not ", type_name(root)));
    return;
  }
  if (const toml::node* deep = too_deep(document, 0)) {
    reader_.add(reader_.at(*deep), too_deep_message());
    return;
  }
  // The same top-level keys as a file; only routes may be set here.
  for (auto&& [key, value] : document) {
    if (key == "server") {
      reader_.add(reader_.at(key), std::string(server_not_here));
    } else if (key == "outage") {
      reader_.add(reader_.at(key),
                  "[[outage]] cannot be set here, only routes (a route's own outage is its "
                  "'outage' key)");
    } else if (key == "recording") {
      reader_.add(reader_.at(key),
                  "[recording] cannot be set here, only routes: it comes from the configuration "
                  "files");
    } else if (key == "route") {
      read_routes(value);
    } else {
      std::vector<std::string_view> known;
      for (const top_row& row : top_rows) known.push_back(row.name);
      reader_.unknown_key(key, "at the top level", known);
    }
  }
}

}  // namespace

table_doc top_level_doc() {
  return describe(top_rows);
}

std::vector<config_problem> offline_problems(const config& cfg, bool offline) {
  std::vector<config_problem> problems;
  if (!offline) return problems;
  for (const route_spec& route : cfg.routes) {
    if (route.proxy) problems.push_back(offline_problem(route));
  }
  return problems;
}

config load_config(const std::vector<std::string>& paths) {
  if (paths.empty()) {
    config_problem problem;
    problem.message = "no configuration file given";
    std::vector<config_problem> problems;
    problems.push_back(std::move(problem));
    throw config_error(std::move(problems));
  }
  loader l;
  for (const std::string& path : paths) l.load_path(path);
  config cfg = l.finish();
  cfg.sources = paths;
  return cfg;
}

config load_config_text(std::string_view text, const std::string& name,
                        const std::string& base_dir) {
  loader l;
  l.load_text(text, name, base_dir.empty() ? fs::path(".") : fs::path(base_dir));
  return l.finish();
}

route_spec load_route_json(std::string_view json_text, const std::string& source,
                           const std::string& base_dir) {
  loader l;
  l.load_json(json_text, source, base_dir.empty() ? fs::path(".") : fs::path(base_dir), true);
  return std::move(l.finish().routes.front());
}

std::vector<route_spec> load_routes_json(std::string_view json_text, const std::string& source,
                                         const std::string& base_dir) {
  loader l;
  l.load_json(json_text, source, base_dir.empty() ? fs::path(".") : fs::path(base_dir), false);
  return std::move(l.finish().routes);
}

}  // namespace stubborn

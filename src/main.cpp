// The command line: parse options, load the config, run the server until SIGINT/SIGTERM.
// `stubborn record` builds its config as TOML text and serves it the same way.

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "config/config_schema.hpp"
#include "control/config_watcher.hpp"
#include "log.hpp"
#include "protocols/proxy/record_config.hpp"
#include "stubborn/config_error.hpp"
#include "stubborn/load_config.hpp"
#include "stubborn/server.hpp"
#include "stubborn/version.hpp"

namespace {

constexpr const char* usage_text =
    R"(usage: stubborn [options] CONFIG...
       stubborn record --upstream URL --out FILE.toml [options]

Serves the scripted HTTP replies of CONFIG: TOML files, or folders whose *.toml
files are loaded in name order and merged.

options:
  --listen HOST:PORT       listen here instead of [server] listen; port 0 = any
  --tls-listen HOST:PORT   HTTPS here, not at [server.tls] listen; turns it on
  --threads N              I/O threads, 0 = one per core (as [server] threads)
  --check                  validate the config, print every problem, exit 0 or 1
  --offline                strict replay: refuse every route that proxies
  --port-file PATH         once listening, write the bound port to PATH
  --tls-port-file PATH     once listening, write the bound HTTPS port to PATH
  --access-log PATH        one JSON line per request to PATH ("-" = stdout)
  --no-watch               do not reload on config file changes (SIGHUP does)
  --log-level LEVEL        error, warn, info (default) or debug
  --print-schema           print the config's JSON Schema and exit
  --version                print the version and exit
  -h, --help               print this help and exit

stubborn record proxies every request to URL and, at exit or on
POST /__admin/recordings/snapshot, writes what it answered to FILE.toml, which
`stubborn --offline FILE.toml` replays. It takes --listen, --port-file,
--threads, --access-log and --log-level as above, and:
  --upstream URL           http:// or https:// URL of the real service
  --out FILE.toml          where the recording goes (big bodies: FILE.bodies/)

Signals: SIGINT/SIGTERM finish the requests in flight, then exit 0; SIGHUP
re-reads the config (a broken one leaves the loaded routes serving).
Exit status: 0 fine, 1 bad config or cannot listen, 2 bad command line.

Every option in detail: man stubborn. Config keys: docs/config.md, admin API:
docs/admin.md (installed under /usr/share/doc/stubborn/).
)";

struct options {
  std::vector<std::string> configs;
  std::string listen;
  std::string tls_listen;
  std::string port_file;
  std::string tls_port_file;
  std::string access_log;
  long threads = -1;
  bool check = false;
  bool offline = false;
  bool watch = true;
  bool record = false;  // `stubborn record`
  std::string upstream;
  std::string out;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "stubborn: " << message << "\n(see stubborn --help)\n";
  std::exit(2);
}

options parse_options(int argc, char** argv) {
  options opts;
  opts.record = argc > 1 && std::string(argv[1]) == "record";
  for (int i = opts.record ? 2 : 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* name) -> std::string {
      std::string prefix = std::string(name) + "=";
      if (arg.rfind(prefix, 0) == 0) return arg.substr(prefix.size());
      if (i + 1 >= argc) usage_error(std::string(name) + " needs a value");
      return argv[++i];
    };
    auto is = [&](const char* name) {
      return arg == name || arg.rfind(std::string(name) + "=", 0) == 0;
    };
    if (arg == "--help" || arg == "-h") {
      std::cout << usage_text;
      std::exit(0);
    } else if (arg == "--print-schema") {
      std::cout << stubborn::config_schema_text();
      std::exit(0);
    } else if (arg == "--version") {
      std::cout << "stubborn " << stubborn::version << "\n";
      std::exit(0);
    } else if (arg == "--check") {
      opts.check = true;
    } else if (arg == "--offline") {
      opts.offline = true;
    } else if (is("--listen")) {
      opts.listen = value("--listen");
    } else if (is("--tls-listen")) {
      opts.tls_listen = value("--tls-listen");
      if (opts.tls_listen.empty()) usage_error("--tls-listen needs HOST:PORT");
    } else if (is("--threads")) {
      std::string v = value("--threads");
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < 0 || n > 1024) {
        usage_error("--threads takes a number from 0 to 1024, not '" + v + "'");
      }
      opts.threads = n;
    } else if (is("--access-log")) {
      opts.access_log = value("--access-log");
      if (opts.access_log.empty()) usage_error("--access-log needs a path, or - for stdout");
    } else if (arg == "--no-watch") {
      opts.watch = false;
    } else if (is("--port-file")) {
      opts.port_file = value("--port-file");
    } else if (is("--tls-port-file")) {
      opts.tls_port_file = value("--tls-port-file");
    } else if (is("--log-level")) {
      std::string v = value("--log-level");
      stubborn::log_level level;
      if (!stubborn::parse_log_level(v, level)) {
        usage_error("--log-level takes error, warn, info or debug, not '" + v + "'");
      }
      stubborn::set_log_level(level);
    } else if (opts.record && is("--upstream")) {
      opts.upstream = value("--upstream");
    } else if (opts.record && is("--out")) {
      opts.out = value("--out");
    } else if (arg.size() > 1 && arg[0] == '-') {
      usage_error("unknown option '" + arg + "'");
    } else if (opts.record) {
      usage_error("stubborn record serves no CONFIG ('" + arg + "'): give --upstream and --out");
    } else {
      opts.configs.push_back(arg);
    }
  }
  if (opts.record) {
    if (opts.upstream.empty()) usage_error("stubborn record needs --upstream URL");
    if (opts.out.empty()) usage_error("stubborn record needs --out FILE.toml");
    opts.watch = false;  // no config files to watch
  } else if (opts.configs.empty()) {
    usage_error("no config file given");
  }
  return opts;
}

// The config of `stubborn record`, checked by the loader like any file.
stubborn::config load_record_config(const options& opts) {
  stubborn::record_settings settings;
  settings.upstream = opts.upstream;
  // Absolute: written where the command line meant, whatever folder the config is read from.
  settings.out = std::filesystem::absolute(opts.out).string();
  return stubborn::load_config_text(stubborn::record_config_text(settings), "stubborn record");
}

// "" when the recording's folder exists (or can be made) and can be written; else why not, said
// at start rather than after a long session at exit.
std::string recording_problem(const std::string& out) {
  std::filesystem::path folder = std::filesystem::path(out).parent_path();
  if (folder.empty()) folder = ".";
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) return "cannot create " + folder.string() + ": " + ec.message();
  if (::access(folder.c_str(), W_OK) != 0) {
    return "cannot write in " + folder.string() + ": " + std::strerror(errno);
  }
  return {};
}

void write_port_file(const std::string& path, std::uint16_t port) {
  // Written whole then renamed, so a harness polling the file never reads half a number.
  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << port << "\n";
    if (!out) throw std::runtime_error("cannot write port file " + path);
  }
  std::filesystem::rename(temporary, path);
}

}  // namespace

int main(int argc, char** argv) {
  options opts = parse_options(argc, argv);

  stubborn::config cfg;
  try {
    cfg = opts.record ? load_record_config(opts) : stubborn::load_config(opts.configs);
    if (!opts.listen.empty()) {
      stubborn::listen_address address;
      std::string problem = stubborn::parse_listen_address(opts.listen, address, "--listen");
      if (!problem.empty()) usage_error(problem);
      cfg.overrides.listen = address;
    }
    if (!opts.tls_listen.empty()) {
      stubborn::listen_address address;
      std::string problem =
          stubborn::parse_listen_address(opts.tls_listen, address, "--tls-listen");
      if (!problem.empty()) usage_error(problem);
      cfg.overrides.tls_listen = address;
    }
    if (!opts.tls_port_file.empty() && !cfg.server.tls && !cfg.overrides.tls_listen) {
      usage_error("--tls-port-file needs an HTTPS listener: [server.tls] or --tls-listen");
    }
    if (opts.threads >= 0) cfg.overrides.threads = static_cast<unsigned>(opts.threads);
    if (!opts.access_log.empty()) cfg.overrides.access_log = opts.access_log;
    cfg.overrides.offline = opts.offline;
    std::vector<stubborn::config_problem> offline =
        stubborn::offline_problems(cfg, cfg.server.offline || cfg.overrides.offline);
    if (!offline.empty()) throw stubborn::config_error(std::move(offline));
  } catch (const stubborn::config_error& e) {
    for (const auto& problem : e.problems()) std::cerr << problem.to_string() << "\n";
    std::cerr << "stubborn: " << e.problems().size() << " problem"
              << (e.problems().size() == 1 ? "" : "s") << " in the config; nothing served\n";
    return 1;
  }

  // Signals are taken synchronously by this thread; the I/O threads inherit the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  try {
    stubborn::server server(cfg);
    if (opts.check) {
      std::cout << "config OK: " << server.route_count() << " routes from " << cfg.files.size()
                << " file" << (cfg.files.size() == 1 ? "" : "s") << "\n";
      return 0;
    }
    if (cfg.recording) {
      if (std::string problem = recording_problem(cfg.recording->out); !problem.empty()) {
        std::cerr << "stubborn: the recording cannot be written: " << problem << "\n";
        return 1;
      }
    }
    try {
      server.start();
    } catch (const std::system_error& e) {
      // "cannot listen on HOST:PORT ([admin] listen): Address already in use"
      std::cerr << "stubborn: " << e.what() << "\n";
      return 1;
    }
    // Both URLs when both listeners are on: "http://127.0.0.1:8080 and https://127.0.0.1:8443".
    std::string urls = server.url();
    const std::string tls_url = server.tls_url();
    if (!tls_url.empty()) urls += urls.empty() ? tls_url : " and " + tls_url;
    std::cout << "stubborn " << stubborn::version << " listening on " << urls << " ("
              << server.route_count() << " routes, " << server.thread_count() << " threads)"
              << std::endl;
    if (cfg.recording) std::cout << "recording to " << cfg.recording->out << std::endl;
    if (!opts.port_file.empty()) write_port_file(opts.port_file, server.port());
    if (!opts.tls_port_file.empty()) write_port_file(opts.tls_port_file, server.tls_port());

    std::unique_ptr<stubborn::config_watcher> watcher;
    if (opts.watch) {
      try {
        watcher = std::make_unique<stubborn::config_watcher>(cfg.files, cfg.sources,
                                                             [&server] { server.reload(); });
      } catch (const std::system_error& e) {
        stubborn::log(stubborn::log_level::warn,
                      std::string("not watching the config files: ") + e.what());
      }
    }

    for (;;) {
      int signal_number = 0;
      if (sigwait(&signals, &signal_number) != 0) continue;
      if (signal_number == SIGHUP) {
        stubborn::log(stubborn::log_level::info, "SIGHUP: re-reading the config files");
        server.reload();  // logs the outcome
        continue;
      }
      stubborn::log(stubborn::log_level::info, std::string("stopping on ") +
                                                   strsignal(signal_number) +
                                                   ": finishing requests in flight");
      watcher.reset();  // no reload may start while stopping
      server.stop();    // drain_timeout as of the last reload
      stubborn::log(stubborn::log_level::info, "stopped");
      return 0;
    }
  } catch (const stubborn::config_error& e) {
    for (const auto& problem : e.problems()) std::cerr << problem.to_string() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "stubborn: " << e.what() << "\n";
    return 1;
  }
}

// stubborn::test_server: a server with a test's defaults, and the control API said the way a
// test asks (exceptions instead of outcome structs, a wait for asynchronous clients).

#include "stubborn/test_server.hpp"

#include <stdexcept>
#include <thread>
#include <utility>

#include "stubborn/load_config.hpp"

namespace stubborn {

namespace {

// A test's server takes free ports on the loopback interface, whatever the config says, so
// tests can run side by side.
config for_a_test(config cfg, const test_server_options& options) {
  const listen_address any_free_port{"127.0.0.1", 0};
  cfg.overrides.listen = any_free_port;
  if (cfg.server.tls) cfg.overrides.tls_listen = any_free_port;
  if (cfg.admin.listen) cfg.admin.listen = any_free_port;
  cfg.overrides.threads = options.threads;
  return cfg;
}

// Problems the control plane found after the text itself was valid (a name already taken,
// a table that is not [[route]]): their texts already say where.
[[noreturn]] void throw_problems(const std::vector<std::string>& texts) {
  std::vector<config_problem> problems;
  problems.reserve(texts.size());
  for (const std::string& text : texts) problems.push_back(config_problem{{}, text});
  throw config_error(std::move(problems));
}

}  // namespace

test_server::test_server(std::string_view toml, test_server_options options,
                         const std::string& name)
    : test_server(load_config_text(toml, name, options.base_dir), std::move(options)) {}

test_server::test_server(config cfg, test_server_options options) : options_(std::move(options)) {
  if (cfg.admin.enabled) admin_prefix_ = cfg.admin.prefix;
  server_ = std::make_unique<server>(for_a_test(std::move(cfg), options_));
  server_->start();
}

test_server test_server::from_files(const std::vector<std::string>& paths,
                                    test_server_options options) {
  return test_server(load_config(paths), std::move(options));
}

test_server::~test_server() {
  if (server_) server_->stop(options_.drain);
}

test_server::test_server(test_server&&) noexcept = default;

test_server& test_server::operator=(test_server&& other) noexcept {
  if (this != &other) {
    if (server_) server_->stop(options_.drain);
    server_ = std::move(other.server_);
    options_ = std::move(other.options_);
    admin_prefix_ = std::move(other.admin_prefix_);
  }
  return *this;
}

std::string test_server::url() const {
  return server_->url();
}

std::uint16_t test_server::port() const {
  return server_->port();
}

std::string test_server::tls_url() const {
  return server_->tls_url();
}

std::string test_server::admin_url() const {
  if (admin_prefix_.empty()) return "";
  return "http://127.0.0.1:" + std::to_string(server_->admin_port()) + admin_prefix_;
}

std::vector<std::string> test_server::add_route(std::string_view toml, const std::string& name) {
  // The loader first, on this thread, so that its problems keep their positions.
  (void)load_config_text(toml, name, options_.base_dir);
  route_change change = server_->control().add_routes(toml, name);
  if (!change.ok()) throw_problems(change.problems);
  return std::move(change.names);
}

void test_server::remove_route(std::string_view name) {
  const route_change change = server_->control().remove_route(name);
  if (!change.ok()) {
    std::string what;
    for (const std::string& problem : change.problems) what += (what.empty() ? "" : "; ") + problem;
    throw std::invalid_argument(what);
  }
}

void test_server::clear_routes() {
  server_->control().clear_routes();
}

std::vector<journal_entry> test_server::requests(const journal_query& filter) {
  return server_->control().journal(filter);
}

std::size_t test_server::count(const journal_query& filter) {
  return server_->control().count(filter);
}

std::size_t test_server::wait_for(std::size_t n, const journal_query& filter,
                                  std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const std::size_t seen = count(filter);
    if (seen >= n || std::chrono::steady_clock::now() >= deadline) return seen;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void test_server::reset() {
  server_->control().reset();
}

server& test_server::underlying() {
  return *server_;
}

server_control& test_server::control() {
  return server_->control();
}

}  // namespace stubborn

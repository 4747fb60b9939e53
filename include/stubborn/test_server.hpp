#pragma once
// A stub server for a C++ test: it serves TOML routes on 127.0.0.1 at a free port from the
// moment it is constructed until it goes out of scope, and answers what it has received.
//
//   stubborn::test_server api{R"([[route]]
//   path = "/users/{id}"
//   [route.reply]
//   json = { id = "{{path.id}}" })"};
//   my_client client{api.url()};
//   client.get_user("7");
//   CHECK(api.count({.method = "GET", .path = "/users/7"}) == 1);
//
// Every call is safe from the test's threads (not from inside the server's own I/O threads).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "stubborn/config.hpp"
#include "stubborn/config_error.hpp"
#include "stubborn/control.hpp"
#include "stubborn/server.hpp"

namespace stubborn {

/// How a test_server runs; the defaults suit a unit test.
struct test_server_options {
  /// I/O threads. One is enough for a test and keeps the journal's order that of arrival.
  unsigned threads = 1;
  /// Where body_file paths in TOML text are read from (files given by path use their folder).
  std::string base_dir = ".";
  /// How long the destructor lets requests in flight finish before it closes them.
  std::chrono::milliseconds drain{200};
};

/// A running stub server owned by a test: RAII, on 127.0.0.1 port 0.
///
/// The config's [server] listen and threads are replaced (127.0.0.1:0, `threads`); an HTTPS
/// listener ([server.tls]) also gets a free port. Everything else is the config as written,
/// checked exactly as a file is: a bad config throws config_error with "name:line:col: ..."
/// texts from the constructor.
class test_server {
 public:
  /// Serves TOML text (any tables a config file may have; "" serves no routes: every request
  /// gets 404 until add_route). `name` is the text's name in error messages.
  explicit test_server(std::string_view toml = "", test_server_options options = {},
                       const std::string& name = "test_server.toml");
  /// Serves an already-loaded config (from load_config or load_config_text).
  explicit test_server(config cfg, test_server_options options = {});
  /// Serves TOML files, or folders of *.toml taken in name order, as the command line does.
  static test_server from_files(const std::vector<std::string>& paths,
                                test_server_options options = {});

  /// Stops the server: requests in flight get `options.drain` to finish.
  ~test_server();
  test_server(test_server&&) noexcept;
  test_server& operator=(test_server&&) noexcept;
  test_server(const test_server&) = delete;
  test_server& operator=(const test_server&) = delete;

  /// "http://127.0.0.1:PORT" ("" when the config turned the plain listener off).
  std::string url() const;
  /// The plain listener's port.
  std::uint16_t port() const;
  /// "https://127.0.0.1:PORT" when the config has [server.tls]; "" otherwise.
  std::string tls_url() const;
  /// The admin API's base URL, e.g. "http://127.0.0.1:PORT/__admin" (its own listener's when
  /// [admin] listen is set); "" when [admin] enabled = false.
  std::string admin_url() const;

  /// Adds the [[route]] tables of TOML text, ranked before every other route (newest first),
  /// checked exactly like a config file's. Throws config_error when the text is not valid, has
  /// tables other than [[route]], or names a route that exists; nothing is added then.
  /// Returns the names of the routes added.
  std::vector<std::string> add_route(std::string_view toml, const std::string& name = "add_route");
  /// Removes a route added with add_route; throws std::invalid_argument if there is none.
  void remove_route(std::string_view name);
  /// Removes every route added with add_route.
  void clear_routes();

  /// The requests received that `filter` admits, oldest first (the journal; [admin] journal
  /// bounds how many are kept, 1,000 by default).
  std::vector<journal_entry> requests(const journal_query& filter = {});
  /// How many requests received `filter` admits.
  std::size_t count(const journal_query& filter = {});
  /// Waits until at least `n` requests that `filter` admits have been received, or `timeout`
  /// has passed; returns how many there are. For clients that call the stub asynchronously.
  std::size_t wait_for(std::size_t n, const journal_query& filter = {},
                       std::chrono::milliseconds timeout = std::chrono::seconds(5));

  /// What POST /__admin/reset does: sequences, outage windows, rate limits and template
  /// counters start again, and the journal is emptied. Routes added stay.
  void reset();

  /// The server and its control API, for everything else (metrics, reload, JSON routes).
  server& underlying();
  server_control& control();

 private:
  std::unique_ptr<server> server_;
  test_server_options options_;
  std::string admin_prefix_;  ///< "" when [admin] is off
};

}  // namespace stubborn

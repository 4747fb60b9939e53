// The recording's snapshot over real sockets and through the control API: written on request,
// 409 when the server does not record, 500 with the reason when the file cannot be written; and
// a written recording served by a real server, answering on the wire as recorded.

#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "harness.hpp"
#include "protocols/proxy/recorder.hpp"
#include "stubborn/control.hpp"
#include "stubborn/load_config.hpp"

using namespace stubborn::testing;
namespace json = boost::json;
namespace fs = std::filesystem;
using snapshot_outcome = stubborn::recording_snapshot::outcome;

namespace {

const char* const plain_routes = R"(
[[route]]
path = "/x"
[route.reply]
body = "x"
)";

// A folder of its own under the system's temporary folder, removed at the end.
struct temporary_folder {
  fs::path path;
  temporary_folder() {
    static std::atomic<int> count{0};
    path = fs::temp_directory_path() /
           ("stubborn-recording-" + std::to_string(::getpid()) + "-" + std::to_string(++count));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temporary_folder() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

stubborn::config recording_config(const fs::path& out) {
  stubborn::config cfg = stubborn::load_config_text(plain_routes, "test.toml");
  cfg.recording.emplace();
  cfg.recording->out = out.string();
  return cfg;
}

http_response snapshot(std::uint16_t port, std::string_view method = "POST") {
  return stubborn::testing::exchange(port,
                                     std::string(method) +
                                         " /__admin/recordings/snapshot HTTP/1.1\r\nHost: t\r\n"
                                         "Content-Length: 0\r\n\r\n");
}

}  // namespace

TEST_CASE("POST /__admin/recordings/snapshot writes the recording's file", "[recording][admin]") {
  temporary_folder folder;
  const fs::path out = folder.path / "stubs" / "recorded.toml";
  running_server server(recording_config(out));

  const http_response written = snapshot(server.port());
  REQUIRE(written.status == 200);
  CHECK(written.header("Content-Type") == "application/json");
  const json::value reply = json::parse(written.body);
  CHECK(reply.at("file").as_string() == out.string());
  CHECK(reply.at("routes").as_int64() == 0);
  CHECK(reply.at("exchanges").as_int64() == 0);
  REQUIRE(fs::exists(out));
  // Nothing recorded yet: a config without routes, which loads.
  CHECK(stubborn::load_config({out.string()}).routes.empty());

  const http_response wrong_method = snapshot(server.port(), "GET");
  CHECK(wrong_method.status == 405);
  CHECK(wrong_method.header("Allow") == "POST");

  const stubborn::recording_snapshot direct = server.get().control().snapshot_recording();
  CHECK(direct.ok());
  CHECK(direct.file == out.string());
  CHECK(direct.routes == 0);
}

TEST_CASE("a server that does not record answers the snapshot with 409", "[recording][admin]") {
  running_server server(plain_routes);
  const http_response refused = snapshot(server.port());
  CHECK(refused.status == 409);
  CHECK(json::parse(refused.body).at("error").as_string().find("not recording") !=
        json::string::npos);
  CHECK(server.get().control().snapshot_recording().result == snapshot_outcome::not_recording);
}

TEST_CASE("a recording that cannot be written gets 500 with the reason", "[recording][admin]") {
  temporary_folder folder;
  const fs::path blocker = folder.path / "a-file";
  std::ofstream(blocker) << "not a folder";
  running_server server(recording_config(blocker / "recorded.toml"));
  const http_response failed = snapshot(server.port());
  CHECK(failed.status == 500);
  CHECK(json::parse(failed.body).at("error").as_string().find("could not be written") !=
        json::string::npos);
  const stubborn::recording_snapshot direct = server.get().control().snapshot_recording();
  CHECK(direct.result == snapshot_outcome::failed);
  CHECK_FALSE(direct.error.empty());
}

TEST_CASE("an empty recording leaves an earlier file alone at exit", "[recording]") {
  temporary_folder folder;
  const fs::path out = folder.path / "recorded.toml";
  std::ofstream(out) << "# an earlier recording\n";
  {
    running_server server(recording_config(out));
    server.get().stop();
  }
  std::ifstream in(out);
  std::string first_line;
  std::getline(in, first_line);
  CHECK(first_line == "# an earlier recording");
}

namespace {

stubborn::recorded_exchange recorded(std::string method, std::string target, int status,
                                     std::vector<std::pair<std::string, std::string>> headers,
                                     std::string body, std::string reason = {}) {
  stubborn::recorded_exchange e;
  e.method = std::move(method);
  e.target = std::move(target);
  e.status = status;
  e.reason = std::move(reason);
  for (auto& [name, value] : headers) e.reply_headers.push_back({name, value});
  e.reply_body = std::move(body);
  return e;
}

std::vector<std::string> values_of(const http_response& r, std::string_view name) {
  std::vector<std::string> values;
  for (const auto& [n, v] : r.headers) {
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      values.push_back(v);
    }
  }
  return values;
}

}  // namespace

TEST_CASE("a recording served by a server answers on the wire as recorded", "[recording]") {
  temporary_folder folder;
  stubborn::recording_config config;
  config.out = (folder.path / "recorded.toml").string();
  stubborn::recorder recorder(config);
  const std::string png("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
  recorder.add(recorded("GET", "/users/1", 200,
                        {{"Content-Type", "application/json"},
                         {"Server", "nginx/1.22.1"},
                         {"Date", "Tue, 01 Dec 2026 10:00:00 GMT"},
                         {"Set-Cookie", "a=1"},
                         {"Set-Cookie", "b=2"}},
                        R"({"id":1})"));
  recorder.add(recorded("GET", "/logo.png", 200, {{"Content-Type", "image/png"}}, png));
  recorder.add(recorded("GET", "/flaky", 503, {{"Retry-After", "1"}}, "", "Try Later"));
  recorder.add(recorded("GET", "/flaky", 200, {{"Content-Type", "text/plain"}}, "ok"));
  recorder.write();

  running_server server(stubborn::load_config({config.out}));
  const auto get = [&](std::string_view target) {
    return stubborn::testing::exchange(
        server.port(), "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n\r\n");
  };
  const http_response user = get("/users/1");
  CHECK(user.status == 200);
  CHECK(user.reason == "OK");
  CHECK(values_of(user, "Server") == std::vector<std::string>{"nginx/1.22.1"});
  CHECK(user.header("Date") != "Tue, 01 Dec 2026 10:00:00 GMT");  // the server's own
  CHECK(values_of(user, "Date").size() == 1);
  CHECK(values_of(user, "Set-Cookie") == std::vector<std::string>{"<redacted>", "<redacted>"});
  CHECK(user.header("Content-Type") == "application/json");
  CHECK(user.body == R"({"id":1})");

  // No Server header was recorded: none is sent.
  const http_response logo = get("/logo.png");
  CHECK(logo.status == 200);
  CHECK_FALSE(logo.has_header("Server"));
  CHECK(logo.header("Content-Type") == "image/png");
  CHECK(logo.body == png);

  const http_response first = get("/flaky");
  CHECK(first.status == 503);
  CHECK(first.reason == "Try Later");
  CHECK(first.header("Retry-After") == "1");
  CHECK(first.body.empty());
  const http_response second = get("/flaky");
  CHECK(second.status == 200);
  CHECK(second.body == "ok");
  CHECK(get("/flaky").body == "ok");  // the last reply repeats
}

// The transport switch: STUBBORN_TRANSPORT=generic serves every connection over the generic
// stream transport (no drained recvmmsg reads, no sendmsg), and ctest runs the whole suite a
// second time that way (tests/CMakeLists.txt). These tests prove the switch reaches the server,
// so that second run cannot quietly test the fast path twice.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "harness.hpp"
#include "recvmmsg_calls.hpp"

using namespace stubborn::testing;

#ifdef STUBBORN_DRAINED_READ
namespace {

const char* routes = R"(
[[route]]
name = "hello"
method = "GET"
path = "/hello"
[route.reply]
body = "hello"
)";

// Sets (or, with nullptr, removes) an environment variable for a scope; puts the old one back.
class scoped_environment {
 public:
  scoped_environment(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~scoped_environment() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  scoped_environment(const scoped_environment&) = delete;
  scoped_environment& operator=(const scoped_environment&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// The recvmmsg calls made while a new server answers three requests on one connection.
int drained_reads_for_three_requests() {
  running_server server(routes);
  raw_client client(server.port());
  const int before = recvmmsg_calls();
  for (int i = 0; i < 3; ++i) {
    client.send(get("/hello"));
    http_response reply = client.read_response();
    REQUIRE(reply.status == 200);
    REQUIRE(reply.body == "hello");
  }
  return recvmmsg_calls() - before;
}

}  // namespace

// [plain_only]: it counts the plain transport's recvmmsg calls, which a TLS listener never makes.
TEST_CASE("STUBBORN_TRANSPORT=generic turns the fast path off, and only that value does",
          "[transport][plain_only]") {
  {
    scoped_environment generic("STUBBORN_TRANSPORT", "generic");
    CHECK(drained_reads_for_three_requests() == 0);
  }
  {
    scoped_environment unset("STUBBORN_TRANSPORT", nullptr);
    CHECK(drained_reads_for_three_requests() >= 3);  // one read per request at least
  }
  {
    scoped_environment other("STUBBORN_TRANSPORT", "plain");
    CHECK(drained_reads_for_three_requests() >= 3);
  }
}

// Hidden: ctest runs it in the generic group only, with the same environment as that group,
// and it fails unless the server there really runs without the fast path.
TEST_CASE("the generic run's servers use the generic transport", "[.][generic_run]") {
  const char* value = std::getenv("STUBBORN_TRANSPORT");
  REQUIRE(value != nullptr);
  REQUIRE(std::string_view(value) == "generic");
  CHECK(drained_reads_for_three_requests() == 0);
}
#endif

// Hidden: ctest runs it in the TLS groups only (STUBBORN_TEST_TLS=1 or generic), and it fails
// unless the servers there really serve their routes over HTTPS only, to clients that verified
// them.
TEST_CASE("the TLS run's servers serve over HTTPS only", "[.][tls_run]") {
  const char* value = std::getenv("STUBBORN_TEST_TLS");
  REQUIRE(value != nullptr);
  const std::string_view mode = value;
  REQUIRE((mode == "1" || mode == "generic"));
  running_server server(R"(
[[route]]
path = "/hello"
[route.reply]
body = "hello"
)");
  REQUIRE(server.over_tls());
  CHECK(server.get().url().empty());  // no plain listener
  CHECK(server.get().tls_url() == "https://127.0.0.1:" + std::to_string(server.port()));
  raw_client client(server.port());
  REQUIRE(client.over_tls());
#ifdef STUBBORN_DRAINED_READ
  // The OpenSSL-on-the-socket transport reads with recvmmsg; ssl_stream (generic) never does.
  const int reads_before = recvmmsg_calls();
#endif
  client.send(get("/hello"));
  CHECK(client.read_response().body == "hello");
#ifdef STUBBORN_DRAINED_READ
  if (mode == "generic") {
    CHECK(recvmmsg_calls() == reads_before);
  } else {
    CHECK(recvmmsg_calls() > reads_before);
  }
#endif
  client.send(get("/__admin/metrics"));
  CHECK(client.read_response().body.find("stubborn_tls_handshakes_total{result=\"full\"} 1\n") !=
        std::string::npos);
}

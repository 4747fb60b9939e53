// The HTTPS listener over real sockets: certificates made at start, what comes before the
// handshake (plain HTTP, a ClientHello on the plain port, scripted handshake faults, the
// handshake timeout), metrics, reload of certificate files, mutual TLS and drain. Run by the
// plain and the generic-transport groups, so both TLS transports (OpenSSL on the socket, and
// Beast's ssl_stream) are covered.

#include <openssl/ssl.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "harness.hpp"
#include "protocols/tls/certificates.hpp"
#include "stubborn/load_config.hpp"

using namespace std::chrono_literals;
using namespace stubborn;
using namespace stubborn::testing;

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A server with an HTTPS listener (and the plain one) from TOML whose [server.tls] table is
// completed here: listen on 127.0.0.1:0 and write the CA it makes to a temp file.
class tls_server {
 public:
  explicit tls_server(const std::string& tls_keys, const std::string& rest = {},
                      const std::string& base_dir = ".")
      : ca_file_("") {
    const std::string toml = "[server.tls]\nlisten = \"127.0.0.1:0\"\nca_out = \"" +
                             ca_file_.path.string() + "\"\n" + tls_keys + "\n" + rest;
    server_.emplace(load_config_text(toml, "tls-test.toml", base_dir));
    ca_pem_ = read_file(ca_file_.path);
  }
  std::uint16_t tls_port() { return server_->get().tls_port(); }
  std::uint16_t plain_port() { return server_->get().port(); }
  server& get() { return server_->get(); }
  void stop() { server_.reset(); }
  // Options that trust the made CA and ask for `name`.
  tls_client_options trusting(const std::string& name = "localhost") const {
    tls_client_options options;
    options.ca_pem = ca_pem_;
    options.server_name = name;
    return options;
  }

 private:
  temp_file ca_file_;
  std::optional<running_server> server_;
  std::string ca_pem_;
};

constexpr const char* hello_route = R"(
[[route]]
path = "/hello"
[route.reply]
body = "hello {{tls.sni}} {{tls.version}}"
)";

std::uint64_t handshakes(server& s, const std::string& result, const std::string& reason = {}) {
  const server_metrics m = s.control().metrics();
  if (result == "full") return m.tls_handshakes_full;
  if (result == "resumed") return m.tls_handshakes_resumed;
  std::uint64_t failed = 0;
  for (const auto& [why, count] : m.tls_handshake_failures) {
    if (reason.empty() || why == reason) failed += count;
  }
  return failed;
}

// Waits (bounded) until the metric reaches `at_least`.
bool eventually(const std::function<bool()>& done) {
  for (auto deadline = std::chrono::steady_clock::now() + 3s;
       std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(5ms)) {
    if (done()) return true;
  }
  return done();
}

}  // namespace

TEST_CASE("HTTPS with a made certificate: verified, ALPN http/1.1, keep-alive and pipelining",
          "[tls_listener]") {
  tls_server s("", hello_route);
  raw_client client(s.tls_port());
  const tls_client_result handshake = client.start_tls(s.trusting());
  REQUIRE(handshake.ok);
  CHECK(handshake.verify_result == X509_V_OK);
  CHECK(handshake.alpn == "http/1.1");
  CHECK(handshake.version == "TLSv1.3");
  client.send(get("/hello"));
  auto r = client.read_response();
  CHECK(r.status == 200);
  CHECK(r.body == "hello localhost TLSv1.3");
  // Two more, pipelined in one record.
  client.send(get("/hello") + get("/hello"));
  CHECK(client.read_response().status == 200);
  CHECK(client.read_response().status == 200);

  SECTION("the made leaf names 127.0.0.1 too (no SNI for an address)") {
    raw_client by_address(s.tls_port());
    tls_client_options options = s.trusting("");
    options.verify_name = "127.0.0.1";
    const tls_client_result ok = by_address.start_tls(options);
    REQUIRE(ok.ok);
    by_address.send(get("/hello"));
    CHECK(by_address.read_response().body == "hello  TLSv1.3");
  }
  SECTION("a client offering only h2 is refused (RFC 7301 no_application_protocol)") {
    raw_client h2(s.tls_port());
    tls_client_options options = s.trusting();
    options.alpn = {"h2"};
    const tls_client_result refused = h2.start_tls(options);
    CHECK_FALSE(refused.ok);
    CHECK(refused.error.find("no application protocol") != std::string::npos);
  }
  SECTION("the plain listener serves the same routes") {
    CHECK(exchange(s.plain_port(), get("/hello")).body == "hello  ");
  }
}

TEST_CASE("plain HTTP sent to the HTTPS port gets nginx's 400 and a close", "[tls_listener]") {
  tls_server s("", hello_route);
  raw_client client(s.tls_port());
  client.send(get("/hello"));
  auto r = client.read_response();
  CHECK(r.status == 400);
  CHECK(r.body.find("plain HTTP request was sent to HTTPS port") != std::string::npos);
  CHECK(r.header("Connection") == "close");
  CHECK(client.read_until_close(3s).second == connection_end::clean_close);
  CHECK(handshakes(s.get(), "failed", "http_request") == 1);
}

TEST_CASE("a TLS ClientHello sent to the plain port is closed without a reply, and counted",
          "[tls_listener]") {
  tls_server s("", hello_route);
  raw_client client(s.plain_port(), 3s);
  const tls_client_result refused = client.start_tls(s.trusting());
  CHECK_FALSE(refused.ok);
  CHECK(s.get().control().metrics().tls_on_plain_port == 1);
  // The plain listener is fine afterwards.
  CHECK(exchange(s.plain_port(), get("/hello")).status == 200);
}

TEST_CASE("scripted handshake faults, per SNI name", "[tls_listener]") {
  tls_server s(R"(
[[server.tls.names]]
name = "slow.localhost"
handshake = { delay = "300ms" }
[[server.tls.names]]
name = "stall.localhost"
handshake = "stall"
[[server.tls.names]]
name = "reset.localhost"
handshake = "reset"
[[server.tls.names]]
name = "close.localhost"
handshake = "close"
[[server.tls.names]]
name = "refused.localhost"
handshake = { alert = "access_denied" }
[[server.tls.names]]
name = "*.wild.localhost"
handshake = "close"
)",
               std::string("[server]\nmax_hang = \"600ms\"\n") + hello_route);

  SECTION("delay: the handshake completes after the delay") {
    raw_client client(s.tls_port());
    const auto start = std::chrono::steady_clock::now();
    tls_client_options options = s.trusting("slow.localhost");
    options.verify_name = "localhost";  // the made leaf's name
    const tls_client_result ok = client.start_tls(options);
    CHECK(std::chrono::steady_clock::now() - start >= 300ms);
    REQUIRE(ok.ok);
  }
  SECTION("stall: no answer until the client gives up; max_hang bounds it") {
    raw_client client(s.tls_port(), 250ms);
    const auto start = std::chrono::steady_clock::now();
    const tls_client_result stalled = client.start_tls(s.trusting("stall.localhost"));
    CHECK_FALSE(stalled.ok);
    CHECK(std::chrono::steady_clock::now() - start >= 200ms);
    // The server closes at max_hang (600 ms).
    CHECK(client.read_until_close(3s).second == connection_end::clean_close);
    CHECK(eventually([&] { return handshakes(s.get(), "failed", "scripted") == 1; }));
  }
  SECTION("reset: the ClientHello meets an RST") {
    raw_client client(s.tls_port());
    const tls_client_result reset = client.start_tls(s.trusting("reset.localhost"));
    CHECK_FALSE(reset.ok);
    CHECK(reset.error.find("reset") != std::string::npos);
  }
  SECTION("close: the ClientHello meets a FIN") {
    raw_client client(s.tls_port());
    const tls_client_result closed = client.start_tls(s.trusting("close.localhost"));
    CHECK_FALSE(closed.ok);
    CHECK(closed.error.find("reset") == std::string::npos);
  }
  SECTION("a wildcard name matches any name under it") {
    raw_client client(s.tls_port());
    CHECK_FALSE(client.start_tls(s.trusting("a.wild.localhost")).ok);
  }
  SECTION("alert: the named alert, sent by OpenSSL") {
    raw_client client(s.tls_port());
    const tls_client_result refused = client.start_tls(s.trusting("refused.localhost"));
    CHECK_FALSE(refused.ok);
    CHECK(refused.error.find("access denied") != std::string::npos);
    CHECK(eventually([&] { return handshakes(s.get(), "failed", "scripted") == 1; }));
  }
  SECTION("other names are not affected") {
    raw_client client(s.tls_port());
    REQUIRE(client.start_tls(s.trusting()).ok);
    client.send(get("/hello"));
    CHECK(client.read_response().status == 200);
  }
}

TEST_CASE("a client that starts no handshake is closed at handshake_timeout", "[tls_listener]") {
  tls_server s("handshake_timeout = \"300ms\"", hello_route);
  SECTION("nothing sent") {
    raw_client client(s.tls_port());
    const auto start = std::chrono::steady_clock::now();
    CHECK(client.read_until_close(3s).second == connection_end::clean_close);
    CHECK(std::chrono::steady_clock::now() - start >= 250ms);
  }
  SECTION("half a ClientHello sent") {
    raw_client client(s.tls_port());
    client.send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11));
    CHECK(client.read_until_close(3s).second == connection_end::clean_close);
  }
  CHECK(eventually([&] { return handshakes(s.get(), "failed", "timeout") == 1; }));
}

TEST_CASE("handshakes are counted: full, resumed with a ticket, failed with a reason",
          "[tls_listener]") {
  tls_server s("", hello_route);
  std::shared_ptr<void> session;
  {
    raw_client first(s.tls_port());
    REQUIRE(first.start_tls(s.trusting()).ok);
    // TLS 1.3 tickets arrive after the handshake, with or after the first reply: two requests
    // and their replies bring them in.
    for (int i = 0; i < 2; ++i) {
      first.send(get("/hello"));
      first.read_response();
    }
    session = first.session();
  }
  REQUIRE(session);
  CHECK(SSL_SESSION_is_resumable(static_cast<SSL_SESSION*>(session.get())) == 1);
  raw_client second(s.tls_port());
  tls_client_options options = s.trusting();
  options.session = session;
  const tls_client_result resumed = second.start_tls(options);
  REQUIRE(resumed.ok);
  CHECK(resumed.resumed);
  second.send(get("/hello"));
  CHECK(second.read_response().status == 200);
  {
    raw_client untrusting(s.tls_port());
    tls_client_options other = s.trusting();
    other.ca_pem = pem_of(make_ca().cert.get());  // another CA: the client refuses the server
    CHECK_FALSE(untrusting.start_tls(other).ok);
    // Read the rest of the server's flight before closing: a close with unread bytes is a reset,
    // which could reach the server before the client's alert (then the reason is "socket").
    untrusting.read_until_close(3s);
  }
  CHECK(eventually([&] { return handshakes(s.get(), "failed") == 1; }));
  CHECK(handshakes(s.get(), "full") == 1);
  CHECK(handshakes(s.get(), "resumed") == 1);
  const server_metrics m = s.get().control().metrics();
  REQUIRE(m.tls_handshake_failures.size() == 1);
  CHECK(m.tls_handshake_failures[0].first == "tlsv1_alert_unknown_ca");
}

TEST_CASE("reload picks up a changed certificate file without dropping connections",
          "[tls_listener]") {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("stubborn-tls-reload-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const certificate_authority ca = make_ca();
  auto write_leaf = [&] {
    const certified_key leaf = issue_leaf(ca, {"localhost"});
    write_pem_file((dir / "server.pem").string(), pem_of(leaf.cert.get()));
    write_pem_file((dir / "server.key").string(), pem_of(leaf.key.get()));
  };
  write_leaf();
  temp_file config("");
  config.write(std::string("[server]\nlisten = \"127.0.0.1:0\"\n[server.tls]\nlisten = "
                           "\"127.0.0.1:0\"\ncert = \"") +
               (dir / "server.pem").string() + "\"\nkey = \"" + (dir / "server.key").string() +
               "\"\n" + hello_route);
  running_server s(load_config({config.path.string()}));
  tls_client_options options;
  options.ca_pem = pem_of(ca.cert.get());
  raw_client before(s.get().tls_port());
  const tls_client_result first = before.start_tls(options);
  REQUIRE(first.ok);

  write_leaf();
  REQUIRE(s.get().reload().ok);
  raw_client after(s.get().tls_port());
  const tls_client_result second = after.start_tls(options);
  REQUIRE(second.ok);
  CHECK(second.peer_serial != first.peer_serial);
  // The connection made before the reload still serves.
  before.send(get("/hello"));
  CHECK(before.read_response().status == 200);

  SECTION("a key file that cannot be read fails the reload; the old certificate serves on") {
    std::filesystem::remove(dir / "server.key");
    const reload_result refused = s.get().reload();
    CHECK_FALSE(refused.ok);
    CHECK(refused.error.find("server.key") != std::string::npos);
    raw_client still(s.get().tls_port());
    const tls_client_result third = still.start_tls(options);
    REQUIRE(third.ok);
    CHECK(third.peer_serial == second.peer_serial);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("mutual TLS: client_auth require, and routes that match on the client certificate",
          "[tls_listener]") {
  const certificate_authority clients = make_ca("clients");
  temp_file client_ca(pem_of(clients.cert.get()));
  tls_server s("client_auth = \"require\"\nclient_ca = \"" + client_ca.path.string() + "\"",
               R"(
[[route]]
path = "/invoices"
client_cert = { subject = "CN=billing", san = "billing.internal" }
[route.reply]
body = "for {{tls.client_subject}}"
)");
  auto with_certificate = [&](const certificate_authority& issuer, const std::string& cn) {
    const certified_key key = issue_client_certificate(issuer, {{"CN", cn}}, {cn + ".internal"});
    tls_client_options options = s.trusting();
    options.cert_pem = pem_of(key.cert.get());
    options.key_pem = pem_of(key.key.get());
    return options;
  };
  SECTION("a client certificate from client_ca is admitted and matched") {
    raw_client client(s.tls_port());
    REQUIRE(client.start_tls(with_certificate(clients, "billing")).ok);
    client.send(get("/invoices"));
    auto r = client.read_response();
    CHECK(r.status == 200);
    CHECK(r.body == "for CN=billing");
  }
  SECTION("another subject: 403, since only the certificate differed") {
    raw_client client(s.tls_port());
    REQUIRE(client.start_tls(with_certificate(clients, "shipping")).ok);
    client.send(get("/invoices"));
    CHECK(client.read_response().status == 403);
  }
  // In TLS 1.3 the client's handshake is over before the server has checked its certificate:
  // the refusal (OpenSSL's alert) comes with the first read.
  auto refused = [&](const tls_client_options& options) {
    raw_client client(s.tls_port());
    const tls_client_result handshake = client.start_tls(options);
    if (!handshake.ok) return handshake.error;
    client.send(get("/invoices"));
    try {
      client.read_response();
    } catch (const std::runtime_error& e) {
      return std::string("refused: ") + e.what();
    }
    return std::string();
  };
  SECTION("no client certificate: refused in the handshake, with no HTTP reply") {
    CHECK_FALSE(refused(s.trusting()).empty());
    CHECK(eventually([&] { return handshakes(s.get(), "failed") == 1; }));
  }
  SECTION("a certificate another CA signed: refused in the handshake") {
    CHECK_FALSE(refused(with_certificate(make_ca("strangers"), "billing")).empty());
    CHECK(eventually([&] { return handshakes(s.get(), "failed") == 1; }));
  }
}

TEST_CASE("stop lets a reply in progress over TLS finish", "[tls_listener]") {
  tls_server s("", R"(
[[route]]
path = "/paced"
[route.reply]
body = "0123456789"
chunks = { count = 2, over = "300ms" }
)");
  raw_client client(s.tls_port());
  REQUIRE(client.start_tls(s.trusting()).ok);
  client.send(get("/paced"));
  std::string reply;
  for (auto deadline = std::chrono::steady_clock::now() + 3s;
       reply.find("\r\n\r\n") == std::string::npos &&
       std::chrono::steady_clock::now() < deadline;) {
    reply += client.read_until_close(20ms).first;
  }
  REQUIRE(reply.find("\r\n\r\n") != std::string::npos);  // the head is out: the reply is under way
  std::thread stopper([&] { s.get().stop(3s); });
  auto [rest, end] = client.read_until_close(3s);
  stopper.join();
  reply += rest;
  CHECK(end == connection_end::clean_close);
  CHECK(reply.find("01234") != std::string::npos);
  CHECK(reply.find("56789") != std::string::npos);
  CHECK(reply.find("\r\n0\r\n\r\n") != std::string::npos);  // the last chunk
}

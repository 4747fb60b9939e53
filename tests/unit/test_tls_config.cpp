// [server.tls], [[server.tls.names]], `listen = ""`, and the scheme and client_cert route keys:
// every key read, every problem with its position, and the JSON they are written back as.

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "config/route_json.hpp"
#include "config/tls_section.hpp"
#include "stubborn/config_error.hpp"
#include "stubborn/load_config.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;
using stubborn::certificate_fault;
using stubborn::client_auth_mode;
using stubborn::config;
using stubborn::config_error;
using stubborn::handshake_spec;
using stubborn::load_config_text;
using stubborn::tls_version;

namespace {

using lines = std::vector<std::string>;

lines problems_of(const std::string& text, const std::string& base_dir = ".") {
  try {
    load_config_text(text, "t.toml", base_dir);
  } catch (const config_error& e) {
    lines out;
    for (const auto& p : e.problems()) out.push_back(p.to_string());
    return out;
  }
  return {};
}

struct error_case {
  std::string text;
  lines expected;
};

void check_cases(const std::vector<error_case>& cases, const std::string& base_dir = ".") {
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK(problems_of(c.text, base_dir) == c.expected);
  }
}

// A folder with the files [server.tls] names (their contents are read at start, not here).
class cert_dir {
 public:
  cert_dir() {
    static std::atomic<unsigned> counter{0};
    std::random_device random;
    path_ = fs::temp_directory_path() /
            ("stubborn-tls-test-" + std::to_string(random()) + "-" + std::to_string(counter++));
    for (const char* name : {"certs/server.pem", "certs/server.key", "certs/ca.pem", "certs/ca.key",
                             "certs/clients.pem"}) {
      fs::create_directories((path_ / name).parent_path());
      std::ofstream(path_ / name) << "PEM\n";
    }
  }
  ~cert_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  cert_dir(const cert_dir&) = delete;
  cert_dir& operator=(const cert_dir&) = delete;
  std::string base() const { return path_.string(); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

}  // namespace

TEST_CASE("[server.tls]: every key is read, paths relative to the config file", "[config][tls]") {
  const cert_dir dir;
  const config cfg = load_config_text(R"(
[server.tls]
listen = "0.0.0.0:0"
cert = "certs/server.pem"
key = "certs/server.key"
hosts = ["api.test", "*.svc.test", "10.0.0.1", "::1"]
ca_out = "out/ca.pem"
ca_cert = "certs/ca.pem"
ca_key = "certs/ca.key"
min_version = "1.3"
max_version = "1.3"
ciphers = "ECDHE+AESGCM"
client_auth = "require"
client_ca = "certs/clients.pem"
handshake_timeout = "3s"
)",
                                      "t.toml", dir.base());
  REQUIRE(cfg.server.tls);
  const stubborn::tls_config& tls = *cfg.server.tls;
  CHECK(cfg.server.plain_listener);
  CHECK(tls.listen.host == "0.0.0.0");
  CHECK(tls.listen.port == 0);
  CHECK(tls.cert == dir / "certs/server.pem");
  CHECK(tls.key == dir / "certs/server.key");
  CHECK(tls.hosts == std::vector<std::string>{"api.test", "*.svc.test", "10.0.0.1", "::1"});
  CHECK(tls.ca_out == dir / "out/ca.pem");
  CHECK(tls.ca_cert == dir / "certs/ca.pem");
  CHECK(tls.ca_key == dir / "certs/ca.key");
  CHECK(tls.min_version == tls_version::tls1_3);
  CHECK(tls.max_version == tls_version::tls1_3);
  CHECK(tls.ciphers == "ECDHE+AESGCM");
  CHECK(tls.client_auth == client_auth_mode::require);
  CHECK(tls.client_ca == dir / "certs/clients.pem");
  CHECK(tls.handshake_timeout == 3s);
  CHECK(tls.names.empty());
  CHECK(tls.position.line == 2);
}

TEST_CASE("[server.tls]: an empty table has every default", "[config][tls]") {
  const config cfg = load_config_text("[server.tls]\n", "t.toml");
  REQUIRE(cfg.server.tls);
  CHECK(*cfg.server.tls == stubborn::tls_config{});
  CHECK(cfg.server.tls->listen.port == 8443);
  CHECK(cfg.server.tls->min_version == tls_version::tls1_2);
  CHECK(cfg.server.tls->hosts == std::vector<std::string>{"localhost", "127.0.0.1", "::1"});
  CHECK_FALSE(load_config_text("[server]\n", "t.toml").server.tls);
}

TEST_CASE("[server.tls]: absolute paths stay as written; ca_out need not exist", "[config][tls]") {
  const cert_dir dir;
  const std::string text = "[server.tls]\ncert = \"" + (dir / "certs/server.pem") + "\"\nkey = \"" +
                           (dir / "certs/server.key") + "\"\nca_out = \"/nowhere/ca.pem\"\n";
  const config cfg = load_config_text(text, "t.toml", "elsewhere");
  CHECK(cfg.server.tls->cert == dir / "certs/server.pem");
  CHECK(cfg.server.tls->ca_out == "/nowhere/ca.pem");
}

TEST_CASE("[[server.tls.names]]: faults, handshakes, versions and ciphers", "[config][tls]") {
  const config cfg = load_config_text(R"(
[server.tls]
[[server.tls.names]]
name = "expired.localhost"
cert = "expired"
[[server.tls.names]]
name = "early.localhost"
cert = "not-yet-valid"
[[server.tls.names]]
name = "wrong.localhost"
cert = "wrong-host"
[[server.tls.names]]
name = "self.localhost"
cert = "self-signed"
[[server.tls.names]]
name = "*.untrusted.test"
cert = "untrusted-issuer"
[[server.tls.names]]
name = "slow.localhost"
handshake = { delay = "5s" }
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
handshake = { alert = "handshake_failure" }
[[server.tls.names]]
name = "old.localhost"
min_version = "1.2"
max_version = "1.2"
ciphers = "AES128-SHA"
)",
                                      "t.toml");
  const auto& names = cfg.server.tls->names;
  REQUIRE(names.size() == 11);
  CHECK(names[0].name == "expired.localhost");
  CHECK(names[0].cert == certificate_fault::expired);
  CHECK(names[1].cert == certificate_fault::not_yet_valid);
  CHECK(names[2].cert == certificate_fault::wrong_host);
  CHECK(names[3].cert == certificate_fault::self_signed);
  CHECK(names[4].name == "*.untrusted.test");
  CHECK(names[4].cert == certificate_fault::untrusted_issuer);
  CHECK(names[5].handshake.type == handshake_spec::kind::delay);
  CHECK(names[5].handshake.delay == 5s);
  CHECK(names[6].handshake.type == handshake_spec::kind::stall);
  CHECK(names[7].handshake.type == handshake_spec::kind::reset);
  CHECK(names[8].handshake.type == handshake_spec::kind::close);
  CHECK(names[9].handshake.type == handshake_spec::kind::alert);
  CHECK(names[9].handshake.alert == "handshake_failure");
  CHECK(names[9].handshake.alert_code == 40);
  CHECK(names[10].min_version == tls_version::tls1_2);
  CHECK(names[10].max_version == tls_version::tls1_2);
  CHECK(names[10].ciphers == "AES128-SHA");
  CHECK(names[10].cert == certificate_fault::none);
  CHECK(names[10].handshake.type == handshake_spec::kind::normal);
  CHECK(names[0].position.line == 3);
}

TEST_CASE("[[server.tls.names]]: TLS alerts by their RFC names", "[config][tls]") {
  const std::vector<std::pair<std::string, int>> alerts = {{"close_notify", 0},
                                                           {"unexpected_message", 10},
                                                           {"bad_record_mac", 20},
                                                           {"handshake_failure", 40},
                                                           {"bad_certificate", 42},
                                                           {"certificate_expired", 45},
                                                           {"unknown_ca", 48},
                                                           {"access_denied", 49},
                                                           {"protocol_version", 70},
                                                           {"internal_error", 80},
                                                           {"unrecognized_name", 112},
                                                           {"certificate_required", 116},
                                                           {"no_application_protocol", 120},
                                                           {"decryption_failed", 21},
                                                           {"no_renegotiation", 100}};
  for (const auto& [name, code] : alerts) {
    INFO(name);
    const config cfg = load_config_text(
        "[server.tls]\n[[server.tls.names]]\nname = \"a.test\"\nhandshake = { alert = \"" + name +
            "\" }\n",
        "t.toml");
    CHECK(cfg.server.tls->names.at(0).handshake.alert_code == code);
  }
}

TEST_CASE("listen = \"\" turns the plain listener off; HTTPS must then be there", "[config][tls]") {
  const config cfg = load_config_text("[server]\nlisten = \"\"\n[server.tls]\n", "t.toml");
  CHECK_FALSE(cfg.server.plain_listener);
  CHECK(cfg.server.tls);
  check_cases({
      {"[server]\nlisten = \"\"\n",
       {"t.toml:2:1: 'listen' = \"\" turns plain HTTP off, so [server.tls] is needed: without it "
        "nothing would listen"}},
  });
}

TEST_CASE("[server.tls]: problems with their positions", "[config][tls]") {
  const cert_dir dir;
  check_cases(
      {
          {"[server.tls]\nlisen = \"127.0.0.1:1\"\n",
           {"t.toml:2:1: unknown key 'lisen' in [server.tls] (did you mean 'listen'?)"}},
          {"[server.tls]\nlisten = \"127.0.0.1\"\n",
           {"t.toml:2:10: 'listen' must be \"host:port\", e.g. \"127.0.0.1:8080\" or "
            "\"[::1]:8080\", not \"127.0.0.1\""}},
          {"[server]\ntls = 1\n",
           {"t.toml:2:7: 'tls' must be a table, written [server.tls], not "
            "an integer"}},
          {"[server.tls]\ncert = \"certs/server.pem\"\n",
           {"t.toml:2:8: 'cert' needs 'key', the certificate's private key"}},
          {"[server.tls]\nkey = \"certs/server.key\"\n",
           {"t.toml:2:7: 'key' needs 'cert', the certificate the key belongs to"}},
          {"[server.tls]\nca_cert = \"certs/ca.pem\"\n",
           {"t.toml:2:11: 'ca_cert' needs 'ca_key', the CA's private key"}},
          {"[server.tls]\nca_key = \"certs/ca.key\"\n",
           {"t.toml:2:10: 'ca_key' needs 'ca_cert', the CA certificate the key belongs to"}},
          {"[server.tls]\ncert = \"certs/missing.pem\"\nkey = \"certs/server.key\"\n",
           {"t.toml:2:8: cannot read 'cert' \"certs/missing.pem\": No such file or directory"}},
          {"[server.tls]\nclient_ca = \"certs\"\n",
           {"t.toml:2:13: cannot read 'client_ca' \"certs\": not a regular file"}},
          {"[server.tls]\nca_out = \"\"\n", {"t.toml:2:10: 'ca_out' must be a file path"}},
          {"[server.tls]\nclient_auth = \"require\"\n",
           {"t.toml:2:15: 'client_auth' = \"require\" needs 'client_ca', the CAs whose client "
            "certificates are accepted"}},
          {"[server.tls]\nclient_auth = \"request\"\n",
           {"t.toml:2:15: 'client_auth' = \"request\" needs 'client_ca', the CAs whose client "
            "certificates are accepted"}},
          {"[server.tls]\nclient_auth = \"requir\"\nclient_ca = \"certs/clients.pem\"\n",
           {"t.toml:2:15: 'client_auth' must be one of \"none\", \"request\" or \"require\", not "
            "\"requir\" (did you mean 'require'?)"}},
          {"[server.tls]\nmin_version = \"1.4\"\n",
           {"t.toml:2:15: 'min_version' must be one of \"1.0\", \"1.1\", \"1.2\" or \"1.3\", not "
            "\"1.4\""}},
          {"[server.tls]\nmin_version = 1.2\n",
           {"t.toml:2:15: 'min_version' must be a string, e.g. \"1.2\", not a float"}},
          {"[server.tls]\nmin_version = \"1.3\"\nmax_version = \"1.2\"\n",
           {"t.toml:3:15: 'max_version' \"1.2\" is older than 'min_version' \"1.3\""}},
          {"[server.tls]\nmax_version = \"1.1\"\n",
           {"t.toml:2:15: 'max_version' \"1.1\" is older than 'min_version' \"1.2\""}},
          {"[server.tls]\nhosts = [\"localhost\", \"bad host\", \"-x.test\", \"a..b\"]\n",
           {"t.toml:2:23: 'hosts' holds host names (\"api.test\", \"*.test\") and IP addresses, "
            "not \"bad host\"",
            "t.toml:2:35: 'hosts' holds host names (\"api.test\", \"*.test\") and IP addresses, "
            "not \"-x.test\"",
            "t.toml:2:46: 'hosts' holds host names (\"api.test\", \"*.test\") and IP addresses, "
            "not \"a..b\""}},
          {"[server.tls]\nhosts = []\n",
           {"t.toml:2:9: 'hosts' must name at least one host for the made certificate"}},
          {"[server.tls]\nhosts = [1]\n",
           {"t.toml:2:10: each 'hosts' must be a string, not an integer"}},
          {"[server.tls]\nciphers = \"\"\n",
           {"t.toml:2:11: 'ciphers' must be an OpenSSL cipher list, e.g. \"ECDHE+AESGCM\""}},
          {"[server.tls]\nhandshake_timeout = \"0s\"\n",
           {"t.toml:2:21: 'handshake_timeout' must be more than 0s"}},
          {"[server.tls]\nhandshake_timeout = \"soon\"\n",
           {"t.toml:2:21: 'handshake_timeout' must be a number with a unit (ms, s, m or h), e.g. "
            "\"10s\", not \"soon\""}},
      },
      dir.base());
}

TEST_CASE("[[server.tls.names]]: problems with their positions", "[config][tls]") {
  const std::string head = "[server.tls]\n[[server.tls.names]]\n";
  check_cases({
      {head + "cert = \"expired\"\n",
       {"t.toml:2:1: a [[server.tls.names]] entry needs 'name', the SNI name it is for"}},
      {head + "name = \"a.test\"\ncrt = \"expired\"\n",
       {"t.toml:4:1: unknown key 'crt' in [[server.tls.names]] (did you mean 'cert'?)"}},
      {head + "name = \"a.test\"\ncert = \"expird\"\n",
       {"t.toml:4:8: 'cert' must be one of \"expired\", \"not-yet-valid\", \"wrong-host\", "
        "\"self-signed\" or \"untrusted-issuer\", not \"expird\" (did you mean 'expired'?)"}},
      {head + "name = \"127.0.0.1\"\n",
       {"t.toml:3:8: 'name' must be a host name, not the IP address \"127.0.0.1\": clients never "
        "send an IP address as SNI"}},
      {head + "name = \"a b\"\n",
       {"t.toml:3:8: 'name' must be a host name (\"slow.localhost\") or a wildcard (\"*.test\"), "
        "not \"a b\""}},
      {head + "name = \"A.test\"\n[[server.tls.names]]\nname = \"a.test\"\n",
       {"t.toml:5:8: name \"a.test\" is already configured at t.toml:3:8"}},
      {head + "name = \"a.test\"\nhandshake = \"stal\"\n",
       {"t.toml:4:13: 'handshake' must be one of \"stall\", \"reset\" or \"close\", or a table "
        "{ delay = \"5s\" } or { alert = \"NAME\" }, not \"stal\" (did you mean 'stall'?)"}},
      {head + "name = \"a.test\"\nhandshake = { delay = \"5s\", alert = \"unknown_ca\" }\n",
       {"t.toml:4:37: 'handshake' has one of 'delay' or 'alert', not both"}},
      {head + "name = \"a.test\"\nhandshake = { dela = \"5s\" }\n",
       {"t.toml:4:15: unknown key 'dela' in 'handshake' (did you mean 'delay'?)"}},
      {head + "name = \"a.test\"\nhandshake = {}\n",
       {"t.toml:4:13: 'handshake' needs 'delay' (e.g. { delay = \"5s\" }) or 'alert'"}},
      {head + "name = \"a.test\"\nhandshake = { delay = \"0s\" }\n",
       {"t.toml:4:23: 'handshake.delay' must be more than 0s"}},
      {head + "name = \"a.test\"\nhandshake = { alert = \"handshake_failur\" }\n",
       {"t.toml:4:23: unknown TLS alert \"handshake_failur\" (the names of RFC 8446 section 6, "
        "e.g. \"handshake_failure\") (did you mean 'handshake_failure'?)"}},
      {head + "name = \"a.test\"\nhandshake = { alert = 40 }\n",
       {"t.toml:4:23: 'handshake.alert' must be a string, not an integer"}},
      {head + "name = \"a.test\"\nhandshake = 3\n",
       {"t.toml:4:13: 'handshake' must be a string (\"stall\", \"reset\", \"close\") or a table "
        "({ delay = \"5s\" }, { alert = \"NAME\" }), not an integer"}},
      {head + "name = \"a.test\"\nmin_version = \"1.3\"\nmax_version = \"1.2\"\n",
       {"t.toml:5:15: 'max_version' \"1.2\" is older than 'min_version' \"1.3\""}},
      {"[server.tls]\nnames = [1]\n",
       {"t.toml:2:10: each 'names' must be a table, written [[server.tls.names]], not an "
        "integer"}},
  });
}

TEST_CASE("[server.tls] as JSON: its keys, the names, never a key's contents", "[config][tls]") {
  const cert_dir dir;
  const config cfg = load_config_text(R"(
[server.tls]
listen = "[::1]:0"
cert = "certs/server.pem"
key = "certs/server.key"
client_auth = "request"
client_ca = "certs/clients.pem"
[[server.tls.names]]
name = "slow.localhost"
handshake = { delay = "5s" }
[[server.tls.names]]
name = "bad.localhost"
cert = "expired"
handshake = { alert = "unknown_ca" }
min_version = "1.3"
)",
                                      "t.toml", dir.base());
  const json::object o = stubborn::tls_to_json(*cfg.server.tls);
  CHECK(o.at("listen") == "[::1]:0");
  CHECK(o.at("cert") == json::value(dir / "certs/server.pem"));
  CHECK(o.at("key") == json::value(dir / "certs/server.key"));
  CHECK(o.at("client_auth") == "request");
  CHECK(o.at("min_version") == "1.2");
  CHECK(o.at("handshake_timeout") == "10s");
  CHECK(o.at("hosts") == json::array{"localhost", "127.0.0.1", "::1"});
  CHECK_FALSE(o.contains("ca_out"));
  CHECK(o.at("names") ==
        json::array{
            json::object{{"name", "slow.localhost"}, {"handshake", json::object{{"delay", "5s"}}}},
            json::object{{"name", "bad.localhost"},
                         {"cert", "expired"},
                         {"handshake", json::object{{"alert", "unknown_ca"}}},
                         {"min_version", "1.3"}}});
}

TEST_CASE("routes: scheme and client_cert are read and written back", "[config][tls]") {
  const config cfg = load_config_text(R"(
[[route]]
path = "/secure"
scheme = "https"
client_cert = { subject = "CN=billing,O=Acme" }
[[route]]
path = "/plain"
scheme = "http"
client_cert = { san = "billing.internal" }
)",
                                      "t.toml");
  REQUIRE(cfg.routes.size() == 2);
  CHECK(cfg.routes[0].scheme == "https");
  REQUIRE(cfg.routes[0].client_cert);
  CHECK(cfg.routes[0].client_cert->subject == "CN=billing,O=Acme");
  CHECK(cfg.routes[0].client_cert->san.empty());
  CHECK(cfg.routes[1].scheme == "http");
  CHECK(cfg.routes[1].client_cert->san == "billing.internal");
  const json::object o = stubborn::route_to_json(cfg.routes[0]);
  CHECK(o.at("scheme") == "https");
  CHECK(o.at("client_cert") == json::object{{"subject", "CN=billing,O=Acme"}});
  CHECK_FALSE(
      stubborn::route_to_json(cfg.routes[1]).at("client_cert").as_object().contains("subject"));

  // Posted as JSON, as the admin API takes runtime routes.
  const stubborn::route_spec posted = stubborn::load_route_json(
      R"({"path": "/p", "scheme": "https", "client_cert": {"san": "billing.internal"}})", "POST");
  CHECK(posted.scheme == "https");
  CHECK(posted.client_cert->san == "billing.internal");
}

TEST_CASE("routes: scheme and client_cert problems", "[config][tls]") {
  const std::string head = "[[route]]\npath = \"/\"\n";
  check_cases({
      {head + "scheme = \"htps\"\n",
       {"t.toml:3:10: 'scheme' must be \"http\" or \"https\", not \"htps\" (did you mean "
        "'https'?)"}},
      {head + "scheme = 1\n", {"t.toml:3:10: 'scheme' must be a string, not an integer"}},
      {head + "client_cert = {}\n",
       {"t.toml:3:15: 'client_cert' needs 'subject' or 'san' (or both)"}},
      {head + "client_cert = { subjct = \"CN=x\" }\n",
       {"t.toml:3:17: unknown key 'subjct' in 'client_cert' (did you mean 'subject'?)"}},
      {head + "client_cert = { subject = 1 }\n",
       {"t.toml:3:27: 'client_cert.subject' must be a string, not an integer"}},
      {head + "client_cert = { san = \"\" }\n",
       {"t.toml:3:23: 'client_cert.san' must be a name like \"billing.internal\""}},
      {head + "client_cert = \"CN=x\"\n",
       {"t.toml:3:15: 'client_cert' must be a table, e.g. { subject = \"CN=billing\" }, not a "
        "string"}},
  });
  CHECK_THROWS_AS(stubborn::load_route_json(R"({"path": "/p", "scheme": "ftp"})", "POST"),
                  config_error);
}

#include <openssl/x509v3.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "protocols/tls/certificates.hpp"
#include "protocols/tls/tls_context.hpp"
#include "routing/request.hpp"
#include "tls_pair.hpp"

using namespace stubborn;
using stubborn::test::client_options;
using stubborn::test::handshake;
using stubborn::test::temp_dir;

namespace {

tls_name_spec name_rule(std::string name) {
  tls_name_spec rule;
  rule.name = std::move(name);
  return rule;
}

tls_name_spec fault_rule(std::string name, certificate_fault fault) {
  tls_name_spec rule = name_rule(std::move(name));
  rule.cert = fault;
  return rule;
}

client_options trusting(const tls_context& server, std::string name) {
  client_options options;
  options.trusted_pem = server.ca_pem();
  if (!is_ip_address(name)) options.sni = name;
  options.host = std::move(name);
  return options;
}

std::vector<std::string> peer_dns_names(SSL* client) {
  tls_facts facts;
  X509* peer = SSL_get0_peer_certificate(client);
  REQUIRE(peer != nullptr);
  std::vector<std::string> names;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(peer, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); ++i) {
    int type = 0;
    auto* value =
        static_cast<ASN1_STRING*>(GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(sans, i), &type));
    if (type == GEN_DNS) {
      names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                         ASN1_STRING_length(value));
    }
  }
  GENERAL_NAMES_free(sans);
  return names;
}

std::string read_text(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

tls_facts server_facts(const test::handshake_outcome& outcome) {
  tls_facts facts;
  describe_session(outcome.server.get(), facts);
  return facts;
}

}  // namespace

TEST_CASE("a made leaf verifies against ca_pem for localhost, 127.0.0.1 and ::1", "[tls]") {
  const auto server = tls_context::build(tls_config{});
  REQUIRE(server->ca_pem().find("BEGIN CERTIFICATE") != std::string::npos);
  for (const char* name : {"localhost", "127.0.0.1", "::1"}) {
    INFO(name);
    const auto outcome = handshake(*server, trusting(*server, name));
    CHECK(outcome->ok());
    CHECK(outcome->verify_result == X509_V_OK);
  }
  const auto other = handshake(*server, trusting(*server, "example.com"));
  CHECK_FALSE(other->ok());
  CHECK(other->verify_result == X509_V_ERR_HOSTNAME_MISMATCH);
}

TEST_CASE("two builds make two different CAs; a reload keeps the made one", "[tls]") {
  const auto first = tls_context::build(tls_config{});
  const auto second = tls_context::build(tls_config{});
  CHECK(first->ca_pem() != second->ca_pem());
  const auto reloaded = tls_context::build(tls_config{}, first.get());
  CHECK(reloaded->ca_pem() == first->ca_pem());
  CHECK(handshake(*reloaded, trusting(*first, "localhost"))->ok());
}

TEST_CASE("each certificate fault gives a client exactly its one verify error", "[tls]") {
  tls_config cfg;
  cfg.names = {fault_rule("expired.localhost", certificate_fault::expired),
               fault_rule("future.localhost", certificate_fault::not_yet_valid),
               fault_rule("wrong.localhost", certificate_fault::wrong_host),
               fault_rule("self.localhost", certificate_fault::self_signed),
               fault_rule("stranger.localhost", certificate_fault::untrusted_issuer)};
  const auto server = tls_context::build(cfg);
  struct expectation {
    const char* name;
    long error;
    const char* curl_text;  // what curl prints after "SSL certificate problem: "
  };
  for (const expectation& expected :
       {expectation{"expired.localhost", X509_V_ERR_CERT_HAS_EXPIRED, "certificate has expired"},
        expectation{"future.localhost", X509_V_ERR_CERT_NOT_YET_VALID,
                    "certificate is not yet valid"},
        expectation{"wrong.localhost", X509_V_ERR_HOSTNAME_MISMATCH, "hostname mismatch"},
        expectation{"self.localhost", X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
                    "self-signed certificate"},
        expectation{"stranger.localhost", X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
                    "unable to get local issuer certificate"}}) {
    INFO(expected.name);
    const auto outcome = handshake(*server, trusting(*server, expected.name));
    CHECK_FALSE(outcome->client_done);
    CHECK(outcome->verify_result == expected.error);
    CHECK(std::string(X509_verify_cert_error_string(outcome->verify_result)) == expected.curl_text);
  }
  // The default certificate still serves every other name.
  CHECK(handshake(*server, trusting(*server, "localhost"))->ok());
}

TEST_CASE("a certificate fault is the only thing wrong with its certificate", "[tls]") {
  tls_config cfg;
  cfg.names = {fault_rule("expired.localhost", certificate_fault::expired),
               fault_rule("future.localhost", certificate_fault::not_yet_valid),
               fault_rule("wrong.localhost", certificate_fault::wrong_host)};
  const auto server = tls_context::build(cfg);
  const std::time_t now = std::time(nullptr);
  client_options expired = trusting(*server, "expired.localhost");
  expired.verify_time = now - 2 * 24 * 3600;
  CHECK(handshake(*server, expired)->ok());
  client_options future = trusting(*server, "future.localhost");
  future.verify_time = now + 2 * 24 * 3600;
  CHECK(handshake(*server, future)->ok());
  client_options wrong = trusting(*server, "wrong.localhost");
  wrong.host = "wrong-host.invalid";
  CHECK(handshake(*server, wrong)->ok());
}

TEST_CASE("a names entry with an alert refuses the ClientHello with it", "[tls]") {
  tls_config cfg;
  tls_name_spec refused = name_rule("refused.localhost");
  refused.handshake.type = handshake_spec::kind::alert;
  refused.handshake.alert = "access_denied";
  refused.handshake.alert_code = SSL_AD_ACCESS_DENIED;
  cfg.names = {refused};
  const auto server = tls_context::build(cfg);
  const auto outcome = handshake(*server, trusting(*server, "refused.localhost"));
  CHECK_FALSE(outcome->client_done);
  CHECK_FALSE(outcome->server_done);
  CHECK(outcome->alert_received == SSL_AD_ACCESS_DENIED);
  CHECK(handshake(*server, trusting(*server, "localhost"))->ok());
}

TEST_CASE("a wildcard in hosts gives each new name a leaf of its own, cached", "[tls]") {
  tls_config cfg;
  cfg.hosts = {"localhost", "127.0.0.1", "*.test"};
  const auto server = tls_context::build(cfg);
  const auto a = handshake(*server, trusting(*server, "a.test"));
  REQUIRE(a->ok());
  CHECK(peer_dns_names(a->client.get()) == std::vector<std::string>{"a.test"});
  const auto again = handshake(*server, trusting(*server, "A.test"));
  REQUIRE(again->ok());
  CHECK(X509_cmp(SSL_get0_peer_certificate(a->client.get()),
                 SSL_get0_peer_certificate(again->client.get())) == 0);
  const auto b = handshake(*server, trusting(*server, "b.test"));
  REQUIRE(b->ok());
  CHECK(peer_dns_names(b->client.get()) == std::vector<std::string>{"b.test"});
  // No SNI, or an address as SNI: the default certificate, with every host.
  client_options by_address = trusting(*server, "127.0.0.1");
  by_address.sni = "127.0.0.1";
  const auto address = handshake(*server, by_address);
  REQUIRE(address->ok());
  CHECK(peer_dns_names(address->client.get()) == std::vector<std::string>{"localhost", "*.test"});
}

TEST_CASE("threads sharing one context make and reuse wildcard leaves safely", "[tls]") {
  tls_config cfg;
  cfg.hosts = {"*.test"};
  const auto server = tls_context::build(cfg);
  std::atomic<int> verified{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        const std::string name = "n" + std::to_string((t + i) % 5) + ".test";
        if (handshake(*server, trusting(*server, name))->ok()) ++verified;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(verified == 40);
}

TEST_CASE("a wildcard names entry makes its fault per name; exact and longest match first",
          "[tls]") {
  tls_config cfg;
  tls_name_spec modern = name_rule("*.test");
  modern.min_version = tls_version::tls1_3;
  cfg.names = {modern, fault_rule("*.old.test", certificate_fault::expired),
               name_rule("exact.old.test")};
  const auto server = tls_context::build(cfg);
  CHECK(server->rule_for("x.old.test")->name == "*.old.test");
  CHECK(server->rule_for("a.b.old.test")->name == "*.old.test");
  CHECK(server->rule_for("EXACT.old.test")->name == "exact.old.test");
  CHECK(server->rule_for("x.TEST")->name == "*.test");
  CHECK(server->rule_for("test") == nullptr);
  CHECK(server->rule_for("localhost") == nullptr);

  client_options options = trusting(*server, "x.old.test");
  options.verify_time = std::time(nullptr) - 2 * 24 * 3600;
  const auto outcome = handshake(*server, options);
  REQUIRE(outcome->ok());
  CHECK(peer_dns_names(outcome->client.get()) == std::vector<std::string>{"x.old.test"});
  CHECK(handshake(*server, trusting(*server, "x.old.test"))->verify_result ==
        X509_V_ERR_CERT_HAS_EXPIRED);
}

TEST_CASE("a names entry sets the protocol floor, ceiling and ciphers of its name", "[tls]") {
  tls_config cfg;
  tls_name_spec modern = name_rule("modern.localhost");
  modern.min_version = tls_version::tls1_3;
  tls_name_spec old = name_rule("old.localhost");
  old.max_version = tls_version::tls1_2;
  old.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256";
  cfg.names = {modern, old};
  cfg.hosts = {"localhost", "modern.localhost", "old.localhost"};
  const auto server = tls_context::build(cfg);

  client_options capped = trusting(*server, "modern.localhost");
  capped.max_version = TLS1_2_VERSION;
  const auto refused = handshake(*server, capped);
  CHECK_FALSE(refused->client_done);
  CHECK(refused->alert_received == SSL_AD_PROTOCOL_VERSION);
  CHECK(handshake(*server, trusting(*server, "modern.localhost"))->ok());
  CHECK(handshake(*server,
                  [&] {
                    client_options plain = trusting(*server, "localhost");
                    plain.max_version = TLS1_2_VERSION;
                    return plain;
                  }())
            ->ok());

  const auto outcome = handshake(*server, trusting(*server, "old.localhost"));
  REQUIRE(outcome->ok());
  const tls_facts facts = server_facts(*outcome);
  CHECK(facts.version == "TLSv1.2");
  CHECK(facts.cipher == "ECDHE-ECDSA-AES128-GCM-SHA256");
  CHECK(facts.sni == "old.localhost");
  const tls_facts newest = server_facts(*handshake(*server, trusting(*server, "localhost")));
  CHECK(newest.version == "TLSv1.3");
  CHECK(newest.cipher.starts_with("TLS_"));
}

TEST_CASE("one ciphers string sets TLS 1.3 suites (TLS_*) and the TLS 1.2 list apart", "[tls]") {
  tls_config cfg;
  cfg.ciphers = "ECDHE-ECDSA-CHACHA20-POLY1305:TLS_CHACHA20_POLY1305_SHA256";
  const auto server = tls_context::build(cfg);
  CHECK(server_facts(*handshake(*server, trusting(*server, "localhost"))).cipher ==
        "TLS_CHACHA20_POLY1305_SHA256");
  client_options tls12 = trusting(*server, "localhost");
  tls12.max_version = TLS1_2_VERSION;
  CHECK(server_facts(*handshake(*server, tls12)).cipher == "ECDHE-ECDSA-CHACHA20-POLY1305");

  tls_config only_tls12;
  only_tls12.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256";
  const auto narrowed = tls_context::build(only_tls12);
  CHECK(server_facts(*handshake(*narrowed, trusting(*narrowed, "localhost"))).version == "TLSv1.3");
  tls12.trusted_pem = narrowed->ca_pem();
  CHECK(server_facts(*handshake(*narrowed, tls12)).cipher == "ECDHE-ECDSA-AES128-GCM-SHA256");

  tls_config unknown;
  unknown.ciphers = "NO-SUCH-CIPHER";
  CHECK_THROWS_WITH(tls_context::build(unknown),
                    Catch::StartsWith("ciphers \"NO-SUCH-CIPHER\": no TLS 1.2 cipher"));
}

TEST_CASE("a names entry may let TLS 1.0 through, at security level 0", "[tls]") {
  tls_config cfg;
  tls_name_spec legacy = name_rule("legacy.localhost");
  legacy.min_version = tls_version::tls1_0;
  cfg.names = {legacy};
  cfg.hosts = {"localhost", "legacy.localhost"};
  const auto server = tls_context::build(cfg);
  client_options options = trusting(*server, "legacy.localhost");
  options.max_version = TLS1_VERSION;
  options.security_level_0 = true;
  const auto outcome = handshake(*server, options);
  REQUIRE(outcome->ok());
  CHECK(server_facts(*outcome).version == "TLSv1");
  client_options elsewhere = trusting(*server, "localhost");
  elsewhere.max_version = TLS1_VERSION;
  elsewhere.security_level_0 = true;
  CHECK_FALSE(handshake(*server, elsewhere)->ok());
}

TEST_CASE("ALPN chooses http/1.1; a client offering only h2 gets no_application_protocol",
          "[tls]") {
  const auto server = tls_context::build(tls_config{});
  client_options both = trusting(*server, "localhost");
  both.alpn = {"h2", "http/1.1"};
  const auto chosen = handshake(*server, both);
  REQUIRE(chosen->ok());
  CHECK(chosen->alpn == "http/1.1");
  const auto none = handshake(*server, trusting(*server, "localhost"));
  REQUIRE(none->ok());
  CHECK(none->alpn.empty());
  client_options h2 = trusting(*server, "localhost");
  h2.alpn = {"h2"};
  const auto refused = handshake(*server, h2);
  CHECK_FALSE(refused->ok());
  CHECK(refused->alert_received == SSL_AD_NO_APPLICATION_PROTOCOL);
}

TEST_CASE("client_auth = require admits only certificates client_ca signed", "[tls]") {
  temp_dir dir;
  const certificate_authority client_ca = make_ca("billing clients");
  const certificate_authority other_ca = make_ca("somebody else");
  tls_config cfg;
  cfg.client_auth = client_auth_mode::require;
  cfg.client_ca = dir.write("clients.pem", pem_of(client_ca.cert.get()));
  const auto server = tls_context::build(cfg);

  const auto without = handshake(*server, trusting(*server, "localhost"));
  CHECK_FALSE(without->server_done);
  CHECK(without->alert_received == SSL_AD_CERTIFICATE_REQUIRED);

  const certified_key stranger = issue_client_certificate(other_ca, {{"CN", "billing"}}, {});
  client_options foreign = trusting(*server, "localhost");
  foreign.cert = &stranger;
  const auto refused = handshake(*server, foreign);
  CHECK_FALSE(refused->server_done);
  CHECK(refused->alert_received == SSL_AD_UNKNOWN_CA);

  const certified_key billing = issue_client_certificate(
      client_ca, {{"O", "Acme"}, {"CN", "billing"}},
      {"billing.internal", "10.0.0.7", "fd00::7", "ops@acme.example", "spiffe://acme/billing"});
  client_options good = trusting(*server, "localhost");
  good.cert = &billing;
  const auto admitted = handshake(*server, good);
  REQUIRE(admitted->ok());
  const tls_facts facts = server_facts(*admitted);
  CHECK(facts.client_subject == "CN=billing,O=Acme");
  CHECK(facts.client_sans == std::vector<std::string>{"billing.internal", "10.0.0.7", "fd00::7",
                                                      "ops@acme.example", "spiffe://acme/billing"});
  CHECK(facts.client_verified);
  CHECK_FALSE(facts.resumed);
}

TEST_CASE("client_auth = request admits any client and says whether it verified", "[tls]") {
  temp_dir dir;
  const certificate_authority client_ca = make_ca("billing clients");
  const certificate_authority other_ca = make_ca("somebody else");
  tls_config cfg;
  cfg.client_auth = client_auth_mode::request;
  cfg.client_ca = dir.write("clients.pem", pem_of(client_ca.cert.get()));
  const auto server = tls_context::build(cfg);

  const auto without = handshake(*server, trusting(*server, "localhost"));
  REQUIRE(without->ok());
  CHECK(server_facts(*without).client_subject.empty());
  CHECK_FALSE(server_facts(*without).client_verified);

  const certified_key stranger = issue_client_certificate(other_ca, {{"CN", "Müller"}}, {});
  client_options foreign = trusting(*server, "localhost");
  foreign.cert = &stranger;
  const auto unverified = handshake(*server, foreign);
  REQUIRE(unverified->ok());
  CHECK(server_facts(*unverified).client_subject == "CN=Müller");
  CHECK_FALSE(server_facts(*unverified).client_verified);

  const certified_key billing = issue_client_certificate(client_ca, {{"CN", "billing"}}, {});
  client_options good = trusting(*server, "localhost");
  good.cert = &billing;
  const auto verified = handshake(*server, good);
  REQUIRE(verified->ok());
  CHECK(server_facts(*verified).client_verified);
}

TEST_CASE("a session ticket resumes the session, in TLS 1.3 and 1.2, across a reload", "[tls]") {
  const auto server = tls_context::build(tls_config{});
  for (int max_version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    INFO(max_version);
    client_options options = trusting(*server, "localhost");
    options.max_version = max_version;
    const auto first = handshake(*server, options);
    REQUIRE(first->ok());
    CHECK_FALSE(server_facts(*first).resumed);
    REQUIRE(first->session != nullptr);
    REQUIRE(SSL_SESSION_is_resumable(first->session.get()) == 1);
    options.session = first->session.get();
    const auto second = handshake(*server, options);
    REQUIRE(second->ok());
    CHECK(server_facts(*second).resumed);
    CHECK(SSL_session_reused(second->client.get()) == 1);

    // A TLS 1.3 client uses each ticket once (RFC 8446 §C.4): the next resumption takes one
    // the resumed connection brought.
    options.session = second->session.get();
    const auto reloaded = tls_context::build(tls_config{}, server.get());
    const auto third = handshake(*reloaded, options);
    REQUIRE(third->ok());
    CHECK(server_facts(*third).resumed);
  }
}

TEST_CASE("cert and key from files; ca_cert and ca_key sign the made leaves", "[tls]") {
  temp_dir dir;
  const certificate_authority kept = make_ca("kept CA");
  const certified_key leaf = issue_leaf(kept, {"localhost"});
  tls_config files;
  files.cert = dir.write("server.pem", pem_of(leaf.cert.get()));
  files.key = dir.write("server.key", pem_of(leaf.key.get()));
  const auto from_files = tls_context::build(files);
  CHECK(from_files->ca_pem().empty());
  CHECK(from_files->warnings().empty());
  client_options options;
  options.trusted_pem = pem_of(kept.cert.get());
  options.sni = options.host = "localhost";
  CHECK(handshake(*from_files, options)->ok());

  tls_config signed_by_kept;
  signed_by_kept.ca_cert = dir.write("ca.pem", pem_of(kept.cert.get()));
  signed_by_kept.ca_key = dir.write("ca.key", pem_of(kept.key.get()), 0640);
  signed_by_kept.ca_out = dir.path("written-ca.pem");
  const auto with_kept_ca = tls_context::build(signed_by_kept);
  CHECK(with_kept_ca->ca_pem() == pem_of(kept.cert.get()));
  CHECK(read_text(signed_by_kept.ca_out) == with_kept_ca->ca_pem());
  REQUIRE(with_kept_ca->warnings().size() == 1);
  CHECK(with_kept_ca->warnings()[0].starts_with(signed_by_kept.ca_key + ": "));
  CHECK(handshake(*with_kept_ca, options)->ok());
}

TEST_CASE("ca_out gets the made CA; a key readable by others gets a warning", "[tls]") {
  temp_dir dir;
  tls_config cfg;
  cfg.ca_out = dir.path("ca.pem");
  const auto server = tls_context::build(cfg);
  CHECK(read_text(cfg.ca_out) == server->ca_pem());

  const certificate_authority ca = make_ca();
  const certified_key leaf = issue_leaf(ca, {"localhost"});
  tls_config files;
  files.cert = dir.write("server.pem", pem_of(leaf.cert.get()));
  files.key = dir.write("server.key", pem_of(leaf.key.get()), 0644);
  files.ca_out = dir.path("unwritten-ca.pem");
  const auto readable = tls_context::build(files);
  REQUIRE(readable->warnings().size() == 2);
  CHECK(readable->warnings()[0] == files.key +
                                       ": the private key is readable by other users (chmod 600 "
                                       "keeps it yours)");
  CHECK(readable->warnings()[1] == files.ca_out +
                                       ": not written: with cert and key given, no CA signs a "
                                       "certificate this listener serves");
  CHECK_FALSE(std::filesystem::exists(files.ca_out));
}

TEST_CASE("build errors name the file at fault", "[tls]") {
  temp_dir dir;
  const certificate_authority ca = make_ca();
  const certified_key leaf = issue_leaf(ca, {"localhost"});
  const certified_key other = issue_leaf(ca, {"localhost"});
  tls_config cfg;
  cfg.cert = dir.path("missing.pem");
  cfg.key = dir.write("server.key", pem_of(leaf.key.get()));
  CHECK_THROWS_WITH(tls_context::build(cfg), cfg.cert + ": No such file or directory");

  cfg.cert = dir.write("server.pem", pem_of(leaf.cert.get()));
  cfg.key = dir.write("other.key", pem_of(other.key.get()));
  CHECK_THROWS_WITH(tls_context::build(cfg),
                    cfg.key + ": does not match the certificate in " + cfg.cert);

  cfg.key = dir.write("empty.key", "");
  CHECK_THROWS_WITH(tls_context::build(cfg), cfg.key +
                                                 ": no PEM private key in it (an encrypted "
                                                 "key is not supported)");
  cfg.cert = dir.write("garbage.pem", "hello\n");
  CHECK_THROWS_WITH(tls_context::build(cfg), cfg.cert + ": no PEM certificate in it");

  tls_config not_a_ca;
  not_a_ca.ca_cert = dir.write("leaf-as-ca.pem", pem_of(leaf.cert.get()));
  not_a_ca.ca_key = dir.write("leaf-as-ca.key", pem_of(leaf.key.get()));
  CHECK_THROWS_WITH(tls_context::build(not_a_ca),
                    not_a_ca.ca_cert +
                        ": not a CA certificate (it needs basicConstraints "
                        "CA:TRUE, and keyCertSign if it has a keyUsage)");

  tls_config bad_ciphers;
  tls_name_spec rule = name_rule("x.localhost");
  rule.ciphers = "NO-SUCH-CIPHER";
  bad_ciphers.names = {rule};
  CHECK_THROWS_WITH(tls_context::build(bad_ciphers),
                    Catch::StartsWith("[[server.tls.names]] \"x.localhost\": ciphers"));
}

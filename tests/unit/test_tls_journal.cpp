// The TLS facts of a request in the journal, and the command line's --tls-listen applied over
// the files' settings.

#include <catch2/catch.hpp>

#include "control/control_plane.hpp"
#include "control/observer.hpp"
#include "control/request_observation.hpp"
#include "route_fixture.hpp"
#include "stubborn/load_config.hpp"

using stubborn::testing::fake_request;

namespace {

// A transport as connection_peer asks it.
struct fake_transport {
  stubborn::peer_address peer() const { return {"127.0.0.1", 40000}; }
};

}  // namespace

TEST_CASE("journal entries over TLS carry sni, version, cipher and client subject",
          "[control][tls]") {
  stubborn::thread_observer observer(0, 10, 100);
  stubborn::request_observation observation(&observer, nullptr, 0);
  const fake_transport transport;
  stubborn::connection_peer peer(transport);
  stubborn::request_outcome outcome;

  stubborn::tls_facts tls;
  tls.sni = "api.localhost";
  tls.version = "TLSv1.3";
  tls.cipher = "TLS_AES_128_GCM_SHA256";
  tls.client_subject = "CN=billing";
  fake_request over_tls("GET", "/a");
  over_tls.view.tls = &tls;
  outcome.begin();
  outcome.status = 200;
  observation.observe(over_tls.view, outcome, peer);

  fake_request plain("GET", "/b");
  outcome.begin();
  outcome.status = 404;
  observation.observe(plain.view, outcome, peer);

  const std::vector<stubborn::journal_entry> journal = observer.journal_copy();
  REQUIRE(journal.size() == 2);
  CHECK(journal[0].over_tls);
  CHECK(journal[0].tls.sni == "api.localhost");
  CHECK(journal[0].tls.version == "TLSv1.3");
  CHECK(journal[0].tls.cipher == "TLS_AES_128_GCM_SHA256");
  CHECK(journal[0].tls.client_subject == "CN=billing");
  CHECK_FALSE(journal[1].over_tls);
  CHECK(journal[1].path == "/b");
}

TEST_CASE("the command line's --tls-listen overrides [server.tls] listen, or turns HTTPS on",
          "[control][tls]") {
  stubborn::config plain = stubborn::load_config_text("[server]\n", "t.toml");
  plain.overrides.tls_listen = stubborn::listen_address{"127.0.0.1", 0};
  const stubborn::config https = stubborn::with_overrides(plain);
  REQUIRE(https.server.tls);
  CHECK(https.server.tls->listen == stubborn::listen_address{"127.0.0.1", 0});
  CHECK(https.server.tls->min_version == stubborn::tls_version::tls1_2);
  CHECK(https.server.tls->cert.empty());

  stubborn::config set = stubborn::load_config_text(
      "[server.tls]\nlisten = \"127.0.0.1:9443\"\nmin_version = \"1.3\"\n", "t.toml");
  set.overrides.tls_listen = stubborn::listen_address{"0.0.0.0", 8443};
  const stubborn::config overridden = stubborn::with_overrides(set);
  CHECK(overridden.server.tls->listen == stubborn::listen_address{"0.0.0.0", 8443});
  CHECK(overridden.server.tls->min_version == stubborn::tls_version::tls1_3);
  CHECK_FALSE(stubborn::with_overrides(stubborn::load_config_text("", "t.toml")).server.tls);

  stubborn::config https_only =
      stubborn::load_config_text("[server]\nlisten = \"\"\n[server.tls]\n", "t.toml");
  CHECK_FALSE(stubborn::with_overrides(https_only).server.plain_listener);
  https_only.overrides.listen = stubborn::listen_address{"127.0.0.1", 0};
  CHECK(stubborn::with_overrides(https_only).server.plain_listener);  // --listen asks for it
}

// respond() for requests over TLS (a tls_facts on the request) and over plain HTTP: the scheme and
// client_cert matchers, the 403 for a route that wanted another certificate, the tls.*
// templates, and matching without allocation.

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "respond/respond.hpp"
#include "route_fixture.hpp"
#include "routing/templates.hpp"
#include "stubborn/config_error.hpp"
#include "stubborn/load_config.hpp"

using stubborn::response;
using stubborn::tls_facts;
using stubborn::testing::fake_request;

namespace {

std::chrono::steady_clock::time_point fixed_now() {
  return std::chrono::steady_clock::time_point{};
}

struct responder {
  std::shared_ptr<const stubborn::route_table> table;
  stubborn::connection_facts facts;
  stubborn::respond_scratch scratch;
  response plan;
  std::unique_ptr<fake_request> last;

  explicit responder(const std::string& toml)
      : table(stubborn::route_table::compile(stubborn::load_config_text(toml, "t.toml"))) {
    facts.clock.now = &fixed_now;
  }

  // A GET of `target`, over TLS when `tls` is given.
  const response& get(std::string target, const tls_facts* tls = nullptr) {
    last = std::make_unique<fake_request>("GET", std::move(target));
    last->view.tls = tls;
    stubborn::respond(last->view, *table, facts, scratch, plan);
    return plan;
  }
  std::string route_name() const { return plan.route ? plan.route->name : ""; }
};

tls_facts billing_client() {
  tls_facts tls;
  tls.sni = "api.localhost";
  tls.version = "TLSv1.3";
  tls.cipher = "TLS_AES_256_GCM_SHA384";
  tls.client_subject = "CN=billing,O=Acme";
  tls.client_sans = {"billing.internal", "10.0.0.7"};
  tls.client_verified = true;
  return tls;
}

tls_facts anonymous_client() {
  tls_facts tls;
  tls.sni = "api.localhost";
  tls.version = "TLSv1.2";
  tls.cipher = "ECDHE-RSA-AES128-GCM-SHA256";
  return tls;
}

}  // namespace

TEST_CASE("scheme: a route serves only the listener it names", "[respond][tls]") {
  responder r(R"(
[[route]]
name = "secure"
path = "/only-https"
scheme = "https"
[[route]]
name = "plain"
path = "/only-http"
scheme = "http"
[[route]]
name = "both"
path = "/both"
)");
  const tls_facts tls = anonymous_client();
  CHECK(r.get("/only-https", &tls).status == 200);
  CHECK(r.route_name() == "secure");
  const response& plain = r.get("/only-https");
  CHECK(plain.status == 404);
  CHECK(plain.miss.find("the route is served only over HTTPS") != std::string::npos);
  CHECK(r.get("/only-http").status == 200);
  const response& over_tls = r.get("/only-http", &tls);
  CHECK(over_tls.status == 404);
  CHECK(over_tls.miss.find("the route is served only over plain HTTP") != std::string::npos);
  CHECK(r.get("/both").status == 200);
  CHECK(r.get("/both", &tls).status == 200);
}

TEST_CASE("scheme: routes for each listener on one path", "[respond][tls]") {
  responder r(R"(
[[route]]
name = "secure"
path = "/x"
scheme = "https"
[[route]]
name = "plain"
path = "/x"
scheme = "http"
)");
  const tls_facts tls = anonymous_client();
  r.get("/x", &tls);
  CHECK(r.route_name() == "secure");
  r.get("/x");
  CHECK(r.route_name() == "plain");
}

TEST_CASE("client_cert: subject and subjectAltName compared exactly", "[respond][tls]") {
  responder r(R"(
[[route]]
name = "by-subject"
path = "/subject"
client_cert = { subject = "CN=billing,O=Acme" }
[[route]]
name = "by-san"
path = "/san"
client_cert = { san = "10.0.0.7" }
[[route]]
name = "by-both"
path = "/both"
client_cert = { subject = "CN=billing,O=Acme", san = "billing.internal" }
[[route]]
name = "wrong-both"
path = "/wrong"
client_cert = { subject = "CN=billing,O=Acme", san = "orders.internal" }
)");
  const tls_facts billing = billing_client();
  CHECK(r.get("/subject", &billing).status == 200);
  CHECK(r.get("/san", &billing).status == 200);
  CHECK(r.get("/both", &billing).status == 200);
  CHECK(r.route_name() == "by-both");
  CHECK(r.get("/wrong", &billing).status == 403);

  tls_facts other = billing;
  other.client_subject = "CN=billing,O=acme";  // not the same subject: case counts
  CHECK(r.get("/subject", &other).status == 403);
  tls_facts unverified = billing;
  unverified.client_verified = false;  // client_auth = "request" lets unsigned ones through
  CHECK(r.get("/subject", &unverified).status == 403);
  CHECK(r.plan.miss.find("not signed by client_ca") != std::string::npos);
}

TEST_CASE("client_cert: 403 when the nearest route differed only in its certificate",
          "[respond][tls]") {
  responder r(R"(
[[route]]
name = "billing"
path = "/invoices"
client_cert = { subject = "CN=billing" }
[route.reply]
body = "for billing"
[[route]]
name = "header-too"
path = "/orders"
headers = { X-Tenant = "a" }
client_cert = { subject = "CN=billing" }
)");
  const tls_facts anonymous = anonymous_client();
  const response& no_cert = r.get("/invoices", &anonymous);
  CHECK(no_cert.status == 403);
  CHECK(no_cert.route == nullptr);
  CHECK(no_cert.body == no_cert.miss);
  CHECK(no_cert.miss ==
        "No route matched GET /invoices\nNearest route: \"billing\" (any method /invoices):\n"
        "  the client sent no certificate\n");
  const response& plain = r.get("/invoices");
  CHECK(plain.status == 403);
  CHECK(plain.miss.find("over plain HTTP, without a client certificate") != std::string::npos);
  tls_facts other = billing_client();
  other.client_subject = "CN=orders";
  const response& wrong = r.get("/invoices", &other);
  CHECK(wrong.status == 403);
  CHECK(wrong.miss.find("the client certificate's subject is 'CN=orders', wanted 'CN=billing'") !=
        std::string::npos);
  // Another matcher differs too: the route is not the client's to be refused, so 404.
  const response& header_missing = r.get("/orders", &other);
  CHECK(header_missing.status == 404);
  CHECK(header_missing.miss.find("header 'X-Tenant' is missing") != std::string::npos);
  CHECK(header_missing.miss.find("subject is 'CN=orders'") != std::string::npos);
  // A path no route has is still a 404.
  CHECK(r.get("/nothing", &other).status == 404);
}

TEST_CASE("templates: tls.client_subject, tls.sni and tls.version", "[respond][tls]") {
  responder r(R"(
[[route]]
path = "/whoami"
[route.reply]
body = "{{tls.client_subject}}|{{tls.sni}}|{{tls.version}}|{{ tls.sni }}"
headers = { X-Tls = "{{tls.version}}" }
)");
  const tls_facts billing = billing_client();
  CHECK(r.get("/whoami", &billing).body == "CN=billing,O=Acme|api.localhost|TLSv1.3|api.localhost");
  CHECK(r.get("/whoami").body == "|||");
}

TEST_CASE("templates: an unknown tls.* name is refused at load", "[respond][tls]") {
  try {
    stubborn::load_config_text(
        "[[route]]\npath = \"/\"\n[route.reply]\nbody = \"{{tls.cipher}}\"\n", "t.toml");
    FAIL("loaded");
  } catch (const stubborn::config_error& e) {
    REQUIRE(e.problems().size() == 1);
    CHECK(e.problems()[0].to_string() ==
          "t.toml:4:9: bad template in 'body': unknown placeholder {{tls.cipher}}: use "
          "tls.client_subject, tls.sni or tls.version");
  }
  const std::vector<std::string> none;
  CHECK_NOTHROW(stubborn::compiled_template::compile("{{tls.sni}}", none));
}

#include "protocols/tls/tls_context.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "protocols/tls/certificates.hpp"
#include "routing/request.hpp"

namespace stubborn {
namespace {

struct ssl_ctx_deleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using ssl_ctx_ptr = std::unique_ptr<SSL_CTX, ssl_ctx_deleter>;

struct ssl_deleter {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

struct bio_deleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};

// A client could name endless distinct hosts under a wildcard; past this many made leaves the
// cache starts over rather than grow without bound.
constexpr std::size_t max_made_leaves = 4096;

std::string lowercase(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

// "*.suffix" -> ".suffix"; anything else -> "".
std::string wildcard_suffix(std::string_view name) {
  if (name.size() > 2 && name.starts_with("*.")) return lowercase(name.substr(1));
  return {};
}

bool ends_with_suffix(std::string_view name, std::string_view suffix) {
  return name.size() > suffix.size() && name.ends_with(suffix);
}

int openssl_version(tls_version version) {
  switch (version) {
    case tls_version::unset:
      return 0;  // OpenSSL's lowest or highest
    case tls_version::tls1_0:
      return TLS1_VERSION;
    case tls_version::tls1_1:
      return TLS1_1_VERSION;
    case tls_version::tls1_2:
      return TLS1_2_VERSION;
    case tls_version::tls1_3:
      return TLS1_3_VERSION;
  }
  return 0;
}

// TLS 1.0 and 1.1 sign the handshake with MD5/SHA-1, which OpenSSL 3 refuses at security
// level 1 and above: a floor that low means level 0.
bool needs_security_level_0(tls_version min_version) {
  return min_version == tls_version::tls1_0 || min_version == tls_version::tls1_1;
}

void check_versions(tls_version min_version, tls_version max_version, const std::string& where) {
  if (min_version != tls_version::unset && max_version != tls_version::unset &&
      min_version > max_version) {
    throw std::runtime_error(where + "min_version is above max_version");
  }
}

// One `ciphers` string covers both of OpenSSL's lists: TLS 1.3 suites are set apart from the
// TLS <= 1.2 cipher list (SSL_set_ciphersuites vs SSL_set_cipher_list). Its elements whose names
// begin with "TLS_" (the only names TLS 1.3 suites have, RFC 8446 §B.4) become the 1.3 suites;
// every other element (names, aliases, "!x", "@SECLEVEL=n", ...) stays in the <= 1.2 list. A
// part left empty keeps OpenSSL's default for its versions, so "ECDHE-RSA-AES128-GCM-SHA256"
// alone narrows TLS 1.2 without turning TLS 1.3 off.
struct cipher_lists {
  std::string up_to_tls12;
  std::string tls13;
};

cipher_lists split_ciphers(std::string_view text) {
  cipher_lists lists;
  std::size_t at = 0;
  while (at < text.size()) {
    // OpenSSL's separators in a cipher list: ':' ',' ';' and space.
    const std::size_t end = std::min(text.find_first_of(":,; ", at), text.size());
    const std::string_view element = text.substr(at, end - at);
    if (!element.empty()) {
      std::string& list = element.starts_with("TLS_") ? lists.tls13 : lists.up_to_tls12;
      if (!list.empty()) list += ':';
      list += element;
    }
    at = end + 1;
  }
  return lists;
}

// The connection-time choices of the listener, owned by the SSL_CTX (see state_index) so that a
// handshake that outlives a reload still finds them.
struct handshake_state {
  std::vector<tls_name_spec> names;
  std::unordered_map<std::string, const tls_name_spec*> exact;
  std::vector<std::pair<std::string, const tls_name_spec*>> wildcards;  // ".suffix", longest first
  std::vector<std::string> host_suffixes;           // of `hosts` wildcards, when leaves are made
  std::unordered_set<std::string> exact_hosts;      // names the default leaf has
  std::shared_ptr<const certificate_authority> ca;  // signs leaves made on first use
  std::unordered_map<std::string, std::shared_ptr<const certified_key>> fixed;  // made at build
  std::mutex mutex;  // guards `made`: handshake time only, never per request
  std::unordered_map<std::string, std::shared_ptr<const certified_key>> made;

  const tls_name_spec* rule_for(std::string_view sni) const {
    const std::string name = lowercase(sni);
    if (auto found = exact.find(name); found != exact.end()) return found->second;
    for (const auto& [suffix, rule] : wildcards) {
      if (ends_with_suffix(name, suffix)) return rule;
    }
    return nullptr;
  }

  bool under_host_wildcard(const std::string& name) const {
    if (exact_hosts.contains(name)) return false;
    return std::any_of(host_suffixes.begin(), host_suffixes.end(),
                       [&](const std::string& suffix) { return ends_with_suffix(name, suffix); });
  }

  // The leaf a client naming `name` gets instead of the default one, or null.
  std::shared_ptr<const certified_key> leaf_for(const std::string& name,
                                                const tls_name_spec* rule) {
    const bool fault = rule && rule->cert != certificate_fault::none;
    if (fault) {
      if (auto found = fixed.find(name); found != fixed.end()) return found->second;
    } else if (!under_host_wildcard(name)) {
      return nullptr;
    }
    std::lock_guard lock(mutex);
    if (auto found = made.find(name); found != made.end()) return found->second;
    if (made.size() >= max_made_leaves) made.clear();
    auto leaf = std::make_shared<const certified_key>(
        issue_leaf(*ca, {name}, fault ? rule->cert : certificate_fault::none));
    made.emplace(name, leaf);
    return leaf;
  }
};

void free_state(void*, void* state, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<handshake_state*>(state);
}

// The SSL_CTX owns its handshake_state (freed with it), since connections hold the SSL_CTX
// through their SSL, possibly longer than the tls_context that made it.
int state_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_state);
  return index;
}

// RFC 6066 §3: the server_name extension is a list (uint16 length) of entries, each a type
// (0 = host_name) and a uint16-length name. OpenSSL has not parsed it yet when the
// client-hello callback runs, hence by hand; a malformed list is left for OpenSSL to refuse.
std::string client_hello_server_name(SSL* ssl) {
  const unsigned char* data = nullptr;
  std::size_t size = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &data, &size) != 1 || size < 2) {
    return {};
  }
  if ((static_cast<std::size_t>(data[0]) << 8 | data[1]) + 2 != size) return {};
  std::size_t at = 2;
  while (at + 3 <= size) {
    const unsigned type = data[at];
    const std::size_t length = static_cast<std::size_t>(data[at + 1]) << 8 | data[at + 2];
    at += 3;
    if (at + length > size) return {};
    if (type == TLSEXT_NAMETYPE_host_name) {
      const std::string_view name(reinterpret_cast<const char*>(data + at), length);
      if (name.find('\0') != std::string_view::npos) return {};
      return lowercase(name);  // DNS names compare without case (RFC 4343)
    }
    at += length;
  }
  return {};
}

bool serve(SSL* ssl, const certified_key& leaf) {
  STACK_OF(X509)* chain = sk_X509_new_null();
  if (!chain) return false;
  for (const x509_ptr& cert : leaf.chain) sk_X509_push(chain, cert.get());
  const bool ok = SSL_use_cert_and_key(ssl, leaf.cert.get(), leaf.key.get(), chain, 1) == 1;
  sk_X509_free(chain);
  return ok;
}

bool apply_name_rule(SSL* ssl, const tls_name_spec& rule) {
  if (rule.min_version != tls_version::unset &&
      SSL_set_min_proto_version(ssl, openssl_version(rule.min_version)) != 1) {
    return false;
  }
  if (rule.max_version != tls_version::unset &&
      SSL_set_max_proto_version(ssl, openssl_version(rule.max_version)) != 1) {
    return false;
  }
  if (needs_security_level_0(rule.min_version)) SSL_set_security_level(ssl, 0);
  if (!rule.ciphers.empty()) {
    const cipher_lists lists = split_ciphers(rule.ciphers);
    if (!lists.up_to_tls12.empty() && SSL_set_cipher_list(ssl, lists.up_to_tls12.c_str()) != 1) {
      return false;
    }
    if (!lists.tls13.empty() && SSL_set_ciphersuites(ssl, lists.tls13.c_str()) != 1) return false;
  }
  return true;
}

// Runs on every ClientHello, before OpenSSL picks the version, the cipher and the certificate,
// so that the [[server.tls.names]] entry of the SNI name can decide all three.
int on_client_hello(SSL* ssl, int* alert, void* arg) {
  auto& state = *static_cast<handshake_state*>(arg);
  const std::string name = client_hello_server_name(ssl);
  // RFC 6066 §3 forbids an address as SNI; clients that send one get the default certificate.
  if (name.empty() || is_ip_address(name)) return SSL_CLIENT_HELLO_SUCCESS;
  // RFC 6066 §3: a session must not be resumed under another name. Sessions are bound to the
  // name they were made for, so a client that offers localhost's ticket to expired.localhost
  // gets a full handshake, and the certificate scripted for that name.
  unsigned char name_digest[SHA256_DIGEST_LENGTH];
  std::string lower = name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  SHA256(reinterpret_cast<const unsigned char*>(lower.data()), lower.size(), name_digest);
  static_assert(SHA256_DIGEST_LENGTH <= SSL_MAX_SID_CTX_LENGTH);
  SSL_set_session_id_context(ssl, name_digest, sizeof name_digest);
  const tls_name_spec* rule = state.rule_for(name);
  if (rule && rule->handshake.type == handshake_spec::kind::alert) {
    *alert = rule->handshake.alert_code;
    return SSL_CLIENT_HELLO_ERROR;
  }
  try {
    if (rule && !apply_name_rule(ssl, *rule)) {
      *alert = SSL_AD_INTERNAL_ERROR;
      return SSL_CLIENT_HELLO_ERROR;
    }
    if (auto leaf = state.leaf_for(name, rule); leaf && !serve(ssl, *leaf)) {
      *alert = SSL_AD_INTERNAL_ERROR;
      return SSL_CLIENT_HELLO_ERROR;
    }
  } catch (const std::exception&) {
    // Only a leaf made on first use can throw, and only if OpenSSL itself fails.
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

// RFC 7301 §3.2: a client that offers ALPN without http/1.1 gets the fatal
// no_application_protocol alert; one that offers none is not asked (OpenSSL calls this only
// when the extension is there).
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_length,
                const unsigned char* offered, unsigned offered_length, void*) {
  static constexpr std::string_view http11 = "http/1.1";
  unsigned at = 0;
  while (at < offered_length) {
    const unsigned length = offered[at];
    if (at + 1 + length > offered_length) break;
    if (length == http11.size() && std::memcmp(offered + at + 1, http11.data(), length) == 0) {
      *out = offered + at + 1;
      *out_length = static_cast<unsigned char>(length);
      return SSL_TLSEXT_ERR_OK;
    }
    at += 1 + length;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

// client_auth = "request": a certificate that does not verify is still accepted; the
// connection's facts say it did not verify (SSL_get_verify_result keeps the reason).
int accept_any_client_certificate(int, X509_STORE_CTX*) {
  return 1;
}

std::string openssl_reason() {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  const char* reason = code ? ERR_reason_error_string(code) : nullptr;
  return reason ? reason : "unknown reason";
}

void set_ciphers(SSL_CTX* ctx, const std::string& ciphers) {
  const cipher_lists lists = split_ciphers(ciphers);
  if (!lists.up_to_tls12.empty() && SSL_CTX_set_cipher_list(ctx, lists.up_to_tls12.c_str()) != 1) {
    throw std::runtime_error("ciphers \"" + ciphers + "\": no TLS 1.2 cipher OpenSSL knows in \"" +
                             lists.up_to_tls12 + "\" (" + openssl_reason() + ")");
  }
  if (!lists.tls13.empty() && SSL_CTX_set_ciphersuites(ctx, lists.tls13.c_str()) != 1) {
    throw std::runtime_error("ciphers \"" + ciphers + "\": no TLS 1.3 suite OpenSSL knows in \"" +
                             lists.tls13 + "\" (" + openssl_reason() + ")");
  }
}

// A names entry's ciphers are applied at handshake time; they are tried once here, on a
// connection that is never used, so that a typo fails the load rather than every handshake.
void check_name_ciphers(SSL_CTX* ctx, const tls_name_spec& rule) {
  if (rule.ciphers.empty()) return;
  const std::unique_ptr<SSL, ssl_deleter> probe(SSL_new(ctx));
  if (!probe) throw std::runtime_error("OpenSSL: SSL_new: " + openssl_reason());
  const cipher_lists lists = split_ciphers(rule.ciphers);
  if ((!lists.up_to_tls12.empty() &&
       SSL_set_cipher_list(probe.get(), lists.up_to_tls12.c_str()) != 1) ||
      (!lists.tls13.empty() && SSL_set_ciphersuites(probe.get(), lists.tls13.c_str()) != 1)) {
    throw std::runtime_error("[[server.tls.names]] \"" + rule.name + "\": ciphers \"" +
                             rule.ciphers + "\": no cipher OpenSSL knows (" + openssl_reason() +
                             ")");
  }
}

// `source` names the certificate in an error: its file, or what made it.
void use_certificate(SSL_CTX* ctx, const certified_key& leaf, const std::string& source) {
  STACK_OF(X509)* chain = sk_X509_new_null();
  if (!chain) throw std::runtime_error("OpenSSL: sk_X509_new_null");
  for (const x509_ptr& cert : leaf.chain) sk_X509_push(chain, cert.get());
  const bool ok = SSL_CTX_use_cert_and_key(ctx, leaf.cert.get(), leaf.key.get(), chain, 1) == 1;
  sk_X509_free(chain);
  if (!ok)
    throw std::runtime_error(source + ": OpenSSL refuses the certificate (" + openssl_reason() +
                             ")");
}

void trust_client_ca(SSL_CTX* ctx, const std::string& path) {
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (const x509_ptr& cert : load_certificates(path)) {
    // The CertificateRequest names these issuers to the client (RFC 8446 §4.2.4), so that a
    // client holding several certificates picks one this listener accepts.
    if (X509_STORE_add_cert(store, cert.get()) != 1 ||
        SSL_CTX_add_client_CA(ctx, cert.get()) != 1) {
      throw std::runtime_error(path + ": OpenSSL refuses a certificate in it (" + openssl_reason() +
                               ")");
    }
  }
}

std::string rfc4514_name(X509_NAME* name) {
  const std::unique_ptr<BIO, bio_deleter> bio(BIO_new(BIO_s_mem()));
  if (!bio) return {};
  // XN_FLAG_RFC2253 prints the RDNs last first, as RFC 4514 §2.1 orders them
  // ("CN=billing,O=Acme"), with its escaping (§2.4). RFC 4514 lets UTF-8 stand as it is, where
  // RFC 2253's flags would write non-ASCII bytes as \XX: hence without ASN1_STRFLGS_ESC_MSB.
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

// The subjectAltName entries as their bare values: a DNS name, an address in its usual text
// form, an email address, a URI (other kinds are left out).
std::vector<std::string> subject_alt_names(X509* cert) {
  std::vector<std::string> entries;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (!names) return entries;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* entry = sk_GENERAL_NAME_value(names, i);
    int type = 0;
    const auto* value = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(entry, &type));
    const auto* bytes = ASN1_STRING_get0_data(value);
    const auto length = static_cast<std::size_t>(ASN1_STRING_length(value));
    if (type == GEN_DNS || type == GEN_EMAIL || type == GEN_URI) {
      entries.emplace_back(reinterpret_cast<const char*>(bytes), length);
    } else if (type == GEN_IPADD && (length == 4 || length == 16)) {
      char text[INET6_ADDRSTRLEN] = {};
      inet_ntop(length == 4 ? AF_INET : AF_INET6, bytes, text, sizeof text);
      entries.emplace_back(text);
    }
  }
  GENERAL_NAMES_free(names);
  return entries;
}

}  // namespace

struct tls_context::impl {
  ssl_ctx_ptr ctx;
  handshake_state* state = nullptr;                      // owned by ctx
  std::shared_ptr<const certificate_authority> made_ca;  // kept across reloads
  std::string ca_pem;
  std::vector<std::string> warnings;
  client_auth_mode client_auth = client_auth_mode::none;
  std::string client_ca;
};

namespace {

void warn_if_readable(const std::string& key_path, std::vector<std::string>& warnings) {
  if (readable_by_others(key_path)) {
    warnings.push_back(key_path +
                       ": the private key is readable by other users (chmod 600 keeps it yours)");
  }
}

void index_names(handshake_state& state) {
  for (const tls_name_spec& rule : state.names) {
    if (std::string suffix = wildcard_suffix(rule.name); !suffix.empty()) {
      state.wildcards.emplace_back(std::move(suffix), &rule);
    } else {
      state.exact.emplace(lowercase(rule.name), &rule);
    }
  }
  // The most specific wildcard wins: "*.a.test" before "*.test".
  std::stable_sort(state.wildcards.begin(), state.wildcards.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

void configure(SSL_CTX* ctx, const tls_config& cfg) {
  check_versions(cfg.min_version, cfg.max_version, "");
  if (SSL_CTX_set_min_proto_version(ctx, openssl_version(cfg.min_version)) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, openssl_version(cfg.max_version)) != 1) {
    throw std::runtime_error("min_version/max_version: OpenSSL refuses them");
  }
  if (!cfg.ciphers.empty()) set_ciphers(ctx, cfg.ciphers);
  // After the cipher list, which may carry an "@SECLEVEL=n" of its own.
  if (needs_security_level_0(cfg.min_version)) SSL_CTX_set_security_level(ctx, 0);

  // Renegotiation is a way to make a server work hard and has no use for a mock server; TLS 1.3
  // has none at all.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  // Idle connections keep no read/write buffers (what keeps nginx's idle connections small);
  // a write may be partial and retried from another address, as an asynchronous writer does.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Resumption by tickets only (RFC 8446 §4.6.1, RFC 5077): they are sealed with this SSL_CTX's
  // own key, which every worker thread shares with it, so no server-side session cache is needed.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  static constexpr unsigned char session_context[] = "stubborn";
  SSL_CTX_set_session_id_context(ctx, session_context, sizeof session_context - 1);
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);

  switch (cfg.client_auth) {
    case client_auth_mode::none:
      break;
    case client_auth_mode::request:
      if (!cfg.client_ca.empty()) trust_client_ca(ctx, cfg.client_ca);
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_client_certificate);
      break;
    case client_auth_mode::require:
      if (cfg.client_ca.empty()) {
        throw std::runtime_error("client_ca: needed with client_auth = \"require\"");
      }
      trust_client_ca(ctx, cfg.client_ca);
      // A missing or unverified certificate fails the handshake with OpenSSL's alert
      // (certificate_required, unknown_ca, ...), never with an HTTP reply.
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
      break;
  }
}

// A reload keeps the ticket key, so clients resume across it, unless who may connect changed.
void keep_ticket_key(SSL_CTX* ctx, const tls_context::impl& previous, const tls_config& cfg) {
  if (previous.client_auth != cfg.client_auth || previous.client_ca != cfg.client_ca) return;
  unsigned char keys[80];
  if (SSL_CTX_get_tlsext_ticket_keys(previous.ctx.get(), keys, sizeof keys) == 1) {
    SSL_CTX_set_tlsext_ticket_keys(ctx, keys, sizeof keys);
  }
  OPENSSL_cleanse(keys, sizeof keys);
}

}  // namespace

std::shared_ptr<const tls_context> tls_context::build(const tls_config& cfg,
                                                      const tls_context* previous) {
  if (cfg.cert.empty() != cfg.key.empty()) {
    throw std::runtime_error(cfg.cert.empty() ? "cert: needed with key" : "key: needed with cert");
  }
  if (cfg.ca_cert.empty() != cfg.ca_key.empty()) {
    throw std::runtime_error(cfg.ca_cert.empty() ? "ca_cert: needed with ca_key"
                                                 : "ca_key: needed with ca_cert");
  }
  ERR_clear_error();
  auto built = std::make_unique<impl>();
  built->client_auth = cfg.client_auth;
  built->client_ca = cfg.client_ca;
  built->ctx.reset(SSL_CTX_new(TLS_server_method()));
  if (!built->ctx) throw std::runtime_error("OpenSSL: SSL_CTX_new: " + openssl_reason());
  SSL_CTX* ctx = built->ctx.get();

  auto owned_state = std::make_unique<handshake_state>();
  if (SSL_CTX_set_ex_data(ctx, state_index(), owned_state.get()) != 1) {
    throw std::runtime_error("OpenSSL: SSL_CTX_set_ex_data: " + openssl_reason());
  }
  handshake_state& state = *owned_state.release();
  built->state = &state;
  state.names = cfg.names;
  index_names(state);

  configure(ctx, cfg);
  if (previous) keep_ticket_key(ctx, *previous->impl_, cfg);
  if (previous) built->made_ca = previous->impl_->made_ca;

  const bool faults = std::any_of(cfg.names.begin(), cfg.names.end(), [](const auto& rule) {
    return rule.cert != certificate_fault::none;
  });
  if (!cfg.ca_cert.empty()) {
    state.ca = std::make_shared<const certificate_authority>(load_ca(cfg.ca_cert, cfg.ca_key));
    warn_if_readable(cfg.ca_key, built->warnings);
  } else if (cfg.cert.empty() || faults) {
    // A CA made once and kept across reloads, so that a written ca_out stays what clients trust.
    if (!built->made_ca) built->made_ca = std::make_shared<const certificate_authority>(make_ca());
    state.ca = built->made_ca;
  }
  if (state.ca) built->ca_pem = pem_of(state.ca->cert.get());

  if (!cfg.cert.empty()) {
    use_certificate(ctx, load_certified_key(cfg.cert, cfg.key), cfg.cert);
    warn_if_readable(cfg.key, built->warnings);
  } else {
    use_certificate(ctx, issue_leaf(*state.ca, cfg.hosts), "hosts");
    for (const std::string& host : cfg.hosts) {
      if (std::string suffix = wildcard_suffix(host); !suffix.empty()) {
        // OpenSSL's clients, curl among them, accept "*.x" only with two labels after the star
        // (RFC 6125 §7.2 leaves it to them), so a name under "*.test" gets a leaf of its own.
        state.host_suffixes.push_back(std::move(suffix));
      } else {
        state.exact_hosts.insert(lowercase(host));
      }
    }
  }

  for (const tls_name_spec& rule : cfg.names) {
    const std::string where = "[[server.tls.names]] \"" + rule.name + "\": ";
    check_versions(rule.min_version, rule.max_version, where);
    check_name_ciphers(ctx, rule);
    if (rule.cert != certificate_fault::none && wildcard_suffix(rule.name).empty()) {
      const std::string name = lowercase(rule.name);
      state.fixed.emplace(
          name, std::make_shared<const certified_key>(issue_leaf(*state.ca, {name}, rule.cert)));
    }
  }
  SSL_CTX_set_client_hello_cb(ctx, on_client_hello, &state);

  if (!cfg.ca_out.empty()) {
    if (!built->ca_pem.empty()) {
      write_pem_file(cfg.ca_out, built->ca_pem);
    } else {
      built->warnings.push_back(cfg.ca_out + ": not written: with cert and key given, no CA " +
                                "signs a certificate this listener serves");
    }
  }
  ERR_clear_error();
  return std::shared_ptr<const tls_context>(new tls_context(std::move(built)));
}

void describe_session(SSL* ssl, tls_facts& facts) {
  facts.version = SSL_get_version(ssl);
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
  facts.cipher = cipher ? SSL_CIPHER_get_name(cipher) : "";
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  facts.sni = name ? name : "";
  facts.resumed = SSL_session_reused(ssl) == 1;
  facts.client_subject.clear();
  facts.client_sans.clear();
  facts.client_verified = false;
  if (X509* peer = SSL_get0_peer_certificate(ssl)) {
    facts.client_subject = rfc4514_name(X509_get_subject_name(peer));
    facts.client_sans = subject_alt_names(peer);
    facts.client_verified = SSL_get_verify_result(ssl) == X509_V_OK;
  }
}

tls_context::tls_context(std::unique_ptr<impl> state) : impl_(std::move(state)) {}
tls_context::~tls_context() = default;

SSL_CTX* tls_context::native() const {
  return impl_->ctx.get();
}

const tls_name_spec* tls_context::rule_for(std::string_view sni) const {
  return impl_->state->rule_for(sni);
}

const std::string& tls_context::ca_pem() const {
  return impl_->ca_pem;
}

const std::vector<std::string>& tls_context::warnings() const {
  return impl_->warnings;
}

}  // namespace stubborn

#include "tls_pair.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <stdexcept>

namespace stubborn::test {
namespace {

struct ssl_ctx_free {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};

void record_alert(const SSL* ssl, int where, int value) {
  // value: level (2 = fatal) << 8 | description.
  if (!(where & SSL_CB_ALERT) || (value >> 8) != SSL3_AL_FATAL) return;
  auto* outcome = static_cast<handshake_outcome*>(SSL_get_app_data(ssl));
  if (SSL_is_server(ssl) && (where & SSL_CB_WRITE)) outcome->alert_sent = value & 0xff;
  if (!SSL_is_server(ssl) && (where & SSL_CB_READ)) outcome->alert_received = value & 0xff;
}

void trust(SSL_CTX* ctx, const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), cert);
    X509_free(cert);
  }
  BIO_free(bio);
  ERR_clear_error();
}

std::unique_ptr<SSL_CTX, ssl_ctx_free> client_context(const client_options& options) {
  std::unique_ptr<SSL_CTX, ssl_ctx_free> ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (!options.trusted_pem.empty()) trust(ctx.get(), options.trusted_pem);
  if (options.security_level_0) SSL_CTX_set_security_level(ctx.get(), 0);
  SSL_CTX_set_min_proto_version(ctx.get(), options.min_version);
  SSL_CTX_set_max_proto_version(ctx.get(), options.max_version);
  if (options.cert) {
    SSL_CTX_use_certificate(ctx.get(), options.cert->cert.get());
    SSL_CTX_use_PrivateKey(ctx.get(), options.cert->key.get());
    for (const x509_ptr& cert : options.cert->chain) SSL_CTX_add1_chain_cert(ctx.get(), cert.get());
  }
  // The client keeps the session of each handshake (tickets arrive after it, in TLS 1.3).
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_CLIENT);
  return ctx;
}

// One step of one side; false once it has finished (done or failed).
bool step(SSL* ssl, bool& done, bool& failed) {
  if (done || failed) return false;
  const int rc = SSL_do_handshake(ssl);
  if (rc == 1) {
    done = true;
    return false;
  }
  const int error = SSL_get_error(ssl, rc);
  if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
    failed = true;
    return false;
  }
  return true;
}

}  // namespace

std::unique_ptr<handshake_outcome> handshake(const tls_context& server,
                                             const client_options& options) {
  auto outcome = std::make_unique<handshake_outcome>();
  auto client_ctx = client_context(options);
  outcome->client.reset(SSL_new(client_ctx.get()));
  outcome->server.reset(SSL_new(server.native()));
  SSL* client = outcome->client.get();
  SSL* srv = outcome->server.get();
  BIO* client_bio = nullptr;
  BIO* server_bio = nullptr;
  BIO_new_bio_pair(&client_bio, 0, &server_bio, 0);
  SSL_set_bio(client, client_bio, client_bio);
  SSL_set_bio(srv, server_bio, server_bio);
  SSL_set_connect_state(client);
  SSL_set_accept_state(srv);
  SSL_set_app_data(client, outcome.get());
  SSL_set_app_data(srv, outcome.get());
  SSL_set_info_callback(client, record_alert);
  SSL_set_info_callback(srv, record_alert);

  if (!options.sni.empty()) SSL_set_tlsext_host_name(client, options.sni.c_str());
  if (!options.host.empty()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(client);
    if (is_ip_address(options.host)) {
      X509_VERIFY_PARAM_set1_ip_asc(param, options.host.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, options.host.c_str(), 0);
    }
  }
  if (options.verify_time) X509_VERIFY_PARAM_set_time(SSL_get0_param(client), options.verify_time);
  if (!options.alpn.empty()) {
    std::string wire;
    for (const std::string& protocol : options.alpn) {
      wire += static_cast<char>(protocol.size());
      wire += protocol;
    }
    SSL_set_alpn_protos(client, reinterpret_cast<const unsigned char*>(wire.data()),
                        static_cast<unsigned>(wire.size()));
  }
  if (options.session) SSL_set_session(client, options.session);

  bool client_failed = false;
  bool server_failed = false;
  for (int round = 0; round < 64; ++round) {
    const bool client_waits = step(client, outcome->client_done, client_failed);
    const bool server_waits = step(srv, outcome->server_done, server_failed);
    if (!client_waits && !server_waits) break;
  }
  // Reads what came after the client's handshake: TLS 1.3 tickets, or the server's alert on
  // the client's certificate (TLS 1.3 checks it after the client has finished).
  for (int round = 0; round < 4; ++round) {
    char byte = 0;
    if (outcome->client_done) SSL_read(client, &byte, 1);
    if (outcome->server_done) SSL_read(srv, &byte, 1);
  }
  ERR_clear_error();
  outcome->verify_result = SSL_get_verify_result(client);
  const unsigned char* chosen = nullptr;
  unsigned chosen_length = 0;
  SSL_get0_alpn_selected(client, &chosen, &chosen_length);
  if (chosen) outcome->alpn.assign(reinterpret_cast<const char*>(chosen), chosen_length);
  outcome->session.reset(SSL_get1_session(client));
  SSL_set_info_callback(client, nullptr);
  SSL_set_info_callback(srv, nullptr);
  return outcome;
}

temp_dir::temp_dir() {
  static std::atomic<int> counter{0};
  dir_ = std::filesystem::temp_directory_path() /
         ("stubborn-tls-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
  std::filesystem::create_directories(dir_);
}

temp_dir::~temp_dir() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string temp_dir::write(const std::string& name, const std::string& text, unsigned mode) const {
  const std::string file = path(name);
  std::ofstream(file, std::ios::binary) << text;
  ::chmod(file.c_str(), mode);
  return file;
}

std::string temp_dir::path(const std::string& name) const {
  return (dir_ / name).string();
}

}  // namespace stubborn::test

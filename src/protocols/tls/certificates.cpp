#include "protocols/tls/certificates.hpp"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace stubborn {
namespace {

struct bio_deleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using bio_ptr = std::unique_ptr<BIO, bio_deleter>;

struct general_names_deleter {
  void operator()(GENERAL_NAMES* names) const { GENERAL_NAMES_free(names); }
};

constexpr long hour = 3600;
constexpr long day = 24 * hour;

// OpenSSL's reason for the last failure, and a clean error queue for whoever comes next.
std::string openssl_reason() {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "unknown reason";
  const char* reason = ERR_reason_error_string(code);
  return reason ? reason : "unknown reason";
}

[[noreturn]] void fail(const std::string& what) {
  ERR_clear_error();
  throw std::runtime_error(what);
}

// A step of certificate making that cannot fail with good input; if it does, OpenSSL says why.
void check(bool ok, const char* step) {
  if (!ok) throw std::runtime_error(std::string("OpenSSL: ") + step + ": " + openssl_reason());
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  check(RAND_bytes(raw.data(), static_cast<int>(bytes)) == 1, "RAND_bytes");
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char byte : raw) {
    hex += digits[byte >> 4];
    hex += digits[byte & 15];
  }
  return hex;
}

std::string read_whole_file(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) fail(path + ": " + std::strerror(errno));
  std::string text;
  char buffer[4096];
  std::size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, got);
  const bool failed = std::ferror(file) != 0;
  const int error = errno;
  std::fclose(file);
  if (failed) fail(path + ": " + std::strerror(error));
  return text;
}

// Encrypted keys are refused rather than prompted for on the terminal (OpenSSL's default).
int no_passphrase(char*, int, int, void*) {
  return -1;
}

bio_ptr memory_bio(const std::string& text) {
  bio_ptr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  check(bio != nullptr, "BIO_new_mem_buf");
  return bio;
}

evp_pkey_ptr read_key(const std::string& path) {
  const std::string text = read_whole_file(path);
  const bio_ptr bio = memory_bio(text);
  ERR_clear_error();
  evp_pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) fail(path + ": no PEM private key in it (an encrypted key is not supported)");
  return key;
}

bool self_signed(X509* cert) {
  return (X509_get_extension_flags(cert) & EXFLAG_SS) != 0;
}

// Ed25519 and Ed448 sign the whole message: they take no digest.
const EVP_MD* digest_for(EVP_PKEY* key) {
  const int id = EVP_PKEY_get_id(key);
  return id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448 ? nullptr : EVP_sha256();
}

enum class certificate_use { ca, server, client };

struct certificate_request {
  std::vector<std::pair<std::string, std::string>> subject;
  std::vector<std::string> sans;
  long not_before = -hour;  // seconds from now
  long not_after = 365 * day;
  certificate_use use = certificate_use::server;
};

void set_random_serial(X509* cert) {
  // RFC 5280 §4.1.2.2: positive, at most 20 octets; 128 random bits leave no guessable serial.
  unsigned char bytes[16];
  check(RAND_bytes(bytes, sizeof bytes) == 1, "RAND_bytes");
  bytes[0] &= 0x7f;
  bytes[0] |= 0x40;
  BIGNUM* number = BN_bin2bn(bytes, sizeof bytes, nullptr);
  check(number != nullptr, "BN_bin2bn");
  const bool ok = BN_to_ASN1_INTEGER(number, X509_get_serialNumber(cert)) != nullptr;
  BN_free(number);
  check(ok, "BN_to_ASN1_INTEGER");
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  check(extension != nullptr, "X509V3_EXT_conf_nid");
  const bool ok = X509_add_ext(cert, extension, -1) == 1;
  X509_EXTENSION_free(extension);
  check(ok, "X509_add_ext");
}

GENERAL_NAME* ia5_name(int type, const std::string& text) {
  ASN1_IA5STRING* value = ASN1_IA5STRING_new();
  check(value && ASN1_STRING_set(value, text.data(), static_cast<int>(text.size())) == 1,
        "ASN1_STRING_set");
  GENERAL_NAME* name = GENERAL_NAME_new();
  check(name != nullptr, "GENERAL_NAME_new");
  GENERAL_NAME_set0_value(name, type, value);
  return name;
}

GENERAL_NAME* general_name(const std::string& text, bool any_type) {
  if (is_ip_address(text)) {
    ASN1_OCTET_STRING* address = a2i_IPADDRESS(text.c_str());
    check(address != nullptr, "a2i_IPADDRESS");
    GENERAL_NAME* name = GENERAL_NAME_new();
    check(name != nullptr, "GENERAL_NAME_new");
    GENERAL_NAME_set0_value(name, GEN_IPADD, address);
    return name;
  }
  if (any_type && text.find("://") != std::string::npos) return ia5_name(GEN_URI, text);
  if (any_type && text.find('@') != std::string::npos) return ia5_name(GEN_EMAIL, text);
  return ia5_name(GEN_DNS, text);
}

void add_subject_alt_names(X509* cert, const std::vector<std::string>& sans, bool any_type) {
  const std::unique_ptr<GENERAL_NAMES, general_names_deleter> names(sk_GENERAL_NAME_new_null());
  check(names != nullptr, "sk_GENERAL_NAME_new_null");
  for (const std::string& text : sans) {
    GENERAL_NAME* name = general_name(text, any_type);
    if (sk_GENERAL_NAME_push(names.get(), name) == 0) {
      GENERAL_NAME_free(name);
      check(false, "sk_GENERAL_NAME_push");
    }
  }
  // RFC 5280 §4.2.1.6: critical when the subject is empty.
  const int critical = X509_NAME_entry_count(X509_get_subject_name(cert)) == 0 ? 1 : 0;
  check(
      X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), critical, X509V3_ADD_DEFAULT) == 1,
      "X509_add1_ext_i2d subjectAltName");
}

// Makes and signs one certificate; `issuer` null means self-signed with `key`.
x509_ptr make_certificate(const certificate_request& request, EVP_PKEY* key, X509* issuer,
                          EVP_PKEY* issuer_key) {
  x509_ptr cert(X509_new());
  check(cert != nullptr, "X509_new");
  X509* raw = cert.get();
  check(X509_set_version(raw, X509_VERSION_3) == 1, "X509_set_version");
  set_random_serial(raw);
  check(X509_gmtime_adj(X509_getm_notBefore(raw), request.not_before) != nullptr, "notBefore");
  check(X509_gmtime_adj(X509_getm_notAfter(raw), request.not_after) != nullptr, "notAfter");
  X509_NAME* subject = X509_get_subject_name(raw);
  for (const auto& [field, value] : request.subject) {
    if (X509_NAME_add_entry_by_txt(subject, field.c_str(), MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                   0) != 1) {
      throw std::runtime_error("subject " + field + "=" + value + ": " + openssl_reason());
    }
  }
  check(X509_set_issuer_name(raw, issuer ? X509_get_subject_name(issuer) : subject) == 1,
        "X509_set_issuer_name");
  check(X509_set_pubkey(raw, key) == 1, "X509_set_pubkey");

  X509* signer = issuer ? issuer : raw;
  switch (request.use) {
    case certificate_use::ca:
      add_extension(raw, signer, NID_basic_constraints, "critical,CA:TRUE");
      add_extension(raw, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
      break;
    case certificate_use::server:
      add_extension(raw, signer, NID_basic_constraints, "critical,CA:FALSE");
      add_extension(raw, signer, NID_key_usage, "critical,digitalSignature");
      add_extension(raw, signer, NID_ext_key_usage, "serverAuth");
      break;
    case certificate_use::client:
      add_extension(raw, signer, NID_basic_constraints, "critical,CA:FALSE");
      add_extension(raw, signer, NID_key_usage, "critical,digitalSignature");
      add_extension(raw, signer, NID_ext_key_usage, "clientAuth");
      break;
  }
  add_extension(raw, signer, NID_subject_key_identifier, "hash");
  // Self-signed: "always", or OpenSSL leaves a self-signed certificate without one.
  add_extension(raw, signer, NID_authority_key_identifier,
                issuer ? "keyid,issuer" : "keyid:always");
  if (!request.sans.empty()) {
    add_subject_alt_names(raw, request.sans, request.use == certificate_use::client);
  }
  EVP_PKEY* signing_key = issuer ? issuer_key : key;
  check(X509_sign(raw, signing_key, digest_for(signing_key)) > 0, "X509_sign");
  return cert;
}

// The CN of a server leaf: its first name; X.520 caps a CN at 64 characters (ub-common-name),
// and clients read the subjectAltName anyway.
std::string leaf_common_name(const std::vector<std::string>& hosts) {
  if (hosts.empty() || hosts.front().size() > 64) return "stubborn";
  return hosts.front();
}

std::vector<x509_ptr> served_chain(const certificate_authority& ca) {
  std::vector<x509_ptr> chain;
  // A root is the client's trust anchor: sending it would only cost bytes.
  if (!self_signed(ca.cert.get())) chain.push_back(share(ca.cert.get()));
  for (const x509_ptr& cert : ca.chain) chain.push_back(share(cert.get()));
  return chain;
}

}  // namespace

x509_ptr share(X509* cert) {
  X509_up_ref(cert);
  return x509_ptr(cert);
}

evp_pkey_ptr share(EVP_PKEY* key) {
  EVP_PKEY_up_ref(key);
  return evp_pkey_ptr(key);
}

std::vector<x509_ptr> load_certificates(const std::string& path) {
  const std::string text = read_whole_file(path);
  const bio_ptr bio = memory_bio(text);
  ERR_clear_error();
  std::vector<x509_ptr> certs;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr)) {
    certs.emplace_back(cert);
  }
  // The loop ends at the end of the text ("no start line") or at a block that does not parse.
  const unsigned long last = ERR_peek_last_error();
  if (last != 0 &&
      !(ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE)) {
    fail(path + ": a PEM certificate in it does not parse (" + openssl_reason() + ")");
  }
  ERR_clear_error();
  if (certs.empty()) fail(path + ": no PEM certificate in it");
  return certs;
}

evp_pkey_ptr make_key() {
  evp_pkey_ptr key(EVP_EC_gen("P-256"));
  check(key != nullptr, "EVP_EC_gen");
  return key;
}

certificate_authority make_ca(std::string_view common_name) {
  certificate_request request;
  request.subject = {
      {"CN", common_name.empty() ? "stubborn CA " + random_hex(8) : std::string(common_name)}};
  // Back-dated past the start of any leaf it signs, even an expired one, so that a leaf's
  // dates are all a client can find wrong with it.
  request.not_before = -60 * day;
  request.not_after = 10 * 365 * day;
  request.use = certificate_use::ca;
  certificate_authority ca;
  ca.key = make_key();
  ca.cert = make_certificate(request, ca.key.get(), nullptr, nullptr);
  return ca;
}

certificate_authority load_ca(const std::string& cert_path, const std::string& key_path) {
  std::vector<x509_ptr> certs = load_certificates(cert_path);
  evp_pkey_ptr key = read_key(key_path);
  if (X509_check_private_key(certs.front().get(), key.get()) != 1) {
    fail(key_path + ": does not match the certificate in " + cert_path);
  }
  if (X509_check_ca(certs.front().get()) == 0) {
    fail(cert_path + ": not a CA certificate (it needs basicConstraints CA:TRUE, and keyCertSign " +
         "if it has a keyUsage)");
  }
  certificate_authority ca;
  ca.cert = std::move(certs.front());
  ca.key = std::move(key);
  for (std::size_t i = 1; i < certs.size(); ++i) {
    if (!self_signed(certs[i].get())) ca.chain.push_back(std::move(certs[i]));
  }
  return ca;
}

certified_key issue_leaf(const certificate_authority& ca, const std::vector<std::string>& hosts,
                         certificate_fault fault) {
  certificate_request request;
  request.sans = hosts;
  switch (fault) {
    case certificate_fault::none:
    case certificate_fault::self_signed:
    case certificate_fault::untrusted_issuer:
      break;
    case certificate_fault::expired:
      request.not_before = -30 * day;
      request.not_after = -day;
      break;
    case certificate_fault::not_yet_valid:
      request.not_before = day;
      request.not_after = day + 365 * day;
      break;
    case certificate_fault::wrong_host:
      // A name no client can be asking for (RFC 6761 §6.4: .invalid never resolves).
      request.sans = {"wrong-host.invalid"};
      break;
  }
  request.subject = {{"CN", leaf_common_name(request.sans)}};

  certified_key leaf;
  leaf.key = make_key();
  if (fault == certificate_fault::self_signed) {
    leaf.cert = make_certificate(request, leaf.key.get(), nullptr, nullptr);
  } else if (fault == certificate_fault::untrusted_issuer) {
    // Another name than any trusted CA, so that a client finds no issuer at all rather than
    // the trusted CA with a signature that does not verify. Not sent in the chain: a client
    // that received it would report a self-signed certificate in the chain instead.
    const certificate_authority stranger = make_ca("stubborn untrusted CA " + random_hex(8));
    leaf.cert = make_certificate(request, leaf.key.get(), stranger.cert.get(), stranger.key.get());
  } else {
    leaf.cert = make_certificate(request, leaf.key.get(), ca.cert.get(), ca.key.get());
    leaf.chain = served_chain(ca);
  }
  return leaf;
}

certified_key issue_client_certificate(
    const certificate_authority& ca,
    const std::vector<std::pair<std::string, std::string>>& subject,
    const std::vector<std::string>& sans) {
  certificate_request request;
  request.subject = subject;
  request.sans = sans;
  request.use = certificate_use::client;
  certified_key leaf;
  leaf.key = make_key();
  leaf.cert = make_certificate(request, leaf.key.get(), ca.cert.get(), ca.key.get());
  leaf.chain = served_chain(ca);
  return leaf;
}

certified_key load_certified_key(const std::string& cert_path, const std::string& key_path) {
  std::vector<x509_ptr> certs = load_certificates(cert_path);
  evp_pkey_ptr key = read_key(key_path);
  if (X509_check_private_key(certs.front().get(), key.get()) != 1) {
    fail(key_path + ": does not match the certificate in " + cert_path);
  }
  certified_key loaded;
  loaded.cert = std::move(certs.front());
  loaded.key = std::move(key);
  for (std::size_t i = 1; i < certs.size(); ++i) loaded.chain.push_back(std::move(certs[i]));
  return loaded;
}

std::string pem_of(X509* cert) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  check(bio && PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string pem_of(EVP_PKEY* key) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  check(bio && PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM_write_bio_PrivateKey");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

void write_pem_file(const std::string& path, const std::string& text) {
  // Renamed into place, so that a client reading the file meanwhile never sees half of it.
  const std::string temporary = path + ".tmp";
  std::FILE* file = std::fopen(temporary.c_str(), "wb");
  if (!file) fail(path + ": " + std::strerror(errno));
  const bool written = std::fwrite(text.data(), 1, text.size(), file) == text.size();
  const int write_error = errno;
  const bool closed = std::fclose(file) == 0;
  const int close_error = errno;
  if (!written || !closed) {
    std::remove(temporary.c_str());
    fail(path + ": " + std::strerror(!written ? write_error : close_error));
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int rename_error = errno;
    std::remove(temporary.c_str());
    fail(path + ": " + std::strerror(rename_error));
  }
}

bool readable_by_others(const std::string& path) {
  struct stat status {};
  if (::stat(path.c_str(), &status) != 0) return false;
  return (status.st_mode & (S_IRGRP | S_IROTH)) != 0;
}

bool is_ip_address(std::string_view text) {
  const std::string copy(text);
  unsigned char address[16];
  return inet_pton(AF_INET, copy.c_str(), address) == 1 ||
         inet_pton(AF_INET6, copy.c_str(), address) == 1;
}

}  // namespace stubborn

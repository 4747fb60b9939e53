#pragma once
// Certificates for an HTTPS listener, made in-process with OpenSSL's API or read from PEM files:
// a CA (made, or the user's), leaves it signs for a list of host names (each optionally with
// exactly one fault a client must meet), and client certificates for mutual TLS tests. Load time
// only; every error is a std::runtime_error whose what() is "PATH: what is wrong".

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "stubborn/config.hpp"

namespace stubborn {

/// Frees an X509 (for unique_ptr).
struct x509_deleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
/// Frees an EVP_PKEY (for unique_ptr).
struct evp_pkey_deleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
/// An owned certificate.
using x509_ptr = std::unique_ptr<X509, x509_deleter>;
/// An owned key.
using evp_pkey_ptr = std::unique_ptr<EVP_PKEY, evp_pkey_deleter>;

/// Another owner of the same certificate (OpenSSL reference count).
x509_ptr share(X509* cert);
/// Another owner of the same key (OpenSSL reference count).
evp_pkey_ptr share(EVP_PKEY* key);

/// A certificate with its private key and the certificates a server sends after it.
struct certified_key {
  x509_ptr cert;
  evp_pkey_ptr key;
  std::vector<x509_ptr> chain;  ///< intermediates, leaf's issuer first; no self-signed root
};

/// A CA that signs leaves: its certificate, key, and the intermediates above it (if any).
struct certificate_authority {
  x509_ptr cert;
  evp_pkey_ptr key;
  std::vector<x509_ptr> chain;  ///< what a leaf it signs is served with after itself
};

/// A new EC P-256 key.
evp_pkey_ptr make_key();

/// A new self-signed CA (EC P-256) named `common_name`; "" names it "stubborn CA <random hex>",
/// so that the CAs of two runs differ.
certificate_authority make_ca(std::string_view common_name = "");

/// Reads a CA from PEM files (the first certificate of `cert_path` is the CA, the others its
/// chain); checks that the key matches and that it is a CA.
certificate_authority load_ca(const std::string& cert_path, const std::string& key_path);

/// A server leaf for `hosts` (DNS names, "*.suffix" wildcards, IPv4/IPv6 addresses) signed by
/// `ca`, with at most one `fault`; otherwise valid for a year from an hour ago.
certified_key issue_leaf(const certificate_authority& ca, const std::vector<std::string>& hosts,
                         certificate_fault fault = certificate_fault::none);

/// A client certificate (EKU clientAuth) signed by `ca`, with the subject given as attribute
/// pairs in certificate order (e.g. {{"O", "Acme"}, {"CN", "billing"}}) and subjectAltName
/// entries: "a@b" an email, "scheme://..." a URI, an address an IP, anything else a DNS name.
certified_key issue_client_certificate(
    const certificate_authority& ca,
    const std::vector<std::pair<std::string, std::string>>& subject,
    const std::vector<std::string>& sans);

/// Reads every PEM certificate of a file, in order (at least one).
std::vector<x509_ptr> load_certificates(const std::string& path);

/// Reads a PEM chain (leaf first) and its private key; checks that the key matches.
certified_key load_certified_key(const std::string& cert_path, const std::string& key_path);

/// The PEM text of a certificate.
std::string pem_of(X509* cert);
/// The PEM text of a private key (unencrypted PKCS #8).
std::string pem_of(EVP_PKEY* key);

/// Writes `text` to `path` whole (a temporary file renamed over it); throws "PATH: reason".
void write_pem_file(const std::string& path, const std::string& text);

/// Whether the file at `path` may be read by its group or by others (for a warning on keys).
bool readable_by_others(const std::string& path);

/// Whether `text` is an IPv4 or IPv6 address literal.
bool is_ip_address(std::string_view text);

}  // namespace stubborn

#include "control/admin_page.hpp"

#include <openssl/evp.h>

#include <string>

#include "text/base64.hpp"

namespace stubborn {

extern const std::string_view admin_page_text;

namespace {

// "'sha256-BASE64'" for each element's text between <tag> and </tag>.
void append_hashes(std::string_view page, std::string_view tag, std::string& out) {
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  std::size_t at = 0;
  while ((at = page.find(open, at)) != std::string_view::npos) {
    const std::size_t start = at + open.size();
    const std::size_t end = page.find(close, start);
    if (end == std::string_view::npos) break;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_Digest(page.data() + start, end - start, digest, &size, EVP_sha256(), nullptr);
    out.append(" 'sha256-")
        .append(base64_encode(std::string_view(reinterpret_cast<const char*>(digest), size)))
        .append("'");
    at = end + close.size();
  }
}

std::string make_csp() {
  std::string csp = "default-src 'none'; script-src";
  append_hashes(admin_page_text, "script", csp);
  csp += "; style-src";
  append_hashes(admin_page_text, "style", csp);
  csp +=
      "; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
      "frame-ancestors 'none'";
  return csp;
}

}  // namespace

std::string_view admin_page_html() {
  return admin_page_text;
}

std::string_view admin_page_csp() {
  static const std::string csp = make_csp();
  return csp;
}

}  // namespace stubborn

#pragma once
// The admin page served at the admin prefix: one HTML file with its style and script inline
// (src/control/admin_page.html, built into the binary), and the Content-Security-Policy that
// lets only that script and style run.

#include <string_view>

namespace stubborn {

/// The page's HTML, as built in.
std::string_view admin_page_html();
/// Its Content-Security-Policy: nothing from elsewhere, requests to this server only, and the
/// inline script and style allowed by their SHA-256 hashes (CSP Level 3, "hash-source").
std::string_view admin_page_csp();

}  // namespace stubborn

#include "config/tls_alerts.hpp"

#include <array>
#include <utility>

namespace stubborn {
namespace {

// RFC 8446 section 6 lists these (marking those TLS 1.3 no longer sends "_RESERVED"); RFC 5246
// section 7.2 and RFC 6066 section 9 define the reserved ones, which are written by their
// older names here.
constexpr std::array<std::pair<std::string_view, int>, 34> alerts = {{
    {"close_notify", 0},
    {"unexpected_message", 10},
    {"bad_record_mac", 20},
    {"decryption_failed", 21},
    {"record_overflow", 22},
    {"decompression_failure", 30},
    {"handshake_failure", 40},
    {"no_certificate", 41},
    {"bad_certificate", 42},
    {"unsupported_certificate", 43},
    {"certificate_revoked", 44},
    {"certificate_expired", 45},
    {"certificate_unknown", 46},
    {"illegal_parameter", 47},
    {"unknown_ca", 48},
    {"access_denied", 49},
    {"decode_error", 50},
    {"decrypt_error", 51},
    {"export_restriction", 60},
    {"protocol_version", 70},
    {"insufficient_security", 71},
    {"internal_error", 80},
    {"inappropriate_fallback", 86},
    {"user_canceled", 90},
    {"no_renegotiation", 100},
    {"missing_extension", 109},
    {"unsupported_extension", 110},
    {"certificate_unobtainable", 111},
    {"unrecognized_name", 112},
    {"bad_certificate_status_response", 113},
    {"bad_certificate_hash_value", 114},
    {"unknown_psk_identity", 115},
    {"certificate_required", 116},
    {"no_application_protocol", 120},
}};

constexpr std::array<std::string_view, alerts.size()> names = [] {
  std::array<std::string_view, alerts.size()> out{};
  for (std::size_t i = 0; i < alerts.size(); ++i) out[i] = alerts[i].first;
  return out;
}();

}  // namespace

int tls_alert_code(std::string_view name) {
  for (const auto& [alert, code] : alerts) {
    if (alert == name) return code;
  }
  return -1;
}

std::span<const std::string_view> tls_alert_names() {
  return names;
}

}  // namespace stubborn

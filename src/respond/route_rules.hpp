#pragma once
// Statuses a route derives from the request instead of its script: access (401/403), framing
// (411), content negotiation (415/406), validators (304/412) and byte ranges (206/416).
// Everything here is pure: compiled once per route at load, evaluated per request without I/O.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "respond/reply_plan.hpp"
#include "stubborn/config.hpp"

namespace stubborn {

struct request_view;

/// Compares a received secret with the expected one in time that depends only on the length of
/// `received`: no early exit on a differing byte, and a length mismatch is folded in, not
/// returned early. `expected` must not be empty.
bool constant_time_equals(std::string_view received, std::string_view expected);

/// A strong entity tag for a body, quotes included: "\"<hash>-<length>\"".
std::string body_etag(std::string_view body);

/// How two entity tags are compared (RFC 9110 §8.8.3.2).
enum class etag_comparison { strong, weak };

/// True if `list` (an If-Match / If-None-Match value) is "*" or names `etag` under `comparison`.
bool etag_list_matches(std::string_view list, std::string_view etag, etag_comparison comparison);

/// Seconds since the epoch of an HTTP-date (IMF-fixdate, RFC 850 or asctime; RFC 9110 §5.6.7).
std::optional<std::int64_t> parse_http_date(std::string_view text);

/// One satisfiable byte range, both ends inclusive, already clipped to the body.
struct byte_range {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
};

/// What a Range header asks of a body of a given length.
enum class range_outcome {
  ignore,        ///< absent, malformed or not bytes: send the whole body (RFC 9110 §14.2)
  satisfiable,   ///< `ranges` holds at least one range
  unsatisfiable  ///< 416 (RFC 9110 §15.5.17)
};

/// Parses a Range value (RFC 9110 §14.1.2) against `length`; fills `ranges` when satisfiable.
range_outcome parse_range(std::string_view header, std::uint64_t length,
                          std::vector<byte_range>& ranges);

/// True if an Accept value admits one of `produces` (lower-case "type/subtype"), with media
/// ranges, wildcards and q=0 exclusions (RFC 9110 §12.5.1). An empty value admits anything.
bool accept_admits(std::string_view accept, std::span<const std::string> produces);

/// True if a Content-Type's media type (parameters ignored, any case) is in `consumes`.
bool content_type_listed(std::string_view content_type, std::span<const std::string> consumes);

/// What an access check found.
enum class auth_result { granted, missing, wrong };

/// The rules of one route, compiled; `any` is the one flag the session's fast path tests.
struct compiled_rules {
  bool any = false;  ///< some rule is configured
  std::optional<auth_spec> auth;
  bool require_length = false;
  std::vector<std::string> consumes;
  std::vector<std::string> produces;
  bool etag = false;
  std::string last_modified;  ///< as configured (an IMF-fixdate)
  std::optional<std::int64_t> last_modified_time;
  bool ranges = false;
  std::vector<std::string> static_etags;  ///< per reply of the script; "" = rendered per request

  /// Compiles a route's rules; `static_bodies` has one entry per reply (nullopt = templated).
  static compiled_rules compile(const route_spec& spec,
                                std::span<const std::optional<std::string_view>> static_bodies);

  /// Checks the credentials of a request against [route.auth].
  auth_result check_auth(const request_view& request) const;
  /// The WWW-Authenticate line (with CRLF) for a 401, or "" for a header key.
  std::string_view challenge() const;
};

/// The outcome of the validators for a 2xx reply (RFC 9110 §13.2.2).
enum class condition_outcome { proceed, not_modified, precondition_failed };

/// Evaluates If-Match, If-Unmodified-Since, If-None-Match and If-Modified-Since, in that order.
/// `etag` may be empty (none configured); `last_modified` is nullopt when none is configured.
condition_outcome evaluate_conditions(const request_view& request, std::string_view etag,
                                      std::optional<std::int64_t> last_modified);

/// True if an If-Range value still matches the current representation (RFC 9110 §13.1.5).
bool if_range_matches(std::string_view if_range, std::string_view etag,
                      std::optional<std::int64_t> last_modified);

/// A multipart/byteranges body (RFC 9110 §14.6): one part per range, each with Content-Type
/// (when `content_type` is not empty) and Content-Range, delimited by `boundary`.
std::string multipart_byteranges(std::string_view body, std::span<const byte_range> ranges,
                                 std::string_view content_type, std::string_view boundary);

/// "Content-Range: bytes a-b/len\r\n", or "bytes * /len" (no space) when `range` is null.
std::string content_range_line(const byte_range* range, std::uint64_t length);

}  // namespace stubborn

#include "respond/route_rules.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include "respond/http_date.hpp"
#include "routing/request.hpp"
#include "text/base64.hpp"

namespace stubborn {

namespace {

constexpr std::size_t max_ranges = 64;  // more parts than this: ignore the Range header

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

bool starts_with_icase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// Calls `f` with each trimmed, non-empty element of a comma-separated list (RFC 9110 §5.6.1).
// Commas inside quoted strings do not split.
template <typename F>
void for_each_element(std::string_view list, F&& f) {
  std::size_t start = 0;
  bool quoted = false;
  for (std::size_t i = 0; i <= list.size(); ++i) {
    if (i < list.size()) {
      char c = list[i];
      if (c == '"') quoted = !quoted;
      if (c == '\\' && quoted) {
        ++i;
        continue;
      }
      if (c != ',' || quoted) continue;
    }
    std::string_view element = trim(list.substr(start, i - start));
    if (!element.empty()) f(element);
    start = i + 1;
  }
}

bool parse_u64(std::string_view s, std::uint64_t& out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

std::string_view media_type_of(std::string_view value) {
  return trim(value.substr(0, value.find(';')));
}

// Days from 1970-01-01 to a civil date (Howard Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool digits(std::string_view s, std::size_t at, std::size_t n, unsigned& out) {
  if (at + n > s.size()) return false;
  out = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + static_cast<unsigned>(s[i] - '0');
  }
  return true;
}

int month_index(std::string_view s) {
  static constexpr std::array<std::string_view, 12> months = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (std::size_t i = 0; i < months.size(); ++i) {
    if (s == months[i]) return static_cast<int>(i) + 1;
  }
  return 0;
}

// "08:49:37" at `at`.
bool parse_clock(std::string_view s, std::size_t at, unsigned& h, unsigned& m, unsigned& sec) {
  return at + 8 <= s.size() && digits(s, at, 2, h) && s[at + 2] == ':' && digits(s, at + 3, 2, m) &&
         s[at + 5] == ':' && digits(s, at + 6, 2, sec) && h < 24 && m < 60 && sec < 61;
}

std::optional<std::int64_t> make_time(unsigned year, int month, unsigned day, unsigned h,
                                      unsigned m, unsigned s) {
  if (month == 0 || day == 0 || day > 31) return std::nullopt;
  return days_from_civil(year, static_cast<unsigned>(month), day) * 86400 + h * 3600 + m * 60 + s;
}

}  // namespace

bool constant_time_equals(std::string_view received, std::string_view expected) {
  // The loop runs over the received bytes, which the client already knows; the expected secret
  // is indexed modulo its length, so neither its content nor its length ends the loop early.
  volatile unsigned char diff = received.size() == expected.size() ? 0 : 1;
  const std::size_t n = expected.size();
  for (std::size_t i = 0; i < received.size(); ++i) {
    diff = static_cast<unsigned char>(diff | (static_cast<unsigned char>(received[i]) ^
                                              static_cast<unsigned char>(expected[i % n])));
  }
  return diff == 0;
}

std::string body_etag(std::string_view body) {
  // FNV-1a 64 plus the length: a strong validator only has to change when the bytes do.
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : body) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  char buffer[48];
  int n =
      std::snprintf(buffer, sizeof buffer, "\"%016llx-%llx\"", static_cast<unsigned long long>(h),
                    static_cast<unsigned long long>(body.size()));
  return std::string(buffer, static_cast<std::size_t>(n));
}

bool etag_list_matches(std::string_view list, std::string_view etag, etag_comparison comparison) {
  list = trim(list);
  if (list == "*") return true;
  if (etag.empty()) return false;
  const bool ours_weak = etag.starts_with("W/");
  const std::string_view ours = ours_weak ? etag.substr(2) : etag;
  bool found = false;
  for_each_element(list, [&](std::string_view tag) {
    const bool weak = tag.starts_with("W/");
    const std::string_view opaque = weak ? tag.substr(2) : tag;
    // RFC 9110 §8.8.3.2: strong comparison needs both tags strong; weak ignores the W/ prefix.
    if (comparison == etag_comparison::strong && (weak || ours_weak)) return;
    if (opaque == ours) found = true;
  });
  return found;
}

std::optional<std::int64_t> parse_http_date(std::string_view s) {
  unsigned day = 0, year = 0, h = 0, m = 0, sec = 0;
  auto comma = s.find(',');
  if (comma == 3 && s.size() == 29) {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    if (s[4] != ' ' || !digits(s, 5, 2, day) || s[7] != ' ' || s[11] != ' ' ||
        !digits(s, 12, 4, year) || s[16] != ' ' || !parse_clock(s, 17, h, m, sec) ||
        s.substr(25) != " GMT") {
      return std::nullopt;
    }
    return make_time(year, month_index(s.substr(8, 3)), day, h, m, sec);
  }
  if (comma != std::string_view::npos && comma > 3) {
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; two-digit years within 50 years (RFC 9110 §5.6.7)
    std::string_view r = s.substr(comma + 1);
    if (r.size() != 23 || r[0] != ' ' || !digits(r, 1, 2, day) || r[3] != '-' || r[7] != '-' ||
        !digits(r, 8, 2, year) || r[10] != ' ' || !parse_clock(r, 11, h, m, sec) ||
        r.substr(19) != " GMT") {
      return std::nullopt;
    }
    year += year < 70 ? 2000 : 1900;
    return make_time(year, month_index(r.substr(4, 3)), day, h, m, sec);
  }
  // asctime: "Sun Nov  6 08:49:37 1994"
  if (s.size() != 24 || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' ||
      !parse_clock(s, 11, h, m, sec) || s[19] != ' ' || !digits(s, 20, 4, year)) {
    return std::nullopt;
  }
  if (s[8] == ' ') {
    if (!digits(s, 9, 1, day)) return std::nullopt;
  } else if (!digits(s, 8, 2, day)) {
    return std::nullopt;
  }
  return make_time(year, month_index(s.substr(4, 3)), day, h, m, sec);
}

range_outcome parse_range(std::string_view header, std::uint64_t length,
                          std::vector<byte_range>& ranges) {
  ranges.clear();
  header = trim(header);
  if (!starts_with_icase(header, "bytes=")) return range_outcome::ignore;
  std::string_view set = header.substr(6);
  bool malformed = false;
  std::size_t specs = 0;
  for_each_element(set, [&](std::string_view spec) {
    if (malformed) return;
    ++specs;
    const auto dash = spec.find('-');
    if (dash == std::string_view::npos) {
      malformed = true;
      return;
    }
    std::string_view first_text = spec.substr(0, dash);
    std::string_view last_text = spec.substr(dash + 1);
    std::uint64_t first = 0, last = 0;
    if (first_text.empty()) {
      // suffix-range: the last N bytes; satisfiable when N > 0 (RFC 9110 §14.1.1)
      if (!parse_u64(last_text, last)) {
        malformed = true;
        return;
      }
      if (last == 0 || length == 0) return;
      ranges.push_back({length - std::min(last, length), length - 1});
      return;
    }
    if (!parse_u64(first_text, first)) {
      malformed = true;
      return;
    }
    if (last_text.empty()) {
      last = length == 0 ? 0 : length - 1;
    } else if (!parse_u64(last_text, last) || last < first) {
      malformed = true;  // RFC 9110 §14.1.1: last-pos < first-pos is invalid
      return;
    }
    if (first >= length) return;  // unsatisfiable, but the rest may be fine
    ranges.push_back({first, std::min(last, length - 1)});
  });
  if (malformed || specs == 0 || specs > max_ranges) {
    ranges.clear();
    return range_outcome::ignore;
  }
  return ranges.empty() ? range_outcome::unsatisfiable : range_outcome::satisfiable;
}

bool accept_admits(std::string_view accept, std::span<const std::string> produces) {
  if (trim(accept).empty()) return true;
  struct media_range {
    std::string_view type, subtype;
    double q = 1;
  };
  std::vector<media_range> accepted;
  for_each_element(accept, [&](std::string_view element) {
    std::string_view media = media_type_of(element);
    const auto slash = media.find('/');
    if (slash == std::string_view::npos) return;
    media_range r{trim(media.substr(0, slash)), trim(media.substr(slash + 1))};
    std::string_view params = element.substr(std::min(element.size(), element.find(';')));
    while (!params.empty()) {
      params.remove_prefix(1);  // the ';'
      auto next = params.find(';');
      std::string_view param = trim(params.substr(0, next));
      params = next == std::string_view::npos ? std::string_view{} : params.substr(next);
      if (param.size() >= 2 && lower(param[0]) == 'q' && param[1] == '=') {
        // qvalue: 0, 0.x .. 1 (RFC 9110 §12.4.2); a bad one counts as 1
        std::string_view v = param.substr(2);
        double q = 0;
        double scale = 1;
        bool dot = false;
        bool ok = !v.empty();
        for (char c : v) {
          if (c == '.' && !dot) {
            dot = true;
          } else if (c >= '0' && c <= '9') {
            if (dot) {
              scale /= 10;
              q += (c - '0') * scale;
            } else {
              q = q * 10 + (c - '0');
            }
          } else {
            ok = false;
          }
        }
        if (ok) r.q = std::min(q, 1.0);
        break;  // parameters after q are accept-ext
      }
    }
    accepted.push_back(r);
  });
  if (accepted.empty()) return true;
  for (const std::string& produced : produces) {
    const auto slash = produced.find('/');
    std::string_view type = std::string_view(produced).substr(0, slash);
    std::string_view subtype = std::string_view(produced).substr(slash + 1);
    // The most specific matching range decides (RFC 9110 §12.5.1).
    int best_specificity = -1;
    double q = 0;
    for (const media_range& r : accepted) {
      int specificity = -1;
      if (r.type == "*" && r.subtype == "*") {
        specificity = 0;
      } else if (iequals(r.type, type) && r.subtype == "*") {
        specificity = 1;
      } else if (iequals(r.type, type) && iequals(r.subtype, subtype)) {
        specificity = 2;
      }
      if (specificity > best_specificity) {
        best_specificity = specificity;
        q = r.q;
      }
    }
    if (best_specificity >= 0 && q > 0) return true;
  }
  return false;
}

bool content_type_listed(std::string_view content_type, std::span<const std::string> consumes) {
  std::string_view media = media_type_of(content_type);
  return std::any_of(consumes.begin(), consumes.end(),
                     [&](const std::string& c) { return iequals(c, media); });
}

compiled_rules compiled_rules::compile(
    const route_spec& spec, std::span<const std::optional<std::string_view>> static_bodies) {
  compiled_rules rules;
  rules.auth = spec.auth;
  rules.require_length = spec.require_length;
  rules.consumes = spec.consumes;
  rules.produces = spec.produces;
  rules.etag = spec.etag;
  rules.last_modified = spec.last_modified;
  if (!spec.last_modified.empty()) rules.last_modified_time = parse_http_date(spec.last_modified);
  rules.ranges = spec.ranges;
  if (rules.etag) {
    for (const auto& body : static_bodies)
      rules.static_etags.push_back(body ? body_etag(*body) : "");
  }
  rules.any = rules.auth || rules.require_length || !rules.consumes.empty() ||
              !rules.produces.empty() || rules.etag || rules.last_modified_time || rules.ranges;
  return rules;
}

auth_result compiled_rules::check_auth(const request_view& request) const {
  if (!auth) return auth_result::granted;
  std::string_view value;
  if (auth->kind == auth_kind::header) {
    if (!request.find_header(auth->header_name, value)) return auth_result::missing;
    return constant_time_equals(trim(value), auth->secret) ? auth_result::granted
                                                           : auth_result::wrong;
  }
  if (!request.find_header("Authorization", value)) return auth_result::missing;
  value = trim(value);
  // RFC 9110 §11.1: the scheme is case-insensitive; token68 follows after one or more spaces.
  std::string_view scheme = auth->kind == auth_kind::bearer ? "Bearer" : "Basic";
  if (!starts_with_icase(value, scheme) || value.size() == scheme.size() ||
      value[scheme.size()] != ' ') {
    return auth_result::missing;
  }
  std::string_view credentials = trim(value.substr(scheme.size()));
  if (auth->kind == auth_kind::bearer) {
    return constant_time_equals(credentials, auth->secret) ? auth_result::granted
                                                           : auth_result::wrong;
  }
  // RFC 7617 §2: base64 of user-id ":" password, compared as a whole.
  std::string decoded;
  if (!base64_decode(credentials, decoded)) return auth_result::wrong;
  return constant_time_equals(decoded, auth->secret) ? auth_result::granted : auth_result::wrong;
}

std::string_view compiled_rules::challenge() const {
  if (!auth) return {};
  switch (auth->kind) {
    case auth_kind::bearer:
      return "WWW-Authenticate: Bearer realm=\"stubborn\"\r\n";
    case auth_kind::basic:
      return "WWW-Authenticate: Basic realm=\"stubborn\", charset=\"UTF-8\"\r\n";
    case auth_kind::header:
      break;
  }
  return {};
}

condition_outcome evaluate_conditions(const request_view& request, std::string_view etag,
                                      std::optional<std::int64_t> last_modified) {
  std::string_view value;
  const bool get_or_head = request.method == "GET" || request.method == "HEAD";
  // RFC 9110 §13.2.2 steps 1 and 2.
  if (request.find_header("If-Match", value)) {
    if (!etag_list_matches(value, etag, etag_comparison::strong)) {
      return condition_outcome::precondition_failed;
    }
  } else if (request.find_header("If-Unmodified-Since", value) && last_modified) {
    auto since = parse_http_date(trim(value));
    if (since && *last_modified > *since) return condition_outcome::precondition_failed;
  }
  // Steps 3 and 4.
  if (request.find_header("If-None-Match", value)) {
    if (etag_list_matches(value, etag, etag_comparison::weak)) {
      return get_or_head ? condition_outcome::not_modified : condition_outcome::precondition_failed;
    }
  } else if (get_or_head && request.find_header("If-Modified-Since", value) && last_modified) {
    auto since = parse_http_date(trim(value));
    if (since && *last_modified <= *since) return condition_outcome::not_modified;
  }
  return condition_outcome::proceed;
}

bool if_range_matches(std::string_view if_range, std::string_view etag,
                      std::optional<std::int64_t> last_modified) {
  if_range = trim(if_range);
  if (if_range.starts_with("\"") || if_range.starts_with("W/")) {
    // RFC 9110 §13.1.5: an entity tag, compared strongly.
    return !etag.empty() && !if_range.starts_with("W/") && if_range == etag;
  }
  auto date = parse_http_date(if_range);
  return date && last_modified && *date == *last_modified;
}

std::string content_range_line(const byte_range* range, std::uint64_t length) {
  // Appended piece by piece: `"/" + std::to_string(...)` makes g++ 12 at -O3 warn of an
  // overlapping memcpy inside std::string (-Wrestrict, a false positive) for no gain.
  std::string line = "Content-Range: bytes ";
  if (range) {
    line.append(std::to_string(range->first)).append("-").append(std::to_string(range->last));
  } else {
    line.append("*");
  }
  line.append("/").append(std::to_string(length)).append("\r\n");
  return line;
}

std::string multipart_byteranges(std::string_view body, std::span<const byte_range> ranges,
                                 std::string_view content_type, std::string_view boundary) {
  std::string out;
  for (const byte_range& r : ranges) {
    out.append("\r\n--").append(boundary).append("\r\n");
    if (!content_type.empty()) out.append("Content-Type: ").append(content_type).append("\r\n");
    out.append(content_range_line(&r, body.size()));
    out.append("\r\n");
    out.append(body.substr(r.first, r.last - r.first + 1));
  }
  out.append("\r\n--").append(boundary).append("--\r\n");
  return out;
}

}  // namespace stubborn

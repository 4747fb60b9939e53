#include "respond/rate_limiter.hpp"

#include <algorithm>
#include <functional>
#include <limits>

#include "routing/request.hpp"

namespace stubborn {

namespace {

constexpr std::int64_t ns_per_ms = 1'000'000;

std::uint64_t ceil_div(std::uint64_t a, std::uint64_t b) {
  return (a + b - 1) / b;
}

std::uint64_t ms_rounded_up(std::int64_t ns) {
  return ns <= 0 ? 0 : ceil_div(static_cast<std::uint64_t>(ns), ns_per_ms);
}

// A fixed-window state: the window number + 1 (0 = never used) in the high 32 bits, the count
// in the low 32. The window number wraps after 2^32 windows; a key idle that long starts fresh.
std::int64_t pack_window(std::uint64_t window, std::uint64_t count) {
  return static_cast<std::int64_t>(((window + 1) & 0xffffffffu) << 32 | (count & 0xffffffffu));
}

}  // namespace

bool rate_limit_spec::operator==(const rate_limit_spec& other) const {
  const bool same_reply = reply == other.reply || (reply && other.reply && *reply == *other.reply);
  return requests == other.requests && per == other.per && burst == other.burst &&
         key == other.key && key_name == other.key_name && algorithm == other.algorithm &&
         headers == other.headers && max_keys == other.max_keys && same_reply;
}

std::uint64_t rate_decision::retry_after_seconds() const {
  return std::max<std::uint64_t>(1, ceil_div(retry_ms, 1000));
}

std::uint64_t rate_decision::reset_seconds() const {
  return ceil_div(reset_ms, 1000);
}

rate_arithmetic::rate_arithmetic(const rate_limit_spec& spec)
    : algorithm_(spec.algorithm), limit_(spec.requests) {
  const std::int64_t per_ns = std::chrono::nanoseconds(spec.per).count();
  const auto requests = static_cast<std::int64_t>(std::max<std::uint64_t>(1, spec.requests));
  // Rounded to the nanosecond: over 1,000 requests that drifts by at most a microsecond.
  interval_ns_ = std::max<std::int64_t>(1, per_ns / requests);
  capacity_ns_ = interval_ns_ * static_cast<std::int64_t>(spec.bucket_size());
  window_ns_ = std::max<std::int64_t>(1, per_ns);
}

rate_decision rate_arithmetic::decide(std::int64_t& state, std::int64_t now) const {
  rate_decision d;
  if (algorithm_ == rate_limit_algorithm::token_bucket) {
    // `state` is the theoretical arrival time: when the bucket will be full again.
    const std::int64_t base = std::max(state, now);
    const std::int64_t next = base + interval_ns_;
    const std::int64_t allowed_at = next - capacity_ns_;
    if (now < allowed_at) {
      d.admitted = false;
      d.retry_ms = ms_rounded_up(allowed_at - now);
      d.reset_ms = ms_rounded_up(base - now);
      d.remaining = 0;
      return d;
    }
    state = next;
    d.remaining = static_cast<std::uint64_t>((now + capacity_ns_ - next) / interval_ns_);
    d.reset_ms = ms_rounded_up(next - now);
    return d;
  }
  const auto window = static_cast<std::uint64_t>(now / window_ns_);
  const auto stored = static_cast<std::uint64_t>(state);
  const std::uint64_t count =
      (stored >> 32) == ((window + 1) & 0xffffffffu) ? (stored & 0xffffffffu) : 0;
  const std::int64_t window_end = static_cast<std::int64_t>(window + 1) * window_ns_;
  d.reset_ms = ms_rounded_up(window_end - now);
  if (count >= limit_) {
    d.admitted = false;
    d.retry_ms = d.reset_ms;
    return d;
  }
  state = pack_window(window, count + 1);
  d.remaining = limit_ - count - 1;
  return d;
}

bool rate_arithmetic::idle(std::int64_t state, std::int64_t now) const {
  if (algorithm_ == rate_limit_algorithm::token_bucket) return state <= now;
  const auto window = static_cast<std::uint64_t>(now / window_ns_);
  return (static_cast<std::uint64_t>(state) >> 32) != ((window + 1) & 0xffffffffu);
}

rate_limiter::rate_limiter(const rate_limit_spec& spec)
    : spec_(spec),
      arithmetic_(spec),
      epoch_(clock::now()),
      shards_(shard_count),
      keys_per_shard_(std::max<std::size_t>(1, spec.max_keys / shard_count)) {}

std::string_view rate_limiter::key_of(const request_view& request,
                                      std::string_view client_ip) const {
  std::string_view key;
  switch (spec_.key) {
    case rate_limit_key::global:
      return {};
    case rate_limit_key::ip:
      key = client_ip;
      break;
    case rate_limit_key::header:
      request.find_header(spec_.key_name, key);
      break;
    case rate_limit_key::query:
      request.find_query(spec_.key_name, key);
      break;
  }
  // Long keys are cut: two clients sharing the first 256 bytes share a bucket.
  return key.substr(0, max_key_bytes);
}

std::int64_t rate_limiter::since_epoch(clock::time_point now) const {
  return std::max<std::int64_t>(0, std::chrono::nanoseconds(now - epoch_).count());
}

rate_decision rate_limiter::admit_in(std::atomic<std::int64_t>& shared, clock::time_point at) {
  const std::int64_t now = since_epoch(at);
  std::int64_t observed = shared.load(std::memory_order_relaxed);
  for (;;) {
    std::int64_t state = observed;
    rate_decision d = arithmetic_.decide(state, now);
    if (!d.admitted) return d;
    if (shared.compare_exchange_weak(observed, state, std::memory_order_relaxed)) return d;
  }
}

rate_decision rate_limiter::admit_at(std::string_view key, clock::time_point at) {
  if (spec_.key == rate_limit_key::global) return admit_in(global_, at);
  return admit_keyed(key, since_epoch(at));
}

namespace {
constexpr char within_separator = '\x1f';  // a unit separator: no header value holds one
}

rate_decision rate_limiter::admit_within(std::string_view state_key, std::string_view key,
                                         clock::time_point at) {
  std::string pair;
  pair.reserve(state_key.size() + 1 + key.size());
  pair.append(state_key).push_back(within_separator);
  pair.append(key);
  return admit_keyed(pair, since_epoch(at));
}

void rate_limiter::forget_within(std::string_view state_key) {
  for (shard& s : shards_) {
    std::lock_guard lock(s.mutex);
    std::erase_if(s.states, [&](const auto& entry) {
      const std::string& k = entry.first;
      return k.size() > state_key.size() && k.compare(0, state_key.size(), state_key) == 0 &&
             k[state_key.size()] == within_separator;
    });
  }
}

rate_decision rate_limiter::admit_keyed(std::string_view key, std::int64_t now) {
  shard& s = shards_[key_hash{}(key) % shard_count];
  std::lock_guard lock(s.mutex);
  auto found = s.states.find(key);
  if (found == s.states.end()) {
    std::int64_t state = 0;
    rate_decision d = arithmetic_.decide(state, now);
    // A denied fresh key (requests = 0) changes nothing, so nothing is stored.
    if (d.admitted) {
      if (s.states.size() >= keys_per_shard_) make_room(s, now);
      s.states.emplace(key, state);
    }
    return d;
  }
  return arithmetic_.decide(found->second, now);
}

void rate_limiter::make_room(shard& s, std::int64_t now) {
  // Idle keys first: forgetting them changes nothing.
  std::erase_if(s.states, [&](const auto& entry) { return arithmetic_.idle(entry.second, now); });
  if (s.states.size() < keys_per_shard_) return;
  // Every key is busy: drop the one with the least debt (the earliest arrival time / oldest
  // window), so the client forgiven is the one closest to being admitted anyway.
  auto victim = std::min_element(s.states.begin(), s.states.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
  s.states.erase(victim);
  evictions_.fetch_add(1, std::memory_order_relaxed);
}

void rate_limiter::reset() {
  global_.store(0, std::memory_order_relaxed);
  for (shard& s : shards_) {
    std::lock_guard lock(s.mutex);
    s.states.clear();
  }
}

std::size_t rate_limiter::key_count() const {
  std::size_t n = 0;
  for (const shard& s : shards_) {
    std::lock_guard lock(s.mutex);
    n += s.states.size();
  }
  return n;
}

void rate_limiter::append_headers(const rate_decision& decision, std::string& out) const {
  if (!decision.admitted) {
    // RFC 9110 §10.2.3, as delay-seconds.
    out.append("Retry-After: ")
        .append(std::to_string(decision.retry_after_seconds()))
        .append("\r\n");
  }
  const std::uint64_t window_s =
      std::max<std::uint64_t>(1, ceil_div(static_cast<std::uint64_t>(spec_.per.count()), 1000));
  const std::uint64_t reset_s =
      decision.admitted ? decision.reset_seconds() : decision.retry_after_seconds();
  switch (spec_.headers) {
    case rate_limit_headers::ietf:
      // draft-ietf-httpapi-ratelimit-headers-10: the policy (quota q per window w seconds)
      // and the current state (r remaining, t seconds until it resets).
      out.append("RateLimit-Policy: \"default\";q=").append(std::to_string(spec_.requests));
      out.append(";w=").append(std::to_string(window_s)).append("\r\n");
      out.append("RateLimit: \"default\";r=").append(std::to_string(decision.remaining));
      out.append(";t=").append(std::to_string(reset_s)).append("\r\n");
      break;
    case rate_limit_headers::x_ratelimit:
      out.append("X-RateLimit-Limit: ").append(std::to_string(spec_.requests)).append("\r\n");
      out.append("X-RateLimit-Remaining: ")
          .append(std::to_string(decision.remaining))
          .append("\r\n");
      out.append("X-RateLimit-Reset: ").append(std::to_string(reset_s)).append("\r\n");
      break;
    case rate_limit_headers::none:
      break;
  }
}

}  // namespace stubborn

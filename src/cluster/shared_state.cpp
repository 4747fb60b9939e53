#include "cluster/shared_state.hpp"

#include <algorithm>

#include "config/redis_url.hpp"
#include "log.hpp"
#include "routing/route_table.hpp"

namespace stubborn {

namespace {

// One request's shared state, decided atomically with Redis's own clock (so instances whose
// clocks differ still agree). Numbers are microseconds; Lua's doubles hold them exactly.
constexpr std::string_view script_text = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local prefix = ARGV[1]
local generation = redis.call('GET', KEYS[1]) or '0'
local base = prefix .. 'g' .. generation .. ':'
local scope = base .. 'r:' .. ARGV[2]
local start_key = base .. 'start'
if ARGV[3] ~= '' then
  local key_generation = redis.call('GET', prefix .. 'kg:' .. ARGV[3]) or '0'
  scope = scope .. ':k:' .. key_generation .. ':' .. ARGV[3]
  start_key = base .. 'k:' .. key_generation .. ':' .. ARGV[3] .. ':start'
end
local what = tonumber(ARGV[5])
local p1 = tonumber(ARGV[7])
local p2 = tonumber(ARGV[8])
local day_ms = 86400000
local admitted, remaining, reset_us, retry_us = 1, 0, 0, 0
if what % 2 == 1 then
  local limit_key = scope .. ':limit:' .. ARGV[4]
  if ARGV[6] == 't' then
    -- GCRA: the bucket's theoretical arrival time; admitted when it would not overflow
    local tat = tonumber(redis.call('GET', limit_key) or '0')
    local from = math.max(tat, now)
    local next_tat = from + p1
    local allowed_at = next_tat - p2
    if now < allowed_at then
      admitted, retry_us, reset_us = 0, allowed_at - now, from - now
    else
      redis.call('SET', limit_key, string.format('%d', next_tat), 'PX',
                 string.format('%d', math.floor((next_tat - now) / 1000) + 1000))
      remaining = math.floor((now + p2 - next_tat) / p1)
      reset_us = next_tat - now
    end
  else
    local window = math.floor(now / p1)
    local window_key = limit_key .. ':' .. string.format('%d', window)
    local count = tonumber(redis.call('GET', window_key) or '0')
    local window_end = (window + 1) * p1
    reset_us = window_end - now
    if count >= p2 then
      admitted, retry_us = 0, window_end - now
    else
      redis.call('SET', window_key, string.format('%d', count + 1), 'PX',
                 string.format('%d', math.floor(p1 / 1000) + 1000))
      remaining = p2 - count - 1
    end
  end
end
local position, since = -1, -1
if admitted == 1 then
  if math.floor(what / 2) % 2 == 1 then
    local seq = scope .. ':seq'
    position = redis.call('INCR', seq) - 1
    redis.call('PEXPIRE', seq, day_ms)
  end
  if math.floor(what / 4) % 2 == 1 then
    redis.call('SET', start_key, string.format('%d', now), 'NX')
    redis.call('PEXPIRE', start_key, day_ms)
    since = now - tonumber(redis.call('GET', start_key))
  end
end
return {admitted, remaining, reset_us, retry_us, position, since}
)lua";

std::uint64_t us_to_ms(long long us) {
  return us <= 0 ? 0 : static_cast<std::uint64_t>((us + 999) / 1000);
}

}  // namespace

const redis_script& shared_state_script() {
  static const redis_script script{std::string(script_text)};
  return script;
}

void cluster_health::report(bool was_up, bool now_up) {
  if (was_up == now_up) {
    if (!now_up && !ever_up_.load() && !logged_down_.exchange(true)) {
      log(log_level::warn, "cluster: cannot reach Redis at " + where_ +
                               "; [cluster] on_unavailable decides until it answers");
    }
    return;
  }
  const bool before = up();
  up_.fetch_add(now_up ? 1 : -1, std::memory_order_relaxed);
  const bool after = up();
  if (after && !before) {
    log(log_level::info, std::string("cluster: Redis at ") + where_ +
                             (ever_up_.exchange(true) ? " answers again" : " connected"));
    logged_down_ = false;
  } else if (!after && before && !logged_down_.exchange(true)) {
    log(log_level::warn,
        "cluster: lost Redis at " + where_ + "; [cluster] on_unavailable decides until it is back");
  }
}

bool cluster_health::up() const {
  const int connections = connections_.load(std::memory_order_relaxed);
  return connections > 0 && up_.load(std::memory_order_relaxed) >= connections;
}

std::string cluster_prefix(const cluster_config& cluster) {
  return "stubborn:" + cluster.name_space + ":";
}

std::string cluster_channel(const cluster_config& cluster) {
  return cluster_prefix(cluster) + "events";
}

redis_options cluster_redis_options(const cluster_config& cluster, std::string client_name) {
  redis_options options;
  parse_redis_url(cluster.redis, options.endpoint);
  options.timeout = cluster.timeout;
  options.client_name = std::move(client_name);
  return options;
}

cluster_link::cluster_link(boost::asio::io_context& io, const cluster_config& cluster,
                           cluster_health& health, unsigned thread_index)
    : redis_(io, cluster_redis_options(cluster, "stubborn-" + cluster.name_space + "-io" +
                                                    std::to_string(thread_index))),
      health_(health),
      prefix_(cluster_prefix(cluster)),
      generation_key_(prefix_ + "gen"),
      journal_key_(prefix_ + "journal"),
      journal_max_(std::to_string(cluster.journal_max)),
      journal_(cluster.share_journal) {
  health_.add_connection();
  redis_.on_state([this](bool up) {
    health_.report(up_, up);
    up_ = up;
  });
}

void cluster_link::start() {
  redis_.start();
}

void cluster_link::stop() {
  redis_.stop();
}

boost::asio::awaitable<void> cluster_link::ask(const shared_ask& ask, shared_answer& answer) {
  answer = {};
  const compiled_route& route = *ask.route;
  std::string algorithm = "t";
  std::int64_t p1 = 1;
  std::int64_t p2 = 1;
  if (ask.limit) {
    // The same arithmetic as the local limiter (rate_arithmetic), in microseconds.
    const rate_limit_spec& spec = route.rate_limit->limiter->spec();
    const std::int64_t per_us =
        std::chrono::duration_cast<std::chrono::microseconds>(spec.per).count();
    const auto requests = static_cast<std::int64_t>(std::max<std::uint64_t>(1, spec.requests));
    if (spec.algorithm == rate_limit_algorithm::token_bucket) {
      p1 = std::max<std::int64_t>(1, per_us / requests);
      p2 = p1 * static_cast<std::int64_t>(spec.bucket_size());
    } else {
      algorithm = "w";
      p1 = std::max<std::int64_t>(1, per_us);
      p2 = static_cast<std::int64_t>(spec.requests);
    }
  }
  const int what = (ask.limit ? 1 : 0) | (ask.sequence ? 2 : 0) | (ask.outage ? 4 : 0);
  // Built before the co_await: g++ 12 mishandles initializer lists inside one.
  std::vector<std::string> keys;
  keys.push_back(generation_key_);
  std::vector<std::string> args;
  args.reserve(8);
  args.push_back(prefix_);
  args.push_back(route.name);
  args.emplace_back(ask.key.substr(0, keyed_states::max_key_bytes));
  args.emplace_back(ask.limit_key.substr(0, 256));
  args.push_back(std::to_string(what));
  args.push_back(algorithm);
  args.push_back(std::to_string(p1));
  args.push_back(std::to_string(p2));
  std::optional<redis_reply> reply =
      co_await redis_.async_eval(shared_state_script(), std::move(keys), std::move(args));
  if (!reply || reply->kind != redis_reply::type::array || reply->elements.size() != 6) {
    answer.unavailable = true;
    co_return;
  }
  const std::vector<redis_reply>& values = reply->elements;
  const auto value = [&values](std::size_t i) { return values[i].integer; };
  if (ask.limit) {
    answer.limited = true;
    answer.limit.admitted = value(0) == 1;
    answer.limit.remaining = static_cast<std::uint64_t>(std::max<long long>(0, value(1)));
    answer.limit.reset_ms = us_to_ms(value(2));
    answer.limit.retry_ms = us_to_ms(value(3));
  }
  if (ask.sequence && value(4) >= 0) {
    answer.sequenced = true;
    answer.n = static_cast<std::uint64_t>(value(4));
  }
  if (ask.outage && value(5) >= 0) {
    answer.timed = true;
    answer.since_start = std::chrono::microseconds(value(5));
  }
}

void cluster_link::append_journal(std::string entry_json) {
  if (!journal_ || !up_) return;
  redis_.command(
      {"XADD", journal_key_, "MAXLEN", "~", journal_max_, "*", "e", std::move(entry_json)},
      [](const redis_reply*) {});
}

}  // namespace stubborn

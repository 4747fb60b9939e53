#include "cluster/cluster_sync.hpp"

#include <algorithm>
#include <random>

#include <unistd.h>

#include "cluster/shared_state.hpp"
#include "log.hpp"

namespace stubborn {

namespace {

// Reading the whole shared journal may take longer than a request's state.
constexpr std::chrono::milliseconds min_control_timeout{2000};

redis_options control_options(const cluster_config& cluster, const std::string& name) {
  redis_options options = cluster_redis_options(cluster, name);
  options.timeout = std::max(options.timeout, min_control_timeout);
  return options;
}

std::string new_instance_id() {
  std::random_device random;
  const auto bits = (static_cast<std::uint64_t>(random()) << 32) ^ random();
  char text[32];
  std::snprintf(text, sizeof text, "%d-%08llx", static_cast<int>(::getpid()),
                static_cast<unsigned long long>(bits & 0xffffffffu));
  return text;
}

}  // namespace

cluster_sync::cluster_sync(boost::asio::io_context& io, const cluster_config& cluster,
                           cluster_health& health, handlers on)
    : prefix_(cluster_prefix(cluster)),
      channel_(cluster_channel(cluster)),
      instance_(new_instance_id()),
      share_routes_(cluster.share_routes),
      health_(health),
      on_(std::move(on)),
      redis_(io, control_options(cluster, "stubborn-" + cluster.name_space + "-control")),
      subscriber_(io, control_options(cluster, "stubborn-" + cluster.name_space + "-events"),
                  {cluster_channel(cluster)},
                  [this](std::string_view, std::string_view message) { on_message(message); }) {
  health_.add_connection();
  health_.add_connection();
  redis_.on_state([this](bool up) {
    health_.report(redis_up_, up);
    redis_up_ = up;
  });
  subscriber_.on_state([this, was = false](bool up) mutable {
    health_.report(was, up);
    was = up;
    if (!up) return;
    // Subscribed (again): what changed meanwhile is read from Redis; after Redis came back
    // empty, this instance's routes are written back.
    load_routes(subscribed_before_);
    subscribed_before_ = true;
  });
}

cluster_sync::~cluster_sync() {
  stop();
}

void cluster_sync::start() {
  redis_.start();
  subscriber_.start();
}

void cluster_sync::stop() {
  subscriber_.stop();
  redis_.stop();
}

void cluster_sync::on_message(std::string_view message) {
  // "<verb> <instance> [<argument>]"
  const std::size_t first = message.find(' ');
  const std::string_view verb = message.substr(0, first);
  std::string_view rest =
      first == std::string_view::npos ? std::string_view{} : message.substr(first + 1);
  const std::size_t second = rest.find(' ');
  const std::string_view from = rest.substr(0, second);
  const std::string_view argument =
      second == std::string_view::npos ? std::string_view{} : rest.substr(second + 1);
  if (from == instance_) return;
  if (verb == "routes" && share_routes_) {
    load_routes(false);
  } else if (verb == "reset" && on_.reset) {
    on_.reset();
  } else if (verb == "reset-key" && on_.reset_key) {
    on_.reset_key(std::string(argument));
  }
}

void cluster_sync::load_routes(bool write_back) {
  if (!share_routes_) return;
  redis_.command({"GET", prefix_ + "routes"}, [this, write_back](const redis_reply* reply) {
    if (!reply) return;
    if (reply->kind == redis_reply::type::string) {
      if (reply->text == last_routes_) return;
      last_routes_ = reply->text;
      if (on_.routes) on_.routes(reply->text);
      return;
    }
    if (reply->kind != redis_reply::type::nil || !write_back || !on_.held_routes) return;
    // Redis lost the routes (it restarted empty): the instances that hold them put them back.
    std::string held = on_.held_routes();
    if (held.empty() || held == "[]") return;
    redis_.command({"SET", prefix_ + "routes", held, "NX"}, [](const redis_reply*) {});
    log(log_level::info, "cluster: wrote this instance's runtime routes back to Redis");
  });
}

void cluster_sync::publish_routes(std::string routes_json) {
  if (!share_routes_) return;
  last_routes_ = routes_json;
  redis_.command({"SET", prefix_ + "routes", std::move(routes_json)}, [](const redis_reply*) {});
  redis_.command({"PUBLISH", channel_, "routes " + instance_}, [](const redis_reply*) {});
}

boost::asio::awaitable<void> cluster_sync::publish_reset() {
  // One connection, in order: when INCR's reply comes, DEL and PUBLISH were applied too.
  redis_.command({"DEL", prefix_ + "journal"}, [](const redis_reply*) {});
  redis_.command({"PUBLISH", channel_, "reset " + instance_}, [](const redis_reply*) {});
  std::vector<std::string> incr;
  incr.push_back("INCR");
  incr.push_back(prefix_ + "gen");
  co_await redis_.async_command(std::move(incr));
}

boost::asio::awaitable<void> cluster_sync::publish_reset_key(std::string key) {
  std::vector<std::string> incr;
  incr.push_back("INCR");
  incr.push_back(prefix_ + "kg:" + key);
  const std::optional<redis_reply> done = co_await redis_.async_command(std::move(incr));
  if (done) {
    redis_.command({"PUBLISH", channel_, "reset-key " + instance_ + " " + key},
                   [](const redis_reply*) {});
  }
}

boost::asio::awaitable<std::optional<std::vector<std::string>>> cluster_sync::read_journal() {
  std::vector<std::string> command;
  command.push_back("XRANGE");
  command.push_back(prefix_ + "journal");
  command.push_back("-");
  command.push_back("+");
  std::optional<redis_reply> reply = co_await redis_.async_command(std::move(command));
  if (!reply || reply->kind != redis_reply::type::array) co_return std::nullopt;
  std::vector<std::string> entries;
  entries.reserve(reply->elements.size());
  for (const redis_reply& item : reply->elements) {
    // [id, [field, value, ...]]: the entry is the value of field "e".
    if (item.elements.size() != 2) continue;
    const std::vector<redis_reply>& fields = item.elements[1].elements;
    for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
      if (fields[i].text == "e") entries.push_back(fields[i + 1].text);
    }
  }
  co_return entries;
}

}  // namespace stubborn

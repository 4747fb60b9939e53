#include "control/admin_handler.hpp"

#include <utility>

#include "control/admin.hpp"
#include "routing/request.hpp"

namespace stubborn {

bool admin_handler::claims(const request_view& request) const {
  return whole_listener_ || admin_.owns(request.path);
}

boost::asio::awaitable<handler_reply> admin_handler::handle(const request_view& request) {
  handler_reply reply;
  if (!admin_.owns(request.path)) {
    // The admin listener serves the admin API only.
    reply.status = 404;
    reply.body = "{\"error\":\"this listener serves only the admin API, under " +
                 admin_.config().prefix + "\"}\n";
    co_return reply;
  }
  admin_reply answer = co_await admin_.handle(request);
  reply.status = answer.status;
  reply.body = std::move(answer.body);
  reply.content_type = std::move(answer.content_type);
  reply.extra_headers = std::move(answer.extra_headers);
  reply.take_over = std::move(answer.take_over);
  co_return reply;
}

}  // namespace stubborn

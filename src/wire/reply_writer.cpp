#include "wire/reply_writer.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "wire/plain_transport.hpp"
#include "wire/stream_transport.hpp"
#include "wire/tls_stream_transport.hpp"
#include "wire/tls_transport.hpp"

namespace stubborn {

template <class Transport>
boost::asio::awaitable<bool> reply_writer<Transport>::flush() {
  if (!begin_write()) co_return true;
  bool ok = send_now();
  if (ok && !buffers_.empty()) {
    auto [ec, written] = co_await core_.transport.async_write(unsent(), transport_token{});
    (void)written;
    ok = !ec;
  }
  end_write();
  co_return ok;
}

template class reply_writer<plain_transport>;
template class reply_writer<generic_transport>;
template class reply_writer<tls_transport>;
template class reply_writer<tls_stream_transport>;

}  // namespace stubborn

#include "wire/tls_stream_transport.hpp"

#include <openssl/err.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "protocols/tls/tls_context.hpp"

namespace stubborn {

namespace net = boost::asio;

namespace {

// ssl_stream takes an Asio context; this one shares the listener's SSL_CTX (its own reference,
// dropped with it: the stream's SSL keeps the SSL_CTX alive).
ssl_socket_stream make_stream(connection_socket socket, SSL_CTX* context) {
  SSL_CTX_up_ref(context);
  net::ssl::context shared(context);
  return ssl_socket_stream(net::generic::stream_protocol::socket(std::move(socket)), shared);
}

}  // namespace

tls_stream_transport::tls_stream_transport(connection_socket socket, SSL_CTX* context)
    : stream_transport(make_stream(std::move(socket), context)) {
  SSL_set_options(stream().native_handle(), SSL_OP_IGNORE_UNEXPECTED_EOF);
}

net::awaitable<handshake_outcome> tls_stream_transport::handshake(std::string server_name) {
  auto [ec] = co_await stream().async_handshake(net::ssl::stream_base::server,
                                                net::as_tuple(net::use_awaitable));
  if (ec) {
    handshake_outcome failed{ec, "socket"};
    if (ec == net::error::operation_aborted) {
      failed.reason = "timeout";
    } else if (ec == net::error::eof || ec == net::ssl::error::stream_truncated) {
      failed.reason = "eof";
    } else if (ec.category() == net::error::get_ssl_category()) {
      const char* text = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
      failed.reason = text ? text : "ssl";
    }
    co_return failed;
  }
  facts_ = std::make_unique<tls_facts>();
  describe_session(stream().native_handle(), *facts_);
  if (facts_->sni.empty()) facts_->sni = std::move(server_name);
  co_return handshake_outcome{};
}

}  // namespace stubborn

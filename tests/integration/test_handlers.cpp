// Handlers beside respond(), over every transport (plain, generic, and both TLS ones): a reply that
// arrives later from another thread (as a proxied one will), kept in order among pipelined replies,
// and a 101 after which a protocol takes the connection over (as a WebSocket will) and echoes raw
// bytes, starting with those the client sent right behind its request. No config produces a handler
// yet, so the server here is built from the session's parts, with the test's handler on its
// listener.
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>

#include "harness.hpp"
#include "protocols/tls/tls_context.hpp"
#include "routing/request.hpp"
#include "routing/route_table.hpp"
#include "stubborn/load_config.hpp"
#include "wire/connection_handler.hpp"
#include "wire/request_handler.hpp"
#include "wire/session.hpp"

using namespace stubborn;
using namespace stubborn::testing;

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

const char* routes = R"(
[[route]]
name = "hello"
method = "GET"
path = "/hello"
[route.reply]
body = "hello"
)";

// Echoes every byte it reads until the client stops sending.
class echo_protocol final : public connection_handler_for<echo_protocol> {
 public:
  template <class Transport>
  net::awaitable<void> serve(Transport& transport, std::string buffered, drain_hook&) {
    std::string pending = std::move(buffered);
    char chunk[4096];
    for (;;) {
      if (!pending.empty()) {
        const net::const_buffer out(pending.data(), pending.size());
        auto [write_ec, written] = co_await transport.async_write(
            std::span<const net::const_buffer>(&out, 1), transport_token{});
        if (write_ec) co_return;
        pending.clear();
      }
      auto [ec, n] = co_await transport.async_read_some(net::buffer(chunk), transport_token{});
      if (ec) co_return;
      pending.assign(chunk, n);
    }
  }
};

// Made on the other thread: says whether that is not the connection's own.
net::awaitable<handler_reply> reply_from_elsewhere(std::thread::id connection_thread,
                                                   std::string path) {
  handler_reply reply;
  reply.content_type = "text/plain";
  reply.body = "later " + path +
               (std::this_thread::get_id() != connection_thread ? " from elsewhere" : " here");
  co_return reply;
}

// /later: answered from another thread. /echo: a 101 to the echo protocol when asked to upgrade
// (RFC 9110 §7.8), else 426.
class test_handler final : public request_handler {
 public:
  explicit test_handler(net::any_io_executor elsewhere) : elsewhere_(std::move(elsewhere)) {}

  bool claims(const request_view& request) const override {
    return request.path == "/later" || request.path == "/echo";
  }
  net::awaitable<handler_reply> handle(const request_view& request) override {
    if (request.path == "/later") {
      co_return co_await net::co_spawn(
          elsewhere_, reply_from_elsewhere(std::this_thread::get_id(), std::string(request.path)),
          net::use_awaitable);
    }
    handler_reply reply;
    std::string_view upgrade;
    if (!request.find_header("Upgrade", upgrade) || upgrade != "echo") {
      reply.status = 426;
      reply.extra_headers = "Upgrade: echo\r\n";
      co_return reply;
    }
    reply.status = 101;
    reply.extra_headers = "Upgrade: echo\r\nConnection: Upgrade\r\n";
    reply.take_over = std::make_shared<echo_protocol>();
    co_return reply;
  }

 private:
  net::any_io_executor elsewhere_;
};

// Accepts as the server does (accept4 into a non-blocking descriptor) and serves each connection.
net::awaitable<void> accept_connections(tcp::acceptor* acceptor, net::io_context* io,
                                        server_state* state, connection_registry* registry,
                                        listener_role role) {
  for (;;) {
    auto [ec] = co_await acceptor->async_wait(tcp::acceptor::wait_read, transport_token{});
    if (ec) co_return;
    const int fd =
        ::accept4(acceptor->native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) continue;
    connection_socket socket(*io);
    boost::system::error_code assign_ec;
    socket.assign(net::generic::stream_protocol(AF_INET, IPPROTO_TCP), fd, assign_ec);
    if (assign_ec) continue;
    net::co_spawn(*io, serve_connection(std::move(socket), state, registry, role), net::detached);
  }
}

// The routes, with an HTTPS listener's section (certificates made) for the TLS transports.
stubborn::config handler_config(transport_kind transport) {
  const bool tls = transport == transport_kind::tls || transport == transport_kind::tls_generic;
  return load_config_text(
      std::string(routes) + (tls ? "[server.tls]\nlisten = \"127.0.0.1:0\"\n" : ""),
      "handlers.toml");
}

// The session's parts on one I/O thread, listening on 127.0.0.1:0, with test_handler on the
// listener; a second thread plays "elsewhere". Stopping closes every connection, taken over or
// not, through the registry, as the server's stop() does.
class handler_server {
 public:
  explicit handler_server(transport_kind transport)
      : cfg_(handler_config(transport)), state_(route_table::compile(cfg_)) {
    if (cfg_.server.tls) {
      tls_ = tls_context::build(*cfg_.server.tls);
      state_.replace_tls_context(tls_);
    }
    acceptor_.open(tcp::v4());
    acceptor_.bind({net::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    acceptor_.non_blocking(true);
    port_ = acceptor_.local_endpoint().port();
    net::co_spawn(io_,
                  accept_connections(&acceptor_, &io_, &state_, &registry_,
                                     listener_role{&handler_, transport}),
                  net::detached);
    io_thread_ = std::thread([this] { io_.run(); });
    elsewhere_thread_ = std::thread([this] { elsewhere_.run(); });
  }
  ~handler_server() {
    net::post(io_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      registry_.close_all();
    });
    io_thread_.join();
    elsewhere_work_.reset();
    elsewhere_thread_.join();
  }
  handler_server(const handler_server&) = delete;
  handler_server& operator=(const handler_server&) = delete;

  std::uint16_t port() const { return port_; }
  std::size_t open_connections() const { return state_.open_connections.load(); }
  /// A client connected to this server, over TLS (trusting the CA made for it) when it serves
  /// HTTPS.
  std::unique_ptr<raw_client> connect() const {
    auto client = std::make_unique<raw_client>(port_);
    if (tls_) {
      tls_client_options options;
      options.ca_pem = tls_->ca_pem();
      const tls_client_result handshake = client->start_tls(options);
      if (!handshake.ok) throw std::runtime_error("TLS handshake: " + handshake.error);
    }
    return client;
  }

 private:
  stubborn::config cfg_;
  server_state state_;
  std::shared_ptr<const tls_context> tls_;
  connection_registry registry_;  // outlives the io_context's handlers
  net::io_context io_{1};
  net::io_context elsewhere_{1};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> elsewhere_work_{
      elsewhere_.get_executor()};
  test_handler handler_{elsewhere_.get_executor()};
  tcp::acceptor acceptor_{io_};
  std::uint16_t port_ = 0;
  std::thread io_thread_;
  std::thread elsewhere_thread_;
};

const char* upgrade_request =
    "GET /echo HTTP/1.1\r\nHost: test\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n";

}  // namespace

TEST_CASE("a handler's reply arrives later, in order among pipelined replies", "[handler]") {
  const transport_kind transport = GENERATE(transport_kind::plain, transport_kind::generic,
                                            transport_kind::tls, transport_kind::tls_generic);
  INFO(transport_name(transport));
  handler_server server(transport);
  std::unique_ptr<raw_client> client = server.connect();
  client->send(get("/hello") + get("/later") + get("/hello") + get("/missing"));
  CHECK(client->read_response().body == "hello");
  http_response later = client->read_response();
  CHECK(later.status == 200);
  CHECK(later.header("Content-Type") == "text/plain");
  CHECK(later.body == "later /later from elsewhere");
  CHECK(client->read_response().body == "hello");
  CHECK(client->read_response().status == 404);
}

TEST_CASE("after a handler's 101, its protocol has the connection", "[handler]") {
  const transport_kind transport = GENERATE(transport_kind::plain, transport_kind::generic,
                                            transport_kind::tls, transport_kind::tls_generic);
  INFO(transport_name(transport));
  handler_server server(transport);

  SECTION("the 101 head, then raw bytes both ways, from those sent behind the request on") {
    std::unique_ptr<raw_client> client = server.connect();
    client->send(std::string(upgrade_request) + "early");
    http_response switched = client->read_response();
    CHECK(switched.status == 101);
    CHECK(switched.reason == "Switching Protocols");
    CHECK(switched.header("Upgrade") == "echo");
    CHECK(switched.header("Connection") == "Upgrade");
    CHECK(switched.has_header("Date"));
    CHECK_FALSE(switched.has_header("Content-Length"));
    CHECK(client->read_bytes(5) == "early");
    client->send("ping");
    CHECK(client->read_bytes(4) == "ping");
    // Not HTTP any more: a request line is only bytes to echo.
    client->send(get("/hello"));
    CHECK(client->read_bytes(get("/hello").size()) == get("/hello"));
    client->shutdown_send();
    auto [rest, end] = client->read_until_close();
    CHECK(rest.empty());
    CHECK(end == connection_end::clean_close);
  }

  SECTION("replies pipelined before the upgrade go out first") {
    std::unique_ptr<raw_client> client = server.connect();
    client->send(get("/later") + upgrade_request);
    CHECK(client->read_response().body == "later /later from elsewhere");
    CHECK(client->read_response().status == 101);
    client->send("after");
    CHECK(client->read_bytes(5) == "after");
  }

  SECTION("without an Upgrade, the handler's other answer, and the connection stays HTTP") {
    std::unique_ptr<raw_client> client = server.connect();
    client->send(get("/echo"));
    http_response refused = client->read_response();
    CHECK(refused.status == 426);
    CHECK(refused.header("Upgrade") == "echo");
    client->send(get("/hello"));
    CHECK(client->read_response().body == "hello");
  }
}

TEST_CASE("stopping the server closes a connection a protocol took over", "[handler]") {
  const transport_kind transport = GENERATE(transport_kind::plain, transport_kind::generic,
                                            transport_kind::tls, transport_kind::tls_generic);
  INFO(transport_name(transport));
  std::unique_ptr<raw_client> client;
  {
    handler_server server(transport);
    client = server.connect();
    client->send(upgrade_request);
    REQUIRE(client->read_response().status == 101);
    client->send("x");
    REQUIRE(client->read_bytes(1) == "x");
    CHECK(server.open_connections() == 1);
  }  // returns only once the echo protocol has ended
  auto [rest, end] = client->read_until_close();
  CHECK(rest.empty());
  CHECK(end != connection_end::timeout);
}

// A hostile upstream behind a proxy route: the upstream answers each request with the fuzz
// input's bytes (in up to four writes, split where the input says), then closes. A client sends
// one request to the in-process server and reads what is relayed. The server must never crash
// or hang, and the client must get a well-formed reply (whatever its status: the upstream's own,
// or 502 / 504), or a reply head followed by a body cut short by the close: a connection never
// ends without a reply head, and nothing that is not HTTP reaches the client.
//
// Input: byte 0: bits 0-1 the number of writes minus one, bit 7 a HEAD request instead of GET;
// then one byte per extra write, each the fraction (of 256) of the remaining bytes that the
// write before it takes; the rest is what the upstream sends.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../integration/test_upstream.hpp"
#include "session_driver.hpp"
#include "stubborn/load_config.hpp"
#include "stubborn/server.hpp"

namespace {

using stubborn::fuzz::fail;
using stubborn::testing::test_upstream;
using stubborn::testing::upstream_behaviour;
using stubborn::testing::upstream_reply;

// The upstream and the server, made once per process (each input only changes the script).
struct environment {
  test_upstream upstream;
  std::unique_ptr<stubborn::server> server;

  environment() {
    stubborn::config cfg = stubborn::load_config_text(
        "[server]\nthreads = 1\n[[route]]\npath = \"/*\"\n", "fuzz_proxy_upstream.toml");
    // The proxy table is filled in here, as the config reader fills it from [route.proxy].
    stubborn::proxy_spec proxy;
    proxy.to = upstream.url();
    proxy.host = "127.0.0.1";
    proxy.port = upstream.port();
    proxy.connect_timeout = std::chrono::seconds(1);
    proxy.timeout = std::chrono::seconds(1);
    cfg.routes.at(0).proxy = proxy;
    cfg.overrides.listen = stubborn::listen_address{"127.0.0.1", 0};
    server = std::make_unique<stubborn::server>(std::move(cfg));
    server->start();
  }
};

environment& env() {
  // Never destroyed: the fuzzer exits without running it down between inputs.
  static environment* e = new environment();
  return *e;
}

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// How far the client's reading got.
enum class verdict { need_more, complete, invalid };

struct reading {
  verdict state = verdict::need_more;
  bool head_seen = false;  // a final response's head was read whole
  std::string problem;
};

bool is_token_char(unsigned char c) {
  return std::isalnum(c) ||
         std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// Checks what the client has received so far for one request (HEAD if `head`): any number of
// 1xx responses, then one final response, framed by RFC 9112 section 6.3. `closed`: the server
// has closed, so a body without a length ends here.
reading check(std::string_view bytes, bool head, bool closed) {
  reading r;
  for (;;) {
    const std::size_t end = bytes.find("\r\n\r\n");
    if (end == std::string_view::npos) {
      // Whatever arrived must still be able to become a status line.
      const std::string_view start = bytes.substr(0, std::min<std::size_t>(bytes.size(), 9));
      if (std::string_view("HTTP/1.1 ").substr(0, start.size()) != start) {
        r.state = verdict::invalid;
        r.problem = "bytes that do not start a status line";
      }
      return r;
    }
    const std::string_view headers = bytes.substr(0, end + 2);
    bytes.remove_prefix(end + 4);
    const std::size_t line_end = headers.find("\r\n");
    const std::string_view status_line = headers.substr(0, line_end);
    if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.1 ") ||
        !std::isdigit(static_cast<unsigned char>(status_line[9])) ||
        !std::isdigit(static_cast<unsigned char>(status_line[10])) ||
        !std::isdigit(static_cast<unsigned char>(status_line[11])) ||
        (status_line.size() > 12 && status_line[12] != ' ')) {
      r.state = verdict::invalid;
      r.problem = "an invalid status line";
      return r;
    }
    if (std::any_of(status_line.begin(), status_line.end(),
                    [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; })) {
      r.state = verdict::invalid;
      r.problem = "a control character in the status line";
      return r;
    }
    const int status = std::stoi(std::string(status_line.substr(9, 3)));
    // Three digits from 1xx on (RFC 9112 section 4); 600..999 are relayed as the upstream
    // sent them, as stubborn's own replies may use them.
    if (status < 100) {
      r.state = verdict::invalid;
      r.problem = "a status below 100";
      return r;
    }
    std::optional<std::size_t> length;
    bool chunked = false;
    std::size_t pos = line_end + 2;
    while (pos < headers.size()) {
      const std::size_t eol = headers.find("\r\n", pos);
      const std::string_view field = headers.substr(pos, eol - pos);
      pos = eol + 2;
      const std::size_t colon = field.find(':');
      if (colon == 0 || colon == std::string_view::npos ||
          !std::all_of(field.begin(), field.begin() + static_cast<long>(colon),
                       [](unsigned char c) { return is_token_char(c); })) {
        r.state = verdict::invalid;
        r.problem = "an invalid header line";
        return r;
      }
      std::string_view value = field.substr(colon + 1);
      if (std::any_of(value.begin(), value.end(),
                      [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; })) {
        r.state = verdict::invalid;
        r.problem = "a control character in a header value";
        return r;
      }
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
      }
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
        value.remove_suffix(1);
      const std::string_view name = field.substr(0, colon);
      if (iequal(name, "Content-Length")) {
        if (length || value.empty() || value.size() > 18 ||
            !std::all_of(value.begin(), value.end(),
                         [](unsigned char c) { return std::isdigit(c) != 0; })) {
          r.state = verdict::invalid;
          r.problem = "an invalid or repeated Content-Length";
          return r;
        }
        length = std::stoull(std::string(value));
      } else if (iequal(name, "Transfer-Encoding")) {
        if (!iequal(value, "chunked")) {
          r.state = verdict::invalid;
          r.problem = "a Transfer-Encoding other than chunked";
          return r;
        }
        chunked = true;
      }
    }
    if (status / 100 == 1) {
      if (status == 101) {
        r.state = verdict::invalid;
        r.problem = "101 without an upgrade";
        return r;
      }
      continue;  // an interim response: the final one follows
    }
    r.head_seen = true;
    if (chunked && length) {
      r.state = verdict::invalid;
      r.problem = "both Content-Length and chunked";
      return r;
    }
    const bool no_body = head || status == 204 || status == 304;
    if (no_body) {
      // A length on 204 and 304 frames nothing (RFC 9112 section 6.3, rule 1).
      r.state = bytes.empty() ? verdict::complete : verdict::invalid;
      if (!bytes.empty()) r.problem = "bytes after a reply without a body";
      return r;
    }
    if (length) {
      if (bytes.size() > *length) {
        r.state = verdict::invalid;
        r.problem = "more bytes than Content-Length";
      } else if (bytes.size() == *length) {
        r.state = verdict::complete;
      }
      return r;
    }
    if (chunked) {
      for (;;) {
        const std::size_t eol = bytes.find("\r\n");
        if (eol == std::string_view::npos) {
          if (bytes.size() > 64 || !std::all_of(bytes.begin(), bytes.end(), [](unsigned char c) {
                return std::isxdigit(c) || c == '\r';
              })) {
            r.state = verdict::invalid;
            r.problem = "an invalid chunk size line";
          }
          return r;
        }
        const std::string_view size_text = bytes.substr(0, eol);
        if (size_text.empty() || size_text.size() > 15 ||
            !std::all_of(size_text.begin(), size_text.end(),
                         [](unsigned char c) { return std::isxdigit(c) != 0; })) {
          r.state = verdict::invalid;
          r.problem = "an invalid chunk size";
          return r;
        }
        const std::size_t size = std::stoull(std::string(size_text), nullptr, 16);
        if (size == 0) {
          // The last chunk; trailers (none expected) and the final CRLF.
          const std::string_view rest = bytes.substr(eol + 2);
          if (rest.size() < 2) return r;
          if (!rest.starts_with("\r\n")) {
            const std::size_t trailer_end = rest.find("\r\n\r\n");
            if (trailer_end == std::string_view::npos) return r;
            bytes = rest.substr(trailer_end + 4);
          } else {
            bytes = rest.substr(2);
          }
          r.state = bytes.empty() ? verdict::complete : verdict::invalid;
          if (!bytes.empty()) r.problem = "bytes after the last chunk";
          return r;
        }
        if (bytes.size() < eol + 2 + size + 2) return r;
        if (bytes.substr(eol + 2 + size, 2) != "\r\n") {
          r.state = verdict::invalid;
          r.problem = "a chunk without its CRLF";
          return r;
        }
        bytes.remove_prefix(eol + 2 + size + 2);
      }
    }
    // No length: the body runs to the close.
    if (closed) r.state = verdict::complete;
    return r;
  }
}

int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) fail("socket() failed", {});
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    fail("cannot connect to the server", {});
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  environment& e = env();
  const unsigned writes = 1 + (data[0] & 3u);
  const bool head = (data[0] & 0x80u) != 0;
  std::size_t at = 1;
  std::vector<unsigned> fractions;
  for (unsigned i = 1; i < writes && at < size; ++i) fractions.push_back(data[at++]);
  std::string_view answer(reinterpret_cast<const char*>(data) + at, size - at);

  upstream_reply reply;
  reply.behaviour = upstream_behaviour::raw;
  for (const unsigned fraction : fractions) {
    const std::size_t take = answer.size() * fraction / 256;
    reply.raw_pieces.emplace_back(answer.substr(0, take));
    answer.remove_prefix(take);
  }
  reply.raw_pieces.emplace_back(answer);
  // Every request of this input meets the same answer (the proxy may retry on a new connection).
  e.upstream.set_default(reply);

  const int fd = connect_to(e.server->port());
  const std::string request =
      std::string(head ? "HEAD" : "GET") + " /p HTTP/1.1\r\nHost: fuzz\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    fail("cannot send the request", {});
  }
  std::string received;
  bool closed = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(8);
  for (;;) {
    const reading r = check(received, head, closed);
    if (r.state == verdict::invalid) fail("relayed reply is not HTTP: " + r.problem, received);
    if (r.state == verdict::complete) break;
    if (closed) {
      if (!r.head_seen) fail("connection closed before a reply head", received);
      break;  // a body cut short after the head: allowed
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) fail("no complete reply and no close within 8 s (a hang)", received);
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char chunk[16384];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) {
      closed = true;
    } else {
      received.append(chunk, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return 0;
}

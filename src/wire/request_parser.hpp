#pragma once
// Reading one request: a Beast basic_parser that copies what it sees into per-connection storage
// (reused between requests, so steady-state parsing allocates nothing), plus the RFC 9112 checks
// Beast 1.81 does not make. Used by the session only.

#include <boost/beast/http/basic_parser.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "routing/request.hpp"

namespace stubborn {

/// A request rejected before routing: the status to send; the connection then closes.
struct request_rejection {
  int status = 0;  ///< 0 = none
  std::string_view reason;
};

/// Bytes of the request being read, kept per connection and reused.
class request_storage {
 public:
  /// Forgets the previous request, keeping capacity (bounded after a large request).
  void clear(std::size_t keep_capacity);
  /// The request as matching sees it; valid until the next clear().
  request_view view() const;

  /// Method, target, field names and values, back to back.
  std::string head;
  /// A piece of `head`.
  struct span_ref {
    std::uint32_t offset = 0;
    std::uint32_t length = 0;
  };
  /// One header field's name and value in `head`.
  struct field_ref {
    span_ref name, value;
  };
  /// The method and the request target.
  span_ref method, target;
  /// The header fields, in order.
  std::vector<field_ref> field_refs;
  /// view()'s header fields (rebuilt by each view()).
  mutable std::vector<header_field> fields;
  /// The body, de-chunked.
  std::string body;
  /// 10 or 11.
  unsigned version = 11;
  /// "Expect: 100-continue" on HTTP/1.1.
  bool expect_continue = false;
  /// The Connection field says "close".
  bool connection_close = false;
  /// The Connection field says "keep-alive".
  bool connection_keep_alive = false;

 private:
  std::string_view at(span_ref r) const { return {head.data() + r.offset, r.length}; }
};

class request_parser : public boost::beast::http::basic_parser<true> {
 public:
  request_parser(request_storage& storage, std::size_t max_headers, std::size_t max_header_bytes)
      : storage_(storage), max_headers_(max_headers), max_header_bytes_(max_header_bytes) {}

  /// A rejection found by our own checks (set when put() fails with an error from us).
  const request_rejection& rejection() const { return rejection_; }

  /// Beast's put(), plus the chunk-line check Beast 1.81 lacks: a chunk line whose quoted
  /// string runs into the line's end fails at once with bad_chunk_extension, where Beast would
  /// look for the closing quote in the chunk data and wait for more (see chunk_line_breaks_quote).
  std::size_t put(boost::asio::const_buffer buffer, boost::beast::error_code& ec);

 private:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;
  using verb = boost::beast::http::verb;
  using field = boost::beast::http::field;

  void reject(int status, std::string_view why, error_code& ec);
  std::uint32_t copy(string_view text);

  void on_request_impl(verb method, string_view method_str, string_view target, int version,
                       error_code& ec) override;
  void on_response_impl(int, string_view, int, error_code&) override {}
  void on_field_impl(field name, string_view name_string, string_view value,
                     error_code& ec) override;
  void on_header_impl(error_code& ec) override;
  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                         error_code& ec) override;
  std::size_t on_body_impl(string_view body, error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t size, string_view extensions, error_code& ec) override;
  std::size_t on_chunk_body_impl(std::uint64_t remain, string_view body, error_code& ec) override;
  void on_finish_impl(error_code&) override {}

  request_storage& storage_;
  std::size_t max_headers_;
  std::size_t max_header_bytes_;
  std::size_t header_bytes_ = 0;
  request_rejection rejection_;
  unsigned host_count_ = 0;
  bool saw_content_length_ = false;
  bool saw_transfer_encoding_ = false;
};

/// What the request-line check found.
enum class head_check {
  incomplete,    ///< need more bytes
  ok,            ///< hand the bytes to the parser
  bad_request,   ///< 400
  bad_version,   ///< 505: a well-formed version with another major number
  uri_too_long,  ///< 414
};

/// Checks the request line and header block before Beast sees them (RFC 9112 §2.2, §2.3, §5.2):
/// skips up to a few empty lines before the request line (returns how many bytes via `skip`),
/// rewrites HTTP/1.x (x > 1) to HTTP/1.1 in place, and rejects obs-fold, which Beast would
/// silently unfold, and bare CRs between fields. Says `ok` only once the whole head (through its
/// empty line) is buffered. `scanned` carries progress between calls for the same request.
head_check check_request_head(char* data, std::size_t size, std::size_t max_target,
                              std::size_t& skip, std::size_t& scanned);

/// True if the chunk line at the start of `pending` (after the CRLF that ends the previous
/// chunk's data, if there) is complete and has a quoted string that its CR or LF breaks: a
/// quoted string holds neither (RFC 9110 §5.6.4, RFC 9112 §7.1.1), so the line is malformed
/// however the rest of the body arrives. False while the line's LF has not arrived.
bool chunk_line_breaks_quote(std::string_view pending);

/// True if `host` is a valid Host field value: uri-host [":" port], or empty (RFC 9110 §7.2).
bool is_valid_host(std::string_view host);

/// Splits a request target into path and query (origin-form and absolute-form); false if the
/// target has neither form and is not "*".
bool split_target(std::string_view target, std::string_view& path, std::string_view& query);

}  // namespace stubborn

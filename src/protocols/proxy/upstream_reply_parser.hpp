#pragma once
// Reading an upstream's reply to relay it: a Beast basic_parser that keeps the head's bytes in
// reused storage (no allocation per field, unlike beast::http::fields) and hands the body over
// in pieces, de-chunked, as they arrive, so a body of any size streams through.

#include <boost/beast/http/basic_parser.hpp>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "routing/request.hpp"

namespace stubborn {

/// What a reply parser keeps, owned by the upstream connection and reused from reply to reply
/// (its capacity stays: a steady stream of replies allocates nothing).
struct upstream_reply_storage {
  struct span_ref {
    std::uint32_t offset = 0;
    std::uint32_t length = 0;
  };
  std::string head;  ///< the reason phrase, field names and values, back to back
  std::vector<std::pair<span_ref, span_ref>> refs;
  std::vector<header_field> fields;  ///< views into `head`, made when the head is complete
  std::string body;                  ///< body bytes parsed and not yet taken, de-chunked
  span_ref reason;
  int status = 0;
  unsigned version = 11;
  /// Forgets the previous reply.
  void clear() {
    head.clear();
    refs.clear();
    fields.clear();
    body.clear();
    status = 0;
  }
};

class upstream_reply_parser : public boost::beast::http::basic_parser<false> {
 public:
  /// A parser for one reply into `storage` (cleared); `head_request` when it answers HEAD.
  upstream_reply_parser(upstream_reply_storage& storage, bool head_request);

  int status() const { return s_.status; }
  std::string_view reason() const { return {s_.head.data() + s_.reason.offset, s_.reason.length}; }
  unsigned version() const { return s_.version; }
  /// The header fields as received, in order.
  std::span<const header_field> fields() const { return s_.fields; }
  /// Body bytes parsed and not yet taken, de-chunked.
  std::string& body() { return s_.body; }

 private:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;
  using span_ref = upstream_reply_storage::span_ref;
  span_ref copy(string_view text);

  void on_request_impl(boost::beast::http::verb, string_view, string_view, int,
                       error_code&) override {}
  void on_response_impl(int code, string_view reason, int version, error_code& ec) override;
  void on_field_impl(boost::beast::http::field name, string_view name_string, string_view value,
                     error_code& ec) override;
  void on_header_impl(error_code& ec) override;
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  std::size_t on_body_impl(string_view body, error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code& ec) override;
  void on_finish_impl(error_code&) override {}

  upstream_reply_storage& s_;
};

}  // namespace stubborn

#include "protocols/proxy/upstream_reply_parser.hpp"

namespace stubborn {

upstream_reply_parser::upstream_reply_parser(upstream_reply_storage& storage, bool head_request)
    : s_(storage) {
  s_.clear();
  // A relayed body streams through in pieces: its size is the upstream's business. The head
  // keeps a bound: an endless header block is an invalid reply.
  body_limit(boost::none);
  header_limit(64 * 1024);
  eager(true);
  if (head_request) skip(true);
}

upstream_reply_parser::span_ref upstream_reply_parser::copy(string_view text) {
  span_ref r{static_cast<std::uint32_t>(s_.head.size()), static_cast<std::uint32_t>(text.size())};
  s_.head.append(text.data(), text.size());
  return r;
}

void upstream_reply_parser::on_response_impl(int code, string_view reason, int version,
                                             error_code&) {
  s_.status = code;
  s_.version = static_cast<unsigned>(version);
  s_.reason = copy(reason);
}

void upstream_reply_parser::on_field_impl(boost::beast::http::field, string_view name_string,
                                          string_view value, error_code&) {
  const span_ref name = copy(name_string);
  s_.refs.emplace_back(name, copy(value));
}

void upstream_reply_parser::on_header_impl(error_code&) {
  // Views are made once the head is whole: the head no longer grows, so they stay valid.
  s_.fields.clear();
  for (const auto& [name, value] : s_.refs) {
    s_.fields.push_back({{s_.head.data() + name.offset, name.length},
                         {s_.head.data() + value.offset, value.length}});
  }
}

std::size_t upstream_reply_parser::on_body_impl(string_view body, error_code&) {
  s_.body.append(body.data(), body.size());
  return body.size();
}

std::size_t upstream_reply_parser::on_chunk_body_impl(std::uint64_t, string_view body,
                                                      error_code&) {
  s_.body.append(body.data(), body.size());
  return body.size();
}

}  // namespace stubborn

#pragma once
// A proxy route compiled at load: what is added to and taken from the requests it forwards and
// the replies it relays (pre-rendered), the upstream's identity for the connection pool, the
// reply of a fault that answers without calling the upstream, and the TLS client context of an
// https upstream.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "respond/reply_plan.hpp"
#include "stubborn/config.hpp"

namespace boost::asio::ssl {
class context;
}

namespace stubborn {

/// True for the fields that describe one connection rather than the message (RFC 9110 §7.6.1):
/// a proxy never forwards them.
bool is_hop_by_hop(std::string_view name);

/// Whether `name` is listed in a Connection field's value (those fields are hop-by-hop too).
bool listed_in_connection(std::string_view connection_value, std::string_view name);

struct compiled_proxy {
  proxy_spec spec;
  std::string upstream_key;   ///< one pool of idle connections per key
  std::string authority;      ///< the upstream's Host value: host[:port], an IPv6 in brackets
  std::string request_lines;  ///< "Name: value\r\n" from `headers`
  std::vector<std::string> request_drop;      ///< lower case: `remove` and the names in `headers`
  std::string reply_lines;                    ///< from `reply_headers`
  std::vector<std::string> reply_drop;        ///< lower case: `reply_remove`, `reply_headers` names
  std::optional<compiled_reply> fault_reply;  ///< reset, close, empty, garbage: no upstream call
  std::shared_ptr<boost::asio::ssl::context> tls;  ///< the client context (https only)

  /// Compiles a proxy spec; throws config_error when an https upstream's CA file cannot be read.
  static std::unique_ptr<compiled_proxy> compile(const proxy_spec& spec,
                                                 const std::string& server_header);
  ~compiled_proxy();

  /// The status sent for the upstream's `status` (status_map).
  int map_status(int status) const;
  /// Whether a request field is not forwarded (besides the hop-by-hop ones).
  bool drops_request_field(std::string_view name) const;
  /// Whether a reply field is not relayed (besides the hop-by-hop ones).
  bool drops_reply_field(std::string_view name) const;
  /// The path sent upstream for the client's `path`: strip_prefix removed, the base prepended.
  void append_upstream_path(std::string_view path, std::string& out) const;
};

}  // namespace stubborn

#include "protocols/proxy/proxy_route.hpp"

#include <boost/asio/ssl/context.hpp>

#include <algorithm>
#include <array>

#include "routing/request.hpp"
#include "stubborn/config_error.hpp"

namespace stubborn {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool contains_name(const std::vector<std::string>& lower_names, std::string_view name) {
  return std::any_of(lower_names.begin(), lower_names.end(),
                     [&](const std::string& n) { return iequals(n, name); });
}

void add_unique(std::vector<std::string>& names, std::string_view name) {
  if (!contains_name(names, name)) names.push_back(lower(name));
}

}  // namespace

bool is_hop_by_hop(std::string_view name) {
  // RFC 9110 §7.6.1 and §7.8 (TE, Upgrade), RFC 9112 §6.1 (Transfer-Encoding), and the
  // pre-standard Keep-Alive and Proxy-Connection.
  static constexpr std::array<std::string_view, 7> names{
      "connection", "keep-alive",        "proxy-connection", "te",
      "trailer",    "transfer-encoding", "upgrade"};
  return std::any_of(names.begin(), names.end(),
                     [&](std::string_view n) { return iequals(n, name); });
}

bool listed_in_connection(std::string_view value, std::string_view name) {
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (iequals(item, name)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

compiled_proxy::~compiled_proxy() = default;

std::unique_ptr<compiled_proxy> compiled_proxy::compile(const proxy_spec& spec,
                                                        const std::string& server_header) {
  auto proxy = std::make_unique<compiled_proxy>();
  proxy->spec = spec;
  const bool ipv6 = spec.host.find(':') != std::string::npos;
  const std::string host = ipv6 ? "[" + spec.host + "]" : spec.host;
  const bool default_port = spec.port == (spec.tls ? 443 : 80);
  proxy->authority = default_port ? host : host + ":" + std::to_string(spec.port);
  proxy->upstream_key =
      (spec.tls ? "https://" : "http://") + host + ":" + std::to_string(spec.port);
  if (spec.tls) proxy->upstream_key += " ca=" + spec.ca + (spec.verify ? "" : " noverify");
  for (const name_value& h : spec.headers) {
    proxy->request_lines += h.name + ": " + h.value + "\r\n";
    add_unique(proxy->request_drop, h.name);
  }
  for (const std::string& name : spec.remove) add_unique(proxy->request_drop, name);
  for (const name_value& h : spec.reply_headers) {
    proxy->reply_lines += h.name + ": " + h.value + "\r\n";
    add_unique(proxy->reply_drop, h.name);
  }
  for (const std::string& name : spec.reply_remove) add_unique(proxy->reply_drop, name);

  switch (spec.fault) {
    case fault_kind::reset:
    case fault_kind::close:
    case fault_kind::empty:
    case fault_kind::garbage: {
      // These answer in place of the upstream, as a reply with the same fault would.
      reply_spec reply;
      reply.status = 200;
      reply.fault = spec.fault;
      reply.body = "the upstream was not called: [route.proxy] fault\n";
      reply.source = body_source::inline_text;
      reply.position = spec.position;
      proxy->fault_reply.emplace(compiled_reply::compile(reply, {}, server_header));
      break;
    }
    default:
      break;
  }

  if (spec.tls) {
    namespace ssl = boost::asio::ssl;
    proxy->tls = std::make_shared<ssl::context>(ssl::context::tls_client);
    boost::system::error_code ec;
    if (!spec.ca.empty()) {
      proxy->tls->load_verify_file(spec.ca, ec);
    } else {
      proxy->tls->set_default_verify_paths(ec);
    }
    if (ec && spec.verify) {
      throw config_error(
          {{spec.position, "cannot load the CA certificates for " + spec.to + " (" +
                               (spec.ca.empty() ? "system" : spec.ca) + "): " + ec.message()}});
    }
    proxy->tls->set_verify_mode(spec.verify ? ssl::verify_peer : ssl::verify_none);
  }
  return proxy;
}

int compiled_proxy::map_status(int status) const {
  for (const auto& [from, to] : spec.status_map) {
    if (from == status) return to;
  }
  return status;
}

bool compiled_proxy::drops_request_field(std::string_view name) const {
  return contains_name(request_drop, name);
}

bool compiled_proxy::drops_reply_field(std::string_view name) const {
  return contains_name(reply_drop, name);
}

void compiled_proxy::append_upstream_path(std::string_view path, std::string& out) const {
  if (!spec.strip_prefix.empty() && path.starts_with(spec.strip_prefix)) {
    const std::string_view rest = path.substr(spec.strip_prefix.size());
    // "/api" strips from "/api/x" and "/api", not from "/apix".
    if (rest.empty() || rest.front() == '/' || spec.strip_prefix.back() == '/') path = rest;
  }
  out += spec.base_path;
  if (path.empty() || path.front() != '/') out += '/';
  out += path;
}

}  // namespace stubborn

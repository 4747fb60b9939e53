#include "control/journal_json.hpp"

#include "respond/http_date.hpp"
#include "text/base64.hpp"
#include "text/utf8.hpp"

namespace stubborn {

namespace json = boost::json;

json::object entry_json(const journal_entry& e) {
  json::object headers;
  for (const auto& [name, value] : e.headers) {
    // RFC 9110 §5.3: repeated fields combine into one list, in order.
    auto found = headers.find(name);
    if (found != headers.end()) {
      std::string joined(found->value().as_string());
      found->value() = joined + ", " + replace_invalid_utf8(value);
    } else {
      headers[name] = replace_invalid_utf8(value);
    }
  }
  json::object o{{"id", e.id},
                 {"time", rfc3339_utc(e.time)},
                 {"client", e.client},
                 {"method", e.method},
                 {"target", replace_invalid_utf8(e.target)},
                 {"path", replace_invalid_utf8(e.path)},
                 {"headers", std::move(headers)}};
  if (is_valid_utf8(e.body))
    o["body"] = e.body;
  else
    o["body_base64"] = base64_encode(e.body);
  o["body_bytes"] = e.body_bytes;
  o["body_truncated"] = e.body.size() < e.body_bytes;
  o["route"] = e.route.empty() ? json::value(nullptr) : json::value(e.route);
  o["status"] = e.status == 0 ? json::value(nullptr) : json::value(e.status);
  if (!e.fault.empty()) o["fault"] = e.fault;
  o["latency_us"] = e.latency.count();
  o["kind"] = e.kind == journal_kind::websocket ? "websocket" : "http";
  if (e.kind == journal_kind::websocket) {
    o["websocket"] = json::object{{"direction", e.websocket.in ? "in" : "out"},
                                  {"opcode", e.websocket.opcode},
                                  {"size", e.websocket.size}};
  }
  if (e.over_tls) {
    o["tls"] = json::object{{"sni", replace_invalid_utf8(e.tls.sni)},
                            {"version", e.tls.version},
                            {"cipher", e.tls.cipher},
                            {"client_subject", replace_invalid_utf8(e.tls.client_subject)}};
  }
  return o;
}

}  // namespace stubborn

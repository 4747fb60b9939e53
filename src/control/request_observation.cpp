#include "control/request_observation.hpp"

#include <boost/json/serialize.hpp>

#include "cluster/shared_state.hpp"
#include "control/journal_json.hpp"

#include "control/access_log.hpp"
#include "control/observer.hpp"
#include "respond/http_date.hpp"
#include "respond/reply_plan.hpp"
#include "routing/request.hpp"
#include "routing/route_table.hpp"
#include "routing/templates.hpp"

namespace stubborn {

void request_outcome::begin() {
  start = std::chrono::steady_clock::now();
  route = nullptr;
  status = 0;
  fault = fault_kind::none;
  rate_limited = false;
  admin = false;
  miss.clear();
  body_streamed = false;
  streamed_bytes = 0;
  streamed_body.clear();
}

void request_observation::count_rejection(int status) {
  if (observer_) observer_->metrics_for({}).count(status, std::chrono::microseconds(0));
}

void request_observation::observe(const request_view& request, const request_outcome& outcome,
                                  connection_peer& peer) {
  const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - outcome.start);
  if (log_) log_access(request, outcome, latency, peer);
  // The admin API's own traffic is not the user's to verify.
  if (!observer_ || outcome.admin) return;
  if (!metrics_ || metrics_route_ != outcome.route) {
    metrics_ = &observer_->metrics_for(outcome.route ? std::string_view(outcome.route->name)
                                                     : std::string_view());
    metrics_route_ = outcome.route;
  }
  metrics_->count(outcome.status, latency);
  if (outcome.rate_limited) ++metrics_->rate_limited;
  if (outcome.fault != fault_kind::none) ++metrics_->faults;
  if (!observer_->journal_on()) return;
  // Filled in place with assign(): in a full ring the strings reuse their capacity.
  journal_entry& e = observer_->next_slot();
  e.time = std::chrono::system_clock::now() - latency;
  e.kind = journal_kind::http;
  if (client_text_.empty() && !peer.get().ip.empty()) {
    const peer_address& address = peer.get();
    const bool v6 = address.ip.find(':') != std::string::npos;
    client_text_ = (v6 ? "[" + address.ip + "]" : address.ip) + ":" + std::to_string(address.port);
  }
  e.client.assign(client_text_);
  e.method.assign(request.method);
  e.target.assign(request.target);
  e.path.assign(request.path);
  e.headers.resize(request.headers.size());
  for (std::size_t i = 0; i < request.headers.size(); ++i) {
    e.headers[i].first.assign(request.headers[i].name);
    e.headers[i].second.assign(request.headers[i].value);
  }
  if (outcome.body_streamed) {
    e.body.assign(outcome.streamed_body.substr(0, observer_->body_bytes()));
    e.body_bytes = outcome.streamed_bytes;
  } else {
    e.body.assign(request.body.substr(0, observer_->body_bytes()));
    e.body_bytes = request.body.size();
  }
  e.route.assign(outcome.route ? std::string_view(outcome.route->name) : std::string_view());
  e.status = outcome.status;
  e.fault.assign(fault_name(outcome.fault));
  e.latency = latency;
  e.miss.assign(outcome.miss);
  e.over_tls = request.tls != nullptr;
  if (request.tls) {
    e.tls.sni.assign(request.tls->sni);
    e.tls.version.assign(request.tls->version);
    e.tls.cipher.assign(request.tls->cipher);
    e.tls.client_subject.assign(request.tls->client_subject);
  }
  if (cluster_ && cluster_->journal_shared()) {
    cluster_->append_journal(boost::json::serialize(entry_json(e)));
  }
}

namespace {

// `target` with the value of each `token` query parameter replaced by "***".
std::string without_token_value(std::string_view target) {
  std::string out(target.substr(0, target.find('?')));
  if (out.size() == target.size()) return out;
  std::string_view query = target.substr(out.size() + 1);
  char separator = '?';
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    out.push_back(separator);
    separator = '&';
    out.append(pair.starts_with("token=") ? std::string_view("token=***") : pair);
  }
  return out;
}

}  // namespace

void request_observation::log_access(const request_view& request, const request_outcome& outcome,
                                     std::chrono::microseconds latency, connection_peer& peer) {
  std::string& line = log_->buffer(thread_index_);
  line.append("{\"time\":\"").append(rfc3339_utc(std::chrono::system_clock::now()));
  line.append("\",\"client\":\"");
  append_json_escaped(peer.get().ip, line);
  line.append("\",\"method\":\"");
  append_json_escaped(request.method, line);
  line.append("\",\"target\":\"");
  if (outcome.admin) {
    // The admin page and its stream may carry the admin token as ?token=: it is not logged.
    append_json_escaped(without_token_value(request.target), line);
  } else {
    append_json_escaped(request.target, line);
  }
  line.append("\",\"status\":").append(std::to_string(outcome.status));
  line.append(",\"route\":");
  if (outcome.admin) {
    line.append("\"(admin)\"");
  } else if (outcome.route) {
    line.push_back('"');
    append_json_escaped(outcome.route->name, line);
    line.push_back('"');
  } else {
    line.append("null");
  }
  line.append(",\"latency_us\":").append(std::to_string(latency.count()));
  line.append(",\"request_bytes\":")
      .append(std::to_string(outcome.body_streamed ? outcome.streamed_bytes : request.body.size()));
  if (outcome.fault != fault_kind::none) line.append(",\"fault\":true");
  line.append("}\n");
}

}  // namespace stubborn

#pragma once
// Plain configuration structs: what load_config() produces and route_table::compile() consumes.
// No Boost and no toml++ here, so embedders can build a config in code.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace stubborn {

/// Where a value came from: "file:line:col" in error messages.
struct source_position {
  std::string file;
  std::uint32_t line = 0;
  std::uint32_t column = 0;
  /// Positions take no part in comparing configs: a route moved down the file by an edit above
  /// it is still the same route (and keeps its state across a reload).
  friend bool operator==(const source_position&, const source_position&) { return true; }
};

/// A header or query parameter: a name, a value, and where it was written.
struct name_value {
  std::string name;
  std::string value;
  source_position position;
  bool operator==(const name_value&) const = default;
};

/// Host and port to listen on; port 0 asks the kernel for any free port.
struct listen_address {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  bool operator==(const listen_address&) const = default;
};

struct reply_spec;

/// What a rate limit counts requests by.
enum class rate_limit_key { global, ip, header, query };

/// How a rate limit admits requests.
enum class rate_limit_algorithm {
  token_bucket,  ///< `burst` at once, then `requests` per `per`, smoothly (GCRA)
  fixed_window   ///< `requests` in each window of length `per`, counted from the server's start
};

/// Which headers tell clients about the limit.
enum class rate_limit_headers {
  ietf,         ///< RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers)
  x_ratelimit,  ///< X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset
  none
};

/// [route.rate_limit] or [server.rate_limit]; over the limit: 429 with Retry-After.
struct rate_limit_spec {
  std::uint64_t requests = 0;  ///< admitted per `per`
  std::chrono::milliseconds per{1000};
  std::uint64_t burst = 0;  ///< token bucket size; 0 = `requests`
  rate_limit_key key = rate_limit_key::global;
  std::string key_name;  ///< the header or query parameter for those keys
  rate_limit_algorithm algorithm = rate_limit_algorithm::token_bucket;
  rate_limit_headers headers = rate_limit_headers::ietf;
  std::size_t max_keys = 10'000;            ///< keys tracked at once; idle ones are evicted first
  std::shared_ptr<const reply_spec> reply;  ///< [*.rate_limit.reply]: overrides the 429 reply
  source_position position;

  std::uint64_t bucket_size() const { return burst ? burst : requests; }
  /// Same limit (the replies compared by value).
  bool operator==(const rate_limit_spec& other) const;
};

/// A TLS protocol version, as `min_version` / `max_version` name it ("1.0" .. "1.3").
enum class tls_version { unset, tls1_0, tls1_1, tls1_2, tls1_3 };

/// How a TLS listener asks for client certificates (`client_auth`).
enum class client_auth_mode { none, request, require };

/// A certificate served with exactly one fault (`cert` in [[server.tls.names]]).
enum class certificate_fault {
  none,
  expired,          ///< validity ended yesterday
  not_yet_valid,    ///< validity starts tomorrow
  wrong_host,       ///< valid, but for another name
  self_signed,      ///< the right name, signed by its own key
  untrusted_issuer  ///< the right name, signed by a CA nobody trusts
};

/// What the TLS handshake does for one SNI name (`handshake` in [[server.tls.names]]).
struct handshake_spec {
  enum class kind {
    normal,
    delay,  ///< answer the ClientHello after `delay`
    stall,  ///< never answer (until [server] max_hang)
    reset,  ///< TCP RST on the ClientHello
    close,  ///< close (FIN) on the ClientHello
    alert   ///< answer the ClientHello with the fatal alert `alert`
  };
  kind type = kind::normal;
  std::chrono::milliseconds delay{0};
  std::string alert;   ///< the alert's name as written, e.g. "handshake_failure"
  int alert_code = 0;  ///< its AlertDescription number (RFC 8446 section 6)
  bool operator==(const handshake_spec&) const = default;
};

/// One [[server.tls.names]] entry: what a client that sends this SNI name meets.
struct tls_name_spec {
  std::string name;  ///< an exact host name, or "*.suffix"
  certificate_fault cert = certificate_fault::none;
  handshake_spec handshake;
  tls_version min_version = tls_version::unset;  ///< unset = the listener's
  tls_version max_version = tls_version::unset;
  std::string ciphers;  ///< OpenSSL cipher-list syntax; "" = the listener's
  source_position position;
  bool operator==(const tls_name_spec&) const = default;
};

/// The [server.tls] table: an HTTPS listener beside the plain one.
struct tls_config {
  listen_address listen{"127.0.0.1", 8443};
  std::string cert;  ///< PEM chain (path resolved against the config file); "" = made at start
  std::string key;   ///< its private key (PEM)
  std::vector<std::string> hosts{"localhost", "127.0.0.1", "::1"};  ///< names of a made leaf
  std::string ca_cert;  ///< a CA the user keeps, to sign made leaves ("" = one made at start)
  std::string ca_key;
  std::string ca_out;  ///< write the signing CA's PEM here ("" = not written)
  tls_version min_version = tls_version::tls1_2;
  tls_version max_version = tls_version::unset;  ///< unset = the newest OpenSSL has
  std::string ciphers;                           ///< OpenSSL cipher-list syntax; "" = default
  client_auth_mode client_auth = client_auth_mode::none;
  std::string client_ca;  ///< PEM of the CAs whose client certificates are accepted
  std::chrono::milliseconds handshake_timeout{10'000};
  std::vector<tls_name_spec> names;  ///< [[server.tls.names]]
  source_position position;          ///< the [server.tls] table
  bool operator==(const tls_config&) const = default;
};

/// The [server] table.
struct server_config {
  listen_address listen;
  bool plain_listener = true;     ///< false when `listen = ""`: only the TLS listener serves
  std::optional<tls_config> tls;  ///< [server.tls]: the HTTPS listener
  unsigned threads = 0;           ///< 0 = number of cores
  std::chrono::milliseconds drain_timeout{10'000};   ///< SIGTERM: in-flight requests get this long
  std::chrono::milliseconds idle_timeout{60'000};    ///< keep-alive connection idle: closed
  std::chrono::milliseconds header_timeout{10'000};  ///< request head not complete: 408 + close
  std::chrono::milliseconds body_timeout{30'000};    ///< request body stalls: 408 + close
  std::size_t max_header_bytes = 16 * 1024;          ///< request line + header block
  std::size_t max_body_bytes = 8 * 1024 * 1024;      ///< request body, after de-chunking
  std::size_t max_connections = 100'000;             ///< open connections at once
  std::size_t max_uri_bytes = 8 * 1024;              ///< request line; longer gets 414
  std::size_t max_headers = 100;                     ///< header fields per request; more: 431
  std::size_t max_requests_per_connection = 0;       ///< then the connection closes; 0 = no limit
  std::string server_header = "stubborn";            ///< value of the Server header ("" = none)
  std::chrono::milliseconds max_hang{300'000};       ///< `hang = true` gives up after this
  std::optional<std::uint64_t> seed;                 ///< makes every random choice repeatable
  std::optional<rate_limit_spec> rate_limit;         ///< [server.rate_limit]: every request
  std::string access_log;                            ///< JSON lines to this file; "-" = stdout
  bool offline = false;  ///< strict replay: no route may proxy, no outbound connection is made
};

/// Where a route's state is split from (`state_key = "header:X-Test-Id"`): each value of it has its
/// own sequence position, outage window and rate-limit bucket.
struct state_key_spec {
  enum class source { header, query, cookie, path };
  source from = source::header;
  std::string name;  ///< the header, parameter, cookie or {path} parameter
  bool operator==(const state_key_spec&) const = default;
};

/// How a route matches the request body.
enum class body_match_kind { contains, equals, regex, json };

/// `body = { contains = "x" }` and friends; for json, `text` is the subset serialised as JSON.
struct body_matcher_spec {
  body_match_kind kind = body_match_kind::contains;
  std::string text;
  source_position position;
  bool operator==(const body_matcher_spec&) const = default;
};

/// What a [route.when] condition reads from the request.
enum class condition_subject { json_path, xpath, header, query, cookie, form, path, body };
/// How a condition compares what it read.
enum class condition_operator { equals, contains, regex, one_of, gt, ge, lt, le, present, json };

/// One condition: `{ json_path = "$.order.total", gt = 100 }`.
struct condition_spec {
  condition_subject subject = condition_subject::body;
  std::string selector;  ///< the JSONPath, XPath or name ("" for `body = true`)
  condition_operator op = condition_operator::equals;
  std::string operand;  ///< the operator's value serialised as JSON ("A1", 100, [..], true, {..})
  bool ignore_case = false;
  source_position position;           ///< the condition's table
  source_position selector_position;  ///< where the subject was written
  source_position operand_position;   ///< where the operator was written
  bool operator==(const condition_spec&) const = default;
};

/// [route.when]: every `all` holds, one `any` holds (when given), no `not` holds.
struct when_spec {
  std::vector<condition_spec> all;
  std::vector<condition_spec> any;
  std::vector<condition_spec> none;  ///< written `not`
  source_position position;
  bool operator==(const when_spec&) const = default;
};

/// A pause before a reply: fixed, uniform in [min, max], or log-normal around a median.
struct delay_spec {
  enum class kind { none, fixed, uniform, lognormal };
  kind type = kind::none;
  std::chrono::milliseconds fixed{0};
  std::chrono::milliseconds min{0};
  std::chrono::milliseconds max{0};
  std::chrono::milliseconds median{0};
  double sigma = 0;  ///< log-normal shape: the standard deviation of ln(delay)
  bool operator==(const delay_spec&) const = default;
};

/// A broken reply, as a failing server or network produces it.
enum class fault_kind {
  none,
  reset,           ///< TCP RST, no reply
  close,           ///< close without a reply
  empty,           ///< status line and headers promised, then close
  truncate,        ///< full Content-Length, half the body, then close
  garbage,         ///< random bytes, then close
  malformed_chunk  ///< a chunked reply with a bad chunk
};

/// A 1xx response sent before the final one (`interim = [{ status = 103, headers = {...} }]`).
struct interim_spec {
  int status = 103;
  std::vector<name_value> headers;
  source_position position;
  bool operator==(const interim_spec&) const = default;
};

/// Chunked transfer of the body dribbled over time: `chunks = { count = 10, over = "2s" }`.
struct chunks_spec {
  unsigned count = 0;  ///< 0 = not chunked
  std::chrono::milliseconds over{0};
  bool operator==(const chunks_spec&) const = default;
};

/// Where a reply's body came from (decides the default Content-Type).
enum class body_source { none, inline_text, file, json };

/// `redirect = { to = "/new/{{path.id}}", status = 308 }`: sets the status and a Location header.
struct redirect_spec {
  std::string to;    ///< a template, rendered like header values
  int status = 302;  ///< 301, 302, 303, 307 or 308
  source_position position;
  bool operator==(const redirect_spec&) const = default;
};

/// The [route.reply] table: one scripted reply.
/// One Server-Sent Event of a reply's `events` (the text/event-stream format of the HTML
/// standard, "Server-sent events"). Each field is written only when set.
struct sse_event_spec {
  std::optional<std::string> data;   ///< template; several lines become several `data:` lines
  std::optional<std::string> event;  ///< template; the event type
  std::optional<std::string> id;     ///< template; the last event ID a client resumes from
  std::optional<std::chrono::milliseconds> retry;  ///< written in milliseconds
  std::chrono::milliseconds delay{0};              ///< counted from the previous event
  source_position position;
  bool operator==(const sse_event_spec&) const = default;
};

/// What an event stream does after its last event.
enum class stream_end {
  close,  ///< end the reply (the last chunk), as `then = "close"`
  hold    ///< keep it open, with `heartbeat` comments, until the client or the server goes
};

struct reply_spec {
  int status = 200;
  std::string reason;  ///< empty = the registered phrase for `status`
  std::vector<name_value> headers;
  std::string body;  ///< template text (inline), file contents, or serialised JSON
  body_source source = body_source::none;
  std::string body_file;          ///< as written in the config, for messages
  source_position body_position;  ///< where body / body_file / json was written
  source_position position;       ///< the [route.reply] table itself

  delay_spec delay;                               ///< wait before replying
  bool hang = false;                              ///< never reply (until [server] max_hang)
  std::vector<interim_spec> interim;              ///< 1xx responses before the final one
  std::chrono::milliseconds processing_every{0};  ///< "102 Processing" this often while delayed
  fault_kind fault = fault_kind::none;
  chunks_spec chunks;
  std::uint64_t bandwidth = 0;            ///< bytes per second for the body; 0 = unlimited
  unsigned repeat = 1;                    ///< in [[route.replies]]: times this reply is used
  std::optional<redirect_spec> redirect;  ///< overrides `status`; adds Location (at compile)
  /// `events`: the body is a text/event-stream of these, paced by their delays.
  std::vector<sse_event_spec> events;
  stream_end then = stream_end::close;     ///< after the last event
  std::chrono::milliseconds heartbeat{0};  ///< ": keep-alive" this often while holding
  bool operator==(const reply_spec&) const = default;
};

/// What a route does when its sequence of replies is used up.
enum class sequence_end { repeat_last, cycle };

/// How a route answers `Expect: 100-continue`.
enum class expect_mode { send_continue, reject };

/// A route (or the server) going down on purpose: a fraction of requests, or a recurring window.
struct outage_spec {
  double rate = 0;                        ///< fraction of requests that fail, 0..1
  std::chrono::milliseconds every{0};     ///< a window starts this often (0 = no window)
  std::chrono::milliseconds duration{0};  ///< and lasts this long
  int status = 503;                       ///< the reply during the outage
  fault_kind fault = fault_kind::none;    ///< or a fault instead of a reply
  std::string path;                       ///< server-wide [[outage]] only: a path pattern
  source_position position;
  bool operator==(const outage_spec&) const = default;
};

/// `client_cert = { subject = "CN=billing", san = "billing.internal" }`: either or both.
struct client_cert_spec {
  std::string subject;  ///< RFC 4514 form, compared exactly ("" = any)
  std::string san;      ///< one of its subjectAltName DNS names, IPs, emails or URIs ("" = any)
  source_position position;
  bool operator==(const client_cert_spec&) const = default;
};

/// How [route.auth] expects credentials to be presented.
enum class auth_kind { bearer, basic, header };

/// [route.auth]: exactly one of `bearer`, `basic` or `header = { name, value }`.
struct auth_spec {
  auth_kind kind = auth_kind::bearer;
  std::string header_name;  ///< for auth_kind::header
  std::string secret;       ///< the token, "user:pass", or the header value
  source_position position;
  bool operator==(const auth_spec&) const = default;
};

/// [route.proxy]: the route forwards requests to a real upstream and relays its replies.
struct proxy_spec {
  std::string to;            ///< as written: "http://host[:port][/base]" or "https://..."
  bool tls = false;          ///< https: the upstream is reached over TLS
  std::string host;          ///< the upstream's host name or IP literal (without brackets)
  std::uint16_t port = 0;    ///< its port (80 or 443 when the URL names none)
  std::string base_path;     ///< the URL's path without a trailing '/', prefixed to each target
  std::string strip_prefix;  ///< removed from the start of the request path first ("" = none)
  std::chrono::milliseconds connect_timeout{2'000};  ///< no connection in time: 502
  std::chrono::milliseconds timeout{30'000};         ///< no complete reply head in time: 504
  std::vector<name_value> headers;  ///< set on the upstream request (replacing the client's)
  std::vector<std::string> remove;  ///< header names removed from the upstream request
  bool preserve_host = false;       ///< send the client's Host instead of the upstream's
  std::string ca;          ///< PEM file of CAs trusted for an https upstream ("" = the system's)
  bool verify = true;      ///< verify an https upstream's certificate and name
  delay_spec delay;        ///< wait before forwarding
  delay_spec delay_reply;  ///< wait before relaying the reply
  fault_kind fault = fault_kind::none;          ///< reset/close/empty/garbage: no upstream call
  chunks_spec chunks;                           ///< pace the relayed body in this many chunks
  std::uint64_t bandwidth = 0;                  ///< relay the body at this many bytes per second
  std::vector<std::pair<int, int>> status_map;  ///< upstream status -> status sent
  std::vector<name_value> reply_headers;        ///< set on the relayed reply
  std::vector<std::string> reply_remove;        ///< header names removed from the relayed reply
  source_position position;                     ///< the [route.proxy] table
  bool operator==(const proxy_spec&) const = default;
};

/// One [[route]]: matchers plus the reply.
/// What a WebSocket step breaks (`fault` in a step).
enum class websocket_fault {
  none,
  drop,           ///< TCP FIN without a close frame
  reset,          ///< TCP RST
  garbage,        ///< bytes that are no valid frame, then close
  no_close_reply  ///< from here on, the client's close frame is never answered
};

/// One step of a WebSocket script: a message, a ping or a close, or only a fault; `delay`
/// counts from the previous step.
struct websocket_step {
  enum class kind { send, send_binary, ping, close, fault };
  kind type = kind::send;
  std::string payload;    ///< send: template text; send_binary: the decoded bytes; ping: its text
  int close_code = 1000;  ///< close
  std::string close_reason;  ///< close
  std::chrono::milliseconds delay{0};
  websocket_fault fault = websocket_fault::none;  ///< after the step's message, if any
  source_position position;
  bool operator==(const websocket_step&) const = default;
};

/// One [[route.websocket.on_message]]: how a client's message is answered. The first entry
/// whose `match` holds (and whose `repeat` is not used up) answers.
struct websocket_answer_spec {
  std::optional<body_matcher_spec> match;  ///< unset or `{}`: any message
  std::vector<websocket_step> reply;
  bool echo = false;    ///< send the message back as it came (text or binary)
  unsigned repeat = 0;  ///< answers this many matching messages per connection; 0 = every one
  source_position position;
  bool operator==(const websocket_answer_spec&) const = default;
};

/// [route.websocket]: the route accepts the upgrade (RFC 6455) and plays this script.
struct websocket_spec {
  std::vector<std::string> subprotocols;  ///< the first the client also offers is chosen
  std::vector<websocket_step> on_open;
  std::optional<websocket_step> every;  ///< a step repeated every `every_interval`
  std::chrono::milliseconds every_interval{0};
  std::chrono::milliseconds close_after{0};  ///< 0 = never; else close with the code below
  int close_code = 1000;
  std::string close_reason;
  std::vector<websocket_answer_spec> on_message;
  std::size_t max_message_bytes = 1024 * 1024;  ///< over it: close 1009
  std::chrono::milliseconds idle_timeout{0};    ///< no frame from the client this long: 1001
  std::chrono::milliseconds ping_every{0};      ///< server pings; no pong by the next: 1001
  source_position position;
  bool operator==(const websocket_spec&) const = default;
};

struct route_spec {
  std::string name;                  ///< unique; "" in the file becomes "METHOD path" at load
  std::vector<std::string> methods;  ///< empty = any method
  std::string path;                  ///< exact, with {name} segments and an optional trailing /*
  std::string path_regex;            ///< RE2, instead of path; named groups become path params
  std::vector<name_value> query;     ///< each parameter present with exactly this value
  std::vector<name_value> headers;   ///< names case-insensitive, exact value
  std::optional<body_matcher_spec> body;
  std::vector<name_value> cookies;  ///< each cookie sent with exactly this value
  std::vector<name_value> form;     ///< each form field of the body with exactly this value
  std::optional<when_spec> when;    ///< [route.when] conditions
  std::string scheme;               ///< "http" or "https": only on that listener; "" = both
  std::optional<client_cert_spec> client_cert;  ///< the TLS client certificate must match
  int priority = 0;                             ///< higher wins; equal: earlier in the files wins
  reply_spec reply;                             ///< used when `replies` is empty
  std::vector<reply_spec> replies;              ///< [[route.replies]]: a scripted sequence
  sequence_end then = sequence_end::repeat_last;
  expect_mode expect = expect_mode::send_continue;
  std::chrono::milliseconds continue_delay{0};  ///< hold the 100 Continue back this long
  std::optional<outage_spec> outage;
  std::optional<auth_spec> auth;      ///< 401 without credentials, 403 with wrong ones
  bool require_length = false;        ///< a chunked request body gets 411
  std::vector<std::string> consumes;  ///< media types (lower case); else a body gets 415
  std::vector<std::string> produces;  ///< media types (lower case); Accept excluding all: 406
  bool etag = false;                  ///< strong ETag from the body on 2xx; 304 / 412
  std::string last_modified;          ///< an IMF-fixdate sent as Last-Modified ("" = none)
  bool ranges = false;                ///< Accept-Ranges: bytes; 206 / 416 for GET
  std::optional<rate_limit_spec> rate_limit;  ///< [route.rate_limit]: 429 over the limit
  std::optional<proxy_spec> proxy;            ///< [route.proxy]: forward to a real upstream
  std::optional<websocket_spec> websocket;    ///< [route.websocket]: upgrade, then a script
  std::optional<state_key_spec> state_key;    ///< state split by a value of each request
  std::size_t max_state_keys = 10'000;        ///< state keys kept; the least recently used goes
  source_position position;                   ///< the [[route]] table
  source_position path_position;              ///< where path / path_regex was written
  bool operator==(const route_spec&) const = default;
};

/// The [admin] table: the runtime API, the request journal and the metrics.
struct admin_config {
  bool enabled = true;
  std::string prefix = "/__admin";        ///< admin paths start with this
  std::optional<listen_address> listen;   ///< its own listener; unset = the main one
  std::string token;                      ///< "" = open; else `Authorization: Bearer <token>`
  std::size_t journal = 1000;             ///< the newest requests kept; 0 = no journal
  std::size_t journal_body_bytes = 4096;  ///< request body bytes kept per journal entry
  bool operator==(const admin_config&) const = default;
};

/// [recording]: what proxy routes relay is written out as routes.
struct recording_config {
  std::string out;  ///< the TOML file written (bodies over 4 KiB or not UTF-8 beside it)
  std::vector<std::string> redact{"Authorization", "Cookie", "Set-Cookie"};  ///< values hidden
  source_position position;
  bool operator==(const recording_config&) const = default;
};

/// What [cluster] does when Redis cannot answer in time.
enum class cluster_fallback { local, allow, deny };

/// [cluster]: instances with the same namespace share state in Redis.
struct cluster_config {
  std::string redis =
      "redis://127.0.0.1:6379/0";       ///< redis://[user:password@]host:port/db or unix:///path
  std::string name_space = "stubborn";  ///< `namespace`: the prefix of every key
  bool share_rate_limits = true;
  bool share_sequences = true;
  bool share_outages = true;
  bool share_routes = true;
  bool share_journal = true;
  cluster_fallback on_unavailable = cluster_fallback::local;
  std::chrono::milliseconds timeout{50};  ///< each Redis command's deadline
  std::size_t journal_max = 10'000;       ///< entries the shared journal stream keeps
  source_position position;
  bool operator==(const cluster_config&) const = default;
};

/// Values given on the command line, which win over the files' (now and after each reload).
struct config_overrides {
  std::optional<listen_address> listen;
  std::optional<listen_address> tls_listen;  ///< --tls-listen: over [server.tls] listen
  std::optional<unsigned> threads;
  std::optional<std::string> access_log;
  bool offline = false;  ///< --offline: as [server] offline = true
};

/// A whole validated configuration, possibly merged from several files.
struct config {
  server_config server;
  admin_config admin;
  std::vector<route_spec> routes;             ///< in file order (files in the order given)
  std::vector<outage_spec> outages;           ///< server-wide [[outage]] tables
  std::optional<recording_config> recording;  ///< [recording]
  std::optional<cluster_config> cluster;      ///< [cluster]: shared state in Redis
  std::vector<std::string> files;             ///< the TOML files read, in order
  std::vector<std::string> sources;           ///< the paths given to load_config (files or folders)
  config_overrides overrides;  ///< applied by the server over `server`; never by the loader
};

}  // namespace stubborn

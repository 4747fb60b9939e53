// The RFC 9110/9112 conformance table (tests/conformance/cases.json, shared with
// tests/conformance/compare_nginx.py): raw bytes in, the statuses expected in order, whether the
// connection must close, and a canary request afterwards (on the same connection when it must
// stay open, on a new one when it closes) to prove the server did not lose track of the framing.
// Each row is its own test case, named "conformance: <row name>"; rows where stubborn departs
// from the RFC are tagged [!mayfail] in the table, with the reason. At the end, the fuzz seeds
// and reproducers replayed through the fuzz targets' checks.

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "../fuzz/response_checker.hpp"
#include "../fuzz/session_driver.hpp"
#include "../fuzz/tls_session_driver.hpp"
#include "harness.hpp"

using namespace stubborn::testing;
using namespace std::chrono_literals;

namespace {

namespace json = boost::json;
using clock_type = std::chrono::steady_clock;

struct conformance_case {
  std::string name, rfc, why;
  std::string send, then_send;
  std::vector<std::vector<int>> expect, then_expect;  // per response: acceptable statuses
  std::optional<bool> close;                          // nullopt: either is fine
  std::set<std::size_t> no_body;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
  std::optional<std::string> body;
  bool half_close = false;
  bool no_interim = false;
  bool mayfail = false;
};

struct conformance_table {
  std::string config, canary;
  std::vector<conformance_case> cases;
  std::string error;  // why the table could not be read, if it could not
};

// JSON strings hold bytes as Latin-1 text: U+0000..U+00FF is one byte each.
std::string bytes_of(const json::string& text) {
  std::string out;
  std::string_view s(text);
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
    } else if ((c & 0xE0) == 0xC0 && i + 1 < s.size()) {
      unsigned cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
      if (cp > 0xFF) throw std::runtime_error("a character above U+00FF in a byte string");
      out.push_back(static_cast<char>(cp));
      i += 2;
    } else {
      throw std::runtime_error("a character above U+00FF in a byte string");
    }
  }
  // <<PAD:c:N>> stands for N copies of c, so long requests stay readable in the table.
  for (std::size_t at; (at = out.find("<<PAD:")) != std::string::npos;) {
    std::size_t end = out.find(">>", at);
    char fill = out[at + 6];
    std::size_t count = std::stoul(out.substr(at + 8, end - at - 8));
    out.replace(at, end + 2 - at, std::string(count, fill));
  }
  return out;
}

std::vector<std::vector<int>> statuses_of(const json::value& v) {
  std::vector<std::vector<int>> out;
  for (const auto& e : v.as_array()) {
    std::vector<int> alternatives;
    if (e.is_array()) {
      for (const auto& s : e.as_array()) alternatives.push_back(static_cast<int>(s.as_int64()));
    } else {
      alternatives.push_back(static_cast<int>(e.as_int64()));
    }
    out.push_back(alternatives);
  }
  return out;
}

conformance_table load_table() {
  conformance_table table;
  try {
    std::ifstream in(STUBBORN_SOURCE_DIR "/tests/conformance/cases.json");
    std::stringstream text;
    text << in.rdbuf();
    json::value doc = json::parse(text.str());
    table.config = std::string(doc.at("config").as_string());
    table.canary = bytes_of(doc.at("canary").as_string());
    for (const auto& v : doc.at("cases").as_array()) {
      const json::object& o = v.as_object();
      conformance_case c;
      c.name = std::string(o.at("name").as_string());
      c.rfc = std::string(o.at("rfc").as_string());
      c.send = bytes_of(o.at("send").as_string());
      c.expect = statuses_of(o.at("expect"));
      if (!o.at("close").is_null()) c.close = o.at("close").as_bool();
      if (auto* p = o.if_contains("half_close")) c.half_close = p->as_bool();
      if (auto* p = o.if_contains("no_interim")) c.no_interim = p->as_bool();
      if (auto* p = o.if_contains("mayfail")) c.mayfail = p->as_bool();
      if (auto* p = o.if_contains("why")) c.why = std::string(p->as_string());
      if (auto* p = o.if_contains("body")) c.body = std::string(p->as_string());
      if (auto* p = o.if_contains("then_send")) c.then_send = bytes_of(p->as_string());
      if (auto* p = o.if_contains("then_expect")) c.then_expect = statuses_of(*p);
      if (auto* p = o.if_contains("no_body")) {
        for (const auto& i : p->as_array())
          c.no_body.insert(static_cast<std::size_t>(i.as_int64()));
      }
      if (auto* p = o.if_contains("headers")) {
        for (const auto& [name, value] : p->as_object()) {
          std::optional<std::string> expected;
          if (!value.is_null()) expected = std::string(value.as_string());
          c.headers.emplace_back(std::string(name), expected);
        }
      }
      table.cases.push_back(std::move(c));
    }
  } catch (const std::exception& e) {
    table.error = e.what();
  }
  return table;
}

const conformance_table& table() {
  static const conformance_table t = load_table();
  return t;
}

running_server& shared_server() {
  static running_server server(table().config);
  return server;
}

struct response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool complete = true;
  std::optional<std::string> header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (n.size() == name.size() &&
          std::equal(n.begin(), n.end(), name.begin(),
                     [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
        return v;
      }
    }
    return std::nullopt;
  }
};

// A blocking client that never fails the test by itself: it reports a close as "no response".
// Over the harness's raw_client, so the suite's TLS run speaks TLS here too.
class connection {
 public:
  explicit connection(std::uint16_t port) : client_(port) {}

  void send(std::string_view bytes) {
    try {
      client_.send(bytes);
    } catch (const std::runtime_error&) {
      // The server closed: what it answered is still readable.
    }
  }
  void shutdown_send() { client_.shutdown_send(); }

  /// The next response, or nullopt if the connection ended (or the deadline passed) first.
  std::optional<response> next(bool no_body, clock_type::time_point deadline) {
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(deadline)) return std::nullopt;
    }
    response r;
    std::string head = buffer_.substr(0, end + 2);
    buffer_.erase(0, end + 4);
    std::istringstream lines(head);
    std::string line;
    std::getline(lines, line);
    if (line.size() < 12 || line.compare(0, 9, "HTTP/1.1 ") != 0) {
      r.status = -1;  // not an HTTP/1.1 status line
      return r;
    }
    r.status = std::stoi(line.substr(9, 3));
    while (std::getline(lines, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers.emplace_back(line.substr(0, colon), value);
    }
    if (no_body || r.status / 100 == 1 || r.status == 204 || r.status == 304) return r;
    if (auto length = r.header("Content-Length")) {
      std::size_t n = std::stoul(*length);
      while (buffer_.size() < n) {
        if (!fill(deadline)) {
          r.complete = false;
          return r;
        }
      }
      r.body = buffer_.substr(0, n);
      buffer_.erase(0, n);
    } else {
      r.complete = false;  // stubborn always frames its bodies with Content-Length
    }
    return r;
  }

  /// Waits for the server to close; false on the deadline. Bytes read meanwhile stay in rest().
  bool wait_close(clock_type::time_point deadline) {
    while (!eof_) {
      if (!fill(deadline) && !eof_) return false;
    }
    return true;
  }
  bool closed() const { return eof_; }
  const std::string& rest() const { return buffer_; }

 private:
  bool fill(clock_type::time_point deadline) {
    if (eof_) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
    if (left.count() <= 0) return false;
    char chunk[16384];
    const long n = client_.receive_some(chunk, sizeof chunk, left);
    if (n == -2) return false;
    if (n <= 0) {
      eof_ = true;  // clean close or reset: either way the server ended the connection
      return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  raw_client client_;
  std::string buffer_;
  bool eof_ = false;
};

bool accepts(const std::vector<int>& alternatives, int status) {
  return std::find(alternatives.begin(), alternatives.end(), status) != alternatives.end();
}

// Reads the responses `expected` lists; returns false if the connection ended early.
std::vector<response> read_expected(connection& c, const std::vector<std::vector<int>>& expected,
                                    const conformance_case& row, std::size_t first_index) {
  std::vector<response> got;
  auto deadline = clock_type::now() + 5s;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("response " << i + first_index + 1);
    std::optional<response> r = c.next(row.no_body.count(i + first_index) > 0, deadline);
    while (r && r->status / 100 == 1 && !accepts(expected[i], r->status)) {
      CHECK_FALSE(row.no_interim);  // an interim response where none may be sent
      r = c.next(row.no_body.count(i + first_index) > 0, deadline);
    }
    if (!r) {
      INFO((c.closed() ? "the connection closed" : "nothing arrived in 5 s") << " instead");
      CHECK(accepts(expected[i], 0));
      break;
    }
    CHECK(r->status != -1);
    CHECK(r->complete);
    INFO("status " << r->status);
    CHECK(accepts(expected[i], r->status));
    got.push_back(std::move(*r));
  }
  return got;
}

void check_canary(connection& c, const std::string& canary) {
  c.send(canary);
  std::optional<response> r = c.next(false, clock_type::now() + 5s);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "ok");
}

void run_case(const conformance_case& row) {
  const conformance_table& t = table();
  running_server& server = shared_server();
  INFO(row.name << " (" << row.rfc << ")" << (row.why.empty() ? "" : ": ") << row.why);
  connection c(server.port());
  c.send(row.send);
  if (row.half_close) c.shutdown_send();
  std::vector<response> got = read_expected(c, row.expect, row, 0);

  if (!got.empty()) {
    const response& first = got.front();
    for (const auto& [name, value] : row.headers) {
      INFO("header " << name);
      CHECK(first.header(name) == value);
    }
    if (row.body) CHECK(first.body == *row.body);
  }
  if (!row.then_send.empty() && !c.closed()) {
    c.send(row.then_send);
    read_expected(c, row.then_expect, row, row.expect.size());
  }

  bool open = false;
  if (row.close == true) {
    INFO("the server must close the connection");
    CHECK(c.wait_close(clock_type::now() + 5s));
    INFO("bytes after the expected responses: " << c.rest());
    CHECK(c.rest().empty());
  } else if (row.close == false) {
    INFO("the connection must stay open: a canary on it");
    CHECK_FALSE(c.closed());
    check_canary(c, t.canary);
    open = true;
  } else {
    // Either is fine: a canary on the same connection is answered, or the server has closed.
    c.send(t.canary);
    std::optional<response> r = c.next(false, clock_type::now() + 5s);
    if (r) {
      CHECK(r->status == 200);
      open = true;
    } else {
      CHECK(c.closed());
    }
  }
  if (!open) {
    connection fresh(server.port());
    check_canary(fresh, t.canary);
  }
}

class case_invoker : public Catch::ITestInvoker {
 public:
  explicit case_invoker(std::size_t index) : index_(index) {}
  void invoke() const override { run_case(table().cases[index_]); }

 private:
  std::size_t index_;
};

// One Catch test case per row, registered before main() runs.
struct registrar {
  registrar() {
    const conformance_table& t = table();
    for (std::size_t i = 0; i < t.cases.size(); ++i) {
      const conformance_case& row = t.cases[i];
      names.push_back("conformance: " + row.name);
      tags.push_back(row.mayfail ? "[conformance][!mayfail]" : "[conformance]");
    }
    for (std::size_t i = 0; i < t.cases.size(); ++i) {
      // makeTestCase takes ownership of the invoker (Catch2 v2's registration API).
      Catch::getMutableRegistryHub().registerTest(Catch::makeTestCase(
          new case_invoker(i), "", Catch::NameAndTags{names[i], tags[i]}, CATCH_INTERNAL_LINEINFO));
    }
  }
  std::vector<std::string> names, tags;
};

const registrar registered;

}  // namespace

TEST_CASE("the conformance table loads and has at least 80 rows", "[conformance]") {
  INFO(table().error);
  CHECK(table().error.empty());
  CHECK(table().cases.size() >= 80);
}

namespace {

std::vector<std::string> corpus(const char* target) {
  std::vector<std::string> inputs;
  std::filesystem::path dir =
      std::filesystem::path(STUBBORN_SOURCE_DIR) / "tests/fuzz/corpus" / target;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    inputs.push_back(bytes.str());
  }
  return inputs;
}

// The session driver of this run: the TLS run carries the bytes in TLS records to the TLS
// transport, as fuzz_fragmentation_tls does.
std::string run_driver(std::span<const std::string_view> pieces) {
  return suite_over_tls() ? stubborn::fuzz::run_tls_session(pieces)
                          : stubborn::fuzz::run_session(pieces);
}

}  // namespace

// The fuzz targets' checks, replayed deterministically on the committed seeds and reproducers
// (tests/fuzz/corpus), through the same socketpair drivers: the real session, no timing.
TEST_CASE("fuzz seeds: every answer is well-formed HTTP/1.1", "[conformance][fuzz]") {
  for (const std::string& input : corpus("fuzz_request_path")) {
    std::string_view pieces[] = {input};
    std::string output = run_driver(pieces);
    INFO(input);
    CHECK(stubborn::fuzz::check_responses(output, input).empty());
  }
}

TEST_CASE("fuzz seeds: the answer does not depend on where the bytes were split",
          "[conformance][fuzz]") {
  for (std::string input : corpus("fuzz_fragmentation")) {
    input += "\r\n\r\n";  // as fuzz_fragmentation does: the last head is always terminated
    std::string_view whole[] = {input};
    // At once over plain TCP: over TLS the split answer must also be what HTTP answers (unless
    // the plain port takes the bytes for a ClientHello).
    const bool as_plain = !suite_over_tls() || !stubborn::fuzz::plain_port_takes_for_tls(input);
    std::string at_once = stubborn::fuzz::normalize_for_comparison(
        as_plain ? stubborn::fuzz::run_session(whole) : run_driver(whole));
    for (std::size_t cut = 1; cut < input.size(); ++cut) {
      std::string_view pieces[] = {std::string_view(input).substr(0, cut),
                                   std::string_view(input).substr(cut)};
      INFO(input << "\ncut at " << cut);
      CHECK(stubborn::fuzz::normalize_for_comparison(run_driver(pieces)) == at_once);
    }
  }
}

// request_parser and check_request_head without sockets: regression tests for what the fuzzers
// and the conformance suite found.

#include <catch2/catch.hpp>
#include <string>

#include "wire/request_parser.hpp"

using namespace stubborn;

namespace {

struct parsed {
  request_rejection rejection;
  bool failed = false;
  bool expect_continue = false;
};

// Feeds one complete request head to a fresh parser.
parsed parse(std::string text) {
  request_storage storage;
  request_parser parser(storage, 100, 16384);
  parser.eager(true);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(text), ec);
  return {parser.rejection(), ec && ec != boost::beast::http::error::need_more,
          storage.expect_continue};
}

}  // namespace

TEST_CASE("a long request line is 414 wherever it was cut (fuzz_fragmentation)", "[parser]") {
  // Junk past the line limit (100 + 64 here) must not turn the 414 into a 400 when it arrives in
  // the same read as the rest of the line.
  std::string line(200, 'A');
  line += '\x01';
  for (std::size_t size : {line.size(), std::size_t{170}}) {
    std::string bytes = line.substr(0, size);
    std::size_t skip = 0, scanned = 0;
    CHECK(check_request_head(bytes.data(), bytes.size(), 100, skip, scanned) ==
          head_check::uri_too_long);
  }
  std::string early = "GE\x01T / HTTP/1.1\r\n";
  std::size_t skip = 0, scanned = 0;
  CHECK(check_request_head(early.data(), early.size(), 100, skip, scanned) ==
        head_check::bad_request);
}

TEST_CASE("Expect: 100-continue in an HTTP/1.0 request is ignored (RFC 9110 §10.1.1)", "[parser]") {
  CHECK_FALSE(parse("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
                  .expect_continue);
  CHECK(parse("POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
            .expect_continue);
  CHECK(parse("GET / HTTP/1.0\r\nExpect: teapot\r\n\r\n").rejection.status == 417);
}

TEST_CASE("a fragment in the request target is 400 (RFC 9112 §3.2)", "[parser]") {
  auto r = parse("GET /ok#frag HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(r.failed);
  CHECK(r.rejection.status == 400);
  CHECK_FALSE(parse("GET /ok?a=b HTTP/1.1\r\nHost: t\r\n\r\n").failed);
}

TEST_CASE("Host values are checked against uri-host [\":\" port] (RFC 9112 §3.2)", "[parser]") {
  for (const char* good : {"", "t", "t:80", "t:", "example.com", "a-b.c_d~e", "%41b", "a,b",
                           "127.0.0.1:8080", "[::1]", "[::1]:443", "[v1.fe]"}) {
    INFO(good);
    CHECK(is_valid_host(good));
  }
  for (const char* bad : {"a b", "a, b", "t:8x", "[::1", "[]", "a/b", "a@b", "%4", "%zz", "a\"b",
                          "t:80:90", "[::1]x"}) {
    INFO(bad);
    CHECK_FALSE(is_valid_host(bad));
  }
  CHECK(parse("GET / HTTP/1.1\r\nHost: a b\r\n\r\n").rejection.status == 400);
}

TEST_CASE("the head goes to the parser only when complete (fuzz_fragmentation)", "[parser]") {
  // Beast consumed the fields it had parsed from a partial head, which moved the bytes under
  // `scanned`: obs-fold arriving in a later piece slipped past the check.
  std::string head = "GET /ok HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n";
  std::size_t skip = 0, scanned = 0;
  std::string first = head.substr(0, 27);  // through "Host: t\r\n"
  CHECK(check_request_head(first.data(), first.size(), 8192, skip, scanned) ==
        head_check::incomplete);
  CHECK(check_request_head(head.data(), head.size(), 8192, skip, scanned) ==
        head_check::bad_request);

  std::string good = "GET /ok HTTP/1.1\r\nHost: t\r\n\r\n";
  for (std::size_t cut = 17; cut < good.size(); ++cut) {
    std::string piece = good.substr(0, cut);
    scanned = 0;
    INFO("cut at " << cut);
    CHECK(check_request_head(piece.data(), piece.size(), 8192, skip, scanned) ==
          head_check::incomplete);
    CHECK(check_request_head(good.data(), good.size(), 8192, skip, scanned) == head_check::ok);
  }
  std::string bare_cr = "GET /ok HTTP/1.1\r\nHost: t\r\n\rX\r\n\r\n";
  scanned = 0;
  CHECK(check_request_head(bare_cr.data(), bare_cr.size(), 8192, skip, scanned) ==
        head_check::bad_request);
}

TEST_CASE("a chunk line whose quoted string meets CR or LF is malformed (RFC 9112 §7.1.1)",
          "[parser][chunked]") {
  // Complete lines with a quoted string that the line's end breaks.
  for (std::string broken : {"5;a=\"b\r\n", "5;a=\"b\r\nhello\r\n0\r\n\r\n", "\r\n5;a=\"b\r\n",
                             "5;a=\"b\nhel", "5;a=\"b\\\r\n", "5;a=\"b\\\n", "5;x=y;a=\"\r\n",
                             "0;a=\"b\r\n\r\n", "5 ; a = \"b\" ; c = \"d\r\n"}) {
    INFO(Catch::Detail::stringify(broken));
    CHECK(chunk_line_breaks_quote(broken));
  }
  // Well-formed lines, lines not all here yet, and lines whose faults Beast finds itself.
  for (std::string fine : {"", "5", "5;a=\"b", "5;a=\"b\r", "5\r\nhel\"lo\r\n", "5;a=b\r\n",
                           "5;a=\"b\"\r\n", "5;a=\"b\\\"c\";d=\"\"\r\n", "0;a=\"b\"\r\nX: \"\r\n",
                           "\r\n5;a=\"b\\\"\"\r\n\"", "5\r\n"}) {
    INFO(Catch::Detail::stringify(fine));
    CHECK_FALSE(chunk_line_breaks_quote(fine));
  }
}

TEST_CASE("the parser fails a broken quoted chunk extension at once, however it is fed",
          "[parser][chunked]") {
  const std::string head = "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string good_body = "5;a=\"b\\\"c\"\r\nhello\r\n3;x=\"\"\r\nabc\r\n0;z=\"q\"\r\n\r\n";
  const std::string bad_bodies[] = {"5;a=\"b\r\nhello\r\n0\r\n\r\n",
                                    "5\r\nhello\r\n3;x=\"y\r\nabc\r\n0\r\n\r\n", "0;a=\"b\r\n\r\n"};
  // Fed as a session feeds it: everything received so far, minus what the parser consumed.
  auto feed = [](const std::string& bytes, std::size_t cut, request_storage& storage) {
    request_parser parser(storage, 100, 16384);
    parser.eager(true);
    boost::beast::error_code ec;
    std::string pending;
    for (std::string_view piece :
         {std::string_view(bytes).substr(0, cut), std::string_view(bytes).substr(cut)}) {
      pending.append(piece);
      const std::size_t used = parser.put(boost::asio::buffer(pending), ec);
      pending.erase(0, used);
      if (ec && ec != boost::beast::http::error::need_more) return ec;
      if (parser.is_done()) break;
    }
    return ec;
  };
  const std::string good = head + good_body;
  for (std::size_t cut = 0; cut <= good.size(); ++cut) {
    request_storage storage;
    INFO("good, cut at " << cut);
    CHECK_FALSE(feed(good, cut, storage));
    CHECK(storage.body == "helloabc");
  }
  for (const std::string& bad_body : bad_bodies) {
    const std::string bad = head + bad_body;
    for (std::size_t cut = 0; cut <= bad.size(); ++cut) {
      request_storage storage;
      INFO(Catch::Detail::stringify(bad_body) << ", cut at " << cut);
      CHECK(feed(bad, cut, storage) == boost::beast::http::error::bad_chunk_extension);
    }
  }
}

// The text utilities: strict UTF-8 (RFC 3629), base64 (RFC 4648) and edit distances.

#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

#include "text/base64.hpp"
#include "text/edit_distance.hpp"
#include "text/utf8.hpp"

using namespace stubborn;

TEST_CASE("UTF-8: well-formed sequences are accepted with their length", "[unit][text]") {
  const std::vector<std::pair<std::string, std::size_t>> valid = {
      {"A", 1},
      {"\x7F", 1},
      {"\xC2\x80", 2},          // U+0080, the first two-byte code point
      {"\xC3\xA9", 2},          // é
      {"\xDF\xBF", 2},          // U+07FF
      {"\xE0\xA0\x80", 3},      // U+0800, the first three-byte code point
      {"\xE2\x82\xAC", 3},      // €
      {"\xED\x9F\xBF", 3},      // U+D7FF, just below the surrogates
      {"\xEE\x80\x80", 3},      // U+E000, just above them
      {"\xEF\xBF\xBF", 3},      // U+FFFF
      {"\xF0\x90\x80\x80", 4},  // U+10000, the first four-byte code point
      {"\xF0\x9F\x98\x80", 4},  // 😀
      {"\xF4\x8F\xBF\xBF", 4},  // U+10FFFF, the last code point
  };
  for (const auto& [bytes, length] : valid) {
    INFO(Catch::Detail::stringify(bytes));
    CHECK(utf8_sequence_length(bytes) == length);
    CHECK(utf8_sequence_length(bytes + "tail") == length);
    CHECK(is_valid_utf8(bytes));
    CHECK(is_valid_utf8("x" + bytes + "y" + bytes));
  }
  CHECK(is_valid_utf8(""));
  CHECK(utf8_sequence_length("") == 0);
}

TEST_CASE("UTF-8: overlongs, surrogates, out-of-range and broken sequences are refused",
          "[unit][text]") {
  const std::vector<std::string> invalid = {
      "\x80",  // a continuation byte alone
      "\xBF",
      "\xC0\x80",                  // overlong NUL
      "\xC1\xBF",                  // overlong U+007F
      "\xE0\x80\x80",              // overlong NUL in three bytes
      "\xE0\x9F\xBF",              // overlong U+07FF
      "\xF0\x80\x80\x80",          // overlong NUL in four bytes
      "\xF0\x8F\xBF\xBF",          // overlong U+FFFF
      "\xED\xA0\x80",              // U+D800, a high surrogate
      "\xED\xAF\xBF",              // U+DBFF
      "\xED\xB0\x80",              // U+DC00, a low surrogate
      "\xED\xBF\xBF",              // U+DFFF
      "\xED\xA0\x80\xED\xB0\x80",  // a surrogate pair encoded as two sequences (CESU-8)
      "\xF4\x90\x80\x80",          // U+110000, past the last code point
      "\xF5\x80\x80\x80",          // leads that never appear
      "\xF7\xBF\xBF\xBF",
      "\xF8\x88\x80\x80\x80",  // the old five-byte form
      "\xFC\x84\x80\x80\x80\x80",
      "\xFE",
      "\xFF",
      "\xC3",  // truncated sequences
      "\xE2\x82",
      "\xF0\x9F\x98",
      "\xC3\x41",  // a lead without its continuation
      "\xE2\x28\xA1",
      "\xF0\x9F\x98\x41",
  };
  for (const auto& bytes : invalid) {
    INFO(Catch::Detail::stringify(bytes));
    CHECK(utf8_sequence_length(bytes) == 0);
    CHECK_FALSE(is_valid_utf8(bytes));
    CHECK_FALSE(is_valid_utf8("ok " + bytes));
    CHECK_FALSE(is_valid_utf8(bytes + " ok"));
  }
}

TEST_CASE("UTF-8: ill-formed bytes are replaced by U+FFFD, well-formed text is kept",
          "[unit][text]") {
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(replace_invalid_utf8("") == "");
  CHECK(replace_invalid_utf8("caf\xC3\xA9 \xF0\x9F\x98\x80") == "caf\xC3\xA9 \xF0\x9F\x98\x80");
  CHECK(replace_invalid_utf8("caf\xE9!") == "caf" + fffd + "!");  // Latin-1
  CHECK(replace_invalid_utf8("a\xC0\x80"
                             "b") == "a" + fffd + fffd + "b");        // overlong
  CHECK(replace_invalid_utf8("\xED\xA0\x80") == fffd + fffd + fffd);  // surrogate
  CHECK(replace_invalid_utf8("\xE2\x82") == fffd + fffd);             // truncated
  CHECK(replace_invalid_utf8("\xE2\x82\xAC\xE2") == "\xE2\x82\xAC" + fffd);
  for (std::string bad : {"\xFF", "x\xC3", "\xF4\x90\x80\x80", "\x80\x80"}) {
    INFO(Catch::Detail::stringify(bad));
    CHECK(is_valid_utf8(replace_invalid_utf8(bad)));
  }
}

TEST_CASE("base64 decodes RFC 4648 test vectors and rejects bad input", "[unit][text]") {
  std::string out;
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""},
      {"Zg==", "f"},
      {"Zm8=", "fo"},
      {"Zm9v", "foo"},
      {"Zm9vYg==", "foob"},
      {"Zm9vYmE=", "fooba"},
      {"Zm9vYmFy", "foobar"},
      {"QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "Aladdin:open sesame"}};
  for (const auto& [in, expected] : vectors) {
    INFO(in);
    CHECK(base64_decode(in, out));
    CHECK(out == expected);
  }
  for (std::string bad : {"Zg=", "Zg=a", "Z===", "Zm9v!A==", "=Zm9", "Zg==Zg=="}) {
    INFO(bad);
    CHECK_FALSE(base64_decode(bad, out));
  }
}

TEST_CASE("base64 encodes RFC 4648 test vectors and round-trips every byte", "[unit][text]") {
  const std::vector<std::pair<std::string, std::string>> vectors = {{"", ""},
                                                                    {"f", "Zg=="},
                                                                    {"fo", "Zm8="},
                                                                    {"foo", "Zm9v"},
                                                                    {"foob", "Zm9vYg=="},
                                                                    {"fooba", "Zm9vYmE="},
                                                                    {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    INFO(plain);
    CHECK(base64_encode(plain) == encoded);
  }
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  std::string out;
  for (std::size_t size = 0; size <= all.size(); size += 1 + size / 8) {
    const std::string plain = all.substr(all.size() - size);
    INFO(size);
    const std::string encoded = base64_encode(plain);
    CHECK(encoded.size() == (size + 2) / 3 * 4);
    REQUIRE(base64_decode(encoded, out));
    CHECK(out == plain);
  }
  CHECK(base64_encode("\xC0\x80") == "wIA=");
}

TEST_CASE("base64 decode rejects what is not exactly one standard encoding", "[unit][text]") {
  std::string out = "stale";
  for (std::string bad : {"Z", "Zg", "Zg=", "Zg=a", "Z===", "====", "Zm9v!A==", "=Zm9",
                          "Zg==Zg==", "Zh==", "Zm9=", "Zm9v\n", "Zm 9", "Zm-_"}) {
    INFO(bad);
    CHECK_FALSE(base64_decode(bad, out));
  }
}

TEST_CASE("edit distance: Levenshtein, and optionally typos", "[unit][text]") {
  CHECK(edit_distance("", "") == 0);
  CHECK(edit_distance("abc", "") == 3);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("flaw", "lawn") == 2);
  CHECK(edit_distance("users", "user") == 1);
  // Plain Levenshtein: case matters and a swap is two edits.
  CHECK(edit_distance("Status", "status") == 1);
  CHECK(edit_distance("stauts", "status") == 2);
  // For misspelt keys: case is ignored and a swap of neighbours is one edit (OSA).
  const edit_distance_options typos{.ignore_ascii_case = true, .transpositions = true};
  CHECK(edit_distance("STATUS", "status", typos) == 0);
  CHECK(edit_distance("stauts", "status", typos) == 1);
  CHECK(edit_distance("ca", "abc", typos) == 3);  // OSA, not full Damerau (which gives 2)
  CHECK(edit_distance("kitten", "sitting", typos) == 3);
  CHECK(edit_distance("abc", "abc", typos) == 0);
  CHECK(edit_distance("abcdef", "badcfe", typos) == 3);
}

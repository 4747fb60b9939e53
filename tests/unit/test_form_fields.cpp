// Form bodies: application/x-www-form-urlencoded and multipart/form-data (RFC 7578), decoded
// into fields in body order.

#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

#include "text/form_fields.hpp"

using namespace stubborn;

namespace {

using fields = std::vector<std::pair<std::string, std::string>>;

fields read(std::string_view content_type, std::string_view body, bool expected_form = true) {
  std::vector<form_field> out;
  CHECK(read_form_fields(content_type, body, out) == expected_form);
  fields pairs;
  for (form_field& field : out) pairs.emplace_back(std::move(field.name), std::move(field.value));
  return pairs;
}

constexpr std::string_view urlencoded = "application/x-www-form-urlencoded";

}  // namespace

TEST_CASE("Form: urlencoded fields are split and decoded", "[unit][form]") {
  CHECK(read(urlencoded, "grant_type=client_credentials&scope=read+write") ==
        fields{{"grant_type", "client_credentials"}, {"scope", "read write"}});
  CHECK(read(urlencoded, "q=a%2Bb%20c%26d%3D&caf%C3%A9=%e2%82%ac") ==
        fields{{"q", "a+b c&d="}, {"caf\xC3\xA9", "\xE2\x82\xAC"}});
  CHECK(read(urlencoded, "a=1&a=2") == fields{{"a", "1"}, {"a", "2"}});
  CHECK(read(urlencoded, "a=x=y") == fields{{"a", "x=y"}});
  CHECK(read(urlencoded, "") == fields{});
}

TEST_CASE("Form: a urlencoded field without '=' has an empty value; empty pieces are skipped",
          "[unit][form]") {
  CHECK(read(urlencoded, "flag&b=2") == fields{{"flag", ""}, {"b", "2"}});
  CHECK(read(urlencoded, "&&a=1&&b=&") == fields{{"a", "1"}, {"b", ""}});
  CHECK(read(urlencoded, "=v") == fields{{"", "v"}});
}

TEST_CASE("Form: bad percent-escapes are left as written", "[unit][form]") {
  CHECK(read(urlencoded, "a=100%&b=%zz&c=%4&d=%4G&e=%41") ==
        fields{{"a", "100%"}, {"b", "%zz"}, {"c", "%4"}, {"d", "%4G"}, {"e", "A"}});
}

TEST_CASE("Form: the media type is compared without case, its parameters ignored",
          "[unit][form]") {
  CHECK(read("application/x-www-form-urlencoded; charset=UTF-8", "a=1") == fields{{"a", "1"}});
  CHECK(read("Application/X-WWW-Form-URLEncoded;charset=utf-8", "a=1") == fields{{"a", "1"}});
  CHECK(read("  application/x-www-form-urlencoded  ", "a=1") == fields{{"a", "1"}});
}

TEST_CASE("Form: other content types are not forms", "[unit][form]") {
  CHECK(read("application/json", "a=1", false).empty());
  CHECK(read("text/plain", "a=1", false).empty());
  CHECK(read("", "a=1", false).empty());
  CHECK(read("application/x-www-form-urlencoded-not", "a=1", false).empty());
  CHECK(read("multipart/mixed; boundary=b", "--b\r\n\r\nx\r\n--b--", false).empty());
}

TEST_CASE("Form: multipart fields and a file part, with CRLF", "[unit][form]") {
  const std::string body =
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"grant_type\"\r\n"
      "\r\n"
      "client_credentials\r\n"
      "--XyZ\r\n"
      "content-disposition: form-data; name=\"note\"\r\n"
      "Content-Type: text/plain; charset=UTF-8\r\n"
      "\r\n"
      "two\r\nlines\r\n"
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"upload\"; filename=\"a.bin\"\r\n"
      "Content-Type: application/octet-stream\r\n"
      "\r\n"
      "\x01\x02--XyZ not at a line start\r\n"
      "--XyZ--\r\n"
      "epilogue, ignored\r\n";
  CHECK(read("multipart/form-data; boundary=XyZ", body) ==
        fields{{"grant_type", "client_credentials"},
               {"note", "two\r\nlines"},
               {"upload", "\x01\x02--XyZ not at a line start"}});
}

TEST_CASE("Form: a quoted boundary, a preamble, and names quoted or not", "[unit][form]") {
  const std::string body =
      "This is a preamble.\r\n"
      "--a:b c\r\n"
      "Content-Disposition: form-data; filename=\"f.txt\"; name=\"quoted \\\"name\\\"\"\r\n"
      "\r\n"
      "1\r\n"
      "--a:b c\r\n"
      "Content-Disposition: form-data; name=token\r\n"
      "\r\n"
      "\r\n"
      "--a:b c--";
  CHECK(read("multipart/form-data; charset=utf-8; boundary=\"a:b c\"", body) ==
        fields{{"quoted \"name\"", "1"}, {"token", ""}});
  CHECK(read("Multipart/Form-Data;Boundary=\"a:b c\"", body).size() == 2);
}

TEST_CASE("Form: multipart with bare LF line ends", "[unit][form]") {
  const std::string body =
      "--b\n"
      "Content-Disposition: form-data; name=\"a\"\n"
      "\n"
      "1\n"
      "--b\n"
      "Content-Disposition: form-data; name=\"b\"\n"
      "\n"
      "2\n"
      "--b--\n";
  CHECK(read("multipart/form-data; boundary=b", body) == fields{{"a", "1"}, {"b", "2"}});
}

TEST_CASE("Form: multipart parts without a name are skipped", "[unit][form]") {
  const std::string body =
      "--b\r\n"
      "Content-Type: text/plain\r\n"
      "\r\n"
      "anonymous\r\n"
      "--b\r\n"
      "Content-Disposition: form-data; filename=\"x\"\r\n"
      "\r\n"
      "no name either\r\n"
      "--b\r\n"
      "Content-Disposition: form-data; name=\"kept\"\r\n"
      "\r\n"
      "yes\r\n"
      "--b--\r\n";
  CHECK(read("multipart/form-data; boundary=b", body) == fields{{"kept", "yes"}});
}

TEST_CASE("Form: a damaged multipart body gives the fields read before the damage",
          "[unit][form]") {
  const std::string first =
      "--b\r\n"
      "Content-Disposition: form-data; name=\"a\"\r\n"
      "\r\n"
      "1\r\n";
  const std::string_view type = "multipart/form-data; boundary=b";
  // Truncated in the second part's content, in its headers, and with no closing delimiter.
  CHECK(read(type, first + "--b\r\nContent-Disposition: form-data; name=\"c\"\r\n\r\nhalf") ==
        fields{{"a", "1"}});
  CHECK(read(type, first + "--b\r\nContent-Disposition: form-da") == fields{{"a", "1"}});
  CHECK(read(type, first + "--b") == fields{{"a", "1"}});
  CHECK(read(type, first) == fields{});  // the content never ended
  CHECK(read(type, "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1") == fields{});
  // Garbage after a delimiter, no delimiter at all, no boundary parameter.
  CHECK(read(type, first + "--bogus\r\n\r\nx\r\n--b--") == fields{{"a", "1"}});
  CHECK(read(type, "just text") == fields{});
  CHECK(read("multipart/form-data", first + "--b--") == fields{});
  CHECK(read("multipart/form-data; boundary=\"\"", first + "--b--") == fields{});
}

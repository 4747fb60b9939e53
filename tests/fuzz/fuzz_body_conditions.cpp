// What [route.when] conditions and body templates read, from fuzzer bytes: a JSONPath and an
// XPath compiled from fuzzer text, then run over a fuzzer body parsed as JSON and as XML; form
// fields of a fuzzer body under a fuzzer Content-Type; a cookie looked up in a fuzzer Cookie
// line. Besides crashes and leaks: path errors point inside their text, selection is repeatable,
// a single-value path selects at most one value, a cookie's value lies inside its header line,
// and a body that is no form gives no fields.

#include <fuzzer/FuzzedDataProvider.h>

#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "session_driver.hpp"
#include "text/cookies.hpp"
#include "text/form_fields.hpp"
#include "text/json_path.hpp"
#include "text/xml_path.hpp"

namespace {

using namespace stubborn;
using stubborn::fuzz::fail;

void check_json_path(const std::string& text, const std::string& body) {
  std::unique_ptr<json_path> path;
  try {
    path = std::make_unique<json_path>(json_path::compile(text));
  } catch (const json_path_error& e) {
    if (e.offset > text.size()) fail("json_path error offset past the text", text);
    return;
  }
  boost::json::error_code ec;
  const boost::json::value doc = boost::json::parse(body, ec);
  if (ec) return;
  std::vector<const boost::json::value*> first, second;
  path->select(doc, first);
  path->select(doc, second);
  if (first != second) fail("json_path selects differently twice", text);
  if (path->is_single() && first.size() > 1) fail("a single-value path selected several", text);
  for (const auto* value : first) {
    if (value == nullptr) fail("json_path selected a null pointer", text);
  }
}

void check_xml_path(const std::string& text, const std::string& body) {
  std::unique_ptr<xml_path> path;
  try {
    path = std::make_unique<xml_path>(xml_path::compile(text));
  } catch (const xml_path_error&) {
    return;
  }
  const auto doc = xml_document::parse(body);
  if (!doc) return;
  std::vector<std::string> first, second;
  path->select(*doc, first);
  path->select(*doc, second);
  if (first != second) fail("xpath selects differently twice", text);
}

void check_form(const std::string& content_type, const std::string& body) {
  std::vector<form_field> fields;
  const bool is_form = read_form_fields(content_type, body, fields);
  if (!is_form && !fields.empty()) fail("fields from a body that is no form", content_type);
}

void check_cookie(const std::string& header, const std::string& name) {
  std::string_view value;
  if (!find_cookie_in(header, name, value)) return;
  const std::string_view whole(header);
  if (!value.empty() &&
      (value.data() < whole.data() || value.data() + value.size() > whole.data() + whole.size())) {
    fail("a cookie value outside its header line", header);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider provider(data, size);
  const std::string json_path_text = provider.ConsumeRandomLengthString(64);
  const std::string xpath_text = provider.ConsumeRandomLengthString(64);
  const std::string content_type = provider.ConsumeRandomLengthString(96);
  const std::string cookie_header = provider.ConsumeRandomLengthString(96);
  const std::string cookie_name = provider.ConsumeRandomLengthString(16);
  const std::string body = provider.ConsumeRemainingBytesAsString();
  check_json_path(json_path_text, body);
  check_xml_path(xpath_text, body);
  check_form(content_type, body);
  check_cookie(cookie_header, cookie_name);
  return 0;
}

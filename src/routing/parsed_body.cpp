#include "routing/parsed_body.hpp"

#include <boost/json.hpp>
#include <optional>

#include "routing/request.hpp"
#include "text/cookies.hpp"
#include "text/xml_path.hpp"

namespace stubborn {

namespace json = boost::json;

// A connection that parses JSON bodies keeps this much memory for them (taken on its first
// parse): a 1 KiB document's values fit, so parsing one allocates nothing.
constexpr std::size_t json_arena_bytes = 4096;
constexpr std::size_t max_json_depth = 128;

struct parsed_body::state {
  bool json_parsed = false;
  std::optional<json::value> json;  // engaged when the body is JSON; its storage is `arena`
  std::unique_ptr<unsigned char[]> arena_bytes;
  std::optional<json::monotonic_resource> arena;
  bool xml_parsed = false;
  std::unique_ptr<xml_document> xml;
  bool form_parsed = false;
  std::vector<form_field> form;
};

parsed_body::parsed_body() = default;
parsed_body::~parsed_body() = default;

parsed_body::state& parsed_body::storage() {
  if (!state_) state_ = std::make_unique<state>();  // a connection that never asks pays nothing
  return *state_;
}

void parsed_body::forget() {
  state& s = *state_;
  used_ = false;
  if (s.json_parsed) {
    s.json_parsed = false;
    s.json.reset();
    // Made anew rather than release()d: Boost.JSON 1.81's release() keeps the grown block size,
    // which then doubles with every request until an allocation fails.
    s.arena.emplace(s.arena_bytes.get(), json_arena_bytes);
  }
  if (s.xml_parsed) {
    s.xml_parsed = false;
    s.xml.reset();
  }
  if (s.form_parsed) {
    s.form_parsed = false;
    s.form.clear();
  }
}

const json::value* parsed_body::json(const request_view& request) {
  state& s = storage();
  if (!s.json_parsed) {
    used_ = s.json_parsed = true;
    if (!s.arena) {
      s.arena_bytes = std::make_unique<unsigned char[]>(json_arena_bytes);
      s.arena.emplace(s.arena_bytes.get(), json_arena_bytes);
    }
    json::error_code ec;
    // Built in place: moving a value into storage of another resource would copy it.
    // Real API documents nest deeper than Boost's default limit of 32.
    json::parse_options options;
    options.max_depth = max_json_depth;
    json::value parsed = json::parse(request.body, ec, json::storage_ptr(&*s.arena), options);
    if (!ec) s.json.emplace(std::move(parsed));
  }
  return s.json ? &*s.json : nullptr;
}

const xml_document* parsed_body::xml(const request_view& request) {
  state& s = storage();
  if (!s.xml_parsed) {
    used_ = s.xml_parsed = true;
    s.xml = xml_document::parse(request.body);
  }
  return s.xml.get();
}

const std::vector<form_field>& parsed_body::form(const request_view& request) {
  state& s = storage();
  if (!s.form_parsed) {
    used_ = s.form_parsed = true;
    std::string_view content_type;
    if (request.find_header("Content-Type", content_type)) {
      read_form_fields(content_type, request.body, s.form);
    }
  }
  return s.form;
}

bool find_request_cookie(const request_view& request, std::string_view name,
                         std::string_view& value) {
  for (const header_field& field : request.headers) {
    if (iequals(field.name, "Cookie") && find_cookie_in(field.value, name, value)) return true;
  }
  return false;
}

bool find_form_field(parsed_body& body, const request_view& request, std::string_view name,
                     std::string_view& value) {
  for (const form_field& field : body.form(request)) {
    if (field.name == name) {
      value = field.value;
      return true;
    }
  }
  return false;
}

}  // namespace stubborn

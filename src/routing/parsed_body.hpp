#pragma once
// A request body as matching and templates read it: parsed as JSON, as XML or as form fields at
// most once per request, and only when some condition or placeholder asks. Owned by the
// connection's scratch state and reused from request to request.

#include <memory>
#include <string_view>
#include <vector>

#include "text/form_fields.hpp"

namespace boost::json {
class value;
}

namespace stubborn {

struct request_view;
class xml_document;

class parsed_body {
 public:
  parsed_body();
  ~parsed_body();
  parsed_body(const parsed_body&) = delete;
  parsed_body& operator=(const parsed_body&) = delete;

  /// Forgets the previous request's body (on every request: nothing to do unless it was parsed).
  void reset() {
    if (used_) forget();
  }
  /// The body as JSON (whatever its Content-Type); null when it is not JSON.
  const boost::json::value* json(const request_view& request);
  /// The body as XML (whatever its Content-Type); null when it is not well-formed XML.
  const xml_document* xml(const request_view& request);
  /// The body's form fields, decoded; empty unless the Content-Type is a form type.
  const std::vector<form_field>& form(const request_view& request);

 private:
  struct state;
  void forget();
  state& storage();
  std::unique_ptr<state> state_;  // made on the first parse
  bool used_ = false;             // something was parsed since the last reset
};

/// The request's cookie `name` (from any Cookie header line); false if it sent none.
bool find_request_cookie(const request_view& request, std::string_view name,
                         std::string_view& value);

/// The first form field `name` of the request's body; false if absent.
bool find_form_field(parsed_body& body, const request_view& request, std::string_view name,
                     std::string_view& value);

}  // namespace stubborn

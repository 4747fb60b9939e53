#pragma once
// A request built by hand, for tests of matching without sockets.

#include <string>
#include <vector>

#include "routing/request.hpp"
#include "wire/request_parser.hpp"

namespace stubborn::testing {

struct fake_request {
  std::string method = "GET";
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> header_list;
  std::string body;
  std::vector<header_field> fields;
  request_view view;

  fake_request(std::string m, std::string t,
               std::vector<std::pair<std::string, std::string>> h = {}, std::string b = {})
      : method(std::move(m)), target(std::move(t)), header_list(std::move(h)), body(std::move(b)) {
    for (const auto& [name, value] : header_list) fields.push_back({name, value});
    view.method = method;
    view.target = target;
    split_target(view.target, view.path, view.query);
    view.headers = fields;
    view.body = body;
  }
  fake_request(const fake_request&) = delete;
};

}  // namespace stubborn::testing

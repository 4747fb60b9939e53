#include <catch2/catch.hpp>

#include "routing/request.hpp"
#include "routing/templates.hpp"

using stubborn::compiled_template;
using stubborn::template_escape;

namespace {

struct fixture {
  std::vector<stubborn::header_field> headers{{"X-Token", "abc"}, {"User-Agent", "cu\"rl"}};
  stubborn::request_view request;
  std::vector<std::string> names{"id", "name"};
  std::vector<std::string_view> params{"4%202", "x"};

  fixture() {
    request.method = "GET";
    request.target = "/users/4%202?q=a+b%26c&empty=";
    request.path = "/users/4%202";
    request.query = "q=a+b%26c&empty=";
    request.headers = headers;
  }

  std::string render(std::string_view text, template_escape escape = template_escape::none) {
    auto t = compiled_template::compile(text, names);
    std::string out;
    t.render({request, params}, escape, out);
    return out;
  }
};

}  // namespace

TEST_CASE("text without placeholders is static", "[templates]") {
  auto t = compiled_template::compile("plain {text} }}", {});
  CHECK(t.is_static());
  CHECK(t.static_text() == "plain {text} }}");
  CHECK(compiled_template::compile("", {}).is_static());
}

TEST_CASE("placeholders render from the request", "[templates]") {
  fixture f;
  CHECK(f.render("{{path.id}}") == "4 2");
  CHECK(f.render("{{ path.name }}!") == "x!");
  CHECK(f.render("{{query.q}}") == "a b&c");
  CHECK(f.render("[{{query.empty}}][{{query.missing}}]") == "[][]");
  CHECK(f.render("{{header.x-token}}") == "abc");
  CHECK(f.render("{{method}} {{uri}}") == "GET /users/4%202?q=a+b%26c&empty=");
  CHECK_FALSE(compiled_template::compile("{{method}}", {}).is_static());
}

TEST_CASE("values are escaped for where they go", "[templates]") {
  fixture f;
  CHECK(f.render("{\"ua\": \"{{header.user-agent}}\"}", template_escape::json_string) ==
        "{\"ua\": \"cu\\\"rl\"}");
  f.headers[0].value = "evil\r\nSet-Cookie: x";
  CHECK(f.render("{{header.x-token}}", template_escape::header_value) == "evilSet-Cookie: x");
}

TEST_CASE("bad placeholders are refused with an offset", "[templates]") {
  std::vector<std::string> names{"id"};
  auto error_of = [&](std::string_view text) -> std::pair<std::size_t, std::string> {
    try {
      compiled_template::compile(text, names);
    } catch (const stubborn::template_error& e) {
      return {e.offset, e.what()};
    }
    return {9999, ""};
  };
  CHECK(error_of("ab {{path.nope}}").first == 3);
  CHECK(error_of("ab {{path.nope}}").second ==
        "{{path.nope}}: the path has no parameter 'nope' (it has: id)");
  CHECK(error_of("{{bogus}}").second ==
        "unknown placeholder {{bogus}}: use path.NAME, query.NAME, header.NAME, method or uri");
  CHECK(error_of("x {{method").first == 2);
  CHECK(error_of("{{query.}}").first == 0);
}

TEST_CASE("JSON escaping keeps UTF-8 and replaces bytes that are not", "[templates]") {
  fixture f;
  f.params = {"caf%C3%A9", "%FF%FEx"};
  CHECK(f.render("{{path.id}}", template_escape::json_string) == "caf\xC3\xA9");
  CHECK(f.render("{{path.name}}", template_escape::json_string) == "\xEF\xBF\xBD\xEF\xBF\xBDx");
  f.params = {"%ED%A0%80", "%C0%AF"};  // a surrogate and an overlong '/'
  CHECK(f.render("{{path.id}}", template_escape::json_string) ==
        "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(f.render("{{path.name}}", template_escape::json_string) == "\xEF\xBF\xBD\xEF\xBF\xBD");
}

#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <chrono>
#include <regex>
#include <set>

#include "respond/respond.hpp"
#include "route_fixture.hpp"
#include "routing/parsed_body.hpp"
#include "routing/request.hpp"
#include "routing/templates.hpp"
#include "stubborn/load_config.hpp"

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
        "unknown placeholder {{bogus}}: use path.NAME, query.NAME, header.NAME, cookie.NAME, "
        "form.NAME, json.PATH, xpath.PATH, body, method, uri, now, now.epoch, now.epoch_ms, "
        "now.http, uuid or counter");
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

namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// 2026-12-06T13:45:07.123Z
const std::chrono::system_clock::time_point fixed_now =
    std::chrono::system_clock::time_point(1796564707123ms);

// A request with a body, rendered with the body parsed on demand.
struct body_fixture {
  std::vector<stubborn::header_field> headers;
  stubborn::request_view request;
  stubborn::parsed_body body;
  std::uint64_t counter = 0;
  std::uint64_t random = 0;
  std::chrono::system_clock::time_point now = fixed_now;
  bool with_body = true;

  body_fixture(std::string_view text, std::vector<stubborn::header_field> fields = {})
      : headers(std::move(fields)) {
    request.method = "POST";
    request.target = "/orders";
    request.path = "/orders";
    request.headers = headers;
    request.body = text;
  }

  std::string render(std::string_view text, template_escape escape = template_escape::none) {
    return render(compiled_template::compile(text, {}), escape);
  }
  std::string render(const compiled_template& t, template_escape escape) {
    stubborn::template_context context{request, {},     with_body ? &body : nullptr,
                                       counter, random, now};
    std::string out;
    t.render(context, escape, out);
    return out;
  }
  std::string render_json(std::string_view json_text) {
    return render(compiled_template::compile_json(json_text, {}), template_escape::json_string);
  }
};

// A JSON string value as text.
std::string text_of(const json::value& value) {
  const json::string& s = value.as_string();
  return std::string(s.data(), s.size());
}

constexpr std::string_view order_json =
    R"({"order":{"id":"A-17","total":100.5,"paid":true,"note":"say \"hi\"\n"},)"
    R"("items":[{"sku":"S1","qty":2},{"sku":"S2","qty":1}],"count":3})";

}  // namespace

TEST_CASE("{{body}} and {{json.PATH}} read the request body", "[templates]") {
  body_fixture f(order_json);
  CHECK(f.render("{{body}}") == order_json);
  CHECK(f.render("{{json.order.id}}") == "A-17");  // a string without its quotes
  CHECK(f.render("{{json.items[0].sku}}/{{json.items[-1].sku}}") == "S1/S2");
  CHECK(f.render("{{ json.order.total }}") == "100.5");
  CHECK(f.render("{{json.count}} {{json.order.paid}}") == "3 true");
  CHECK(f.render("{{json.items[1]}}") == R"({"sku":"S2","qty":1})");  // anything else as JSON
  CHECK(f.render("{{json['order']['id']}}") == "A-17");
  CHECK(f.render("{{json[\"items\"][1].qty}}") == "1");
  CHECK(f.render("{{json.items[*].sku}}") == "S1");  // the first value selected
  CHECK(f.render("[{{json.nope}}][{{json.items[5].sku}}]") == "[][]");
  // Escaped for the place it goes.
  CHECK(f.render("\"{{json.order.note}}\"", template_escape::json_string) ==
        "\"say \\\"hi\\\"\\n\"");
  CHECK(f.render("{{json.order.note}}", template_escape::header_value) == "say \"hi\"");
}

TEST_CASE("body placeholders are empty when the body is not what they read", "[templates]") {
  body_fixture text("not json <nor xml");
  CHECK(text.render("[{{json.a}}][{{xpath./a}}][{{form.a}}]") == "[][][]");
  CHECK(text.render("{{body}}") == "not json <nor xml");
  body_fixture empty("");
  CHECK(empty.render("[{{body}}][{{json.a}}][{{xpath./a}}]") == "[][][]");
  body_fixture unparsed(order_json);
  unparsed.with_body = false;  // nothing to parse with: empty, never a crash
  CHECK(unparsed.render("[{{json.order.id}}][{{xpath./a}}][{{form.a}}]") == "[][][]");
}

TEST_CASE("{{xpath.PATH}} reads an XML body", "[templates]") {
  body_fixture f(R"(<order id="o-9"><id>42</id><item sku="S1"/><item sku="S2"/></order>)");
  CHECK(f.render("{{xpath./order/id}}") == "42");
  CHECK(f.render("{{xpath./order/@id}}") == "o-9");
  CHECK(f.render("{{xpath.//item/@sku}}") == "S1");  // the first node selected
  CHECK(f.render("{{xpath.count(//item)}}") == "2");
  CHECK(f.render("[{{xpath./order/missing}}]") == "[]");
}

TEST_CASE("{{form.X}} reads urlencoded and multipart bodies, {{cookie.X}} the Cookie header",
          "[templates]") {
  body_fixture urlencoded("grant_type=client_credentials&scope=a+b%26c",
                          {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                           {"Cookie", "session=s1; theme=\"dark\""}});
  CHECK(urlencoded.render("{{form.grant_type}} {{form.scope}}") == "client_credentials a b&c");
  CHECK(urlencoded.render("[{{form.missing}}]") == "[]");
  CHECK(urlencoded.render("{{cookie.session}}/{{cookie.theme}}/[{{cookie.none}}]") == "s1/dark/[]");

  const std::string multipart =
      "--XyZ\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nann\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nline \"1\"\r\n--XyZ--\r\n";
  body_fixture parts(multipart, {{"Content-Type", "multipart/form-data; boundary=XyZ"}});
  CHECK(parts.render("{{form.user}}") == "ann");
  CHECK(parts.render("{{form.note}}", template_escape::json_string) == "line \\\"1\\\"");
  // A body that is no form: no fields.
  body_fixture plain("user=ann", {{"Content-Type", "text/plain"}});
  CHECK(plain.render("[{{form.user}}]") == "[]");
}

TEST_CASE("{{now}} and its forms render the context's wall-clock time", "[templates]") {
  body_fixture f("");
  CHECK(f.render("{{now}}") == "2026-12-06T13:45:07.123Z");
  CHECK(f.render("{{now.epoch}}") == "1796564707");
  CHECK(f.render("{{now.epoch_ms}}") == "1796564707123");
  CHECK(f.render("{{now.http}}") == "Sun, 06 Dec 2026 13:45:07 GMT");
  f.now = std::chrono::system_clock::time_point(1796564707000ms + 5ms);
  CHECK(f.render("{{now}}") == "2026-12-06T13:45:07.005Z");
  CHECK(compiled_template::compile("{{now.http}}", {}).uses_clock());
  CHECK_FALSE(compiled_template::compile("{{now.http}}", {}).uses_counter());
  CHECK_FALSE(compiled_template::compile("{{json.a}} {{body}}", {}).uses_clock());
}

TEST_CASE("{{counter}} and {{uuid}} draw from the context's counter and random bits",
          "[templates]") {
  body_fixture f("");
  f.counter = 41;
  CHECK(f.render("n={{counter}}") == "n=41");
  CHECK(compiled_template::compile("{{counter}}", {}).uses_counter());
  CHECK(compiled_template::compile("{{uuid}}", {}).uses_counter());
  CHECK_FALSE(compiled_template::compile("{{now}}", {}).uses_counter());

  const std::regex v4("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  std::set<std::string> seen;
  for (std::uint64_t bits : {0ull, 1ull, 2ull, 0xffffffffffffffffull, 0x123456789abcdefull}) {
    f.random = bits;
    const std::string two = f.render("{{uuid}} {{uuid}}");
    const std::string first = two.substr(0, 36);
    const std::string second = two.substr(37);
    CHECK(std::regex_match(first, v4));
    CHECK(std::regex_match(second, v4));
    CHECK(first != second);                       // each occurrence has its own
    CHECK(f.render("{{uuid}} {{uuid}}") == two);  // the same bits, the same UUIDs
    seen.insert(first);
    seen.insert(second);
  }
  CHECK(seen.size() == 10);
}

TEST_CASE("a JSON reply's strings are templates; a whole placeholder becomes a JSON value",
          "[templates]") {
  body_fixture f(order_json);
  f.counter = 7;
  const std::string rendered = f.render_json(
      R"({"id":"{{json.order.id}}","total":"{{json.order.total}}","order":"{{json.order}}",)"
      R"("items":"{{json.items}}","paid":"{{json.order.paid}}","missing":"{{json.nope}}",)"
      R"("n":"{{counter}}","at":"{{now.epoch}}","at_ms":"{{ now.epoch_ms }}","iso":"{{now}}",)"
      R"("u":"{{uuid}}","text":"order {{json.order.id}}: {{json.order.note}}",)"
      R"("{{json.order.id}}":["{{counter}}",1,2.0,null,false,"plain"]})");
  json::error_code ec;
  const json::value v = json::parse(rendered, ec);
  INFO(rendered);
  REQUIRE_FALSE(ec);
  const json::object& o = v.as_object();
  CHECK(text_of(o.at("id")) == "A-17");
  CHECK(o.at("total").as_double() == 100.5);
  CHECK(o.at("order") ==
        json::parse(R"({"id":"A-17","total":100.5,"paid":true,"note":"say \"hi\"\n"})"));
  CHECK(o.at("items").as_array().size() == 2);
  CHECK(o.at("paid") == true);
  CHECK(o.at("missing").is_null());
  CHECK(o.at("n") == 7);
  CHECK(o.at("at") == 1796564707);
  CHECK(o.at("at_ms") == 1796564707123);
  CHECK(text_of(o.at("iso")) == "2026-12-06T13:45:07.123Z");
  CHECK(o.at("u").as_string().size() == 36);
  CHECK(text_of(o.at("text")) ==
        "order A-17: say \"hi\"\n");  // mixed: a string, the values escaped
  // Keys stay literal; other values as written.
  CHECK(o.at("{{json.order.id}}") == json::parse(R"([7,1,2.0,null,false,"plain"])"));
  CHECK(rendered.find("2.0") != std::string::npos);
}

TEST_CASE("a JSON reply without placeholders is static and unchanged", "[templates]") {
  const std::string text = R"({"a":"x{y}","b":[1,2.5],"c":"}}"})";
  auto t = compiled_template::compile_json(text, {});
  CHECK(t.is_static());
  CHECK(t.static_text() == text);
  std::vector<std::string> names{"id"};
  auto p = compiled_template::compile_json(R"({"id":"{{path.id}}"})", names);
  CHECK_FALSE(p.is_static());
  CHECK_THROWS_AS(compiled_template::compile_json(R"({"a":"{{bogus}}"})", {}),
                  stubborn::template_error);
}

TEST_CASE("bad JSON paths and XPaths in templates are errors at compile time", "[templates]") {
  auto error_of = [](std::string_view text) -> std::pair<std::size_t, std::string> {
    try {
      compiled_template::compile(text, {});
    } catch (const stubborn::template_error& e) {
      return {e.offset, e.what()};
    }
    return {9999, ""};
  };
  CHECK(error_of("ab {{json.a!}}").first == 11);  // at the '!'
  CHECK(error_of("ab {{json.a!}}").second.starts_with("bad JSON path in {{json.a!}}: "));
  CHECK(error_of("{{json.items[}}").second.starts_with("bad JSON path in {{json.items[}}: "));
  CHECK(error_of("{{xpath.//[}}").first == 8);
  CHECK(error_of("{{xpath.//[}}").second ==
        "{{xpath.//[}}: bad XPath '//[': the expression is malformed (at offset 2)");
  CHECK(error_of("{{now.iso}}").second ==
        "unknown placeholder {{now.iso}}: use now, now.epoch, now.epoch_ms or now.http");
  CHECK(error_of("{{cookie.}}").first == 0);
  CHECK(error_of("{{json.a.b}}").first == 9999);
  CHECK(error_of("{{xpath./a/b}}").first == 9999);
}

TEST_CASE("a compiled template is copied with its compiled paths", "[templates]") {
  body_fixture f(R"({"a":{"b":"deep"}})");
  compiled_template copy;
  {
    const auto original = compiled_template::compile("{{json.a.b}}", {});
    copy = original;
  }
  CHECK(f.render(copy, template_escape::none) == "deep");
}

namespace {

std::chrono::system_clock::time_point wall_now_value = fixed_now;
int wall_reads = 0;
std::chrono::system_clock::time_point read_wall_now() {
  ++wall_reads;
  return wall_now_value;
}

struct template_responder {
  std::shared_ptr<const stubborn::route_table> table;
  stubborn::connection_facts facts;
  stubborn::respond_scratch scratch;
  stubborn::response plan;
  std::unique_ptr<stubborn::testing::fake_request> last;

  explicit template_responder(const std::string& toml,
                              std::shared_ptr<const stubborn::route_table> previous = nullptr)
      : table(stubborn::route_table::compile(stubborn::load_config_text(toml, "t.toml"),
                                             previous.get())) {
    facts.clock.wall_now = &read_wall_now;
  }
  // The body of the reply to `method target` (with `headers` and `body`), copied.
  std::string ask(std::string method, std::string target,
                  std::vector<std::pair<std::string, std::string>> headers = {},
                  std::string body = {}) {
    last = std::make_unique<stubborn::testing::fake_request>(std::move(method), std::move(target),
                                                             std::move(headers), std::move(body));
    stubborn::respond(last->view, *table, facts, scratch, plan);
    return std::string(plan.body);
  }
  std::string extra_headers() const { return std::string(plan.head.extra); }
};

const char* const counting_config = R"(
[server]
seed = 7

[[route]]
path = "/id"
[route.reply]
headers = { X-Request-Id = "{{uuid}}" }
json = { id = "{{uuid}}", n = "{{counter}}" }

[[route]]
path = "/plain"
[route.reply]
body = "plain"

[[route]]
path = "/echo"
[route.reply]
body = "{{method}}"
)";

}  // namespace

TEST_CASE("respond() feeds the counter, UUIDs from the seed, and the clock only when asked",
          "[templates]") {
  template_responder a(counting_config);
  template_responder b(counting_config);
  std::vector<std::string> first_run;
  for (int i = 1; i <= 3; ++i) {
    const json::value reply = json::parse(a.ask("GET", "/id"));
    CHECK(reply.at("n") == i);
    first_run.push_back(text_of(reply.at("id")));
    // The header's UUID is another draw than the body's.
    CHECK(a.extra_headers().find(first_run.back()) == std::string::npos);
    CHECK(a.extra_headers().starts_with("X-Request-Id: "));
  }
  CHECK(std::set<std::string>(first_run.begin(), first_run.end()).size() == 3);
  // The same seed: the same UUIDs in another server.
  for (int i = 0; i < 3; ++i) {
    const json::value reply = json::parse(b.ask("GET", "/id"));
    CHECK(text_of(reply.at("id")) == first_run[static_cast<std::size_t>(i)]);
  }
  // Reset: the counter starts again, and under a seed so do the UUIDs.
  a.table->reset_state();
  const json::value again = json::parse(a.ask("GET", "/id"));
  CHECK(again.at("n") == 1);
  CHECK(text_of(again.at("id")) == first_run[0]);
  // A reload that keeps the route keeps its counter.
  template_responder reloaded(counting_config, a.table);
  CHECK(json::parse(reloaded.ask("GET", "/id")).at("n") == 2);

  // Routes that read neither the counter nor the clock leave both alone.
  wall_reads = 0;
  CHECK(a.ask("GET", "/plain") == "plain");
  CHECK(a.ask("GET", "/echo") == "GET");
  CHECK(wall_reads == 0);
  CHECK(a.table->route(1).script.state->answered.load() == 0);
  CHECK(a.table->route(2).script.state->answered.load() == 0);
}

TEST_CASE("without a seed, UUIDs differ between servers and after a reset", "[templates]") {
  const std::string config = "[[route]]\npath = \"/id\"\n[route.reply]\nbody = \"{{uuid}}\"\n";
  template_responder a(config);
  template_responder b(config);
  const std::string first = a.ask("GET", "/id");
  CHECK(first != b.ask("GET", "/id"));
  a.table->reset_state();
  CHECK(a.ask("GET", "/id") != first);
}

TEST_CASE("respond() renders the clock and the parsed body into every place", "[templates]") {
  template_responder r(R"(
[[route]]
method = "POST"
path = "/orders/{id}"
[route.reply]
status = 201
headers = { Location = "/orders/{{path.id}}/{{json.order.id}}", X-At = "{{now.http}}" }
json = { id = "{{json.order.id}}", total = "{{json.order.total}}", at = "{{now}}" }

[[route]]
path = "/old/{id}"
[route.reply]
redirect = { to = "/new/{{path.id}}?at={{now.epoch}}&c={{cookie.c}}" }

[[route]]
method = "POST"
path = "/steps"
[[route.replies]]
body = "first {{form.a}}"
[[route.replies]]
json = { second = "{{form.a}}", n = "{{counter}}" }
)");
  wall_reads = 0;
  const std::string body =
      r.ask("POST", "/orders/9", {{"Content-Type", "application/json"}}, std::string(order_json));
  CHECK(r.plan.status == 201);
  // (TOML tables keep their keys sorted.)
  CHECK(body == R"({"at":"2026-12-06T13:45:07.123Z","id":"A-17","total":100.5})");
  CHECK(r.plan.head.content_length == body.size());
  CHECK(r.extra_headers() == "Location: /orders/9/A-17\r\nX-At: Sun, 06 Dec 2026 13:45:07 GMT\r\n");
  CHECK(wall_reads == 1);  // one reading for the whole reply

  r.ask("GET", "/old/5", {{"Cookie", "c=z"}});
  CHECK(r.plan.status == 302);
  CHECK(r.extra_headers() == "Location: /new/5?at=1796564707&c=z\r\n");

  const std::vector<std::pair<std::string, std::string>> form = {
      {"Content-Type", "application/x-www-form-urlencoded"}};
  CHECK(r.ask("POST", "/steps", form, "a=1") == "first 1");
  CHECK(r.ask("POST", "/steps", form, "a=2") == R"({"n":2,"second":"2"})");
}

TEST_CASE("a rejected expectation's templates never read the previous request's body",
          "[templates]") {
  template_responder r(R"(
[[route]]
method = "POST"
path = "/read"
[route.reply]
body = "{{json.id}}"

[[route]]
method = "POST"
path = "/upload"
expect = "reject"
[route.reply]
status = 417
body = "[{{json.id}}]"
)");
  CHECK(r.ask("POST", "/read", {}, R"({"id":"earlier"})") == "earlier");
  // The same scratch, as on one connection: a head with Expect, its body never read.
  stubborn::testing::fake_request head("POST", "/upload", {{"Expect", "100-continue"}});
  const stubborn::expectation decided =
      stubborn::respond_to_expectation(head.view, *r.table, r.facts, r.scratch, r.plan);
  REQUIRE(decided.reject);
  CHECK(r.plan.body == "[]");
}

TEST_CASE("a rate limit's own reply counts what it answers and reads the body and clock",
          "[templates]") {
  template_responder r(R"(
[[route]]
method = "POST"
path = "/limited"
[route.reply]
body = "ok"
[route.rate_limit]
requests = 1
per = "1m"
[route.rate_limit.reply]
status = 429
json = { refused = "{{counter}}", id = "{{json.id}}", at = "{{now.epoch}}" }
)");
  CHECK(r.ask("POST", "/limited", {}, R"({"id":"a"})") == "ok");
  CHECK(r.ask("POST", "/limited", {}, R"({"id":"b"})") ==
        R"({"at":1796564707,"id":"b","refused":1})");
  CHECK(r.ask("POST", "/limited", {}, R"({"id":"c"})") ==
        R"({"at":1796564707,"id":"c","refused":2})");
  r.table->reset_state();
  CHECK(r.ask("POST", "/limited", {}, "{}") == "ok");
  CHECK(r.ask("POST", "/limited", {}, "{}") == R"({"at":1796564707,"id":null,"refused":1})");
}

#pragma once
// The routes the admin API's and the control API's tests share: a plain route, a POST route, a
// two-step sequence and a rate-limited route.

namespace stubborn::testing {

inline constexpr const char* app_routes = R"(
[[route]]
name = "hello"
method = "GET"
path = "/hello"
[route.reply]
body = "hello"

[[route]]
name = "orders"
method = "POST"
path = "/orders"
[route.reply]
status = 201

[[route]]
name = "steps"
path = "/steps"
[[route.replies]]
body = "one"
[[route.replies]]
body = "two"

[[route]]
name = "limited"
path = "/limited"
[route.reply]
body = "ok"
[route.rate_limit]
requests = 1
per = "1h"
)";

}  // namespace stubborn::testing

#pragma once
// A [route.websocket] compiled at load: its steps with their templates compiled, the answers'
// matchers (regexes and JSON subsets built once), the limits. Immutable and owned by the route
// table; the WebSocket handler (websocket_handler.hpp) plays it on each upgraded connection.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "routing/templates.hpp"
#include "stubborn/config.hpp"

namespace boost::json {
class value;
}
namespace re2 {
class RE2;
}

namespace stubborn {

/// One step, ready to play.
struct compiled_websocket_step {
  websocket_step::kind type = websocket_step::kind::send;
  compiled_template text;  ///< send: the message's template
  std::string bytes;       ///< send_binary: the bytes; ping: its payload; close: its reason
  int close_code = 1000;
  std::chrono::milliseconds delay{0};
  websocket_fault fault = websocket_fault::none;
  /// The template reads the client's message (or its JSON): the answer keeps a copy of it.
  bool reads_message = false;
};

/// One [[route.websocket.on_message]] entry, ready to match.
struct compiled_websocket_answer {
  std::optional<body_match_kind> kind;  ///< unset: any message
  std::string text;
  std::unique_ptr<re2::RE2> regex;
  std::shared_ptr<const boost::json::value> json;
  std::vector<compiled_websocket_step> reply;
  bool echo = false;
  unsigned repeat = 0;  ///< 0: every matching message

  compiled_websocket_answer();
  compiled_websocket_answer(compiled_websocket_answer&&) noexcept;
  ~compiled_websocket_answer();
  /// True if the message matches (a json matcher parses it).
  bool matches(std::string_view message) const;
};

/// A WebSocket route's script and limits.
struct compiled_websocket {
  std::vector<std::string> subprotocols;
  std::vector<compiled_websocket_step> on_open;
  std::optional<compiled_websocket_step> every;
  std::chrono::milliseconds every_interval{0};
  std::chrono::milliseconds close_after{0};
  int close_code = 1000;
  std::string close_reason;
  std::vector<compiled_websocket_answer> answers;
  bool counts_answers = false;  ///< some answer has a repeat (counted per connection)
  std::size_t max_message_bytes = 1024 * 1024;
  std::chrono::milliseconds idle_timeout{0};
  std::chrono::milliseconds ping_every{0};

  /// Compiles a validated spec; throws template_error for a template that does not compile.
  static std::unique_ptr<compiled_websocket> compile(const websocket_spec& spec,
                                                     std::span<const std::string> path_params);
};

}  // namespace stubborn

#include "protocols/websocket/websocket_route.hpp"

#include <re2/re2.h>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "routing/conditions.hpp"

namespace stubborn {
namespace {

namespace json = boost::json;

compiled_websocket_step compile_step(const websocket_step& spec,
                                     std::span<const std::string> path_params) {
  compiled_websocket_step step;
  step.type = spec.type;
  step.delay = spec.delay;
  step.fault = spec.fault;
  step.close_code = spec.close_code;
  switch (spec.type) {
    case websocket_step::kind::send:
      step.text = compiled_template::compile(spec.payload, path_params, true);
      for (const compiled_template::part& part : step.text.parts()) {
        using k = compiled_template::part_kind;
        if (part.kind == k::body || part.kind == k::json || part.kind == k::xpath ||
            part.kind == k::form) {
          step.reads_message = true;
        }
      }
      break;
    case websocket_step::kind::close:
      step.bytes = spec.close_reason;
      break;
    default:
      step.bytes = spec.payload;
      break;
  }
  return step;
}

std::vector<compiled_websocket_step> compile_steps(const std::vector<websocket_step>& steps,
                                                   std::span<const std::string> path_params) {
  std::vector<compiled_websocket_step> out;
  out.reserve(steps.size());
  for (const websocket_step& step : steps) out.push_back(compile_step(step, path_params));
  return out;
}

}  // namespace

compiled_websocket_answer::compiled_websocket_answer() = default;
compiled_websocket_answer::compiled_websocket_answer(compiled_websocket_answer&&) noexcept =
    default;
compiled_websocket_answer::~compiled_websocket_answer() = default;

bool compiled_websocket_answer::matches(std::string_view message) const {
  if (!kind) return true;
  switch (*kind) {
    case body_match_kind::contains:
      return message.find(text) != std::string_view::npos;
    case body_match_kind::equals:
      return message == text;
    case body_match_kind::regex:
      return re2::RE2::PartialMatch(re2::StringPiece(message.data(), message.size()), *regex);
    case body_match_kind::json: {
      json::error_code ec;
      const json::value parsed = json::parse(message, ec);
      return !ec && json_contains(parsed, *json);
    }
  }
  return false;
}

std::unique_ptr<compiled_websocket> compiled_websocket::compile(
    const websocket_spec& spec, std::span<const std::string> path_params) {
  auto out = std::make_unique<compiled_websocket>();
  out->subprotocols = spec.subprotocols;
  out->on_open = compile_steps(spec.on_open, path_params);
  if (spec.every) out->every = compile_step(*spec.every, path_params);
  out->every_interval = spec.every_interval;
  out->close_after = spec.close_after;
  out->close_code = spec.close_code;
  out->close_reason = spec.close_reason;
  out->max_message_bytes = spec.max_message_bytes;
  out->idle_timeout = spec.idle_timeout;
  out->ping_every = spec.ping_every;
  for (const websocket_answer_spec& a : spec.on_message) {
    compiled_websocket_answer answer;
    if (a.match) {
      answer.kind = a.match->kind;
      answer.text = a.match->text;
      if (a.match->kind == body_match_kind::regex) {
        answer.regex = std::make_unique<re2::RE2>(a.match->text, re2::RE2::Quiet);
      } else if (a.match->kind == body_match_kind::json) {
        json::error_code ec;
        answer.json = std::make_shared<const json::value>(json::parse(a.match->text, ec));
      }
    }
    answer.reply = compile_steps(a.reply, path_params);
    answer.echo = a.echo;
    answer.repeat = a.repeat;
    if (a.repeat) out->counts_answers = true;
    out->answers.push_back(std::move(answer));
  }
  return out;
}

}  // namespace stubborn

// Server-Sent Events: the stream rendered at load or per request, and its schedule (what is
// sent when), with an injected clock.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "respond/reply_plan.hpp"
#include "respond/respond.hpp"
#include "routing/request.hpp"
#include "wire/event_stream.hpp"

using namespace stubborn;
using namespace std::chrono_literals;

namespace {

sse_event_spec event(std::optional<std::string> data, std::chrono::milliseconds delay = 0ms) {
  sse_event_spec e;
  e.data = std::move(data);
  e.delay = delay;
  return e;
}

reply_spec stream_of(std::vector<sse_event_spec> events) {
  reply_spec spec;
  spec.events = std::move(events);
  return spec;
}

// A plan of `reply` for `request` as respond() makes it: the stream, where it resumes, framing.
struct planned {
  compiled_reply reply;
  std::string text;
  std::vector<std::uint32_t> ends;
  response plan;

  planned(const reply_spec& spec, const request_view& request, std::vector<std::string> names = {},
          std::vector<std::string_view> params = {})
      : reply(compiled_reply::compile(spec, names, "stubborn")) {
    std::string_view last;
    const bool resumes = request.find_header("Last-Event-ID", last);
    const auto stream =
        reply.events()->render({request, params}, resumes ? &last : nullptr, text, ends);
    plan.plan.reply = &reply;
    plan.plan.fault = spec.fault;
    plan.body = stream.text;
    plan.event_ends = stream.ends;
    plan.first_event = stream.first;
    plan.head.framing =
        request.version >= 11 ? body_framing::chunked : body_framing::close_delimited;
  }
};

using clock = event_stream::clock;

}  // namespace

TEST_CASE("an event writes only its fields, in the order event, id, retry, data", "[sse]") {
  sse_event_spec full = event("line 1\nline 2\r\nline 3");
  full.event = "update";
  full.id = "7";
  full.retry = 3s;
  sse_event_spec retry_only;
  retry_only.retry = 1500ms;
  sse_event_spec empty_id;
  empty_id.id = "";
  const request_view request;
  planned p(stream_of({full, event("x"), retry_only, empty_id, event(""), event("a\n")}), request);
  CHECK(p.reply.events()->is_static());
  CHECK(p.plan.body ==
        "event: update\nid: 7\nretry: 3000\ndata: line 1\ndata: line 2\ndata: line 3\n\n"
        "data: x\n\n"
        "retry: 1500\n\n"
        "id: \n\n"
        "data: \n\n"
        "data: a\ndata: \n\n");
  CHECK(p.plan.event_ends.size() == 6);
  CHECK(p.plan.first_event == 0);
  CHECK_FALSE(p.reply.is_plain());
}

TEST_CASE("templates render the request into data, id and event", "[sse]") {
  sse_event_spec e = event("room {{path.room}}, {{query.user}}");
  e.id = "{{header.X-Seq}}";
  e.event = "{{query.kind}}";
  std::vector<header_field> headers{{"X-Seq", "41"}};
  request_view request;
  request.query = "user=ann&kind=join";
  request.headers = headers;
  planned p(stream_of({e}), request, {"room"}, {"blue"});
  CHECK_FALSE(p.reply.events()->is_static());
  CHECK(p.plan.body == "event: join\nid: 41\ndata: room blue, ann\n\n");
}

TEST_CASE("Last-Event-ID resumes after that event; an unknown id replays all", "[sse]") {
  std::vector<sse_event_spec> events;
  for (const char* id : {"1", "2", "3"}) {
    sse_event_spec e = event(std::string("e") + id);
    e.id = id;
    events.push_back(e);
  }
  events.push_back(event("no id"));
  std::vector<header_field> headers{{"Last-Event-ID", "2"}};
  request_view request;
  request.headers = headers;
  CHECK(planned(stream_of(events), request).plan.first_event == 2);
  headers[0].value = "9";
  CHECK(planned(stream_of(events), request).plan.first_event == 0);
  headers[0].value = "3";
  CHECK(planned(stream_of(events), request).plan.first_event == 3);

  // Rendered ids count: the same with a templated id.
  events[1].id = "{{query.n}}";
  request.query = "n=2";
  headers[0].value = "2";
  CHECK(planned(stream_of(events), request).plan.first_event == 2);
}

TEST_CASE("events go out one chunk each, at their times, then the last chunk", "[sse]") {
  const request_view request;
  planned p(stream_of({event("a"), event("bb", 100ms), event("c", 50ms)}), request);
  event_stream s;
  const clock::time_point t0{};
  s.start(p.plan, t0);
  std::string out;
  CHECK(s.advance(t0, out) == event_stream::step::wait);
  CHECK(out == "9\r\ndata: a\n\n\r\n");
  CHECK(s.wake_at() == t0 + 100ms);
  out.clear();
  CHECK(s.advance(t0 + 99ms, out) == event_stream::step::wait);  // woken early: nothing due
  CHECK(out.empty());
  CHECK(s.advance(t0 + 100ms, out) == event_stream::step::wait);
  CHECK(out == "a\r\ndata: bb\n\n\r\n");
  CHECK(s.wake_at() == t0 + 150ms);  // counted from the previous event's time
  out.clear();
  // Late: both the due event and the end go out at once.
  CHECK(s.advance(t0 + 400ms, out) == event_stream::step::done);
  CHECK(out == "9\r\ndata: c\n\n\r\n0\r\n\r\n");
}

TEST_CASE("HTTP/1.0 streams are the bare events, ended by the close", "[sse]") {
  request_view request;
  request.version = 10;
  planned p(stream_of({event("a"), event("b")}), request);
  event_stream s;
  s.start(p.plan, clock::time_point{});
  std::string out;
  CHECK(s.advance(clock::time_point{}, out) == event_stream::step::done);
  CHECK(out == "data: a\n\ndata: b\n\n");
}

TEST_CASE("a held stream sends heartbeats, and a drain ends it with the last chunk", "[sse]") {
  reply_spec spec = stream_of({event("a")});
  spec.then = stream_end::hold;
  spec.heartbeat = 1s;
  planned p(spec, request_view{});
  event_stream s;
  const clock::time_point t0{};
  s.start(p.plan, t0);
  std::string out;
  CHECK(s.advance(t0, out) == event_stream::step::wait);
  CHECK(out == "9\r\ndata: a\n\n\r\n");
  CHECK(s.wake_at() == t0 + 1s);
  out.clear();
  CHECK(s.advance(t0 + 1s, out) == event_stream::step::wait);
  CHECK(out == "e\r\n: keep-alive\n\n\r\n");
  CHECK(s.wake_at() == t0 + 2s);
  out.clear();
  s.finish(out);
  CHECK(out == "0\r\n\r\n");

  spec.heartbeat = 0ms;
  planned quiet(spec, request_view{});
  s.start(quiet.plan, t0);
  out.clear();
  CHECK(s.advance(t0, out) == event_stream::step::hold);
  CHECK(out == "9\r\ndata: a\n\n\r\n");
}

TEST_CASE("Last-Event-ID past the last event ends (or holds) at once", "[sse]") {
  sse_event_spec e = event("a", 5s);
  e.id = "1";
  std::vector<header_field> headers{{"Last-Event-ID", "1"}};
  request_view request;
  request.headers = headers;
  planned p(stream_of({e}), request);
  event_stream s;
  s.start(p.plan, clock::time_point{});
  std::string out;
  CHECK(s.advance(clock::time_point{}, out) == event_stream::step::done);
  CHECK(out == "0\r\n\r\n");
}

TEST_CASE("truncate cuts the stream inside an event, half way through", "[sse]") {
  reply_spec spec = stream_of({event("aaaa"), event("bbbb", 10ms), event("cccc", 10ms)});
  spec.fault = fault_kind::truncate;
  planned p(spec, request_view{});  // three events of 12 bytes: the cut is at 18, in the second
  event_stream s;
  const clock::time_point t0{};
  s.start(p.plan, t0);
  std::string out;
  CHECK(s.advance(t0, out) == event_stream::step::wait);
  CHECK(out == "c\r\ndata: aaaa\n\n\r\n");
  out.clear();
  CHECK(s.advance(t0 + 10ms, out) == event_stream::step::broken);
  CHECK(out == "c\r\ndata: ");  // the chunk claims the whole event; 6 of its 12 bytes come
}

TEST_CASE("truncate moves a cut that falls on an event's end into the event", "[sse]") {
  reply_spec spec = stream_of({event("aaaa"), event("bbbb")});
  spec.fault = fault_kind::truncate;
  request_view request;
  request.version = 10;
  planned p(spec, request);
  event_stream s;
  s.start(p.plan, clock::time_point{});
  std::string out;
  CHECK(s.advance(clock::time_point{}, out) == event_stream::step::broken);
  CHECK(out == "data: aaaa\n");  // 11 of 24 bytes: the first event's blank line never comes
}

TEST_CASE("malformed-chunk breaks the first chunk's size line", "[sse]") {
  reply_spec spec = stream_of({event("a"), event("b")});
  spec.fault = fault_kind::malformed_chunk;
  planned p(spec, request_view{});
  event_stream s;
  s.start(p.plan, clock::time_point{});
  std::string out;
  CHECK(s.advance(clock::time_point{}, out) == event_stream::step::broken);
  CHECK(out == "zz\r\ndata: a\n\n\r\n");
}

TEST_CASE("bandwidth paces an event's bytes in slices every 50 ms", "[sse]") {
  reply_spec spec = stream_of({event("0123456789")});  // 18 bytes
  spec.bandwidth = 100;                                // 5 bytes a slice
  planned p(spec, request_view{});
  event_stream s;
  const clock::time_point t0{};
  s.start(p.plan, t0);
  std::string out;
  CHECK(s.advance(t0, out) == event_stream::step::wait);
  CHECK(out == "5\r\ndata:\r\n");
  CHECK(s.wake_at() == t0 + 50ms);
  out.clear();
  CHECK(s.advance(t0 + 50ms, out) == event_stream::step::wait);
  CHECK(out == "5\r\n 0123\r\n");
  out.clear();
  s.finish(out);  // a drain sends the rest of the event, then ends the body
  CHECK(out == "8\r\n456789\n\n\r\n0\r\n\r\n");
}

#include "wire/event_stream.hpp"

#include <algorithm>
#include <cstdio>

namespace stubborn {

namespace {

// A comment line keeps intermediaries and clients from timing the stream out (the HTML
// standard, 9.2.7: "a comment line ... every 15 seconds or so").
constexpr std::string_view heartbeat_text = ": keep-alive\n\n";
// Bandwidth is paced as for other bodies: a slice every 50 ms.
constexpr std::chrono::milliseconds pacing_step{50};

}  // namespace

void event_stream::start(const response& plan, clock::time_point start) {
  events_ = plan.plan.reply->events();
  body_ = plan.body;
  ends_ = plan.event_ends;
  next_ = plan.first_event;
  current_ = next_;
  pos_ = next_ == 0 ? 0 : ends_[next_ - 1];
  target_ = pos_;
  chunked_ = plan.head.framing == body_framing::chunked;
  holding_ = false;
  const fault_kind fault = plan.plan.fault;
  malformed_ = fault == fault_kind::malformed_chunk;
  empty_ = fault == fault_kind::empty;
  cut_ = 0;
  if (fault == fault_kind::truncate && next_ < ends_.size()) {
    // Half of what the stream would send, moved off an event's end so the cut is mid-event.
    cut_ = pos_ + (ends_.back() - pos_) / 2;
    if (cut_ == pos_) cut_ = pos_ + 1;
    if (std::find(ends_.begin(), ends_.end(), cut_) != ends_.end()) --cut_;
    if (cut_ == pos_) cut_ = 0;  // a stream of one byte cannot be cut inside an event
  }
  const std::uint64_t bandwidth = plan.script().bandwidth;
  slice_ = bandwidth == 0 ? 0 : std::max<std::uint64_t>(1, bandwidth / 20);
  due_ = start + (next_ < ends_.size() ? events_->delay(next_) : std::chrono::milliseconds(0));
}

void event_stream::append_chunk(std::string_view bytes, std::size_t claimed, std::string& out) {
  if (!chunked_) {
    out.append(bytes);
    return;
  }
  if (malformed_) {
    // RFC 9112 §7.1 violated: a chunk size that is no hex number.
    out.append("zz\r\n");
  } else {
    char line[24];
    const int n = std::snprintf(line, sizeof line, "%zx\r\n", claimed);
    out.append(line, static_cast<std::size_t>(n));
  }
  out.append(bytes);
  if (claimed == bytes.size()) out.append("\r\n");
}

void event_stream::send(std::size_t to, std::string& out) {
  while (pos_ < to) {
    while (ends_[current_] <= pos_) ++current_;
    const std::size_t end = std::min<std::size_t>(to, ends_[current_]);
    append_chunk(body_.substr(pos_, end - pos_), end - pos_, out);
    pos_ = end;
    if (malformed_) return;
  }
}

event_stream::step event_stream::advance(clock::time_point now, std::string& out) {
  if (empty_) return step::broken;  // the head promised a body that never comes
  const std::chrono::milliseconds heartbeat = events_->heartbeat();
  if (holding_) {
    if (heartbeat.count() == 0) return step::hold;
    if (now >= due_) {
      append_chunk(heartbeat_text, heartbeat_text.size(), out);
      due_ += heartbeat;
      if (due_ <= now) due_ = now + heartbeat;
    }
    wake_ = due_;
    return step::wait;
  }
  while (next_ < ends_.size() && due_ <= now) {
    target_ = ends_[next_];
    ++next_;
    if (next_ < ends_.size()) due_ += events_->delay(next_);
  }
  std::size_t to = target_;
  if (slice_ != 0) to = std::min(to, pos_ + slice_);
  if (cut_ != 0 && to >= cut_) {
    // Whole events up to the one the cut falls in; its chunk says how long the event is, and
    // the connection ends inside it.
    std::size_t cut_event = current_;
    while (ends_[cut_event] <= cut_) ++cut_event;
    const std::size_t event_start = cut_event == 0 ? 0 : ends_[cut_event - 1];
    if (pos_ < event_start) send(event_start, out);
    append_chunk(body_.substr(pos_, cut_ - pos_), ends_[cut_event] - pos_, out);
    pos_ = cut_;
    return step::broken;
  }
  send(to, out);
  if (malformed_ && pos_ > 0) return step::broken;
  if (pos_ < target_) {
    wake_ = std::min(now + pacing_step, next_ < ends_.size() ? due_ : clock::time_point::max());
    return step::wait;
  }
  if (next_ < ends_.size()) {
    wake_ = due_;
    return step::wait;
  }
  if (events_->then() == stream_end::close) {
    if (chunked_) out.append("0\r\n\r\n");
    return step::done;
  }
  holding_ = true;
  if (heartbeat.count() == 0) return step::hold;
  due_ = now + heartbeat;
  wake_ = due_;
  return step::wait;
}

void event_stream::finish(std::string& out) {
  if (!holding_ && pos_ < ends_.back()) {
    while (ends_[current_] <= pos_) ++current_;
    send(ends_[current_], out);
  }
  if (chunked_) out.append("0\r\n\r\n");
}

}  // namespace stubborn

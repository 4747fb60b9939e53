#include "control/journal_stream.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>

#include "control/control_plane.hpp"
#include "control/journal_json.hpp"
#include "text/utf8.hpp"
#include "wire/connection_handler.hpp"

namespace stubborn {

namespace net = boost::asio;
namespace json = boost::json;

namespace {

using clock = std::chrono::steady_clock;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// Entries looked at per thread and poll: what one stream holds at most at a time.
constexpr std::size_t batch_max = 64;

// The handler itself: what the admin API decided, and the slot it holds until the stream ends.
class journal_stream final : public connection_handler_for<journal_stream> {
 public:
  journal_stream(control_plane& control, journal_stream_options options,
                 journal_stream_slots& slots)
      : control_(control), options_(std::move(options)), slots_(slots) {}
  ~journal_stream() override { slots_.give_back(); }
  journal_stream(const journal_stream&) = delete;
  journal_stream& operator=(const journal_stream&) = delete;

  template <class Transport>
  net::awaitable<void> serve(Transport& transport, std::string buffered, drain_hook& drain);

  control_plane& control() const { return control_; }
  const journal_stream_options& options() const { return options_; }

 private:
  control_plane& control_;
  journal_stream_options options_;
  journal_stream_slots& slots_;
};

// One stream on a connection: a reader that only notices the client going, beside a writer
// that polls the journal and writes events. Shared, so a stall timer's handler that runs
// after the stream ended finds it still there (and does nothing).
template <class Transport>
class journal_stream_run : public std::enable_shared_from_this<journal_stream_run<Transport>> {
 public:
  journal_stream_run(const journal_stream& handler, Transport& transport)
      : control_(handler.control()),
        options_(handler.options()),
        transport_(transport),
        timer_(transport.get_executor()),
        stall_(transport.get_executor()),
        joined_(transport.get_executor()) {}

  net::awaitable<void> run();
  static void on_drain(void* self) { static_cast<journal_stream_run*>(self)->drain(); }

 private:
  void drain();
  net::awaitable<void> read_loop();
  net::awaitable<void> write_loop();
  // Writes `out_` (as one chunk when chunked); false when the client is gone.
  net::awaitable<bool> write_out();
  void append_event(const journal_entry& entry);
  void append_text(std::string_view text) { body_.append(text); }

  control_plane& control_;
  const journal_stream_options& options_;
  Transport& transport_;
  net::steady_timer timer_;   // the writer's wait for its next poll
  net::steady_timer stall_;   // closes on a reader that takes nothing for write_timeout
  net::steady_timer joined_;  // the reader's side waits on it for the writer
  std::string body_;          // what the next write sends, before its chunk framing
  std::string out_;
  bool stopping_ = false;  // the client went, or the connection broke
  bool draining_ = false;  // the server drains: end the body and stop
  bool writing_ = false;
  bool writer_running_ = false;
  bool done_ = false;
  std::exception_ptr writer_error_;
};

template <class Transport>
void journal_stream_run<Transport>::drain() {
  draining_ = true;
  // A write the client does not take would hold the drain until its timeout: close instead.
  if (writing_) {
    transport_.close();
  } else {
    timer_.cancel();
  }
}

template <class Transport>
void journal_stream_run<Transport>::append_event(const journal_entry& entry) {
  json::object o = entry_json(entry);
  if (entry.route.empty() && !entry.miss.empty()) o["nearest"] = replace_invalid_utf8(entry.miss);
  // The data is one line of JSON (serialize escapes newlines), so it is one data: field.
  body_.append("id: ").append(std::to_string(entry.id)).append("\ndata: ");
  body_.append(json::serialize(o)).append("\n\n");
}

template <class Transport>
net::awaitable<bool> journal_stream_run<Transport>::write_out() {
  if (body_.empty()) co_return true;
  out_.clear();
  if (options_.chunked) {
    // RFC 9112 §7.1: each write is one chunk.
    char line[24];
    const int n = std::snprintf(line, sizeof line, "%zx\r\n", body_.size());
    out_.append(line, static_cast<std::size_t>(n)).append(body_).append("\r\n");
  } else {
    out_.swap(body_);
  }
  body_.clear();
  writing_ = true;
  stall_.expires_after(options_.write_timeout);
  stall_.async_wait([self = this->shared_from_this()](boost::system::error_code ec) {
    if (!ec && self->writing_ && !self->done_) self->transport_.close();
  });
  const net::const_buffer buffer(out_.data(), out_.size());
  auto [ec, n] = co_await transport_.async_write(std::span(&buffer, 1), transport_token{});
  (void)n;
  writing_ = false;
  stall_.cancel();
  // A large batch does not keep its memory while the stream waits.
  if (out_.capacity() > 64 * 1024) std::string().swap(out_);
  co_return !ec;
}

template <class Transport>
net::awaitable<void> journal_stream_run<Transport>::write_loop() {
  // The browser reconnects after 2 s when the stream breaks (HTML §9.2.4, retry:); the
  // comment makes curl show that the stream is open before any request comes.
  append_text("retry: 2000\n: stubborn journal stream\n\n");
  journal_cursor cursor;
  journal_query filter = options_.filter;
  filter.limit = 0;
  if (options_.backlog > 0) {
    // The newest `backlog` entries the filters admit, then what follows them.
    journal_cursor oldest;
    journal_query query = filter;
    journal_batch first = co_await control_.async_journal_after(
        std::move(oldest), std::move(query), std::numeric_limits<std::size_t>::max());
    const std::size_t skip =
        first.entries.size() > options_.backlog ? first.entries.size() - options_.backlog : 0;
    for (std::size_t i = skip; i < first.entries.size(); ++i) append_event(first.entries[i]);
    cursor = std::move(first.next);
  } else {
    cursor = co_await control_.async_journal_end();
  }
  clock::time_point last_write = clock::now();
  while (!stopping_ && !draining_) {
    if (!body_.empty()) {
      if (!co_await write_out()) break;
      last_write = clock::now();
    }
    if (stopping_ || draining_) break;
    journal_query query = filter;
    journal_batch batch =
        co_await control_.async_journal_after(std::move(cursor), std::move(query), batch_max);
    cursor = std::move(batch.next);
    if (batch.missed) {
      // The reader (or this poll) fell behind the journal's ring: say how much is missing.
      body_.append("event: dropped\ndata: {\"dropped\":")
          .append(std::to_string(batch.missed))
          .append("}\n\n");
    }
    for (const journal_entry& e : batch.entries) append_event(e);
    if (!body_.empty() || batch.more) continue;
    const clock::time_point now = clock::now();
    if (now - last_write >= options_.heartbeat) {
      // HTML §9.2.7: a comment line keeps intermediaries from timing the stream out.
      append_text(": keep-alive\n\n");
      continue;
    }
    timer_.expires_after(options_.poll_interval);
    co_await timer_.async_wait(use_tuple);
  }
  if (draining_ && !stopping_) {
    // The server drains: the events written so far, then the end of the body.
    if (options_.chunked) {
      body_.clear();
      out_ = "0\r\n\r\n";
      writing_ = true;
      const net::const_buffer buffer(out_.data(), out_.size());
      co_await transport_.async_write(std::span(&buffer, 1), transport_token{});
      writing_ = false;
    }
  }
  // The reader's wait ends too.
  stopping_ = true;
  transport_.cancel();
}

template <class Transport>
net::awaitable<void> journal_stream_run<Transport>::read_loop() {
  // What the client sends is dropped; its end (or a broken connection) ends the stream.
  char discard[256];
  for (;;) {
    auto [ec, n] = co_await transport_.async_read_some(net::buffer(discard), transport_token{});
    (void)n;
    if (ec) break;
  }
  if (!draining_) {
    stopping_ = true;
    timer_.cancel();
  }
}

template <class Transport>
net::awaitable<void> journal_stream_run<Transport>::run() {
  // The writer runs beside the reader, and the stream ends when both have.
  writer_running_ = true;
  auto self = this->shared_from_this();
  net::co_spawn(transport_.get_executor(), write_loop(), [self](std::exception_ptr e) {
    self->writer_error_ = e;
    self->writer_running_ = false;
    self->stopping_ = true;
    self->joined_.cancel();
    // A writer that failed leaves the reader waiting: end it.
    if (e && !self->done_) self->transport_.cancel();
  });
  std::exception_ptr read_error;
  try {
    co_await read_loop();
  } catch (...) {
    read_error = std::current_exception();
  }
  while (writer_running_) {
    joined_.expires_at(clock::time_point::max());
    co_await joined_.async_wait(use_tuple);
  }
  done_ = true;
  stall_.cancel();
  if (read_error) std::rethrow_exception(read_error);
  if (writer_error_) std::rethrow_exception(writer_error_);
}

template <class Transport>
net::awaitable<void> journal_stream::serve(Transport& transport, std::string buffered,
                                           drain_hook& drain) {
  (void)buffered;  // requests pipelined after the stream's are never answered
  auto stream = std::make_shared<journal_stream_run<Transport>>(*this, transport);
  drain = {&journal_stream_run<Transport>::on_drain, stream.get()};
  co_await stream->run();
  drain = {};
}

}  // namespace

bool journal_stream_slots::try_take() {
  std::size_t open = open_.load(std::memory_order_relaxed);
  do {
    if (open >= max_journal_streams) return false;
  } while (!open_.compare_exchange_weak(open, open + 1, std::memory_order_relaxed));
  return true;
}

std::shared_ptr<connection_handler> make_journal_stream(control_plane& control,
                                                        journal_stream_options options,
                                                        journal_stream_slots& slots) {
  return std::make_shared<journal_stream>(control, std::move(options), slots);
}

}  // namespace stubborn

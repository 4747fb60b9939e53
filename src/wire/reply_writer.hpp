#pragma once
// The output queue of one connection: reply text (heads, small bodies, interim responses) in one
// string, large bodies from the route table's memory without a copy, gathered into one buffer
// list and written with a send that takes what the transport takes now, then an asynchronous
// write of the rest. The halves of a write are inline so the session's per-request path writes
// without a nested coroutine; flush() is the whole write for everything else.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wire/connection_core.hpp"

namespace stubborn {

/// Writes replies on a connection; reply_writer.cpp instantiates it for the transports.
template <class Transport>
class reply_writer {
 public:
  /// Bodies at least this large are sent from the table's memory instead of being copied.
  static constexpr std::size_t external_body_threshold = 2048;
  /// The text buffer shrinks back to this after a large reply.
  static constexpr std::size_t kept_capacity = 64 * 1024;

  /// Writes on `core`'s transport, in its writing phase.
  explicit reply_writer(connection_core<Transport>& core) : core_(core) {}

  /// The reply text queued so far, to append to.
  std::string& text() { return text_; }
  /// Queues a body after the text: from the table's memory (when `from_table` and large), or
  /// copied into the text.
  void queue_body(std::string_view body, bool from_table) {
    if (body.empty()) return;
    if (from_table && body.size() >= external_body_threshold) {
      external_.push_back({text_.size(), body});
      external_bytes_ += body.size();
    } else {
      text_.append(body);
    }
  }
  /// Nothing is queued.
  bool empty() const { return text_.empty() && external_.empty(); }
  /// How many bytes are queued.
  std::size_t queued_bytes() const { return text_.size() + external_bytes_; }

  /// Starts a write of everything queued: gathers the buffers and enters the writing phase.
  /// False when nothing is queued.
  bool begin_write() {
    if (empty()) return false;
    buffers_.clear();
    std::size_t pos = 0;
    for (const auto& e : external_) {
      if (e.text_end > pos) buffers_.emplace_back(text_.data() + pos, e.text_end - pos);
      buffers_.emplace_back(e.body.data(), e.body.size());
      pos = e.text_end;
    }
    if (text_.size() > pos) buffers_.emplace_back(text_.data() + pos, text_.size() - pos);
    before_write_ = core_.save_phase();
    core_.set_phase(connection_phase::writing, core_.server().idle_timeout);
    return true;
  }
  /// Sends what the transport takes now (plain TCP: what the kernel takes, as nginx does), so
  /// that most replies need no asynchronous write (no posted completion, no extra trip round the
  /// reactor). False on a broken connection; leaves in unsent() what is still to send.
  bool send_now() {
    boost::system::error_code ec;
    std::size_t done = core_.transport.try_send(unsent(), ec);
    if (ec) return false;
    if (done == 0) return true;
    std::size_t whole = 0;
    while (whole < buffers_.size() && buffers_[whole].size() <= done) {
      done -= buffers_[whole].size();
      ++whole;
    }
    buffers_.erase(buffers_.begin(), buffers_.begin() + static_cast<std::ptrdiff_t>(whole));
    if (!buffers_.empty()) buffers_.front() += done;
    return true;
  }
  /// What begin_write() gathered and send_now() left: a view, because async_write copies its
  /// buffer sequence, and a vector copy would allocate.
  std::span<const boost::asio::const_buffer> unsent() const { return buffers_; }
  /// Ends the write: forgets what was queued and puts the phase before it back.
  void end_write() {
    core_.restore_phase(before_write_);
    text_.clear();
    external_.clear();
    external_bytes_ = 0;
    if (text_.capacity() > kept_capacity) text_ = std::string();
  }
  /// Writes everything queued; false on a broken connection.
  boost::asio::awaitable<bool> flush();

 private:
  struct external_body {
    std::size_t text_end;  // the text before the body
    std::string_view body;
  };

  connection_core<Transport>& core_;
  std::string text_;
  std::vector<external_body> external_;
  std::vector<boost::asio::const_buffer> buffers_;
  std::size_t external_bytes_ = 0;
  typename connection_core<Transport>::saved_phase before_write_{};  // begin_write to end_write
};

}  // namespace stubborn

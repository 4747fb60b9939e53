// Reading a thread's journal from a cursor: only the entries after it, bounded per read, and
// the entries the ring overwrote before they were read counted as missed (a clear is not).

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "control/observer.hpp"

using stubborn::journal_entry;
using stubborn::journal_query;
using stubborn::thread_observer;

namespace {

void record(thread_observer& observer, const std::string& path) {
  journal_entry& e = observer.next_slot();
  e.path = path;
  e.route = path == "/miss" ? "" : "r";
}

std::vector<std::string> paths(const std::vector<journal_entry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.path);
  return out;
}

}  // namespace

TEST_CASE("journal_after reads what came after the cursor, bounded, and counts what was lost",
          "[journal]") {
  thread_observer observer(3, 4, 64);
  journal_query all;
  all.kind.reset();
  std::vector<journal_entry> out;
  std::uint64_t missed = 9;
  CHECK(observer.journal_after(0, all, 10, out, missed) == 0);
  CHECK(out.empty());
  CHECK(missed == 0);

  record(observer, "/a");
  record(observer, "/b");
  record(observer, "/c");
  CHECK(observer.journal_count() == 3);
  // At most `max` entries looked at; the cursor moves past them only.
  CHECK(observer.journal_after(0, all, 2, out, missed) == 2);
  CHECK(paths(out) == std::vector<std::string>{"/a", "/b"});
  out.clear();
  CHECK(observer.journal_after(2, all, 10, out, missed) == 3);
  CHECK(paths(out) == std::vector<std::string>{"/c"});
  CHECK(missed == 0);
  CHECK(out[0].id == ((3u << 8) | 3u));

  // The ring holds 4: three more push /a and /b out, and /c too once the ring wraps.
  record(observer, "/d");
  record(observer, "/e");
  record(observer, "/f");
  record(observer, "/miss");
  out.clear();
  CHECK(observer.journal_after(2, all, 10, out, missed) == 7);
  CHECK(paths(out) == std::vector<std::string>{"/d", "/e", "/f", "/miss"});
  CHECK(missed == 1);  // /c was overwritten before this read

  // Filters choose what is copied; the cursor still moves past what was looked at.
  out.clear();
  journal_query unmatched;
  unmatched.unmatched = true;
  CHECK(observer.journal_after(4, unmatched, 10, out, missed) == 7);
  CHECK(paths(out) == std::vector<std::string>{"/miss"});

  // A clear is not a loss: what follows it is read from the start of the ring.
  observer.clear_journal();
  out.clear();
  CHECK(observer.journal_after(5, all, 10, out, missed) == 7);
  CHECK(out.empty());
  CHECK(missed == 0);
  record(observer, "/g");
  CHECK(observer.journal_after(5, all, 10, out, missed) == 8);
  CHECK(paths(out) == std::vector<std::string>{"/g"});
  CHECK(missed == 0);
}

#include "text/edit_distance.hpp"

#include <algorithm>
#include <vector>

namespace stubborn {

std::size_t edit_distance(std::string_view a, std::string_view b, edit_distance_options options) {
  auto fold = [&](char c) {
    return options.ignore_ascii_case && c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  };
  auto same = [&](char x, char y) { return fold(x) == fold(y); };
  // Three rows of the dynamic-programming table: i-2 (for transpositions), i-1 and i.
  const std::size_t m = b.size();
  std::vector<std::size_t> before(m + 1), above(m + 1), row(m + 1);
  for (std::size_t j = 0; j <= m; ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::swap(before, above);
    std::swap(above, row);
    row[0] = i;
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = same(a[i - 1], b[j - 1]) ? 0 : 1;
      row[j] = std::min({above[j] + 1, row[j - 1] + 1, above[j - 1] + cost});
      if (options.transpositions && i > 1 && j > 1 && same(a[i - 1], b[j - 2]) &&
          same(a[i - 2], b[j - 1])) {
        row[j] = std::min(row[j], before[j - 2] + 1);
      }
    }
  }
  return row[m];
}

}  // namespace stubborn

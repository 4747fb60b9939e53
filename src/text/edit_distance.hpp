#pragma once
// How far apart two strings are, for "did you mean" hints: the nearest route to a missed path,
// the known key nearest to a misspelt one.

#include <cstddef>
#include <string_view>

namespace stubborn {

/// What counts as the same character or as one edit, beyond inserting, deleting or replacing one.
struct edit_distance_options {
  bool ignore_ascii_case = false;  ///< 'A' and 'a' are the same character
  bool transpositions = false;     ///< swapping two adjacent characters is one edit ("stauts")
};

/// The fewest edits turning `a` into `b`: Levenshtein, or with `transpositions` the optimal
/// string alignment distance.
std::size_t edit_distance(std::string_view a, std::string_view b,
                          edit_distance_options options = {});

}  // namespace stubborn

#!/usr/bin/env bash
# Checks that every tracked C++ file (*.cpp, *.hpp) is formatted as .clang-format says, without
# changing any: exits 1 and lists the files clang-format would change, 0 when there are none.
# Usage: scripts/check_format.sh [--fix]   (--fix formats those files in place instead)
# CLANG_FORMAT picks the binary (default: clang-format-14, else clang-format).
set -euo pipefail
cd "$(dirname "$0")/.."

clang_format=${CLANG_FORMAT:-$(command -v clang-format-14 || command -v clang-format || true)}
if [ -z "$clang_format" ]; then
  echo "check_format: clang-format is not installed (Debian: apt-get install clang-format)" >&2
  exit 2
fi

files=()
while IFS= read -r -d '' file; do
  files+=("$file")
done < <(git ls-files -z -- '*.cpp' '*.hpp')
if [ "${#files[@]}" -eq 0 ]; then
  echo "check_format: no tracked *.cpp or *.hpp files" >&2
  exit 2
fi

if [ "${1:-}" = "--fix" ]; then
  "$clang_format" -i --style=file "${files[@]}"
  echo "check_format: formatted ${#files[@]} files"
  exit 0
fi

unformatted=()
for file in "${files[@]}"; do
  if ! "$clang_format" --dry-run --Werror --style=file "$file" >/dev/null 2>&1; then
    unformatted+=("$file")
  fi
done

if [ "${#unformatted[@]}" -gt 0 ]; then
  printf '%s\n' "${unformatted[@]}"
  echo "check_format: ${#unformatted[@]} of ${#files[@]} files differ from .clang-format;" \
    "run scripts/check_format.sh --fix" >&2
  exit 1
fi
echo "check_format: ${#files[@]} files match .clang-format"

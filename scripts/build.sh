#!/usr/bin/env bash
# Configures and builds stubborn. Usage: scripts/build.sh BUILD_DIR BUILD_TYPE [cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
build_type=${2:-Release}
shift $(( $# > 2 ? 2 : $# ))
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE="$build_type" "$@" >/dev/null
else
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="$build_type" "$@" >/dev/null
fi
cmake --build "$build_dir" -j "$(nproc)"

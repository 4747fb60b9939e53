#!/usr/bin/env bash
# Installs stubborn from a build tree into a temporary prefix, moves the prefix elsewhere (the
# package must be relocatable), then builds against it with nothing from the source or build
# tree: examples/catch2 and examples/googletest through find_package(stubborn CONFIG), and
# examples/embed_control.cpp with `pkg-config --cflags --libs stubborn` alone; runs all three.
# It also checks that the installed headers include no Boost or toml++ header.
#   bash scripts/check_installed_package.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=$(cd "${1:-build}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build_dir" --prefix "$work/installed" >/dev/null
mv "$work/installed" "$work/moved"
prefix=$work/moved
# Only the copied sources: the examples may not reach into the repository.
cp -r examples "$work/examples"

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
for example in catch2 googletest; do
  echo "== examples/$example against the installed package"
  cmake -S "$work/examples/$example" -B "$work/build-$example" "${generator[@]}" \
    -DCMAKE_BUILD_TYPE=Debug -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
  cmake --build "$work/build-$example" -j "${JOBS:-2}"
  ctest --test-dir "$work/build-$example" --output-on-failure
done

echo "== examples/embed_control.cpp with pkg-config only"
pc_dir=$(dirname "$(find "$prefix" -name stubborn.pc)")
export PKG_CONFIG_PATH=$pc_dir
flags=$(pkg-config --cflags --libs stubborn)
echo "pkg-config --cflags --libs stubborn: $flags"
# shellcheck disable=SC2086
c++ -o "$work/embed_control" "$work/examples/embed_control.cpp" $flags
"$work/embed_control"

echo "== the installed headers use the standard library only"
headers=$(cd "$prefix/include" && find stubborn -name '*.hpp' | sort)
for header in $headers; do echo "#include <$header>"; done > "$work/all_headers.cpp"
# shellcheck disable=SC2086
deps=$(c++ $(pkg-config --cflags stubborn) -M "$work/all_headers.cpp")
if grep -Eo '[^ ]*(boost|toml)[^ ]*' <<<"$deps"; then
  echo "the installed headers include the files above" >&2
  exit 1
fi
echo "installed package: all checks passed"

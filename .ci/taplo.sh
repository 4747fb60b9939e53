#!/usr/bin/env bash
# The config's JSON Schema as editors use it, through taplo (npm @taplo/cli, installed once into
# the build tree): docs/stubborn.schema.json is what `stubborn --print-schema` generates; every
# config in configs/ passes, with the schema taken from .taplo.toml; each file in
# tests/schema/broken/ fails on the key its "# wrong: KEY" line names and on nothing else, as
# stubborn --check does; and a file carrying the `#:schema` line of docs/config.md is checked too.
# Needs the README's build (build/stubborn). About ten seconds: taplo starts twice.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
stubborn=$build/stubborn
taplo=$build/npm/node_modules/.bin/taplo
work=$build/schema
mkdir -p "$work"

if ! "$stubborn" --print-schema | cmp -s - docs/stubborn.schema.json; then
  echo "docs/stubborn.schema.json differs from what the key tables generate; regenerate it:"
  echo "  $stubborn --print-schema > docs/stubborn.schema.json"
  exit 1
fi

if [ ! -x "$taplo" ]; then
  if ! command -v npm >/dev/null && [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
  fi
  npm install --prefix "$build/npm" --no-audit --no-fund --loglevel=error @taplo/cli@0.7.0
fi

# Every example config passes, each one validated with the schema .taplo.toml maps it to.
mapfile -t configs < <(find configs -name '*.toml' | sort)
schema_url="file://$PWD/docs/stubborn.schema.json"
if ! RUST_LOG=debug "$taplo" check "${configs[@]}" > "$work/configs.out" 2>&1; then
  grep -v '^DEBUG' "$work/configs.out"
  echo "taplo refuses a config in configs/ that stubborn loads"
  exit 1
fi
validated=$(grep -c "using schema schema.url=$schema_url schema.name=\"\" schema.source=\"config\"" \
  "$work/configs.out" || true)
if [ "$validated" -ne "${#configs[@]}" ]; then
  echo "taplo validated $validated of ${#configs[@]} configs with the schema (.taplo.toml)"
  exit 1
fi
echo "taplo: ${#configs[@]} configs in configs/ pass"

# The broken files, and one with the `#:schema` line (a path relative to the file) instead of
# .taplo.toml's mapping.
directive=$work/directive_unknown_server_key.toml
{
  echo "#:schema $(realpath --relative-to="$work" docs/stubborn.schema.json)"
  cat tests/schema/broken/unknown_server_key.toml
} > "$directive"
broken=(tests/schema/broken/*.toml "$directive")
status=0
"$taplo" check "${broken[@]}" > "$work/broken.out" 2>&1 || status=$?
if [ "$status" -eq 0 ]; then
  cat "$work/broken.out"
  echo "taplo accepted every broken config"
  exit 1
fi
python3 tests/schema/expect_failures.py "$work/broken.out" "${broken[@]}"

# The loader refuses each of them too, on the same key and only on it.
for file in tests/schema/broken/*.toml; do
  key=$(sed -n 's/^# *wrong: *\([^ ]*\) *$/\1/p' "$file")
  if "$stubborn" --check "$file" > "$work/check.out" 2>&1; then
    echo "stubborn --check accepts $file, which the schema refuses on '$key'"
    exit 1
  fi
  if grep "^$file:" "$work/check.out" | grep -v "'$key'" | grep -q .; then
    cat "$work/check.out"
    echo "stubborn --check refuses $file for more than '$key'"
    exit 1
  fi
  grep -q "'$key'" "$work/check.out" || { cat "$work/check.out"; exit 1; }
done
echo "stubborn --check refuses each broken config on the same key"

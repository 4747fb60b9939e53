#!/usr/bin/env bash
# Runs the suite of an AddressSanitizer + UndefinedBehaviorSanitizer build (default build-asan).
# ctest starts one process per test case, and an instrumented process costs about half a second
# to start and to check for leaks at exit: for 1,800 cases that is most of the stage. So the
# unit tests and each transport's integration tests run as one process each (as the TSan
# stage runs them), two at a time, with the same test specs and environment as
# tests/CMakeLists.txt gives ctest; the other ctest entries (docs, packaging, examples) run
# through ctest. The e2e tests are left out: they run the binary, not the suites.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-asan}
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
started=$(date +%s)
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

ctest --test-dir "$build" --output-on-failure -j 2 --timeout 600 -E '^(e2e|unit|integration)'

units=$build/tests/stubborn_unit_tests
integration=$build/tests/stubborn_integration_tests
# name | environment | binary and its arguments
runs=(
  "unit||$units"
  "integration||$integration"
  "integration (generic transport)|STUBBORN_TRANSPORT=generic|$integration ~[socket]~[redis]~[.],[generic_run]"
  "integration (TLS)|STUBBORN_TEST_TLS=1|$integration ~[socket]~[redis]~[plain_only]~[.],[tls_run]"
  "integration (TLS, generic transport)|STUBBORN_TEST_TLS=generic|$integration ~[socket]~[redis]~[plain_only]~[.],[tls_run]"
)
run_one() {
  local index=$1 name environment command
  IFS='|' read -r name environment command <<<"${runs[$index]}"
  local begun
  begun=$(date +%s)
  # The test specs hold brackets: split the command into words, but expand no file names.
  set -f
  # shellcheck disable=SC2086
  if env $environment $command >"$logs/$index.log" 2>&1; then
    echo "ok $(( $(date +%s) - begun )) s" >"$logs/$index.status"
  else
    echo "FAILED" >"$logs/$index.status"
  fi
}
for index in "${!runs[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n || true; done
  run_one "$index" &
done
wait

failed=0
for index in "${!runs[@]}"; do
  name=${runs[$index]%%|*}
  status=$(cat "$logs/$index.status" 2>/dev/null || echo FAILED)
  summary=$(grep -E '^(All tests passed|test cases:)' "$logs/$index.log" | tail -n 1 || true)
  echo "asan: $name: $status; $summary"
  if [ "${status%% *}" != ok ]; then
    failed=1
    tail -n 100 "$logs/$index.log" >&2
  fi
done
echo "asan: suites ran in $(( $(date +%s) - started )) s"
exit $failed

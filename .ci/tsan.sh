#!/usr/bin/env bash
# Builds the integration tests with ThreadSanitizer into build-tsan and runs them: any data race
# or other TSan report fails the run (halt_on_error). .ci/tsan.supp lists the only suppressions,
# each with its reason.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${TSAN_BUILD_DIR:-build-tsan}
started=$(date +%s)

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSTUBBORN_SANITIZE=thread -DSTUBBORN_BENCHMARKS=OFF >/dev/null
fi
cmake --build "$build_dir" -j "${TSAN_JOBS:-2}" --target stubborn_integration_tests
built=$(date +%s)

# exitcode=66: a report makes the process fail even if the test itself passed.
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 history_size=4 \
suppressions=$PWD/.ci/tsan.supp"
"$build_dir/tests/stubborn_integration_tests" "$@"
if [ $# -eq 0 ]; then
  # The whole suite again over the generic transport, as ctest runs it (tests/CMakeLists.txt).
  STUBBORN_TRANSPORT=generic "$build_dir/tests/stubborn_integration_tests" \
    "~[socket]~[redis]~[.],[generic_run]"
  # And over HTTPS (OpenSSL itself is not instrumented: what TSan checks is our side of it).
  STUBBORN_TEST_TLS=1 "$build_dir/tests/stubborn_integration_tests" \
    "~[socket]~[redis]~[plain_only]~[.],[tls_run]"
fi
echo "tsan: built in $(( built - started )) s, tests ran in $(( $(date +%s) - built )) s"

#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) into build-fuzz and runs each for
# FUZZ_SECONDS (default 60) from its seed corpus; fails on any crash, leak, hang or violation.
# Longer runs: see docs/reliability.md.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
build_dir=${FUZZ_BUILD_DIR:-build-fuzz}
started=$(date +%s)

if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ is needed (apt-get install clang)" >&2
  exit 1
fi
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DSTUBBORN_FUZZ=ON -DSTUBBORN_TESTS=OFF \
    -DSTUBBORN_BENCHMARKS=OFF >/dev/null
fi
cmake --build "$build_dir" -j 2 --target \
  fuzz_request_path fuzz_fragmentation fuzz_fragmentation_tls fuzz_config fuzz_route_json \
  fuzz_templates_matchers fuzz_proxy_upstream fuzz_body_conditions fuzz_websocket_frames

# The corpus each run grows is kept out of the tree (in FUZZ_WORK_DIR if set, so a long run can
# be resumed); the seeds stay as committed.
if [ -n "${FUZZ_WORK_DIR:-}" ]; then
  work=$FUZZ_WORK_DIR
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
# Each run is one process on one core: two run side by side (FUZZ_JOBS), so the stage takes
# half the time for the same fuzzing per target.
run_target() {
  local target=$1 dict=() seeds log
  case $target in
    fuzz_request_path | fuzz_fragmentation | fuzz_fragmentation_tls)
      dict=(-dict=tests/fuzz/http.dict) ;;
    fuzz_config) dict=(-dict=tests/fuzz/toml.dict) ;;
    fuzz_route_json | fuzz_body_conditions) dict=(-dict=tests/fuzz/json.dict) ;;
    fuzz_proxy_upstream) dict=(-dict=tests/fuzz/http_response.dict) ;;
  esac
  # The TLS variant reads its inputs as fuzz_fragmentation does, and starts from its seeds.
  seeds=tests/fuzz/corpus/$target
  if [ "$target" = fuzz_fragmentation_tls ]; then seeds=tests/fuzz/corpus/fuzz_fragmentation; fi
  mkdir -p "$work/$target"
  log="$work/$target.log"
  # -rss_limit_mb: well under the machine's memory; -timeout: one input may take at most 10 s.
  if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$build_dir/tests/fuzz/$target" "$work/$target" "$seeds" "${dict[@]}" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -artifact_prefix="$work/$target-" -print_final_stats=1 >"$log" 2>&1; then
    echo ok >"$work/$target.status"
  else
    echo FAILED >"$work/$target.status"
  fi
}

targets=(fuzz_request_path fuzz_fragmentation fuzz_fragmentation_tls fuzz_config
  fuzz_route_json fuzz_templates_matchers fuzz_proxy_upstream fuzz_body_conditions
  fuzz_websocket_frames)
jobs=${FUZZ_JOBS:-2}
for target in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_target "$target" &
done
wait

failed=0
summary=()
for target in "${targets[@]}"; do
  log="$work/$target.log"
  status=$(cat "$work/$target.status" 2>/dev/null || echo FAILED)
  if [ "$status" != ok ]; then
    failed=1
    tail -n 60 "$log" >&2
    for artifact in "$work/$target"-*; do
      [ -e "$artifact" ] || continue
      mkdir -p "$build_dir/artifacts"
      cp "$artifact" "$build_dir/artifacts/"
      echo "fuzz: reproducer kept in $build_dir/artifacts/$(basename "$artifact")" >&2
    done
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*' || echo 0)
  summary+=("fuzz: $target: $status, ${runs:-0} runs in ${seconds}s, coverage ${cov:-0} edges")
done
printf '%s\n' "${summary[@]}"
echo "fuzz: done in $(( $(date +%s) - started )) s"
exit $failed

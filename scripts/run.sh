#!/usr/bin/env bash
# Quick start: set up, build (Release) and run stubborn. Usage: scripts/run.sh [CONFIG...] [options]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build-release Release -DSTUBBORN_TESTS=OFF -DSTUBBORN_BENCHMARKS=OFF >&2
if [ $# -eq 0 ]; then set -- configs/example.toml; fi
exec ./build-release/stubborn "$@"

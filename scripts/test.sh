#!/usr/bin/env bash
# Quick start: set up, build and run the whole test suite through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build RelWithDebInfo
ctest --test-dir build --output-on-failure -j 2 --timeout 300

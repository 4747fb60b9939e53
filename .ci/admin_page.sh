#!/usr/bin/env bash
# The admin page in headless Chromium (tests/e2e/test_admin_page.py) on the build tree the
# README command made, and its screenshot kept as an artifact: build/tests/admin-page.png.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f build/tests/admin-page.png
ctest --test-dir build --output-on-failure --timeout 60 \
  -R '^e2e: the admin page in Chromium'
test -s build/tests/admin-page.png
echo "artifact: build/tests/admin-page.png"

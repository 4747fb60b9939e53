#!/usr/bin/env bash
# Installs the Debian 12 packages stubborn needs to build, test and benchmark.
# As root it runs apt-get; otherwise it prints the exact command to run.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config
  libboost1.81-dev libboost-json1.81-dev libtomlplusplus-dev libre2-dev libssl-dev libxml2-dev
  libhiredis-dev redis-server haproxy
  catch2 libgtest-dev libbenchmark-dev
  curl python3 openssl
  python3-websockets python3-selenium chromium chromium-driver
  man-db zsh dpkg-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

command="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "stubborn needs these packages: ${missing[*]}" >&2
  echo "run as root: apt-get update && $command" >&2
  exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
$command >/dev/null

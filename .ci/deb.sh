#!/usr/bin/env bash
# CI: the Debian packages. cpack builds them from the README command's `build` tree; their
# contents, dependencies and manual page are checked; then (as root) apt installs them, the
# installed stubborn runs --version and --check on every installed example, systemd checks the
# unit, and apt purges them again. Usage: .ci/deb.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
fail() { echo "deb.sh: $*" >&2; exit 1; }

version=$(sed -n 's/^project(stubborn VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
arch=$(dpkg --print-architecture)
rm -f "$build"/stubborn_*.deb "$build"/stubborn-dev_*.deb
if ! cpack -G DEB --config "$build/CPackConfig.cmake" -B "$build" >"$build/cpack.log" 2>&1; then
  cat "$build/cpack.log" >&2
  fail "cpack -G DEB failed"
fi
deb=$build/stubborn_${version}_${arch}.deb
[ -f "$deb" ] || fail "cpack did not write $deb: $(ls "$build"/*.deb 2>/dev/null)"
dev_deb=$build/stubborn-dev_${version}_${arch}.deb
[ -f "$dev_deb" ] || dev_deb=""
echo "built $deb${dev_deb:+ and $dev_deb}"

# What the runtime package holds.
contents=$(dpkg-deb -c "$deb" | awk '{print $NF}')
for path in ./usr/bin/stubborn ./usr/share/man/man1/stubborn.1.gz \
  ./usr/share/bash-completion/completions/stubborn ./usr/share/zsh/vendor-completions/_stubborn \
  ./usr/share/doc/stubborn/copyright ./usr/share/doc/stubborn/examples/example.toml \
  ./usr/share/doc/stubborn/examples/bodies/index.html ./usr/share/doc/stubborn/config.md \
  ./usr/lib/systemd/system/stubborn.service ./etc/stubborn/stubborn.toml; do
  grep -qxF "$path" <<<"$contents" || fail "$deb has no $path"
done
[ "$(dpkg-deb --info "$deb" conffiles)" = /etc/stubborn/stubborn.toml ] ||
  fail "/etc/stubborn/stubborn.toml is not the package's conffile"

# Its dependencies come from dpkg-shlibdeps; the Dockerfile's runtime stage installs the same
# libraries (less those every Debian image has).
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
grep -q 'libc6' <<<"$depends" || fail "Depends was not computed by dpkg-shlibdeps: '$depends'"
from_deb=$(tr ',' '\n' <<<"$depends" | awk '{print $1}' |
  grep -vxE 'libc6|libgcc-s1|libstdc\+\+6' | sort | tr '\n' ' ')
# The runtime stage's package lines: indented, after `apt-get install`.
from_docker=$(sed -n '/^FROM debian:12-slim/,$p' Dockerfile | grep -E '^ +lib' | tr ' \\' '\n\n' |
  grep -E '^lib' | sort | tr '\n' ' ')
[ "$from_deb" = "$from_docker" ] ||
  fail "the Dockerfile's runtime libraries ($from_docker) are not the .deb's ($from_deb)"
if [ -n "$dev_deb" ]; then
  grep -qF "stubborn (= $version)" <<<"$(dpkg-deb -f "$dev_deb" Depends)" ||
    fail "$dev_deb does not depend on stubborn (= $version)"
fi

# The manual page, as packaged, renders without a warning.
unpacked=$(mktemp -d)
trap 'rm -rf "$unpacked"' EXIT
dpkg-deb -x "$deb" "$unpacked"
warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l \
  "$unpacked/usr/share/man/man1/stubborn.1.gz" 2>&1 >/dev/null)
[ -z "$warnings" ] || fail "man --warnings -l stubborn.1.gz: $warnings"
echo "contents, conffile, Depends and the man page: ok"

if [ "$(id -u)" -ne 0 ]; then
  echo "not root: installing the packages with apt-get is left out"
  exit 0
fi
if dpkg-query -W -f='${Status}' stubborn 2>/dev/null | grep -q "install ok installed"; then
  fail "a stubborn package is already installed on this machine; not touching it"
fi

# policy-rc.d 101: the maintainer scripts must not start the service.
policy=/usr/sbin/policy-rc.d
made_policy=false
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=true
fi
purge=(stubborn)
[ -z "$dev_deb" ] || purge+=(stubborn-dev)
installed_here=false
cleanup() {
  rm -rf "$unpacked"
  # A check that failed leaves no package behind to block the next run.
  if $installed_here; then
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${purge[@]}" >/dev/null 2>&1 || true
  fi
  if $made_policy; then rm -f "$policy"; fi
}
trap cleanup EXIT
packages=("./$deb")
[ -z "$dev_deb" ] || packages+=("./$dev_deb")
installed_here=true
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null

installed=$(/usr/bin/stubborn --version)
[ "$installed" = "stubborn $version" ] || fail "stubborn --version says '$installed'"
for config in /usr/share/doc/stubborn/examples/*.toml /etc/stubborn/; do
  /usr/bin/stubborn --check "$config" >/dev/null || fail "stubborn --check $config"
done
echo "installed: $installed; --check passes on $(ls /usr/share/doc/stubborn/examples/*.toml |
  wc -l) examples and /etc/stubborn/"
[ "$(man -w stubborn)" = /usr/share/man/man1/stubborn.1.gz ] || fail "man -w stubborn"
bash -c 'source /usr/share/bash-completion/completions/stubborn && complete -p stubborn' \
  >/dev/null || fail "the installed bash completion does not register"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /usr/lib/systemd/system/stubborn.service ||
    fail "systemd-analyze verify stubborn.service"
  echo "systemd-analyze verify stubborn.service: ok"
else
  echo "systemd-analyze is not installed: the unit is not verified"
fi

DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${purge[@]}" >/dev/null
installed_here=false
[ ! -e /usr/bin/stubborn ] || fail "/usr/bin/stubborn is still there after apt-get purge"
[ ! -e /etc/stubborn/stubborn.toml ] || fail "/etc/stubborn/ is still there after the purge"
! dpkg-query -W -f='${Status}' stubborn 2>/dev/null | grep -q "ok installed" ||
  fail "dpkg still lists stubborn as installed"
echo "installed with apt-get, checked and purged: ok"

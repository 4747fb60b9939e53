#!/bin/bash
# The HEALTHCHECK of the stubborn image: GET /__admin/status on the server's port, through bash's
# /dev/tcp, so the runtime image needs no HTTP client. Exit 0 on a 200, 1 otherwise.
# The port: $1, else $STUBBORN_HEALTHCHECK_PORT, else 8080. With [admin] token set, give the
# token as $STUBBORN_HEALTHCHECK_TOKEN.
port=${1:-${STUBBORN_HEALTHCHECK_PORT:-8080}}
exec 3<>"/dev/tcp/127.0.0.1/${port}" || exit 1
authorization=""
if [ -n "${STUBBORN_HEALTHCHECK_TOKEN:-}" ]; then
  authorization="Authorization: Bearer ${STUBBORN_HEALTHCHECK_TOKEN}"$'\r\n'
fi
printf 'GET /__admin/status HTTP/1.1\r\nHost: 127.0.0.1\r\n%sConnection: close\r\n\r\n' \
  "${authorization}" >&3 || exit 1
read -r -t 3 _ status _ <&3 || exit 1
[ "${status}" = 200 ]

#!/usr/bin/env python3
"""User-space instructions per keep-alive request, stubborn against nginx, under callgrind.

    python3 benchmarks/instructions.py [--stubborn build-bench/stubborn] [--requests 10000]

Wall-clock CPU per request moves by 10 % and more from run to run on a shared 2-core VM; an
instruction count does not. Each server runs with one thread (nginx: one worker, no master)
under `valgrind --tool=callgrind`; one client connection sends the same GET N1 times, then a new
server the same N2 = N1 + --requests times, and the figure is the difference of the two totals
divided by --requests, so start-up and shutdown cancel out. Kernel work is not counted: compare
system calls per request with `perf stat -e 'syscalls:sys_enter_*'` (docs/performance.md).

Needs valgrind (Debian: apt-get install valgrind) and, for the comparison, nginx.
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUEST = b"GET /hello HTTP/1.1\r\nHost: x\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"
BODY = b"hello"

STUBBORN_CONFIG = """[server]
listen = "127.0.0.1:0"
[admin]
enabled = false
[[route]]
name = "hello"
method = "GET"
path = "/hello"
[route.reply]
headers = { Content-Type = "text/plain" }
body = "hello"
"""

NGINX_CONFIG = """worker_processes 1;
master_process off;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    tcp_nodelay on;
    keepalive_requests 1000000000;
    client_body_temp_path {prefix}/cb;
    proxy_temp_path {prefix}/p;
    fastcgi_temp_path {prefix}/f;
    uwsgi_temp_path {prefix}/u;
    scgi_temp_path {prefix}/s;
    server {{
        listen 127.0.0.1:{port};
        location = /hello {{ default_type text/plain; return 200 "hello"; }}
    }}
}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect(port, deadline):
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=30)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def send_requests(port, count):
    """One keep-alive connection, one request at a time; each reply read whole."""
    with connect(port, time.monotonic() + 60) as s:
        buffer = b""
        for _ in range(count):
            s.sendall(REQUEST)
            while True:
                end = buffer.find(b"\r\n\r\n")
                if end >= 0 and len(buffer) >= end + 4 + len(BODY):
                    if not buffer[:12].startswith(b"HTTP/1.1 200"):
                        raise RuntimeError(f"unexpected reply {buffer[:60]!r}")
                    buffer = buffer[end + 4 + len(BODY):]
                    break
                chunk = s.recv(65536)
                if not chunk:
                    raise RuntimeError("server closed the connection")
                buffer += chunk


def callgrind_total(cmd, port, count, out_file):
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}"]
                            + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        send_requests(port, count)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for line in Path(out_file).read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {out_file}")


def per_request(name, make_cmd, work, first, extra):
    totals = []
    for count in (first, first + extra):
        port = free_port()
        totals.append(callgrind_total(make_cmd(port), port, count,
                                      work / f"callgrind.{name}.{count}"))
    value = (totals[1] - totals[0]) / extra
    print(f"{name:<9} {value:9,.0f} instructions per request "
          f"({totals[0]:,} for {first:,}, {totals[1]:,} for {first + extra:,})", flush=True)
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stubborn", default=str(ROOT / "build-bench" / "stubborn"))
    parser.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--first", type=int, default=1000)
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    if not os.access(args.stubborn, os.X_OK):
        sys.exit(f"{args.stubborn} not found: build it first (python3 benchmarks/run.py builds "
                 "build-bench/, or cmake --build build-bench --target stubborn)")
    with tempfile.TemporaryDirectory(prefix="stubborn-instructions-") as tmp:
        work = Path(tmp)
        config = work / "hello.toml"
        config.write_text(STUBBORN_CONFIG)

        def stubborn_cmd(port):
            return [args.stubborn, "--threads", "1", "--no-watch", "--log-level", "warn",
                    "--listen", f"127.0.0.1:{port}", str(config)]

        ours = per_request("stubborn", stubborn_cmd, work, args.first, args.requests)
        if os.access(args.nginx, os.X_OK):
            prefix = work / "nginx"
            prefix.mkdir()

            def nginx_cmd(port):
                conf = prefix / f"nginx-{port}.conf"
                conf.write_text(NGINX_CONFIG.format(prefix=prefix, port=port))
                return [args.nginx, "-c", str(conf), "-p", str(prefix)]

            theirs = per_request("nginx", nginx_cmd, work, args.first, args.requests)
            print(f"stubborn / nginx: {ours / theirs:.2f}x")
        else:
            print("nginx not found: stubborn only")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""User-space instructions per keep-alive request, stubborn against nginx, under callgrind.

    python3 benchmarks/instructions.py [--stubborn build-bench/stubborn] [--requests 10000]
                                       [--out benchmarks/results/instructions-STAMP.json]

Wall-clock CPU per request moves by 10 % and more from run to run on a shared 2-core VM; an
instruction count does not. Each server runs with one thread (nginx: one worker, no master)
under `valgrind --tool=callgrind`; one client connection sends the same GET N1 times, then a new
server the same N2 = N1 + --requests times, and the figure is the difference of the two totals
divided by --requests, so start-up and shutdown cancel out. Kernel work is not counted: compare
system calls per request with `perf stat -e 'syscalls:sys_enter_*'` (docs/performance.md).

Writes the figures, the command and what was measured (commit, build type, tool versions) to
benchmarks/results/instructions-<UTC timestamp>.json (--out to choose; --out "" writes none):
scripts/render_benchmarks.py renders the docs' figures from that file once it is committed.

Needs valgrind (Debian: apt-get install valgrind) and, for the comparison, nginx.
"""
import argparse
import datetime
import json
import os
import platform
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
    return {"per_request": value, "requests": [first, first + extra], "totals": totals}


def first_line(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return ((out.stdout + out.stderr).strip().splitlines() or [None])[0]
    except (OSError, subprocess.TimeoutExpired):
        return None


def shown_path(path):
    """A path as the result file records it: relative to the checkout, never this machine's."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(ROOT))
    except ValueError:
        return resolved.name


def build_type(binary):
    """CMAKE_BUILD_TYPE of the build tree the binary sits in, when it has a CMakeCache.txt."""
    for folder in (Path(binary).resolve().parent, Path(binary).resolve().parent.parent):
        cache = folder / "CMakeCache.txt"
        if cache.exists():
            for line in cache.read_text(errors="replace").splitlines():
                if line.startswith("CMAKE_BUILD_TYPE:"):
                    return line.split("=", 1)[1].strip() or None
    return None


def git(*args):
    try:
        out = subprocess.run(["git", "-C", str(ROOT)] + list(args), capture_output=True,
                             text=True, timeout=30)
        return out.stdout.strip() if out.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def machine():
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu_model": model, "kernel": platform.release()}


def write_result(path, args, stamp, servers, nginx_version):
    """One small JSON object: the figures and everything needed to trace them."""
    record = {
        "type": "instructions", "stamp": stamp,
        "command": " ".join(["python3 benchmarks/instructions.py"] + [
            shown_path(a) if os.path.isabs(a) else a for a in sys.argv[1:]]),
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "stubborn": {"binary": shown_path(args.stubborn), "build_type": build_type(args.stubborn),
                     "version": first_line([args.stubborn, "--version"])},
        "nginx_version": nginx_version, "valgrind": first_line(["valgrind", "--version"]),
        "machine": machine(), "requests": args.requests, "first": args.first,
        "servers": servers,
        "ratio": (servers["stubborn"]["per_request"] / servers["nginx"]["per_request"]
                  if "nginx" in servers else None),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    print(f"result: {shown_path(path)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stubborn", default=str(ROOT / "build-bench" / "stubborn"))
    parser.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--first", type=int, default=1000)
    parser.add_argument("--out", default=None,
                        help="result file (default benchmarks/results/instructions-STAMP.json; "
                             "an empty string writes none)")
    args = parser.parse_args()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = (ROOT / "benchmarks" / "results" / f"instructions-{stamp}.json" if args.out is None
           else Path(args.out) if args.out else None)
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

        servers = {"stubborn": per_request("stubborn", stubborn_cmd, work, args.first,
                                           args.requests)}
        nginx_version = None
        if os.access(args.nginx, os.X_OK):
            prefix = work / "nginx"
            prefix.mkdir()

            def nginx_cmd(port):
                conf = prefix / f"nginx-{port}.conf"
                conf.write_text(NGINX_CONFIG.format(prefix=prefix, port=port))
                return [args.nginx, "-c", str(conf), "-p", str(prefix)]

            servers["nginx"] = per_request("nginx", nginx_cmd, work, args.first, args.requests)
            nginx_version = first_line([args.nginx, "-v"])
            print(f"stubborn / nginx: "
                  f"{servers['stubborn']['per_request'] / servers['nginx']['per_request']:.2f}x")
        else:
            print("nginx not found: stubborn only")
    if out:
        write_result(out, args, stamp, servers, nginx_version)


if __name__ == "__main__":
    main()

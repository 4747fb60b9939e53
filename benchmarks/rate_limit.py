#!/usr/bin/env python3
"""Rate-limit accuracy under load: offers about 20,000 requests/s for 10 s from 64
keep-alive connections on 2 wrk threads against a route limited to 100 requests/s with a burst
of 100, and counts what was admitted. A token bucket that starts full admits the burst plus
100/s for the run: 100 + 100 x 10 = 1,100. Pass: within 1 %.

    python3 benchmarks/rate_limit.py [--duration 10] [--runs 3] [--no-build] [--out PATH]

Builds Release into build-bench/ like run.py, starts stubborn on 127.0.0.1:0 with a generated
config, and stops only what it started. Prints one JSON line per run and a summary line, and
writes them with the settings and the commit to benchmarks/results/rate-limit-<UTC
timestamp>.json (--out to choose; --out "" writes none), from which scripts/render_benchmarks.py
renders the docs' figures once the file is committed."""
import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BUILD = ROOT / "build-bench"

CONFIG = """
[server]
listen = "127.0.0.1:0"

[[route]]
path = "/limited"
[route.reply]
body = "ok"
[route.rate_limit]
requests = {requests}
per = "1s"
burst = {burst}
"""


def build(no_build):
    if no_build:
        return
    configure = ["cmake", "-S", str(ROOT), "-B", str(BUILD), "-DCMAKE_BUILD_TYPE=Release",
                 "-DSTUBBORN_TESTS=OFF"]
    if not (BUILD / "CMakeCache.txt").exists() and shutil.which("ninja"):
        configure += ["-G", "Ninja"]
    subprocess.run(configure, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", str(BUILD), "--target", "stubborn"], check=True,
                   stdout=sys.stderr)


def start(binary, config, tmp):
    port_file = tmp / "port"
    if port_file.exists():
        port_file.unlink()
    proc = subprocess.Popen([str(binary), "--listen", "127.0.0.1:0", "--port-file",
                             str(port_file), "--log-level", "warn", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        if port_file.exists() and port_file.read_text().strip():
            return proc, int(port_file.read_text())
        time.sleep(0.01)
    proc.kill()
    raise SystemExit("stubborn did not start")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100, help="per second")
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--pause-ms", type=int, default=2, help="per connection between requests")
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--out", default=None,
                        help="result file (default benchmarks/results/rate-limit-STAMP.json; "
                             "an empty string writes none)")
    args = parser.parse_args()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = (ROOT / "benchmarks" / "results" / f"rate-limit-{stamp}.json" if args.out is None
           else Path(args.out) if args.out else None)
    wrk = shutil.which("wrk")
    if not wrk:
        raise SystemExit("wrk is missing: apt-get install wrk")
    build(args.no_build)
    expected = args.burst + args.requests * args.duration
    tmp = Path(tempfile.mkdtemp(prefix="stubborn-ratelimit-"))
    results = []
    try:
        config = tmp / "limit.toml"
        config.write_text(CONFIG.format(requests=args.requests, burst=args.burst))
        for run in range(args.runs):
            # A fresh server each run: the bucket starts full.
            proc, port = start(BUILD / "stubborn", config, tmp)
            try:
                cmd = [wrk, "-t2", f"-c{args.connections}", f"-d{args.duration}s", "--timeout",
                       "5s", "-s", str(BENCH / "wrk" / "paced.lua"),
                       f"http://127.0.0.1:{port}/limited", "--", str(args.pause_ms)]
                out = subprocess.run(cmd, capture_output=True, text=True,
                                     timeout=args.duration + 60)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=20)
            line = next((l for l in out.stdout.splitlines() if l.startswith("WRK_JSON ")), None)
            if out.returncode != 0 or line is None:
                raise SystemExit(f"wrk failed: {out.stderr} {out.stdout}")
            w = json.loads(line[len("WRK_JSON "):])
            other_errors = w["errors_connect"] + w["errors_read"] + w["errors_write"] + \
                w["errors_timeout"]
            limited = w["errors_status"]  # every reply is 200 or 429
            admitted = w["requests"] - limited
            rec = {"scenario": "rate-limit", "run": run + 1,
                   "offered_rps": round(w["requests"] / (w["duration_us"] / 1e6)),
                   "requests": w["requests"], "admitted": admitted, "limited": limited,
                   "expected": expected, "deviation_pct": round(100 * (admitted - expected) /
                                                                expected, 2),
                   # wrk runs a little longer than asked: what a perfect limiter admits in the
                   # time wrk actually ran.
                   "expected_for_wrk_time": round(args.burst + args.requests *
                                                  w["duration_us"] / 1e6, 1),
                   "other_errors": other_errors}
            results.append(rec)
            print(json.dumps(rec), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    worst = max(abs(r["deviation_pct"]) for r in results)
    ok = worst <= 1.0 and all(r["other_errors"] == 0 for r in results)
    admitted = ", ".join(str(r["admitted"]) for r in results)
    offered = ", ".join(str(r["offered_rps"]) for r in results)
    print(f"rate-limit: admitted {admitted} of an expected {expected} (offered {offered} "
          f"requests/s); worst deviation {worst:.2f} %: {'PASS' if ok else 'FAIL'}")
    if out:
        write_result(out, args, stamp, expected, results, worst, ok)
    sys.exit(0 if ok else 1)


def git(*args):
    try:
        done = subprocess.run(["git", "-C", str(ROOT)] + list(args), capture_output=True,
                              text=True, timeout=30)
        return done.stdout.strip() if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def write_result(path, args, stamp, expected, runs, worst, ok):
    """One small JSON object: the runs, the settings and the commit they were measured on."""
    record = {
        "type": "rate-limit", "stamp": stamp,
        "command": "python3 benchmarks/rate_limit.py " + " ".join(sys.argv[1:]),
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "settings": {"duration_s": args.duration, "requests_per_s": args.requests,
                     "burst": args.burst, "connections": args.connections,
                     "pause_ms": args.pause_ms, "wrk_threads": 2},
        "expected": expected, "runs": runs, "worst_deviation_pct": worst, "pass": ok,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    try:
        shown = path.resolve().relative_to(ROOT)
    except ValueError:
        shown = path
    print(f"result: {shown}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A real retrying client obeys our Retry-After: curl --retry against a 429 (rate limit) and a
503 (a scripted outage), timed. Usage: test_retry_client.py STUBBORN_BINARY PROJECT_DIR"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_support import check, finish, start_server, stop_server  # noqa: E402

BINARY = sys.argv[1]
PROJECT = sys.argv[2]


def curl(*args):
    # text mode turns CRLF into LF; --no-progress-meter keeps curl's "Will retry" warnings.
    return subprocess.run(["curl", "--no-progress-meter", "--max-time", "20", *args], capture_output=True,
                          text=True, timeout=30)


def make_dir(parent, name):
    path = os.path.join(parent, name)
    os.mkdir(path)
    return path


def main():
    work = tempfile.mkdtemp(prefix="stubborn-e2e-retry-")
    procs = []
    try:
        limits, port = start_server(BINARY, os.path.join(PROJECT, "configs/rate_limits.toml"),
                                    make_dir(work, "a"))
        procs.append(limits)
        check("configs/rate_limits.toml serves", port is not None)
        if port is None:
            return
        quota = f"http://127.0.0.1:{port}/quota"
        # The burst of 2 is spent; the next request is refused for 2 s.
        for _ in range(2):
            curl("-o", "/dev/null", quota)
        r = curl("-i", quota)
        check("third request in a row: 429 with Retry-After: 2",
              r.stdout.startswith("HTTP/1.1 429 ") and "\nRetry-After: 2\n" in r.stdout,
              r.stdout)
        # curl treats 429 as transient and, since 7.66, sleeps for Retry-After before retrying.
        start = time.monotonic()
        r = curl("--retry", "3", "-i", quota)
        elapsed = time.monotonic() - start
        check("curl --retry ends with 200", "HTTP/1.1 200 OK" in r.stdout, r.stdout + r.stderr)
        check("curl --retry was refused first (429 seen)", "HTTP/1.1 429 " in r.stdout, r.stdout)
        check("curl said it would wait 2 seconds", "Will retry in 2 seconds" in r.stderr, r.stderr)
        check("curl --retry waited as told (>= 1.9 s, < 6 s)", 1.9 <= elapsed < 6,
              f"{elapsed:.2f}s")

        scripted, port2 = start_server(BINARY, os.path.join(PROJECT, "configs/scripted.toml"),
                                       make_dir(work, "b"))
        procs.append(scripted)
        check("configs/scripted.toml serves", port2 is not None)
        if port2 is None:
            return
        # /flaky: 503 with Retry-After: 1 twice, then 200.
        start = time.monotonic()
        r = curl("--retry", "3", "-i", f"http://127.0.0.1:{port2}/flaky")
        elapsed = time.monotonic() - start
        check("curl --retry through two 503s ends with 200", "HTTP/1.1 200 OK" in r.stdout,
              r.stdout + r.stderr)
        check("curl said it would wait 1 second, twice",
              r.stderr.count("Will retry in 1 seconds") == 2, r.stderr)
        check("curl --retry waited 1 s twice (>= 1.9 s, < 5 s)", 1.9 <= elapsed < 5,
              f"{elapsed:.2f}s")
    finally:
        for proc in procs:
            code, _, err = stop_server(proc)
            check("SIGTERM exits 0", code == 0, f"code={code} stderr={err}")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
    finish()

#!/usr/bin/env python3
"""End to end: configs/scripted.toml served by the built binary, shown with curl.

Usage: test_scripted_curl.py STUBBORN_BINARY SOURCE_DIR

Timing checks are lower bounds only (with slack): a slow machine may be later, never earlier.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from e2e_support import check, curl, finish, read_until_close, start_server, stop_server

BINARY, SOURCE = sys.argv[1], sys.argv[2]
CONFIG = os.path.join(SOURCE, "configs", "scripted.toml")












def make_file(path, size):
    with open(path, "wb") as f:
        f.write(b"x" * size)


def main():
    work = tempfile.mkdtemp(prefix="stubborn-e2e-scripted-")
    try:
        r = subprocess.run([BINARY, "--check", CONFIG], capture_output=True, text=True,
                           timeout=20)
        check("--check passes configs/scripted.toml", r.returncode == 0, r.stdout + r.stderr)

        proc, port = start_server(BINARY, CONFIG, work)
        try:
            check("the server starts and writes its port", port is not None)
            if port is None:
                return
            base = f"http://127.0.0.1:{port}"

            # delay = "3s" on a 504: the gateway gave up, and it took its time doing so.
            start = time.monotonic()
            r = curl("-i", f"{base}/gateway-timeout")
            elapsed = time.monotonic() - start
            check("GET /gateway-timeout: 504",
                  r.stdout.startswith("HTTP/1.1 504 Gateway Timeout\r\n"), r.stdout + r.stderr)
            check("GET /gateway-timeout: after the 3 s delay", elapsed >= 2.9, f"{elapsed:.2f}s")

            # header_timeout = "2s": a request head that never ends gets 408 and a close.
            # curl cannot be slow on purpose, so this one is a raw socket.
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                start = time.monotonic()
                sock.sendall(b"GET /gateway-timeout HTTP/1.1\r\nHost: t\r\nX-Slow: ")
                data, closed = read_until_close(sock, 10)
                elapsed = time.monotonic() - start
            head = data.decode("latin-1")
            check("slow request head: 408", head.startswith("HTTP/1.1 408 Request Timeout\r\n"),
                  repr(head[:200]))
            check("slow request head: Connection: close", "\r\nConnection: close\r\n" in head,
                  repr(head[:200]))
            check("slow request head: the server closes", closed)
            check("slow request head: after header_timeout", elapsed >= 1.9, f"{elapsed:.2f}s")

            # expect = "reject": refused on the head alone, so curl never sends the body.
            upload = os.path.join(work, "upload.bin")
            make_file(upload, 512 * 1024)
            r = curl("-i", "-X", "PUT", "-H", "Expect: 100-continue", "--data-binary",
                     f"@{upload}", "-w", "\nsize_upload=%{size_upload}", f"{base}/upload")
            check("PUT /upload with Expect: 417",
                  r.stdout.startswith("HTTP/1.1 417 Expectation Failed\r\n"), r.stdout + r.stderr)
            check("PUT /upload with Expect: no 100 Continue first",
                  "100 Continue" not in r.stdout, r.stdout)
            check("PUT /upload with Expect: curl sent no body",
                  r.stdout.endswith("\nsize_upload=0"), r.stdout[-40:])

            # max_body_bytes = "1MiB": a larger Content-Length is refused before the body.
            big = os.path.join(work, "big.bin")
            make_file(big, 2 * 1024 * 1024)
            r = curl("-i", "-X", "PUT", "-H", "Expect: 100-continue", "--data-binary", f"@{big}",
                     "-w", "\nsize_upload=%{size_upload}", f"{base}/files/big.bin")
            check("PUT of 2 MiB with Expect: 413",
                  r.stdout.startswith("HTTP/1.1 413 Content Too Large\r\n"), r.stdout + r.stderr)
            check("PUT of 2 MiB with Expect: curl sent no body",
                  r.stdout.endswith("\nsize_upload=0"), r.stdout[-40:])

            # [[route.replies]]: 503 twice (with Retry-After), then 200 for good.
            seen = []
            for i in range(3):
                r = curl("-i", f"{base}/flaky")
                status = r.stdout.split(" ", 2)[1] if r.stdout.startswith("HTTP/1.1 ") else "?"
                seen.append(status)
                if status == "503":
                    check(f"GET /flaky #{i + 1}: Retry-After: 1",
                          "\r\nRetry-After: 1\r\n" in r.stdout, r.stdout)
            check("GET /flaky three times: 503, 503, 200", seen == ["503", "503", "200"],
                  str(seen))
        finally:
            code, out, err = stop_server(proc)
            check("SIGTERM exits 0", code == 0, f"code={code} stderr={err}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
    finish()

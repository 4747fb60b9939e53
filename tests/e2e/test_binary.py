#!/usr/bin/env python3
"""End to end: the built binary, driven by curl and Python's http.client.

Usage: test_binary.py STUBBORN_BINARY SOURCE_DIR
"""
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

from e2e_support import check, curl, finish, start_server, stop_server

BINARY, SOURCE = sys.argv[1], sys.argv[2]
CONFIG = r'''
[server]
listen = "127.0.0.1:8080"
threads = 2

[[route]]
name = "get-user"
method = "GET"
path = "/users/{id}"
[route.reply]
headers = { "Content-Type" = "application/json" }
body = '{"id": "{{path.id}}"}'

[[route]]
name = "slow"
method = "GET"
path = "/slow"
[route.reply]
delay = "1s"
processing_every = "100ms"
body = "finally"

[[route]]
name = "create-user"
method = "POST"
path = "/users"
body = { json = { name = "ada" } }
[route.reply]
status = 201
headers = { Location = "/users/1" }
json = { id = 1, name = "ada" }
'''

BAD_CONFIG = '''[server]
threads = "two"

[[route]]
path = "/a"
[route.reply]
stauts = 200

[[route]]
path = "/b"
[route.reply]
status = 204
body = "not allowed"
'''












def main():
    work = tempfile.mkdtemp(prefix="stubborn-e2e-")
    try:
        config = os.path.join(work, "routes.toml")
        with open(config, "w") as f:
            f.write(CONFIG)
        bad = os.path.join(work, "bad.toml")
        with open(bad, "w") as f:
            f.write(BAD_CONFIG)

        # --check: all three mistakes, each with file:line:col, exit 1.
        r = subprocess.run([BINARY, "--check", bad], capture_output=True, text=True, timeout=20)
        lines = [l for l in r.stderr.splitlines() if l.startswith(bad + ":")]
        check("--check exits 1 on a bad config", r.returncode == 1, r.stderr)
        check("--check reports all three problems", len(lines) == 3, r.stderr)
        check("--check names line and column",
              all(l.split(":")[1].isdigit() and l.split(":")[2].isdigit() for l in lines), r.stderr)
        r = subprocess.run([BINARY, "--check", os.path.join(SOURCE, "configs", "example.toml")],
                           capture_output=True, text=True, timeout=20)
        check("--check passes configs/example.toml", r.returncode == 0, r.stdout + r.stderr)

        # --offline: strict replay refuses every proxy route, at its [route.proxy] table.
        proxy = os.path.join(SOURCE, "configs", "proxy.toml")
        r = subprocess.run([BINARY, "--check", proxy], capture_output=True, text=True, timeout=20)
        check("--check passes configs/proxy.toml", r.returncode == 0, r.stdout + r.stderr)
        for args in (["--check", "--offline", proxy],
                     ["--offline", "--listen", "127.0.0.1:0", proxy]):
            r = subprocess.run([BINARY] + args, capture_output=True, text=True, timeout=20)
            lines = [l for l in r.stderr.splitlines() if l.startswith(proxy + ":")]
            check(" ".join(args[:-1]) + " exits 1 with a proxy route", r.returncode == 1, r.stderr)
            check(" ".join(args[:-1]) + " names each proxy route's position",
                  len(lines) == 5 and lines[0].startswith(proxy + ":28:1: route 'api' proxies to ")
                  and all("the server is offline" in l for l in lines), r.stderr)
        r = subprocess.run([BINARY, "--version"], capture_output=True, text=True, timeout=20)
        check("--version", r.returncode == 0 and r.stdout.startswith("stubborn "), r.stdout)
        r = subprocess.run([BINARY, "--help"], capture_output=True, text=True, timeout=20)
        check("--help", r.returncode == 0 and "--port-file" in r.stdout)
        r = subprocess.run([BINARY, "--bogus", config], capture_output=True, text=True, timeout=20)
        check("unknown option exits 2", r.returncode == 2, r.stderr)

        # The HTTPS options: parsed and checked before anything is served.
        r = subprocess.run([BINARY, "--help"], capture_output=True, text=True, timeout=20)
        check("--help names the HTTPS options",
              "--tls-listen HOST:PORT" in r.stdout and "--tls-port-file PATH" in r.stdout, r.stdout)
        r = subprocess.run([BINARY, "--tls-listen", "127.0.0.1", config], capture_output=True,
                           text=True, timeout=20)
        check("--tls-listen without a port exits 2",
              r.returncode == 2 and "--tls-listen must be \"host:port\"" in r.stderr, r.stderr)
        r = subprocess.run([BINARY, "--tls-listen=[::1]:99999", config], capture_output=True,
                           text=True, timeout=20)
        check("--tls-listen with a bad port exits 2",
              r.returncode == 2 and "the port in --tls-listen must be 0..65535" in r.stderr,
              r.stderr)
        r = subprocess.run([BINARY, "--tls-port-file", os.path.join(work, "tls-port"), config],
                           capture_output=True, text=True, timeout=20)
        check("--tls-port-file without an HTTPS listener exits 2",
              r.returncode == 2 and "--tls-port-file needs an HTTPS listener" in r.stderr, r.stderr)
        r = subprocess.run([BINARY, "--check", os.path.join(SOURCE, "configs", "tls.toml")],
                           capture_output=True, text=True, timeout=20)
        check("--check passes configs/tls.toml", r.returncode == 0, r.stdout + r.stderr)
        https_only = os.path.join(work, "https-only.toml")
        with open(https_only, "w") as f:
            f.write('[server]\nlisten = ""\n')
        r = subprocess.run([BINARY, "--check", https_only], capture_output=True, text=True,
                           timeout=20)
        check("--check: listen = \"\" without [server.tls] is a problem",
              r.returncode == 1 and https_only + ":2:1: 'listen' = \"\" turns plain HTTP off" in
              r.stderr, r.stderr)

        proc, port = start_server(BINARY, config, work)
        try:
            check("the server starts and writes its port", port is not None)
            if port is None:
                return
            base = f"http://127.0.0.1:{port}"

            r = curl("-i", f"{base}/users/42")
            check("curl -i: status line", r.stdout.startswith("HTTP/1.1 200 OK\r\n"), r.stdout)
            check("curl -i: body", r.stdout.endswith('{"id": "42"}'), r.stdout)
            check("curl -i: Content-Length", "Content-Length: 12\r\n" in r.stdout, r.stdout)

            r = curl("-I", f"{base}/users/42")
            check("curl -I: HEAD gets the head", r.stdout.startswith("HTTP/1.1 200 OK\r\n") and
                  "Content-Length: 12\r\n" in r.stdout, r.stdout)
            check("curl -I: no body", r.stdout.endswith("\r\n\r\n"), repr(r.stdout[-20:]))

            r = curl("-i", "-X", "POST", "-H", "Content-Type: application/json",
                     "--data", '{"name": "ada", "extra": true}', f"{base}/users")
            check("curl POST: 201 with Location",
                  r.stdout.startswith("HTTP/1.1 201 Created") and "Location: /users/1" in r.stdout,
                  r.stdout)

            r = curl("-o", "/dev/null", "-w", "%{http_code}", f"{base}/nope")
            check("curl: 404 for an unknown path", r.stdout == "404", r.stdout)

            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            for i in range(5):
                conn.request("GET", f"/users/{i}")
                resp = conn.getresponse()
                body = resp.read().decode()
                check(f"http.client keep-alive request {i}",
                      resp.status == 200 and body == f'{{"id": "{i}"}}', body)
            conn.request("HEAD", "/users/7")
            resp = conn.getresponse()
            check("http.client HEAD", resp.status == 200 and resp.read() == b"" and
                  resp.getheader("Content-Length") == "11")
            conn.request("DELETE", "/users/7")
            resp = conn.getresponse()
            resp.read()
            check("http.client 405 with Allow",
                  resp.status == 405 and resp.getheader("Allow") == "GET, HEAD")
            conn.close()

            # SIGTERM while a request is in flight: it still gets its full reply, then exit 0.
            # The first "102 Processing" proves the server is inside the 1 s delay.
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
                received = b""
                while b"102 Processing" not in received:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    received += chunk
                proc.send_signal(signal.SIGTERM)
                while True:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    received += chunk
            text = received.decode("latin-1")
            check("SIGTERM lets the request in flight finish",
                  "HTTP/1.1 200 OK\r\n" in text and text.endswith("\r\n\r\nfinally"), text)
            check("the drained reply closes the connection", "Connection: close\r\n" in text, text)
        finally:
            code, out, err = stop_server(proc)
            check("SIGTERM exits 0", code == 0, f"code={code} stderr={err}")
            check("start-up line names url, routes and threads",
                  f"listening on http://127.0.0.1:{port} (3 routes, 2 threads)" in out, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
    finish()

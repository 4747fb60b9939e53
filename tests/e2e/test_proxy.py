#!/usr/bin/env python3
"""End to end: proxying to nginx, recording it, and replaying the recording offline.

curl goes through a proxy route to an nginx serving a folder (several file types, a binary file,
one over 4 KiB). Then `stubborn record` stands in front of the same nginx while requests go
through it (some repeated, one whose answer changes in between); the recording is written by
POST /__admin/recordings/snapshot and again at SIGTERM, passes `stubborn --check`, and, served
with `--offline`, gives the same status, reason, headers (except Date) and body, byte for byte.

Usage: test_proxy.py STUBBORN_BINARY SOURCE_DIR
Skips (exit 0, saying so) when nginx is not installed.
"""
import http.client
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_support import check, curl, finish, start_server, stop_server, wait_for_port  # noqa: E402

BINARY, SOURCE = sys.argv[1], sys.argv[2]


def find_nginx():
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, deadline_s=10.0):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def start_nginx(nginx, work, root):
    port = free_port()
    conf = os.path.join(work, "nginx.conf")
    types = "include /etc/nginx/mime.types;" if os.path.exists("/etc/nginx/mime.types") else ""
    with open(conf, "w") as f:
        f.write(f"""
daemon off;
master_process off;
worker_processes 1;
error_log {work}/nginx-error.log warn;
pid {work}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  {types}
  default_type application/octet-stream;
  access_log off;
  client_body_temp_path {work}/body;
  proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fastcgi;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  server {{
    listen 127.0.0.1:{port};
    root {root};
  }}
}}
""")
    proc = subprocess.Popen([nginx, "-p", work, "-c", conf, "-e",
                             os.path.join(work, "nginx-error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not wait_listening(port, proc):
        proc.kill()
        proc.wait()
        return None, None
    return proc, port


def make_site(root):
    """The folder nginx serves: path -> bytes."""
    rng = random.Random(14)
    files = {
        "index.html": b"<!doctype html>\n<title>site</title>\n<p>hello</p>\n",
        "style.css": b"body { color: #333; }\n",
        "app.js": b"console.log('hi');\n",
        "data.json": b'{"items": [1, 2, 3], "name": "caf\xc3\xa9"}\n',
        "image.png": b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(256) for _ in range(3000)),
        "big.txt": ("".join(f"line {i:05d} of a text over four KiB\n" for i in range(400))
                    ).encode(),
        "sub/readme.txt": b"in a folder\n",
        "counter.txt": b"first\n",
    }
    for name, data in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return files


def fetch(port, method, target, headers=None):
    """(status, reason, [(name, value)] in order, body) over a new connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, target, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, resp.reason, resp.getheaders(), body
    finally:
        conn.close()


def without_date(headers):
    """The fields but Date, in a canonical order: RFC 9110 section 5.3 gives no meaning to the
    order of fields with different names (the order within one name is kept: sorted is
    stable)."""
    return sorted(((n, v) for n, v in headers if n.lower() != "date"),
                  key=lambda field: field[0].lower())


def proxy_through_curl(nginx_port, files, work):
    config = os.path.join(work, "proxy.toml")
    with open(config, "w") as f:
        f.write(f"""
[[route]]
name = "site"
path = "/site/*"
[route.proxy]
to = "http://127.0.0.1:{nginx_port}"
strip_prefix = "/site"
""")
    proc, port = start_server(BINARY, config, work)
    check("a config with a proxy route serves", port is not None)
    if port is None:
        stop_server(proc)
        return
    try:
        for name, data in files.items():
            out = os.path.join(work, "curl.out")
            r = curl("-o", out, "-D", "-", f"http://127.0.0.1:{port}/site/{name}")
            with open(out, "rb") as f:
                got = f.read()
            check(f"curl through the proxy: /{name} 200", r.stdout.startswith("HTTP/1.1 200 OK"),
                  r.stdout + r.stderr)
            check(f"curl through the proxy: /{name} byte for byte", got == data,
                  f"{len(got)} bytes, expected {len(data)}")
        r = curl("-I", f"http://127.0.0.1:{port}/site/big.txt")
        check("curl -I through the proxy: nginx's Content-Length",
              f"Content-Length: {len(files['big.txt'])}\r\n" in r.stdout, r.stdout)
        r = curl("-i", f"http://127.0.0.1:{port}/site/missing")
        check("curl through the proxy: nginx's 404", r.stdout.startswith("HTTP/1.1 404"),
              r.stdout)
        # Several requests on one curl connection: all answered (keep-alive both ways).
        r = curl("-s", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null",
                 "-w", "%{http_code} %{num_connects}\n",
                 f"http://127.0.0.1:{port}/site/index.html",
                 f"http://127.0.0.1:{port}/site/style.css",
                 f"http://127.0.0.1:{port}/site/app.js")
        check("curl, three requests on one connection through the proxy",
              r.stdout.split("\n")[:3] == ["200 1", "200 0", "200 0"], r.stdout)
    finally:
        code, _, err = stop_server(proc)
        check("proxy server: SIGTERM exits 0", code == 0, f"code={code} stderr={err}")

    # Strict replay refuses a config that proxies, saying why.
    r = subprocess.run([BINARY, "--offline", "--listen", "127.0.0.1:0", config],
                       capture_output=True, text=True, timeout=20)
    check("--offline with a proxy route refuses to start", r.returncode != 0,
          f"code={r.returncode}")
    said = (r.stderr + r.stdout).lower()
    check("... and says offline (of the route, not of an unknown option)",
          "offline" in said and "unknown option" not in said, r.stderr)


# The requests sent while recording and again to the replay: (method, target, headers).
REQUESTS = [
    ("GET", "/index.html", {}),
    ("GET", "/style.css", {}),
    ("GET", "/app.js", {}),
    ("GET", "/data.json", {"Accept": "application/json"}),
    ("GET", "/data.json", {"Accept": "application/json"}),
    ("GET", "/image.png", {}),
    ("GET", "/big.txt", {}),
    ("GET", "/sub/readme.txt?lang=en", {}),
    ("GET", "/sub/readme.txt?lang=fr", {}),
    ("HEAD", "/index.html", {}),
    ("GET", "/missing.html", {}),
    ("GET", "/index.html", {}),
]


def record_and_replay(nginx_port, root, work):
    rec_dir = os.path.join(work, "rec")
    os.mkdir(rec_dir)
    out = os.path.join(rec_dir, "rec.toml")
    port_file = os.path.join(work, "record.port")
    recorder = subprocess.Popen([BINARY, "record", "--upstream", f"http://127.0.0.1:{nginx_port}",
                                 "--listen", "127.0.0.1:0", "--port-file", port_file,
                                 "--out", out],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    port = wait_for_port(port_file, recorder)
    check("stubborn record starts and writes its port", port is not None)
    if port is None:
        code, _, err = stop_server(recorder)
        print(f"  record exited {code}: {err}")
        return
    recorded = []
    try:
        for method, target, headers in REQUESTS:
            recorded.append(fetch(port, method, target, headers))
        # The same request twice, with the file changed in between: a sequence of replies.
        recorded.append(fetch(port, "GET", "/counter.txt"))
        with open(os.path.join(root, "counter.txt"), "wb") as f:
            f.write(b"second, longer\n")
        recorded.append(fetch(port, "GET", "/counter.txt"))
        check("recording: nginx's answers come through",
              [r[0] for r in recorded] == [200] * 10 + [404, 200, 200, 200],
              str([r[0] for r in recorded]))
        check("recording: a changed file gives a changed answer",
              recorded[-2][3] == b"first\n" and recorded[-1][3] == b"second, longer\n")

        status, _, _, body = fetch(port, "POST", "/__admin/recordings/snapshot")
        check("POST /__admin/recordings/snapshot: 200", status == 200, f"{status} {body!r}")
        check("the snapshot wrote the file", os.path.exists(out))
    finally:
        code, _, err = stop_server(recorder)
        check("stubborn record: SIGTERM exits 0", code == 0, f"code={code} stderr={err}")
    check("the recording is written at exit", os.path.exists(out))
    if not os.path.exists(out):
        return
    with open(out) as f:
        text = f.read()
    body_files = [os.path.join(d, n) for d, _, names in os.walk(rec_dir) for n in names
                  if os.path.join(d, n) != out]
    check("bodies over 4 KiB or not UTF-8 go to files beside the TOML", len(body_files) >= 2,
          str(body_files))
    check("the recording has one route per distinct request, a sequence for the changed one",
          text.count("[[route]]") == 11 and "[[route.replies]]" in text,
          f"{text.count('[[route]]')} routes")

    r = subprocess.run([BINARY, "--check", out], capture_output=True, text=True, timeout=20)
    check("stubborn --check passes the recording", r.returncode == 0, r.stdout + r.stderr)

    replay, rport = start_server(BINARY, out, work, "--offline")
    check("the recording serves with --offline", rport is not None)
    if rport is None:
        code, _, err = stop_server(replay)
        print(f"  replay exited {code}: {err}")
        return
    try:
        replayed = [fetch(rport, method, target, headers) for method, target, headers in REQUESTS]
        replayed.append(fetch(rport, "GET", "/counter.txt"))
        replayed.append(fetch(rport, "GET", "/counter.txt"))
        names = [f"{m} {t}" for m, t, _ in REQUESTS] + ["GET /counter.txt (1)",
                                                        "GET /counter.txt (2)"]
        for name, (s1, r1, h1, b1), (s2, r2, h2, b2) in zip(names, recorded, replayed):
            check(f"replay {name}: status and reason", (s1, r1) == (s2, r2),
                  f"recorded {s1} {r1}, replayed {s2} {r2}")
            check(f"replay {name}: headers except Date", without_date(h1) == without_date(h2),
                  f"\n  recorded {without_date(h1)}\n  replayed {without_date(h2)}")
            check(f"replay {name}: body byte for byte", b1 == b2,
                  f"recorded {len(b1)} bytes, replayed {len(b2)}")
        # A request the recording never saw: 404, and the admin API says which one.
        status, _, _, _ = fetch(rport, "GET", "/never-recorded.txt")
        check("offline: a request not recorded gets 404", status == 404, str(status))
        status, _, _, body = fetch(rport, "GET", "/__admin/unmatched")
        check("offline: /__admin/unmatched names it",
              status == 200 and b"/never-recorded.txt" in body, body[:300])
    finally:
        code, _, err = stop_server(replay)
        check("replay: SIGTERM exits 0", code == 0, f"code={code} stderr={err}")


def main():
    nginx = find_nginx()
    if nginx is None:
        print("SKIP: nginx is not installed (apt-get install nginx-light); nothing to proxy to")
        return
    work = tempfile.mkdtemp(prefix="stubborn-e2e-proxy-")
    nginx_proc = None
    try:
        root = os.path.join(work, "www")
        files = make_site(root)
        nginx_proc, nginx_port = start_nginx(nginx, work, root)
        check("nginx serves the folder", nginx_proc is not None)
        if nginx_proc is None:
            return
        proxy_through_curl(nginx_port, files, work)
        record_and_replay(nginx_port, root, work)
    finally:
        if nginx_proc is not None:
            nginx_proc.send_signal(signal.SIGTERM)
            try:
                nginx_proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                nginx_proc.kill()
                nginx_proc.wait()
        shutil.rmtree(work, ignore_errors=True)


main()
finish()

#!/usr/bin/env python3
"""Sends every conformance case (cases.json) to stubborn and to nginx and prints where they differ.

Usage: compare_nginx.py STUBBORN_BINARY [--nginx PATH] [--cases PATH] [--markdown]

Both servers run on 127.0.0.1 with equivalent routes: /ok -> 200 "ok", /get-only -> GET/HEAD only,
/empty -> 204, /cached -> 304, anything else 404. nginx's configuration is generated in a temporary
folder (Debian's nginx-light is enough). For each case the outcome is the statuses received in
order plus how the connection ended: "open" (a canary request on the same connection was
answered), "closed", or "timeout". Python standard library only.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
READ_TIMEOUT = 2.0


def expand(text):
    data = text.encode("latin-1")
    return re.sub(rb"<<PAD:(.):(\d+)>>", lambda m: m.group(1) * int(m.group(2)), data)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, process, what):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{what} exited with status {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)  # polling a just-started server, bounded by the deadline
    sys.exit(f"{what} did not start listening on port {port}")


class Connection:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT)
        self.buf = b""
        self.end = None  # None while open; "closed" or "reset" once the peer ended it

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            pass  # the server closed already; what it sent is still readable

    def fill(self):
        if self.end:
            return False
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            self.end = "reset"
            return False
        if not chunk:
            self.end = "closed"
            return False
        self.buf += chunk
        return True

    def response(self, no_body=False):
        """Status of the next response (its body skipped), or None if none came."""
        while b"\r\n\r\n" not in self.buf:
            if not self.fill():
                return None
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        m = re.match(rb"HTTP/\d\.\d (\d{3})", lines[0])
        if not m:
            return -1
        status = int(m.group(1))
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if no_body or status // 100 == 1 or status in (204, 304):
            return status
        if b"content-length" in headers:
            n = int(headers[b"content-length"])
            while len(self.buf) < n and self.fill():
                pass
            self.buf = self.buf[n:]
        elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            while True:
                while b"\r\n" not in self.buf and self.fill():
                    pass
                line, _, rest = self.buf.partition(b"\r\n")
                size = int(line.split(b";")[0] or b"0", 16)
                while len(rest) < size + 2 and self.fill():
                    rest = self.buf.partition(b"\r\n")[2]
                self.buf = rest[size + 2:]
                if size == 0:
                    break
        else:
            while self.fill():
                pass
            self.buf = b""
        return status

    def close(self):
        self.sock.close()


def run_case(port, case, canary):
    c = Connection(port)
    c.send(expand(case["send"]))
    if case.get("half_close"):
        c.sock.shutdown(socket.SHUT_WR)
    no_body = set(case.get("no_body", []))
    statuses = []
    # Read as many responses as arrive (up to the expected count plus interim ones and one more).
    wanted = len(case["expect"]) + 2
    while len(statuses) < wanted:
        s = c.response(no_body=len([x for x in statuses if x >= 200]) in no_body)
        if s is None:
            break
        statuses.append(s)
        if len([x for x in statuses if x >= 200]) >= len(case["expect"]) and s >= 200:
            break
    if case.get("then_send") and not c.end:
        c.send(expand(case["then_send"]))
        s = c.response()
        if s is not None:
            statuses.append(s)
    if c.end:
        end = "closed"
    elif case.get("half_close"):
        while c.fill():
            pass
        end = "closed" if c.end else "timeout"
    else:
        c.send(canary)
        s = c.response()
        end = "open" if s == 200 else ("closed" if c.end else "timeout")
    c.close()
    return statuses, end


def expected_text(case):
    parts = ["/".join(str(x) for x in e) if isinstance(e, list) else str(e) for e in case["expect"]]
    close = {True: "closed", False: "open", None: "either"}[case["close"]]
    return (" ".join(parts) or "none") + ", " + close


def nginx_config(tmp, port):
    return f"""
daemon off;
master_process off;
worker_processes 1;
error_log {tmp}/error.log warn;
pid {tmp}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  # Limits close to the conformance config: 4 KiB of header fields, 1 KiB of body.
  client_header_buffer_size 1k;
  large_client_header_buffers 4 8k;
  client_max_body_size 1k;
  server {{
    listen 127.0.0.1:{port};
    server_name _;
    location = /ok {{ return 200 "ok"; }}
    location = /get-only {{
      if ($request_method !~ ^(GET|HEAD)$) {{ return 405; }}
      return 200 "get";
    }}
    location = /empty {{ return 204; }}
    location = /cached {{ return 304; }}
    location / {{ return 404; }}
  }}
}}
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stubborn", help="path to the stubborn binary")
    parser.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    parser.add_argument("--cases", default=os.path.join(HERE, "cases.json"))
    parser.add_argument("--markdown", action="store_true", help="print the differences as a table")
    args = parser.parse_args()
    if not os.path.exists(args.nginx):
        sys.exit("nginx not found (apt-get install nginx-light)")
    doc = json.load(open(args.cases))
    canary = expand(doc["canary"])
    processes = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            s_port, n_port = free_port(), free_port()
            config = doc["config"].replace("[server]\n", f'[server]\nlisten = "127.0.0.1:{s_port}"\n', 1)
            with open(os.path.join(tmp, "stubborn.toml"), "w") as f:
                f.write(config)
            with open(os.path.join(tmp, "nginx.conf"), "w") as f:
                f.write(nginx_config(tmp, n_port))
            stubborn = subprocess.Popen([args.stubborn, os.path.join(tmp, "stubborn.toml"),
                                         "--threads", "1", "--log-level", "error"],
                                        stdout=subprocess.DEVNULL)
            processes.append(stubborn)
            nginx = subprocess.Popen([args.nginx, "-p", tmp, "-c", os.path.join(tmp, "nginx.conf"),
                                      "-e", os.path.join(tmp, "error.log")],
                                     stderr=subprocess.DEVNULL)
            processes.append(nginx)
            wait_listening(s_port, stubborn, "stubborn")
            wait_listening(n_port, nginx, "nginx")

            differences = []
            for case in doc["cases"]:
                ours = run_case(s_port, case, canary)
                theirs = run_case(n_port, case, canary)
                if ours != theirs:
                    differences.append((case, ours, theirs))
        finally:
            for p in processes:
                p.send_signal(signal.SIGTERM if p is processes[0] else signal.SIGQUIT)
            for p in processes:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()

    def show(outcome):
        statuses, end = outcome
        return (" ".join(map(str, statuses)) or "none") + ", " + end

    if args.markdown:
        print("| case | RFC | expected | stubborn | nginx 1.22 |")
        print("|---|---|---|---|---|")
        for case, ours, theirs in differences:
            print(f"| {case['name']} | {case['rfc']} | {expected_text(case)} | {show(ours)} | {show(theirs)} |")
    else:
        for case, ours, theirs in differences:
            print(f"{case['name']} ({case['rfc']})\n  expected: {expected_text(case)}\n"
                  f"  stubborn: {show(ours)}\n  nginx:    {show(theirs)}")
    print(f"{len(doc['cases'])} cases, {len(differences)} differ")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Sends every conformance case (cases.json) to stubborn and to nginx and prints where they differ.

Usage: compare_nginx.py STUBBORN_BINARY [--nginx PATH] [--cases PATH] [--markdown]

Both servers run on 127.0.0.1 with equivalent routes: /ok -> 200 "ok", /get-only -> GET/HEAD only,
/empty -> 204, /cached -> 304, anything else 404. nginx's configuration is generated in a temporary
folder (Debian's nginx-light is enough). For each case the outcome is the statuses received in
order plus how the connection ended: "open" (a canary request on the same connection was
answered), "closed", or "timeout". Python standard library only.

Every known difference is listed in EXPLAINED with stubborn's outcome and the reason. The exit
status is 1 if a case differs and is not listed there, or is listed with another stubborn outcome
than the one it has now (either is a change to look at); 0 otherwise. Listed cases that no longer
differ are reported without failing.
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

# The differences from nginx 1.22 that are understood: case name -> (stubborn's outcome, why).
# None of them is a case where stubborn breaks a MUST that nginx keeps. Differences that come from
# nginx's `return` (it answers before reading a body) are kept on purpose: they show that
# stubborn's answer waits for the whole request, as a mock of a real application should.
EXPLAINED = {
    "methods are case-sensitive: get is not GET": (
        "405, open", "nginx accepts only upper-case methods"),
    "two spaces after the method": (
        "400, closed", "nginx splits the request line on runs of spaces (§3 allows this "
        "leniency); stubborn is strict"),
    "space after the version": ("400, closed", "same leniency in nginx"),
    "asterisk-form OPTIONS": ("200, open", "nginx does not implement server-wide OPTIONS"),
    "authority-form with CONNECT": (
        "501, closed", "both refuse; stubborn says \"not implemented\""),
    "fragment in the target": ("400, closed", "nginx drops the fragment; the grammar has none"),
    "HTTP/0.9 version string": (
        "505, closed", "stubborn reads it as a well-formed version it does not speak"),
    "HTTP/2 connection preface": (
        "505, closed", "same: 505 tells an HTTP/2 client what went wrong"),
    "two-digit major version": (
        "400, closed", "the version is one digit, so `HTTP/10.0` is malformed; nginx parses "
        "numbers"),
    "HTTP/0.9 simple request": ("400, closed", "nginx still speaks HTTP/0.9"),
    "empty Host is valid": (
        "200, open", "§3.2 requires an empty Host for targets without an authority; nginx "
        "refuses it"),
    "field name with a non-token character": (
        "400, closed", "nginx drops invalid fields (`ignore_invalid_headers on`)"),
    "field line without a colon": ("400, closed", "same"),
    "other control character in a value": (
        "400, closed", "the RFC allows keeping them; stubborn refuses (Beast)"),
    "DEL in a field value": ("400, closed", "same"),
    "header lines ending in bare LF": (
        "400, closed", "the RFC allows accepting bare LF; stubborn does not, outside leading "
        "empty lines"),
    "header block over max_header_bytes": (
        "431, closed", "configuration: nginx's limit is per line (8 KiB), stubborn's per block "
        "(4 KiB here)"),
    "one field line over the limit": ("431, closed", "same"),
    "two equal Content-Length fields": (
        "200, open", "both allowed; stubborn (Beast) takes equal values as one"),
    "Content-Length list of equal values": ("200, open", "same"),
    "Transfer-Encoding without chunked last": (
        "400, closed", "§6.3 requires 400 when chunked is not last"),
    "Transfer-Encoding identity": ("400, closed", "same"),
    "chunked applied twice": ("400, closed", "same"),
    "chunk lines ending in bare LF": (
        "400, closed", "nginx accepts bare LF in chunked framing; RFC 9112 §7.1 writes CRLF, and "
        "a lenient parser in front of a strict one is a smuggling shape"),
    "missing final CRLF swallows the next request line": (
        "400, closed", "nginx's `return` answers before reading the body, then discards it"),
    "chunked body over max_body_bytes": ("413, closed", "same: nginx never reads that body"),
    "Content-Length over max_body_bytes": (
        "413, closed", "nginx reads and discards the body to keep the connection; stubborn "
        "closes"),
    "100-continue with the body already sent": (
        "200, open", "a server may omit 100 once the body is there; nginx always sends it"),
    "100-continue is case-insensitive": ("200, open", "same"),
    "100-continue without a body": ("200, open", "same"),
    "100-continue on HTTP/1.0 is ignored": (
        "none, closed", "nginx's `return` answers without waiting for the body"),
    "unknown expectation": (
        "417, closed", "417 is a MAY; nginx ignores expectations it does not know"),
    "100-continue with another expectation": ("417, closed", "same"),
    "partial body then half-close": (
        "none, closed", "nginx answers before the body; stubborn answers only whole requests"),
}


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

    def why(case, ours):
        """The reason for a difference, or None if it is not explained (for this outcome)."""
        known = EXPLAINED.get(case["name"])
        return known[1] if known and known[0] == show(ours) else None

    unexplained = [(case, ours, theirs) for case, ours, theirs in differences
                   if why(case, ours) is None]
    differing = {case["name"] for case, _, _ in differences}
    names = {case["name"] for case in doc["cases"]}
    stale = [name for name in EXPLAINED if name not in differing]

    if args.markdown:
        print("| case | RFC | expected | stubborn | nginx 1.22 | why they differ |")
        print("|---|---|---|---|---|---|")
        for case, ours, theirs in differences:
            print(f"| {case['name']} | {case['rfc']} | {expected_text(case)} | {show(ours)} | "
                  f"{show(theirs)} | {why(case, ours) or 'NOT EXPLAINED'} |")
    else:
        for case, ours, theirs in differences:
            reason = why(case, ours)
            print(f"{case['name']} ({case['rfc']})\n  expected: {expected_text(case)}\n"
                  f"  stubborn: {show(ours)}\n  nginx:    {show(theirs)}\n"
                  f"  why:      {reason or 'NOT EXPLAINED'}")
    print(f"{len(doc['cases'])} cases, {len(differences)} differ, {len(unexplained)} not explained")
    for name in stale:
        known = EXPLAINED[name]
        if name not in names:
            print(f"note: EXPLAINED names a case that cases.json does not have: {name}")
        else:
            print(f"note: no longer differs from nginx: {name} (listed as stubborn: {known[0]})")
    if unexplained:
        print("FAILED: differences from nginx that EXPLAINED does not list with this outcome:")
        for case, ours, theirs in unexplained:
            known = EXPLAINED.get(case["name"])
            listed = f" (listed with stubborn: {known[0]})" if known else ""
            print(f"  {case['name']}: stubborn {show(ours)}, nginx {show(theirs)}{listed}")
        sys.exit(1)


if __name__ == "__main__":
    main()

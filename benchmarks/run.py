#!/usr/bin/env python3
"""stubborn's benchmark runner: one command, Debian's python3, standard library only.

    python3 benchmarks/run.py [--quick] [--only SCENARIO,...] [--duration S]

Builds Release into build-bench/, starts stubborn (and nginx, side by side) on 127.0.0.1 only,
drives them with wrk and with benchmarks/conn_bench.cpp, and writes
benchmarks/results/<timestamp>.jsonl and .md; the markdown table is printed at the end.
See docs/performance.md for what every figure means and what limits it.

Scenarios: hello, pipelined, body-64k (stubborn and nginx interleaved A B, B A, A B ...), routes-1000
and conditions (1,000 routes on POST /orders with two json_path conditions each, a 1 KiB JSON
body; both interleaved with stubborn's hello), proxy-hello (wrk -> stubborn's proxy route or nginx's
proxy_pass -> one upstream nginx), proxy-latency (the same request direct and through each proxy,
one connection, one request at a time, benchmarks/latency_bench.cpp; `proxy` names both), delays,
connections, ws-held and sse-held (10,000 WebSocket connections or event streams held on a fresh
stubborn, one message a second each, every message timed against its schedule for 20 s by
benchmarks/stream_bench.cpp, the server's RSS read with all of them open), ws-echo (WebSocket echo
on 50 connections, stubborn interleaved with peer echo servers: Python `websockets`, the floor,
and Node's `ws` when npm can install it into build-bench/npm; `streams` names all three),
startup, micro (Google Benchmark).
Extra, not run by default: wrk-threads (wrk -t1 against -t2, for both servers), scaling (hello
on stubborn with --threads 1 and 2 and on nginx with 1 and 2 workers, interleaved; the one-thread
servers pinned to one CPU and wrk to the other with taskset; about 2 min), syscalls (system
calls per hello request, both servers, counted with perf), journal and soak
(`python3 benchmarks/run.py soak`: 10,000,000 keep-alive requests with the server's own count
checked against wrk's, 10,000 connections opened and closed with descriptors, threads and RSS
checked against a baseline, and SIGTERM under load; exit status 1 if it fails), and the HTTPS
scenarios against nginx with one certificate (`python3 benchmarks/run.py https`): https-hello
(wrk, keep-alive), https-handshakes (benchmarks/tls_bench.cpp: a new connection and a full
handshake per request) and https-idle (10,000 idle TLS connections, RSS); cluster
(`python3 benchmarks/run.py cluster`: three instances behind HAProxy sharing a rate limit of
100/s, burst 100, in one redis-server, offered ~20,000 requests/s for 10 s, admitted against
1,100; then a rate-limited route's throughput with the limiter in Redis against the local one,
one instance each, with the CPU of stubborn and of redis-server).
"""

import argparse
import datetime
import json
import os
import platform
import resource
import select
import shutil
import signal
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
BUILD = ROOT / "build-bench"
RESULTS = BENCH / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")
NPROC = os.cpu_count() or 1
HOST = "127.0.0.1"  # every server and client here uses this address and no other

# A proxy route against nginx's proxy_pass, both in front of one upstream nginx (about 2 min).
PROXY_SCENARIOS = ["proxy-hello", "proxy-latency"]
# Held WebSocket and event streams, and WebSocket echo against peer servers (about 3 min).
STREAM_SCENARIOS = ["ws-held", "sse-held", "ws-echo"]
DEFAULT_SCENARIOS = ["hello", "pipelined", "body-64k", "routes-1000", "conditions"] + \
    PROXY_SCENARIOS + [
    "delays", "connections"] + STREAM_SCENARIOS + ["startup", "micro"]
# HTTPS against nginx, each with servers of their own (TLS 1.3 only, one EC P-256 certificate
# made for the run and given to both), so the plain scenarios' servers stay as they are.
TLS_SCENARIOS = ["https-hello", "https-handshakes", "https-idle"]
EXTRA_SCENARIOS = ["wrk-threads", "scaling", "soak", "journal", "syscalls", "cluster"] + \
    TLS_SCENARIOS
# A name on the command line that means several.
SCENARIO_GROUPS = {"https": TLS_SCENARIOS, "proxy": PROXY_SCENARIOS,
                   "streams": STREAM_SCENARIOS}

# wrk with two threads: with one, wrk itself is the bottleneck (its thread sits at 100% of a core
# while the server idles part of the other); with two, both servers measured faster, so -t2 is
# the higher ceiling on 2 cores (docs/performance.md has the numbers; re-measure with
# --only wrk-threads). The same settings are used for nginx and stubborn.
DEFAULT_WRK_THREADS = 2
WRK_CONNECTIONS = 50
PIPELINE_DEPTH = 16
HELLO_BODY = "hello"
BODY_64K_SIZE = 64 * 1024
ROUTES_COUNT = 1000
ROUTES_REQUEST = "/api/v1/last/12345"  # matches only the last of the 1,000 routes
CONDITIONS_COUNT = 1000
CONDITIONS_PATH = "/orders"  # POSTed with conditions_body(): only the last route's conditions hold
CONDITIONS_BODY_MAX = 1024
DELAY_CONNECTIONS = [1000, 10000]
DELAY_ON_TIME_MS = 1050.0  # 1 s + 50 ms
DELAY_ACCEPT_WAIT_S = 10.0  # longest wait for the server to hold every connection
IDLE_CONNECTIONS = 10000
UPSTREAM_KEEPALIVE = 64  # nginx proxy_pass: idle upstream connections kept per worker
# proxy-latency: one connection, one request at a time (benchmarks/latency_bench.cpp), for at
# most this long per run; at ~20,000 sequential requests a second that is ~100,000 samples.
LATENCY_MAX_DURATION = 5
NGINX_STATUS_PATH = "/__nginx_status"  # stub_status on the upstream nginx: its accepts, requests
# https-handshakes: as many connections as wrk keeps, each a new connection (and a full
# handshake) per request, from a client with as many threads as wrk's.
HANDSHAKE_CONNECTIONS = WRK_CONNECTIONS
HANDSHAKE_CLIENT_THREADS = DEFAULT_WRK_THREADS
TLS_IDLE_PARALLEL = 128  # https-idle: handshakes in flight at once while the 10,000 connect
TLS_SNI = "localhost"
SOAK_REQUESTS = 10_000_000
SOAK_CONNECTIONS = 10_000
SOAK_BATCH = 500
SOAK_RSS_TOLERANCE_MIB = 2.0
SOAK_WARMUP_REQUESTS = 100_000
SOAK_STALL_S = 15.0  # the long run fails if the server writes nothing for this long
SOAK_DRAIN_WAIT_S = 20.0  # stubborn's default drain_timeout (10 s) and some
SOAK_DRAIN_DELAY_MS = 20
# ws-held, sse-held: this many streams held at once, one message each per interval, measured for
# STREAM_SECONDS once all are open; a message more than STREAM_LATE_MS after its schedule is late.
STREAM_CONNECTIONS = 10_000
STREAM_INTERVAL_MS = 1000
STREAM_SECONDS = 20
STREAM_LATE_MS = 50
STREAM_RSS_MAX_MIB = 128  # the target for the server's peak RSS with every stream open
STREAM_REPS = 2  # runs of each stream scenario (1 with --quick; --reps sets it when given)
# sse-held's events, one a second: enough to outlast the connects, the window and the reading of
# the server's memory, after which the stream is held with nothing more to send.
STREAM_SSE_EVENTS = 120
STREAM_WS_PATH = "/ws/tick"
STREAM_SSE_PATH = "/events/tick"
STREAM_ECHO_PATH = "/ws/echo"
STREAM_ECHO_CONNECTIONS = 50
STREAM_ECHO_SIZE = 32  # bytes of text per message
DEBIAN_PYTHON = "/usr/bin/python3"  # Debian's, with python3-websockets: the echo floor
NPM_PREFIX = BUILD / "npm"  # Node's `ws` for the fast echo peer, installed here, never committed
NODE_WS_VERSION = "8.23.1"
MIB = 1024 * 1024

started = []  # every process this runner started: stopped by pid at exit, never by name
stop_problems = []  # servers that did not exit on their stop signal in time (reported)


def repo_relative(text):
    """text with this checkout's absolute path left out, as result files are committed."""
    return text.replace(str(ROOT) + "/", "")


def log(message):
    print(message, file=sys.stderr, flush=True)


# ---- processes ---------------------------------------------------------------------------------

def stop_process(proc, sig=signal.SIGTERM, timeout=10.0):
    """Stops one process this runner started (by its pid), escalating to SIGKILL."""
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            what = " ".join(str(a) for a in proc.args[:1])
            log(f"  pid {proc.pid} ({what}) did not stop within {timeout:.0f} s of {sig.name}: "
                "SIGKILL")
            stop_problems.append(f"{Path(what).name} pid {proc.pid}: no exit within "
                                 f"{timeout:.0f} s of {sig.name}")
            proc.kill()
            proc.wait()
    if proc in started:
        started.remove(proc)
    return proc.returncode


def stop_all():
    for proc in list(started):
        stop_process(proc, timeout=5.0)


def start_process(cmd, **kwargs):
    proc = subprocess.Popen([str(c) for c in cmd], **kwargs)
    started.append(proc)
    return proc


def on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


# ---- /proc -------------------------------------------------------------------------------------

def proc_stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    return text[text.rindex(")") + 2:].split()  # fields from 3 (state) on


def cpu_ticks(pid):
    """utime + stime of a process (all its threads), in clock ticks."""
    fields = proc_stat_fields(pid)
    return int(fields[11]) + int(fields[12])


def child_pids(pid):
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if int(proc_stat_fields(entry)[1]) == pid:
                children.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return children


def status_kib(pid, key):
    """A number from /proc/PID/status: VmRSS, VmHWM (KiB), Threads."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def pss_kib(pid):
    """Proportional set size: pages shared between processes (nginx's master and workers)
    counted once in total."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return status_kib(pid, "VmRSS")


def system_ticks():
    """(task, irq, steal, total) jiffies summed over all CPUs, from /proc/stat. `task` is time
    charged to processes (user, nice, system); `irq` is interrupt and softirq time, which on
    loopback is mostly packet processing and is charged to no process's /proc/PID/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    task = user + nice + system
    return task, irq + softirq, steal, task + irq + softirq + idle + iowait + steal


def self_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ---- servers -----------------------------------------------------------------------------------

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def tls_client_context():
    """TLS 1.3, the server's certificate not verified (as wrk and stubborn_tls_bench do)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


def http_exchange(port, request, timeout=5.0, tls=False):
    """Sends `request` (bytes, with "Connection: close") on a fresh connection, over TLS with
    `tls`, and reads until the server closes: (status, head bytes, body)."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    if tls:
        s = tls_client_context().wrap_socket(s, server_hostname=TLS_SNI)
    with s:
        s.sendall(request)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, len(head) + 4, body


def http_get(port, path, timeout=5.0, tls=False):
    """One GET on a fresh connection (over TLS with `tls`): (status, head bytes, body)."""
    return http_exchange(
        port, f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n".encode(),
        timeout, tls)


class Server:
    """A server this runner started: its pids, CPU time, memory."""

    scheme = "http"  # "https" for the HTTPS scenarios' servers: `port` is then the TLS port

    def __init__(self, name, proc, port, log_path):
        self.name, self.proc, self.port, self.log_path = name, proc, port, log_path

    def pids(self):
        return [self.proc.pid]

    def cpu_ticks(self):
        return sum(cpu_ticks(p) for p in self.pids())

    def rss_kib(self):
        return sum(status_kib(p, "VmRSS") for p in self.pids())

    def pss_kib(self):
        return sum(pss_kib(p) for p in self.pids())

    def hwm_kib(self):
        return sum(status_kib(p, "VmHWM") for p in self.pids())

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        return stop_process(self.proc)

    def log_tail(self):
        try:
            return Path(self.log_path).read_text(errors="replace")[-2000:]
        except OSError:
            return ""


class Nginx(Server):
    def pids(self):
        # master + workers; the workers are the master's children
        return [self.proc.pid] + child_pids(self.proc.pid)

    def stop(self):
        return stop_process(self.proc, signal.SIGQUIT)


def start_stubborn(binary, config, threads, tmp, tag, env=None, tls=False):
    """stubborn on an ephemeral port; with `tls`, HTTPS only (the config turns plain off)."""
    port_file = tmp / f"port-{tag}"
    log_path = tmp / f"stubborn-{tag}.log"
    if port_file.exists():
        port_file.unlink()
    listen = ["--tls-listen", f"{HOST}:0", "--tls-port-file", port_file] if tls else \
        ["--listen", f"{HOST}:0", "--port-file", port_file]
    with open(log_path, "w") as out:
        proc = start_process([binary] + listen + ["--threads", threads, "--log-level", "warn",
                                                  config],
                             stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=env)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if port_file.exists():
            text = port_file.read_text().strip()
            if text:
                server = Server("stubborn", proc, int(text), log_path)
                if tls:
                    server.scheme = "https"
                return server
        time.sleep(0.005)
    stop_process(proc)
    raise RuntimeError(f"stubborn did not start: {Path(log_path).read_text(errors='replace')}")


def nginx_proxy_hello(upstream_port):
    """nginx's proxy_pass for /hello, with upstream keep-alive, sending the upstream what a
    stubborn proxy route sends: HTTP/1.1 with no Connection header (the pooled connection stays
    open), the upstream's address as Host, Via, and X-Forwarded-For/-Proto/-Host (stubborn adds
    them on every proxied request; nginx adds none unless told)."""
    # keepalive_requests: an upstream connection is otherwise closed after 1,000 requests (the
    # default since nginx 1.15.3), and nginx would connect anew every 1,000 requests; the client
    # side's limit (keepalive_requests in nginx_config's http block) is raised for that reason.
    upstream = (f"    upstream stubborn_bench_upstream {{\n"
                f"        server {HOST}:{upstream_port};\n"
                f"        keepalive {UPSTREAM_KEEPALIVE};\n"
                "        keepalive_requests 1000000000;\n"
                "        keepalive_timeout 65s;\n"
                "    }\n")
    location = f"""location = /hello {{
            proxy_pass http://stubborn_bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Host {HOST}:{upstream_port};
            proxy_set_header Connection "";
            proxy_set_header Via "1.1 nginx";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
        }}"""
    return upstream, location


def nginx_config(prefix, port, threads, body_file, tls=None, proxy_to=None, status=False):
    """nginx.conf with stubborn's bench replies; with `tls` (certificate, key), HTTPS only, TLS
    1.3, and otherwise nginx's defaults, which match stubborn's: session tickets on (OpenSSL's
    two per handshake, as stubborn sends; the HTTPS clients here never offer one back, so no
    handshake resumes on either server), no server-side session cache. With `proxy_to` (a
    port), /hello is proxied there (nginx_proxy_hello); with `status`, stub_status answers on
    NGINX_STATUS_PATH."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    listen = f"listen {HOST}:{port} backlog=4096;"
    if tls:
        cert, key = tls
        listen = (f"listen {HOST}:{port} ssl backlog=4096;\n"
                  f"        ssl_certificate {cert};\n"
                  f"        ssl_certificate_key {key};\n"
                  "        ssl_protocols TLSv1.3;")
    upstream, hello = "", f"""location = /hello {{
            default_type text/plain;
            return 200 "{HELLO_BODY}";
        }}"""
    if proxy_to:
        upstream, hello = nginx_proxy_hello(proxy_to)
    if status:
        hello += (f"\n        location = {NGINX_STATUS_PATH} {{\n"
                  "            stub_status;\n        }")
    return f"""# generated by benchmarks/run.py: the same replies as stubborn's bench config
worker_processes {threads};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
daemon off;
master_process on;
worker_rlimit_nofile {nofile};
events {{
    # nginx preallocates its connection table: sized for the 10,000-connection scenario, not
    # more, so that its memory figures are not inflated by our choice.
    worker_connections {IDLE_CONNECTIONS + 1024};
}}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 1000000000;
    open_file_cache max=16 inactive=60s;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    types {{
        text/plain txt;
    }}
    default_type application/octet-stream;
{upstream}    server {{
        {listen}
        {hello}
        location = /body-64k {{
            alias {body_file};
        }}
    }}
}}
"""


def start_nginx(binary, threads, tmp, body_file, tls=None, name=None, proxy_to=None,
                status=False):
    """nginx with a prefix of its own under tmp (`name`, by default "nginx" or "nginx-tls");
    with `tls` (certificate, key), HTTPS only; `proxy_to` and `status` as in nginx_config."""
    prefix = tmp / (name or ("nginx-tls" if tls else "nginx"))
    prefix.mkdir(exist_ok=True)
    os.chmod(prefix, 0o755)
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_config(prefix, port, threads, body_file, tls, proxy_to, status))
    log_path = prefix / "stderr.log"
    with open(log_path, "w") as out:
        proc = start_process([binary, "-p", prefix, "-c", conf], stdout=out,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = Nginx("nginx", proc, port, log_path)
    if tls:
        server.scheme = "https"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and server.alive():
        try:
            if http_get(port, "/hello", timeout=1.0, tls=bool(tls))[0] == 200 and \
                    len(child_pids(proc.pid)) >= int(threads):
                return server
        except OSError:
            pass
        time.sleep(0.01)
    stop_process(proc, signal.SIGQUIT)
    raise RuntimeError(f"nginx did not start: {server.log_tail()}")


# ---- configs -----------------------------------------------------------------------------------

def bench_config(body_file, journal=0):
    # A load test's setup: metrics on (the admin API's default), the request journal off.
    return f"""# generated by benchmarks/run.py
[server]
listen = "{HOST}:0"

[admin]
journal = {journal}

[[route]]
name = "hello"
method = "GET"
path = "/hello"
[route.reply]
headers = {{ Content-Type = "text/plain" }}
body = "{HELLO_BODY}"

[[route]]
name = "body-64k"
method = "GET"
path = "/body-64k"
[route.reply]
body_file = "{body_file}"
"""


def filler_route(i):
    """The same shapes as benchmarks/micro_bench.cpp: exact, {param} at the end, RE2 regex and
    {param} in the middle, all under /api/v1/."""
    head = f'[[route]]\nname = "r{i}"\nmethod = "GET"\n'
    kind = i % 4
    if kind == 0:
        return head + f'path = "/api/v1/things-{i}/items"\n[route.reply]\nbody = "exact {i}"\n'
    if kind == 1:
        return head + (f'path = "/api/v1/things-{i}/{{id}}"\n[route.reply]\n'
                       'body = "item {{path.id}}"\n')
    if kind == 2:
        return head + (f"path_regex = '^/api/v1/regex-{i}/(?P<id>[0-9]+)$'\n[route.reply]\n"
                       'body = "regex {{path.id}}"\n')
    return head + (f'path = "/api/v1/{{tenant}}/things-{i}"\n[route.reply]\n'
                   'body = "tenant {{path.tenant}}"\n')


def routes_config(count):
    """count - 1 filler routes, then the one ROUTES_REQUEST matches: a {param} path with a
    templated reply whose body is the 5-byte id, like hello's."""
    parts = [f'# generated by benchmarks/run.py: {count} routes\n[server]\nlisten = "{HOST}:0"\n'
             '[admin]\njournal = 0\n']
    parts += [filler_route(i) for i in range(count - 1)]
    parts.append('[[route]]\nname = "last"\nmethod = "GET"\npath = "/api/v1/last/{id}"\n'
                 '[route.reply]\nheaders = { Content-Type = "text/plain" }\n'
                 'body = "{{path.id}}"\n')
    return "\n".join(parts)


def conditions_config(count):
    """The shape of micro_bench.cpp's bm_conditions_match: `count` routes on POST /orders, route i
    with `$.order.total gt i` (every route's request passes it) and `$.customer.id equals "c<i>"`
    (only the last one's does), so each route ranks before the last, evaluates both conditions and
    fails on the second. The reply is hello's 5 bytes."""
    parts = [f'# generated by benchmarks/run.py: {count} routes with two json_path conditions '
             f'each\n[server]\nlisten = "{HOST}:0"\n[admin]\njournal = 0\n']
    for i in range(count):
        parts.append(f'[[route]]\nname = "order-{i}"\nmethod = "POST"\npath = "{CONDITIONS_PATH}"\n'
                     f'[route.when]\nall = [ {{ json_path = "$.order.total", gt = {i} }},\n'
                     f'        {{ json_path = "$.customer.id", equals = "c{i}" }} ]\n'
                     f'[route.reply]\nheaders = {{ Content-Type = "text/plain" }}\n'
                     f'body = "{HELLO_BODY}"\n')
    return "\n".join(parts)


def conditions_body(count):
    """A JSON order of about 1 KiB (at most CONDITIONS_BODY_MAX bytes) that only the last of
    `count` routes takes; the same text as micro_bench.cpp's condition_body()."""
    n = count - 1
    head = (f'{{"customer":{{"id":"c{n}","name":"Customer {n}","email":"c{n}@example.com"}},'
            f'"order":{{"id":"o-1","total":{count + 500},"currency":"EUR"}},"items":[')
    items = ""
    k = 0
    while True:
        item = (("," if k else "") + f'{{"sku":"SKU-{k:04d}","qty":{k % 5 + 1},'
                f'"price":{10 + k}.{(k * 37) % 100:02d}}}')
        if len(head) + len(items) + len(item) + 2 > CONDITIONS_BODY_MAX:
            break
        items += item
        k += 1
    return head + items + "]}"


def delays_config():
    return f"""# generated by benchmarks/run.py: needs the reply key `delay`
[server]
listen = "{HOST}:0"

[[route]]
name = "delay-1s"
method = "GET"
path = "/delay-1s"
[route.reply]
headers = {{ Content-Type = "text/plain" }}
body = "{HELLO_BODY}"
delay = "1s"
"""


def ws_held_config():
    return f"""# generated by benchmarks/run.py: a WebSocket route that sends one message a second
[server]
listen = "{HOST}:0"

[admin]
journal = 0

[[route]]
name = "ws-tick"
method = "GET"
path = "{STREAM_WS_PATH}"
[route.websocket]
every = {{ send = "tick", interval = "{STREAM_INTERVAL_MS}ms" }}
"""


def sse_held_config():
    events = ",\n".join(f'  {{ data = "tick {i}", delay = "{STREAM_INTERVAL_MS}ms" }}'
                         for i in range(1, STREAM_SSE_EVENTS + 1))
    return f"""# generated by benchmarks/run.py: an event stream of one event a second, then held
[server]
listen = "{HOST}:0"

[admin]
journal = 0

[[route]]
name = "events-tick"
method = "GET"
path = "{STREAM_SSE_PATH}"
[route.reply]
status = 200
events = [
{events} ]
then = "hold"
"""


def ws_echo_config():
    return f"""# generated by benchmarks/run.py: a WebSocket route that echoes every message
[server]
listen = "{HOST}:0"

[admin]
journal = 0

[[route]]
name = "ws-echo"
method = "GET"
path = "{STREAM_ECHO_PATH}"
[route.websocket]
[[route.websocket.on_message]]
match = {{}}
echo = true
"""


def soak_config():
    """hello as in bench.toml, and the same reply after a short delay: with it, the drain step
    finds nearly every connection with a request read and not yet answered."""
    return f"""# generated by benchmarks/run.py for the soak
[server]
listen = "{HOST}:0"

[[route]]
name = "hello"
method = "GET"
path = "/hello"
[route.reply]
headers = {{ Content-Type = "text/plain" }}
body = "{HELLO_BODY}"

[[route]]
name = "hello-delayed"
method = "GET"
path = "/hello-delayed"
[route.reply]
headers = {{ Content-Type = "text/plain" }}
body = "{HELLO_BODY}"
delay = "{SOAK_DRAIN_DELAY_MS}ms"
"""


# ---- measuring ---------------------------------------------------------------------------------

quiet_budget = [120.0]  # seconds of waiting for quiet left for the whole run
retry_budget = [8]  # wrk and held-stream runs that may be repeated: another process disturbed them


def wait_quiet(max_wait, threshold_pct=10.0):
    """Waits (up to max_wait s, and up to what is left of quiet_budget) for a half second in which
    the machine is nearly idle, so that another process's build does not land in a measurement.
    Returns (waited s, busy %)."""
    max_wait = min(max_wait, quiet_budget[0])
    start = time.monotonic()
    busy_pct = 0.0
    while True:
        b0, i0, _, t0 = system_ticks()
        time.sleep(0.5)
        b1, i1, _, t1 = system_ticks()
        busy_pct = 100.0 * (b1 - b0 + i1 - i0) / max(t1 - t0, 1)
        waited = time.monotonic() - start
        if busy_pct < threshold_pct or waited >= max_wait:
            quiet_budget[0] = max(quiet_budget[0] - waited + 0.5, 0.0)
            return round(waited, 1), round(busy_pct, 1)


def measured_client(server, cmd, timeout, upstream=None):
    """Runs a load client to its end, measuring the CPU the server, the client and everything
    else used meanwhile: (the client's CompletedProcess, the CPU figures). With `upstream` (the
    server behind a proxying `server`), its CPU is measured apart and is not "other" load."""
    s0 = server.cpu_ticks()
    u0 = upstream.cpu_ticks() if upstream else 0
    b0, i0, st0, t0 = system_ticks()
    c0 = children_cpu_seconds()
    w0 = time.monotonic()
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    wall = time.monotonic() - w0
    c1 = children_cpu_seconds()
    b1, i1, st1, t1 = system_ticks()
    s1 = server.cpu_ticks()
    u1 = upstream.cpu_ticks() if upstream else 0
    server_s = (s1 - s0) / CLK_TCK
    upstream_s = (u1 - u0) / CLK_TCK
    client_s = c1 - c0
    total_s = (t1 - t0) / CLK_TCK
    other_s = max((b1 - b0) / CLK_TCK - server_s - upstream_s - client_s, 0.0)
    return out, {
        "server_s": server_s, "client_s": client_s, "wall_s": wall,
        **({"upstream_s": upstream_s} if upstream else {}),
        "other_cpu_pct": round(100.0 * other_s / max(total_s, 1e-9), 1),
        "softirq_cpu_pct": round(100.0 * (i1 - i0) / max(t1 - t0, 1), 1),
        "steal_pct": round(100.0 * (st1 - st0) / max(t1 - t0, 1), 1),
    }


def server_gone(server):
    """For a client's error: whether the server has exited meanwhile, and its log's end."""
    if server.alive():
        return ""
    return (f"; {server.name} (pid {server.proc.pid}) exited with status "
            f"{server.proc.returncode}; its log ends: {server.log_tail()}")


def load_record(w, cpu, cmd):
    """A run's record from the client's summary `w` (report.lua's fields) and the CPU figures."""
    requests = w["requests"]
    server_s, wall = cpu["server_s"], cpu["wall_s"]
    errors = sum(w[k] for k in w if k.startswith("errors_"))
    return {
        "requests": requests,
        "rps": requests / (w["duration_us"] / 1e6),
        "p50_us": w["lat_p50_us"], "p90_us": w["lat_p90_us"], "p99_us": w["lat_p99_us"],
        "p999_us": w["lat_p999_us"], "max_us": w["lat_max_us"], "mean_us": w["lat_mean_us"],
        "lat_method": w.get("lat_method", "wrk"),
        "bytes_per_reply": w["bytes"] / requests if requests else 0,
        "errors": errors, "wrk_errors": {k: w[k] for k in w if k.startswith("errors_")},
        "server_cpu_s": round(server_s, 3),
        "cpu_us_per_req": server_s * 1e6 / requests if requests else None,
        "server_cpu_pct": round(100.0 * server_s / wall, 1),
        "wrk_cpu_s": round(cpu["client_s"], 3),
        "other_cpu_pct": cpu["other_cpu_pct"],
        "softirq_cpu_pct": cpu["softirq_cpu_pct"],
        "steal_pct": cpu["steal_pct"],
        "wall_s": round(wall, 2),
        "wrk_cmd": " ".join(str(c) for c in cmd),
        **({"upstream_cpu_s": round(cpu["upstream_s"], 3),
            "upstream_cpu_us_per_req": (cpu["upstream_s"] * 1e6 / requests if requests
                                        else None)} if "upstream_s" in cpu else {}),
    }


def run_wrk(ctx, server, path, duration, script, script_args=(), threads=None, upstream=None,
            cpu=None):
    """One wrk run; with `cpu` (a CPU number as text), wrk runs pinned to it with taskset."""
    threads = threads or ctx.wrk_threads
    url = f"{server.scheme}://{HOST}:{server.port}{path}"
    cmd = [ctx.wrk, f"-t{threads}", f"-c{WRK_CONNECTIONS}", f"-d{duration}s", "--timeout", "5s",
           "-s", str(BENCH / "wrk" / script), url]
    if cpu is not None:
        cmd = [shutil.which("taskset"), "-c", cpu] + cmd
    if script_args:
        cmd += ["--"] + [str(a) for a in script_args]
    out, cpu = measured_client(server, cmd, duration + 60, upstream)
    line = next((l for l in out.stdout.splitlines() if l.startswith("WRK_JSON ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip()} {out.stdout}"
                           + server_gone(server))
    return load_record(json.loads(line[len("WRK_JSON "):]), cpu, cmd)


def tls_bench_command(ctx, server, mode, connections, extra=()):
    return [str(c) for c in [ctx.tls_bench, "--host", HOST, "--port", server.port, "--mode", mode,
                             "--connections", connections, "--sni", TLS_SNI] + list(extra)]


def run_tls_handshakes(ctx, server, path, duration, connections=HANDSHAKE_CONNECTIONS,
                       threads=HANDSHAKE_CLIENT_THREADS):
    """stubborn_tls_bench --mode handshakes: a new connection, a full handshake, one request
    with Connection: close, per request. A record like run_wrk's, and what was negotiated."""
    cmd = tls_bench_command(ctx, server, "handshakes", connections,
                            ["--path", path, "--duration", duration, "--threads", threads])
    out, cpu = measured_client(server, cmd, duration + 60)
    line = next((l for l in out.stdout.splitlines() if l.startswith("{")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"stubborn_tls_bench failed ({out.returncode}): "
                           f"{out.stderr.strip()} {out.stdout}" + server_gone(server))
    h = json.loads(line)
    w = {k: v for k, v in h.items() if k in ("requests", "duration_us", "bytes")
         or k.startswith("lat_") or k.startswith("errors_")}
    w["lat_method"] = "client"
    rec = load_record(w, cpu, cmd)
    rec.update({k: h[k] for k in ("handshakes", "resumed", "tickets", "protocol", "cipher",
                                  "group", "alpn")})
    return rec


class CpuWindow:
    """The machine's CPU over a stretch of time: how much went to processes other than the
    ones measured (the servers we pass in, and our own children, e.g. the client)."""

    def __init__(self, servers=()):
        self.servers = list(servers)
        self.s0 = sum(s.cpu_ticks() for s in self.servers)
        self.b0, self.i0, _, self.t0 = system_ticks()
        self.c0 = children_cpu_seconds() + self_cpu_seconds()

    def finish(self, extra_ticks=0):
        b1, i1, _, t1 = system_ticks()
        s1 = sum(s.cpu_ticks() for s in self.servers if s.alive())
        mine = (s1 - self.s0 + extra_ticks) / CLK_TCK + children_cpu_seconds() + \
            self_cpu_seconds() - self.c0
        other = max((b1 - self.b0) / CLK_TCK - mine, 0.0)
        return round(100.0 * other / max((t1 - self.t0) / CLK_TCK, 1e-9), 1)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# ---- the run's context and output -----------------------------------------------------------------

class Context:
    def __init__(self, args):
        self.args = args
        self.duration = args.duration
        self.reps = args.reps
        self.wrk_threads = args.wrk_threads
        self.threads = str(args.threads)
        self.tmp = Path(tempfile.mkdtemp(prefix="stubborn-bench-"))
        os.chmod(self.tmp, 0o755)  # nginx workers (user nobody when run as root) read body-64k
        self.stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        RESULTS.mkdir(parents=True, exist_ok=True)
        self.jsonl_path = RESULTS / f"{self.stamp}.jsonl"
        self.md_path = RESULTS / f"{self.stamp}.md"
        self.jsonl = open(self.jsonl_path, "w")
        self.summaries = {}
        self.notes = []
        self.stubborn = Path(args.stubborn).resolve() if args.stubborn else BUILD / "stubborn"
        self.conn_bench = None
        self.micro_bench = None
        self.socket_counters = None  # the soak's LD_PRELOAD library, built when needed
        self.tls_bench = None
        self.latency_bench = None
        self.stream_bench = None
        self.stream_reps = args.stream_reps
        self.ws_held_toml = self.sse_held_toml = self.ws_echo_toml = None  # when needed
        self.node_path = None  # NODE_PATH for the Node echo peer, once `ws` is installed
        self.proxy_toml = self.tmp / "proxy.toml"  # written once the upstream's port is known
        self.proxy_skipped = None  # why the proxy scenarios cannot run, once known
        self.tls_cert = self.tls_key = self.tls_toml = None  # made by ensure_tls when needed
        self.wrk = shutil.which("wrk")
        self.redis = shutil.which("redis-server")  # the cluster scenario's shared state
        self.haproxy = shutil.which("haproxy") or (
            "/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None)
        self.nginx = shutil.which("nginx") or (
            "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
        self.body_file = self.tmp / "body-64k.txt"
        line = b"stubborn benchmark body: 64 KiB of printable text in lines of 64 bytes.\n"[-64:]
        self.body_file.write_bytes(line * (BODY_64K_SIZE // len(line)))
        os.chmod(self.body_file, 0o644)
        self.bench_toml = self.tmp / "bench.toml"
        self.bench_toml.write_text(bench_config(self.body_file.name))
        self.journal_toml = self.tmp / "bench-journal.toml"
        self.journal_toml.write_text(bench_config(self.body_file.name, journal=1000))
        self.routes_toml = self.tmp / "routes-1000.toml"
        self.routes_toml.write_text(routes_config(ROUTES_COUNT))
        self.conditions_toml = self.tmp / "conditions-1000.toml"
        self.conditions_toml.write_text(conditions_config(CONDITIONS_COUNT))
        self.conditions_body = self.tmp / "conditions-body.json"
        self.conditions_body.write_text(conditions_body(CONDITIONS_COUNT))
        self.delays_toml = self.tmp / "delays.toml"
        self.delays_toml.write_text(delays_config())
        self.soak_toml = self.tmp / "soak.toml"
        self.soak_toml.write_text(soak_config())

    def emit(self, record):
        # Result files are committed: paths inside the checkout are written relative to it.
        self.jsonl.write(repo_relative(json.dumps(record, sort_keys=True)) + "\n")
        self.jsonl.flush()

    def summary(self, key, record):
        self.summaries[key] = record
        self.emit(dict(record, type="summary", key=key))

    def close(self):
        self.jsonl.close()
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


# ---- set-up ------------------------------------------------------------------------------------

def raise_open_file_limit(wanted=65_536, needed=IDLE_CONNECTIONS + 1024):
    """`ulimit -n` for the runner and, inherited, every server and client it starts: the soft
    limit up to the hard one, and the hard one up to `wanted` where the kernel lets us."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    before = (soft, hard)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
        except (OSError, ValueError) as e:
            log(f"open-file limit: cannot raise the hard limit {hard} to {wanted} ({e})")
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    log(f"open-file limit (ulimit -n): soft/hard {before[0]}/{before[1]} -> {soft}/{hard} for the "
        "runner and everything it starts (resource.setrlimit, inherited)")
    if soft < needed:
        log(f"  warning: {soft} is below the {needed} the 10,000-connection scenarios need")
    return before[0], soft


def install_missing(ctx):
    wanted = {}
    if not ctx.wrk:
        wanted["wrk"] = "wrk"
    if not ctx.nginx and not ctx.args.no_nginx:
        wanted["nginx"] = "nginx-light"
    if "ws-echo" in ctx.args.scenarios and not debian_python_websockets():
        wanted["Python websockets (the ws-echo peer)"] = "python3-websockets"
    if not wanted:
        return
    line = "apt-get install -y " + " ".join(sorted(wanted.values()))
    if os.geteuid() != 0:
        log(f"missing {', '.join(sorted(wanted))}: as root, run: {line}  (skipping what needs them)")
        return
    log(f"installing {', '.join(sorted(wanted.values()))} with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends"] + sorted(wanted.values())
    if subprocess.run(cmd, env=env).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env)
        subprocess.run(cmd, env=env)
    ctx.wrk = shutil.which("wrk")
    ctx.nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)


def build(ctx):
    if ctx.args.no_build:
        log("--no-build: using the binaries already in build-bench/")
    else:
        ninja = shutil.which("ninja")
        configure = ["cmake", "-S", ROOT, "-B", BUILD, "-DCMAKE_BUILD_TYPE=Release",
                     "-DSTUBBORN_TESTS=OFF"]
        if not (BUILD / "CMakeCache.txt").exists():
            configure += ["-G", "Ninja" if ninja else "Unix Makefiles"]
        log("building Release into build-bench/: " + " ".join(str(c) for c in configure))
        subprocess.run([str(c) for c in configure], check=True, stdout=subprocess.DEVNULL)
        # The build's own output goes to stderr: stdout carries only the results table.
        targets = ["stubborn"]
        cache = (BUILD / "CMakeCache.txt").read_text(errors="replace")
        has_bench = "benchmark_DIR:PATH=" in cache and "benchmark_DIR:PATH=benchmark_DIR-NOTFOUND" \
            not in cache
        if has_bench:
            targets += ["stubborn_conn_bench", "stubborn_tls_bench", "stubborn_latency_bench",
                        "stubborn_stream_bench", "stubborn_micro_bench"]
        cmd = ["cmake", "--build", str(BUILD), "-j", str(NPROC), "--target"] + targets
        log("  " + " ".join(cmd))
        subprocess.run(cmd, check=True, stdout=sys.stderr)
        if not has_bench:
            # No libbenchmark-dev: benchmarks/ is not part of the build; the client needs only
            # the standard library.
            log("  libbenchmark-dev not found: building the connection client directly; "
                "micro-benchmarks skipped (apt-get install libbenchmark-dev)")
            cxx = shutil.which("c++") or shutil.which("g++")
            subprocess.run([cxx, "-O2", "-std=c++20", "-o", str(BUILD / "stubborn_conn_bench"),
                            str(BENCH / "conn_bench.cpp")], check=True, stdout=sys.stderr)
            subprocess.run([cxx, "-O2", "-std=c++20", "-pthread", "-o",
                            str(BUILD / "stubborn_tls_bench"), str(BENCH / "tls_bench.cpp"),
                            "-lssl", "-lcrypto"], check=True, stdout=sys.stderr)
            subprocess.run([cxx, "-O2", "-std=c++20", "-o", str(BUILD / "stubborn_latency_bench"),
                            str(BENCH / "latency_bench.cpp")], check=True, stdout=sys.stderr)
            subprocess.run([cxx, "-O2", "-std=c++20", "-o", str(BUILD / "stubborn_stream_bench"),
                            str(BENCH / "stream_bench.cpp")], check=True, stdout=sys.stderr)
    for candidate in (BUILD / "benchmarks" / "stubborn_conn_bench",
                      BUILD / "stubborn_conn_bench"):
        if candidate.exists():
            ctx.conn_bench = candidate
            break
    for candidate in (BUILD / "benchmarks" / "stubborn_tls_bench", BUILD / "stubborn_tls_bench"):
        if candidate.exists():
            ctx.tls_bench = candidate
            break
    for candidate in (BUILD / "benchmarks" / "stubborn_latency_bench",
                      BUILD / "stubborn_latency_bench"):
        if candidate.exists():
            ctx.latency_bench = candidate
            break
    for candidate in (BUILD / "benchmarks" / "stubborn_stream_bench",
                      BUILD / "stubborn_stream_bench"):
        if candidate.exists():
            ctx.stream_bench = candidate
            break
    candidate = BUILD / "benchmarks" / "stubborn_micro_bench"
    ctx.micro_bench = candidate if candidate.exists() else None
    if not ctx.stubborn.exists():
        raise SystemExit("build-bench/stubborn is missing")


def machine_info():
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    except OSError:
        pass

    def version(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (out.stdout + out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return None

    def git(*args):
        try:
            out = subprocess.run(["git", "-C", str(ROOT)] + list(args), capture_output=True,
                                 text=True, timeout=10)
            return out.stdout.strip() if out.returncode == 0 else None
        except OSError:
            return None

    return {
        "nproc": NPROC, "cpu_model": model, "kernel": platform.release(), "mem_mib": mem,
        "python": platform.python_version(), "loadavg": os.getloadavg(),
        "git_commit": git("rev-parse", "--short", "HEAD"),
        # Result files do not count: this run's own is already open (untracked) by now.
        "git_dirty": bool(git("status", "--porcelain", "--", ".", ":(exclude)benchmarks/results")),
    }


# ---- scenarios -----------------------------------------------------------------------------------

def describe(rec):
    if rec.get("lat_method") == "client" and rec["p99_us"] < 10_000:
        # stubborn_latency_bench's exact percentiles: microseconds say more than milliseconds
        latency = f"p50 {rec['p50_us']:7.1f} us  p99 {rec['p99_us']:7.1f} us"
    else:
        latency = f"p50 {rec['p50_us'] / 1000:6.2f} ms  p99 {rec['p99_us'] / 1000:6.2f} ms"
    return (f"{rec['rps']:>11,.0f} req/s  {latency}  cpu {rec['cpu_us_per_req']:6.2f} us/req  "
            f"(other load {rec['other_cpu_pct']:.0f}%)")


def summarise_wrk(records):
    return {
        "runs": len(records),
        "rps": median([r["rps"] for r in records]),
        "p50_us": median([r["p50_us"] for r in records]),
        "p90_us": median([r["p90_us"] for r in records]),
        "p99_us": median([r["p99_us"] for r in records]),
        "p999_us": median([r["p999_us"] for r in records]),
        "max_us": median([r["max_us"] for r in records]),
        **({"min_us": median([r["min_us"] for r in records])} if "min_us" in records[0] else {}),
        "cpu_us_per_req": median([r["cpu_us_per_req"] for r in records]),
        "server_cpu_pct": median([r["server_cpu_pct"] for r in records]),
        "bytes_per_reply": median([r["bytes_per_reply"] for r in records]),
        "errors": sum(r["errors"] for r in records),
        "other_cpu_pct_max": max(r["other_cpu_pct"] for r in records),
        "softirq_cpu_pct": median([r["softirq_cpu_pct"] for r in records]),
        "wrk_cpu_s": median([r["wrk_cpu_s"] for r in records]),
        "lat_method": records[0]["lat_method"],
        "rps_runs": [round(r["rps"]) for r in records],
        "p50_us_runs": [r["p50_us"] for r in records],
        "p99_us_runs": [r["p99_us"] for r in records],
        "cpu_us_per_req_runs": [r["cpu_us_per_req"] for r in records],
        **(upstream_summary(records) if "upstream_cpu_us_per_req" in records[0] else {}),
        # Figures some scenarios add to their runs (scaling): medians like the rest.
        **{key: median([r[key] for r in records]) for key in OPTIONAL_RUN_FIGURES
           if key in records[0]},
    }


# What a scenario may add to its wrk runs' records, summarised as medians by summarise_wrk.
OPTIONAL_RUN_FIGURES = ("wrk_cpu_pct", "wrk_cpu_us_per_req", "softirq_us_per_req")


def upstream_summary(records):
    """What the upstream behind a proxy did over the runs: its CPU per request, and (from its
    stub_status) the connections it accepted and the requests it served."""
    out = {"upstream_cpu_us_per_req": median([r["upstream_cpu_us_per_req"] for r in records]),
           "upstream_cpu_us_per_req_runs": [r["upstream_cpu_us_per_req"] for r in records]}
    if all("upstream_accepts" in r for r in records):
        out.update(upstream_accepts=sum(r["upstream_accepts"] for r in records),
                   upstream_requests=sum(r["upstream_requests"] for r in records),
                   client_requests=sum(r["requests"] for r in records))
    return out


def interleaved(ctx, scenario, contenders, duration, script, script_args=(), threads=None,
                measure=None):
    """Runs the contenders (label, server, path) in turn, ctx.reps times each, with an
    unrecorded 1 s warm-up before each one's first run: with wrk and `script`, or with
    `measure(server, path, duration)` when given (e.g. run_tls_handshakes). The order alternates
    from one pair of runs to the next (A B, B A, A B, ...): this machine's speed drifts by 10-30 %
    within a scenario, and with A always first, a machine that sped up favoured B in every pair
    (seen: nginx second and 5-12 % faster in each of 3 pairs). Returns {label: summary}."""
    records = {label: [] for label, _, _ in contenders}
    if measure is None:
        def measure(server, path, seconds):
            return run_wrk(ctx, server, path, seconds, script, script_args, threads)
    for label, server, path in contenders:
        measure(server, path, 1)
    for rep in range(ctx.reps):
        order = contenders if rep % 2 == 0 else list(reversed(contenders))
        for label, server, path in order:
            while True:
                waited, busy = wait_quiet(ctx.args.quiet_wait)
                rec = measure(server, path, duration)
                rec.update(type="run", scenario=scenario, server=label, rep=rep + 1,
                           waited_for_quiet_s=waited, busy_before_pct=busy)
                noisy = rec["other_cpu_pct"] > ctx.args.max_other_load
                if noisy and retry_budget[0] > 0:
                    # Another process took CPU during the run: it is kept in the JSON lines,
                    # marked, and run again (a bounded number of times per runner invocation).
                    retry_budget[0] -= 1
                    rec["discarded"] = "other processes used " \
                        f"{rec['other_cpu_pct']:.0f}% of the CPU; run again"
                    ctx.emit(rec)
                    log(f"  [{scenario}] {label:<14} run {rep + 1}/{ctx.reps}: {describe(rec)} "
                        "-> discarded, again")
                    continue
                break
            ctx.emit(rec)
            records[label].append(rec)
            log(f"  [{scenario}] {label:<14} run {rep + 1}/{ctx.reps}: {describe(rec)}")
    return {label: summarise_wrk(recs) for label, recs in records.items()}


def check_reply(server, path, expect_body=None, expect_len=None):
    status, head_len, body = http_get(server.port, path, tls=server.scheme == "https")
    ok = status == 200 and (expect_body is None or body == expect_body.encode()) and \
        (expect_len is None or len(body) == expect_len)
    if not ok:
        raise RuntimeError(f"{server.name} {path}: status {status}, {len(body)} body bytes "
                           f"{body[:80]!r}")
    return head_len


def scenario_vs_nginx(ctx, servers, name):
    specs = {
        "hello": ("/hello", "report.lua", (), HELLO_BODY, None),
        "pipelined": ("/hello", "pipeline.lua", (PIPELINE_DEPTH,), HELLO_BODY, None),
        "body-64k": ("/body-64k", "report.lua", (), None, BODY_64K_SIZE),
    }
    path, script, script_args, body, length = specs[name]
    contenders = [("stubborn", servers["stubborn"], path)]
    heads = {"stubborn": check_reply(servers["stubborn"], path, body, length)}
    if servers.get("nginx"):
        contenders.append(("nginx", servers["nginx"], path))
        heads["nginx"] = check_reply(servers["nginx"], path, body, length)
    log(f"[{name}] {path}: reply head bytes {heads}; wrk -t{ctx.wrk_threads} "
        f"-c{WRK_CONNECTIONS} -d{ctx.duration}s, {ctx.reps} runs each, interleaved")
    result = interleaved(ctx, name, contenders, ctx.duration, script, script_args)
    for label, summary in result.items():
        summary["head_bytes"] = heads[label]
        ctx.summary(f"{name}/{label}", dict(summary, scenario=name, server=label))
    if "nginx" in result:
        record_ratio(ctx, name, result)


def record_ratio(ctx, name, result, extra=None):
    """stubborn against nginx in one interleaved scenario: the `NAME/ratio` summary (with
    `extra` members)."""
    s, n = result["stubborn"], result["nginx"]
    # Run k of stubborn and run k of nginx are neighbours in time, so their ratio cancels
    # most of what the machine's speed does from minute to minute (15 % and more here). The
    # median of those pair ratios is printed beside the ratio of the two medians.
    pairs = {key: [a / b for a, b in zip(s[key + "_runs"], n[key + "_runs"]) if a is not None and b]
             for key in ("rps", "p99_us", "cpu_us_per_req")}
    ratio = {
        "rps_ratio": s["rps"] / n["rps"],
        "p99_ratio": s["p99_us"] / n["p99_us"] if n["p99_us"] else None,
        "cpu_ratio": s["cpu_us_per_req"] / n["cpu_us_per_req"],
        "pair_rps_ratios": [round(r, 3) for r in pairs["rps"]],
        "pair_p99_ratios": [round(r, 3) for r in pairs["p99_us"]],
        "pair_cpu_ratios": [round(r, 3) for r in pairs["cpu_us_per_req"]],
        "pair_rps_ratio_median": median(pairs["rps"]),
        "pair_p99_ratio_median": median(pairs["p99_us"]),
        "pair_cpu_ratio_median": median(pairs["cpu_us_per_req"]),
    }
    ctx.summary(f"{name}/ratio", dict(ratio, scenario=name, **(extra or {})))
    log(f"[{name}] stubborn/nginx: throughput {ratio['rps_ratio']:.3f}x, "
        f"p99 {ratio['p99_ratio']:.2f}x, cpu/req {ratio['cpu_ratio']:.2f}x; median of pairs: "
        f"{ratio['pair_rps_ratio_median']:.3f}x, {fmt_ratio(ratio['pair_p99_ratio_median'])}, "
        f"{ratio['pair_cpu_ratio_median']:.2f}x")


def scenario_routes(ctx, servers):
    routes = start_stubborn(ctx.stubborn, ctx.routes_toml, ctx.threads, ctx.tmp, "routes")
    try:
        check_reply(routes, ROUTES_REQUEST, "12345")
        hello = servers["stubborn"]
        log(f"[routes-1000] {ROUTES_COUNT} routes, GET {ROUTES_REQUEST} (the last route, "
            "templated reply), interleaved with stubborn's hello")
        result = interleaved(ctx, "routes-1000", [("routes-1000", routes, ROUTES_REQUEST),
                                                  ("stubborn-hello", hello, "/hello")],
                             ctx.duration, "report.lua")
    finally:
        routes.stop()
    r, h = result["routes-1000"], result["stubborn-hello"]
    ctx.summary("routes-1000/stubborn", dict(r, scenario="routes-1000", server="stubborn"))
    ctx.summary("routes-1000/hello-reference", dict(h, scenario="routes-1000",
                                                    server="stubborn-hello"))
    ratio = {"rps_ratio_to_hello": r["rps"] / h["rps"],
             "pair_ratios": [round(a / b, 3) for a, b in zip(r["rps_runs"], h["rps_runs"])]}
    ctx.summary("routes-1000/ratio", dict(ratio, scenario="routes-1000"))
    log(f"[routes-1000] routes-1000 / hello: {ratio['rps_ratio_to_hello']:.3f}x")


def http_post(port, path, body, content_type, timeout=5.0):
    """One POST on a fresh connection: (status, body)."""
    request = (f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n"
               f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
               .encode() + body)
    status, _, reply = http_exchange(port, request, timeout)
    return status, reply


def scenario_conditions(ctx, servers):
    """1,000 routes that read the body (two json_path conditions each), a 1 KiB JSON body POSTed
    with wrk, interleaved with stubborn's hello: what choosing a route by its body costs a whole
    request, beside the cheapest request there is."""
    try:
        routes = start_stubborn(ctx.stubborn, ctx.conditions_toml, ctx.threads, ctx.tmp,
                                "conditions")
    except RuntimeError as e:
        # A binary from before [route.when] refuses the config: said, not fatal to the run.
        log(f"[conditions] skipped: {e}")
        ctx.summary("conditions", {"scenario": "conditions", "skipped": str(e)[:300]})
        return
    body = ctx.conditions_body.read_bytes()
    try:
        status, reply = http_post(routes.port, CONDITIONS_PATH, body, "application/json")
        if status != 200 or reply != HELLO_BODY.encode():
            raise RuntimeError(f"conditions: POST {CONDITIONS_PATH}: status {status}, "
                               f"{reply[:200]!r}")
        # A request that fails the last route's second condition must not be answered.
        wrong = body.replace(f'"c{CONDITIONS_COUNT - 1}"'.encode(), b'"nobody"')
        status, _ = http_post(routes.port, CONDITIONS_PATH, wrong, "application/json")
        if status != 404:
            raise RuntimeError(f"conditions: a body no route takes got {status}, not 404")
        hello = servers["stubborn"]
        log(f"[conditions] {CONDITIONS_COUNT} routes with two json_path conditions each, POST "
            f"{CONDITIONS_PATH} with a {len(body)}-byte JSON body (the last route), interleaved "
            "with stubborn's hello")

        def measure(server, path, seconds):
            if server is routes:
                return run_wrk(ctx, server, path, seconds, "post_body.lua",
                               (ctx.conditions_body, "application/json"))
            return run_wrk(ctx, server, path, seconds, "report.lua")

        result = interleaved(ctx, "conditions", [("conditions", routes, CONDITIONS_PATH),
                                                 ("stubborn-hello", hello, "/hello")],
                             ctx.duration, None, measure=measure)
    finally:
        routes.stop()
    c, h = result["conditions"], result["stubborn-hello"]
    ctx.summary("conditions/stubborn", dict(c, scenario="conditions", server="stubborn",
                                            request_body_bytes=len(body)))
    ctx.summary("conditions/hello-reference", dict(h, scenario="conditions",
                                                   server="stubborn-hello"))
    ratio = {"rps_ratio_to_hello": c["rps"] / h["rps"],
             "pair_ratios": [round(a / b, 3) for a, b in zip(c["rps_runs"], h["rps_runs"])]}
    ctx.summary("conditions/ratio", dict(ratio, scenario="conditions"))
    log(f"[conditions] conditions / hello: {ratio['rps_ratio_to_hello']:.3f}x")


def scenario_journal(ctx, servers):
    """What the request journal costs: hello with [admin] journal = 1000 against the usual
    journal = 0 (metrics on in both), interleaved."""
    journaled = start_stubborn(ctx.stubborn, ctx.journal_toml, ctx.threads, ctx.tmp, "journal")
    try:
        check_reply(journaled, "/hello", HELLO_BODY)
        log("[journal] hello with journal = 1000 vs journal = 0, interleaved")
        result = interleaved(ctx, "journal", [("journal-on", journaled, "/hello"),
                                              ("journal-off", servers["stubborn"], "/hello")],
                             ctx.duration, "report.lua")
    finally:
        journaled.stop()
    on, off = result["journal-on"], result["journal-off"]
    ctx.summary("journal/on", dict(on, scenario="journal", server="journal-on"))
    ctx.summary("journal/off", dict(off, scenario="journal", server="journal-off"))
    ratio = {"rps_ratio": on["rps"] / off["rps"],
             "cpu_ratio": on["cpu_us_per_req"] / off["cpu_us_per_req"]}
    ctx.summary("journal/ratio", dict(ratio, scenario="journal"))
    log(f"[journal] on / off: throughput {ratio['rps_ratio']:.3f}x, "
        f"cpu/req {ratio['cpu_ratio']:.3f}x ({on['cpu_us_per_req']:.2f} vs "
        f"{off['cpu_us_per_req']:.2f} us)")


# ---- cluster: instances sharing a rate limit in Redis, behind HAProxy ---------------------------

CLUSTER_INSTANCES = 3
CLUSTER_LIMIT = 100  # requests per second for the cluster as a whole...
CLUSTER_BURST = 100  # ...with a burst of 100: 100 + 100 x 10 = 1,100 admitted in 10 s
CLUSTER_SECONDS = 10  # the accuracy runs (--quick: --duration)
CLUSTER_CONNECTIONS = 64  # as benchmarks/rate_limit.py: with a 2 ms pause, ~20,000 requests/s
CLUSTER_PAUSE_MS = 2
CLUSTER_TOLERANCE_PCT = 1.0


def cluster_config(redis_port, namespace, limit, burst, shared):
    """One instance's config: a rate-limited route, with the limit in Redis when `shared`."""
    cluster = f"""
[cluster]
redis = "redis://{HOST}:{redis_port}/0"
namespace = "{namespace}"
share = ["rate_limits"]
""" if shared else ""
    return f"""# generated by benchmarks/run.py (cluster)
[server]
listen = "{HOST}:0"

[admin]
journal = 0
{cluster}
[[route]]
name = "limited"
method = "GET"
path = "/limited"
[route.reply]
body = "ok"
[route.rate_limit]
requests = {limit}
per = "1s"
burst = {burst}
"""


def redis_ping(port):
    try:
        with socket.create_connection((HOST, port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(ctx):
    """redis-server on a free loopback port (retried on a collision), nothing written to disk."""
    for attempt in range(5):
        port = free_port()
        log_path = ctx.tmp / f"redis-{attempt}.log"
        with open(log_path, "w") as out:
            proc = start_process([ctx.redis, "--bind", HOST, "--port", port, "--save", "",
                                  "--appendonly", "no", "--dir", ctx.tmp, "--daemonize", "no"],
                                 stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            if redis_ping(port):
                return Server("redis-server", proc, port, log_path)
            time.sleep(0.01)
        stop_process(proc)
    raise RuntimeError(f"redis-server did not start: {Path(log_path).read_text()[-500:]}")


def haproxy_up(sock_path):
    """How many servers of backend `stubborn` HAProxy's `show stat` has UP."""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(str(sock_path))
            s.sendall(b"show stat\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    except OSError:
        return 0
    lines = data.decode(errors="replace").splitlines()
    if not lines or not lines[0].startswith("# "):
        return 0
    header = lines[0][2:].split(",")
    rows = [dict(zip(header, line.split(","))) for line in lines[1:] if line]
    return sum(1 for r in rows if r.get("pxname") == "stubborn" and r.get("status") == "UP"
               and r.get("svname") not in ("FRONTEND", "BACKEND"))


def start_haproxy(ctx, ports, tag):
    """HAProxy (as deploy/haproxy/haproxy.cfg) round robin over `ports`, once it sees all up."""
    sock_path = ctx.tmp / f"haproxy-{tag}.sock"
    servers = "\n".join(f"    server s{i + 1} {HOST}:{p} check inter 1s fall 2 rise 1"
                        for i, p in enumerate(ports))
    for attempt in range(5):
        port = free_port()
        cfg = ctx.tmp / f"haproxy-{tag}.cfg"
        cfg.write_text(f"""# generated by benchmarks/run.py (cluster)
global
    maxconn 4096
    stats socket {sock_path} mode 600 level admin

defaults
    mode http
    option http-keep-alive
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    http-reuse safe

frontend stubborn
    bind {HOST}:{port}
    default_backend stubborn

backend stubborn
    balance roundrobin
    option httpchk
    http-check send meth GET uri /__admin/status ver HTTP/1.1 hdr Host localhost
    http-check expect status 200
{servers}
""")
        log_path = ctx.tmp / f"haproxy-{tag}-{attempt}.log"
        with open(log_path, "w") as out:
            proc = start_process([ctx.haproxy, "-f", cfg, "-db"], stdout=out,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and proc.poll() is None:
            if haproxy_up(sock_path) == len(ports):
                return Server("haproxy", proc, port, log_path)
            time.sleep(0.05)
        alive = proc.poll() is None
        stop_process(proc)
        if alive:
            raise RuntimeError(f"HAProxy did not see the {len(ports)} instances up: "
                               f"{Path(log_path).read_text()[-500:]}")
    raise RuntimeError(f"haproxy did not start: {Path(log_path).read_text()[-500:]}")


def cluster_accuracy_run(ctx, redis, rep, seconds):
    """One run: three fresh instances (a fresh namespace: the shared bucket starts full) behind
    HAProxy, offered ~20,000 requests/s for `seconds`; what was admitted, and the CPU of each
    process."""
    namespace = f"bench-{ctx.stamp}-{rep}"
    config = ctx.tmp / f"cluster-{rep}.toml"
    config.write_text(cluster_config(redis.port, namespace, CLUSTER_LIMIT, CLUSTER_BURST, True))
    instances, lb = [], None
    try:
        for i in range(CLUSTER_INSTANCES):
            instances.append(start_stubborn(ctx.stubborn, config, 1, ctx.tmp, f"cluster-{i}"))
        lb = start_haproxy(ctx, [s.port for s in instances], f"limit-{rep}")
        cmd = [ctx.wrk, f"-t{ctx.wrk_threads}", f"-c{CLUSTER_CONNECTIONS}", f"-d{seconds}s",
               "--timeout", "5s", "-s", BENCH / "wrk" / "paced.lua",
               f"http://{HOST}:{lb.port}/limited", "--", CLUSTER_PAUSE_MS]
        waited, busy = wait_quiet(ctx.args.quiet_wait)
        before = [s.cpu_ticks() for s in instances + [lb, redis]]
        out, cpu = measured_client(lb, cmd, seconds + 60)
        after = [s.cpu_ticks() for s in instances + [lb, redis]]
        line = next((l for l in out.stdout.splitlines() if l.startswith("WRK_JSON ")), None)
        if out.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip()}"
                               + "".join(server_gone(s) for s in instances))
        w = json.loads(line[len("WRK_JSON "):])
        spent = [(b - a) / CLK_TCK for a, b in zip(before, after)]
        wall = cpu["wall_s"]
        limited = w["errors_status"]  # every reply is 200 or 429 (wrk counts >= 400)
        admitted = w["requests"] - limited
        expected = CLUSTER_BURST + CLUSTER_LIMIT * seconds
        return {
            "type": "run", "scenario": "cluster", "part": "limit", "rep": rep + 1,
            "instances": CLUSTER_INSTANCES, "namespace": namespace,
            "offered_rps": round(w["requests"] / (w["duration_us"] / 1e6)),
            "requests": w["requests"], "admitted": admitted, "limited": limited,
            "expected": expected,
            "deviation_pct": round(100 * (admitted - expected) / expected, 2),
            "expected_for_wrk_time": round(CLUSTER_BURST + CLUSTER_LIMIT * w["duration_us"] / 1e6,
                                           1),
            "other_errors": sum(w[k] for k in ("errors_connect", "errors_read", "errors_write",
                                               "errors_timeout")),
            "stubborn_cpu_pct": round(100 * sum(spent[:CLUSTER_INSTANCES]) / wall, 1),
            "haproxy_cpu_pct": round(100 * spent[CLUSTER_INSTANCES] / wall, 1),
            "redis_cpu_pct": round(100 * spent[CLUSTER_INSTANCES + 1] / wall, 1),
            "wrk_cpu_s": round(cpu["client_s"], 3), "other_cpu_pct": cpu["other_cpu_pct"],
            "waited_for_quiet_s": waited, "busy_before_pct": busy,
            "wrk_cmd": " ".join(str(c) for c in cmd),
        }
    finally:
        if lb:
            lb.stop()
        for s in instances:
            s.stop()


def cluster_limit_summary(runs, seconds):
    """The accuracy runs' summary: admitted against 1,100, the worst deviation, CPU medians."""
    worst = max(abs(r["deviation_pct"]) for r in runs)
    ok = worst <= CLUSTER_TOLERANCE_PCT and all(r["other_errors"] == 0 for r in runs)
    return {
        "scenario": "cluster", "part": "limit", "instances": CLUSTER_INSTANCES,
        "requests_per_s": CLUSTER_LIMIT, "burst": CLUSTER_BURST, "duration_s": seconds,
        "connections": CLUSTER_CONNECTIONS, "pause_ms": CLUSTER_PAUSE_MS,
        "expected": CLUSTER_BURST + CLUSTER_LIMIT * seconds,
        "admitted_runs": [r["admitted"] for r in runs],
        "admitted": median([r["admitted"] for r in runs]),
        "offered_rps_runs": [r["offered_rps"] for r in runs],
        "worst_deviation_pct": worst, "tolerance_pct": CLUSTER_TOLERANCE_PCT, "pass": ok,
        "stubborn_cpu_pct": median([r["stubborn_cpu_pct"] for r in runs]),
        "haproxy_cpu_pct": median([r["haproxy_cpu_pct"] for r in runs]),
        "redis_cpu_pct": median([r["redis_cpu_pct"] for r in runs]),
        "other_errors": sum(r["other_errors"] for r in runs)}


def scenario_cluster(ctx):
    """Three instances behind HAProxy sharing one rate limit in Redis (100/s, burst 100), offered
    ~20,000 requests/s for 10 s: admitted, against 1,100. Then a rate-limited route's throughput
    with the Redis limiter against the local one, one instance each, interleaved."""
    missing_tools = [name for name, path in (("redis-server", ctx.redis), ("haproxy", ctx.haproxy))
                     if not path]
    if missing_tools:
        ctx.summary("cluster", {"scenario": "cluster",
                                "skipped": f"{' and '.join(missing_tools)} not installed "
                                           "(apt-get install redis-server haproxy)"})
        return
    redis = start_redis(ctx)
    try:
        seconds = ctx.duration if ctx.args.quick else CLUSTER_SECONDS
        expected = CLUSTER_BURST + CLUSTER_LIMIT * seconds
        log(f"[cluster] {CLUSTER_INSTANCES} instances behind HAProxy share {CLUSTER_LIMIT}/s "
            f"(burst {CLUSTER_BURST}) in Redis; ~20,000 requests/s offered for {seconds} s; "
            f"expected {expected:,} admitted")
        runs = []
        for rep in range(ctx.reps):
            rec = cluster_accuracy_run(ctx, redis, rep, seconds)
            ctx.emit(rec)
            runs.append(rec)
            log(f"  [cluster] run {rep + 1}/{ctx.reps}: admitted {rec['admitted']:,} of "
                f"{rec['requests']:,} ({rec['offered_rps']:,} requests/s offered), "
                f"{rec['deviation_pct']:+.2f} %; CPU: stubborn x{CLUSTER_INSTANCES} "
                f"{rec['stubborn_cpu_pct']:.0f}%, haproxy {rec['haproxy_cpu_pct']:.0f}%, "
                f"redis-server {rec['redis_cpu_pct']:.0f}%")
        summary = cluster_limit_summary(runs, seconds)
        ctx.summary("cluster", summary)
        worst, ok = summary["worst_deviation_pct"], summary["pass"]
        admitted_text = ", ".join(f"{r['admitted']:,}" for r in runs)
        log(f"[cluster] admitted {admitted_text} of an "
            f"expected {expected:,}; worst deviation {worst:.2f} %: {'PASS' if ok else 'FAIL'}")

        # The limiter's cost: a limit no request reaches, so every reply is a 200 and each one
        # asked the limiter; one instance with it in Redis, one with it local, same load.
        high = 100_000_000
        local_toml = ctx.tmp / "limited-local.toml"
        local_toml.write_text(cluster_config(redis.port, "", high, high, False))
        redis_toml = ctx.tmp / "limited-redis.toml"
        redis_toml.write_text(cluster_config(redis.port, f"bench-{ctx.stamp}-throughput", high,
                                             high, True))
        local = start_stubborn(ctx.stubborn, local_toml, ctx.threads, ctx.tmp, "limited-local")
        shared = start_stubborn(ctx.stubborn, redis_toml, ctx.threads, ctx.tmp, "limited-redis")
        try:
            check_reply(local, "/limited", "ok")
            check_reply(shared, "/limited", "ok")

            def measure(server, path, seconds):
                return run_wrk(ctx, server, path, seconds, "report.lua",
                               upstream=redis if server is shared else None)
            log("[cluster] a rate-limited route, the limiter in Redis vs local, interleaved")
            result = interleaved(ctx, "cluster", [("local-limiter", local, "/limited"),
                                                  ("redis-limiter", shared, "/limited")],
                                 ctx.duration, "report.lua", measure=measure)
        finally:
            shared.stop()
            local.stop()
        loc, red = result["local-limiter"], result["redis-limiter"]
        ctx.summary("cluster/local", dict(loc, scenario="cluster", server="local-limiter"))
        red = dict(red, scenario="cluster", server="redis-limiter",
                   redis_cpu_us_per_req=red.get("upstream_cpu_us_per_req"))
        ctx.summary("cluster/redis", red)
        ratio = {"rps_ratio": red["rps"] / loc["rps"],
                 "cpu_ratio": red["cpu_us_per_req"] / loc["cpu_us_per_req"],
                 "p99_ratio": red["p99_us"] / loc["p99_us"] if loc["p99_us"] else None}
        ctx.summary("cluster/ratio", dict(ratio, scenario="cluster"))
        log(f"[cluster] Redis / local limiter: throughput {ratio['rps_ratio']:.3f}x, stubborn "
            f"CPU/req {ratio['cpu_ratio']:.3f}x ({red['cpu_us_per_req']:.2f} vs "
            f"{loc['cpu_us_per_req']:.2f} us), redis-server "
            f"{red['redis_cpu_us_per_req'] or 0:.2f} us/req")
    finally:
        redis.stop()


def cluster_markdown(s):
    c = s.get("cluster")
    if not c:
        return []
    if c.get("skipped"):
        return [f"cluster: skipped: {c['skipped']}", ""]
    out = [f"| cluster: {c['instances']} instances behind HAProxy, {c['requests_per_s']}/s burst "
           f"{c['burst']} in Redis, {c['duration_s']} s | admitted (each run) | expected "
           "| worst deviation | stubborn CPU | haproxy CPU | redis-server CPU |",
           "|---|---:|---:|---:|---:|---:|---:|",
           f"| offered {', '.join(f'{x:,}' for x in c['offered_rps_runs'])} requests/s "
           f"| {', '.join(f'{x:,}' for x in c['admitted_runs'])} | {c['expected']:,} "
           f"| {c['worst_deviation_pct']:.2f} % ({'PASS' if c['pass'] else 'FAIL'}) "
           f"| {c['stubborn_cpu_pct']:.0f}% | {c['haproxy_cpu_pct']:.0f}% "
           f"| {c['redis_cpu_pct']:.0f}% |", ""]
    rows = []
    for key in ("cluster/local", "cluster/redis"):
        r = s.get(key)
        if r:
            redis_cpu = r.get("redis_cpu_us_per_req")
            rows.append(f"| {r['server']} | {fmt_num(r['rps'])} | {fmt_ms_us(r['p50_us'])} "
                        f"| {fmt_ms_us(r['p99_us'])} | {r['cpu_us_per_req']:.2f} "
                        f"| {'-' if redis_cpu is None else f'{redis_cpu:.2f}'} | {r['errors']} |")
    if rows:
        out += ["| rate-limited route, one instance | req/s | p50 | p99 | stubborn CPU us/req "
                "| redis-server CPU us/req | errors |", "|---|---:|---:|---:|---:|---:|---:|"]
        out += rows + [""]
    return out


def run_conn_bench(ctx, port, mode, connections, path, extra=()):
    cmd = [ctx.conn_bench, "--host", HOST, "--port", port, "--mode", mode, "--connections",
           connections, "--path", path] + list(extra)
    return [str(c) for c in cmd]


def scenario_delays(ctx):
    check = subprocess.run([str(ctx.stubborn), "--check", str(ctx.delays_toml)],
                           capture_output=True, text=True, timeout=30)
    if check.returncode != 0:
        reason = (check.stderr or check.stdout).strip().splitlines()
        reason = reason[0] if reason else f"exit {check.returncode}"
        log(f"[delays] skipped: delay not supported yet ({reason})")
        ctx.summary("delays", {"scenario": "delays", "skipped": "delay not supported yet",
                               "check_output": reason})
        return
    for n in DELAY_CONNECTIONS:
        runs = []
        for rep in range(ctx.reps):
            server = start_stubborn(ctx.stubborn, ctx.delays_toml, ctx.threads, ctx.tmp, "delays")
            try:
                wait_quiet(ctx.args.quiet_wait)
                s0 = server.cpu_ticks()
                window = CpuWindow([server])
                fds_before = len(os.listdir(f"/proc/{server.proc.pid}/fd"))
                rss_idle = server.rss_kib()  # before any connection
                client = start_process(
                    run_conn_bench(ctx, server.port, "delays", n, "/delay-1s",
                                   ["--on-time-ms", DELAY_ON_TIME_MS, "--timeout-seconds", 15,
                                    "--wait-go"]),
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                try:
                    connected = json.loads(read_line(client, 90))
                    # The scenario is N connections held open, then N delayed requests: the
                    # requests go out once the server holds every connection (or after
                    # DELAY_ACCEPT_WAIT_S). The client's connects complete in the kernel, before
                    # the server has accepted them; sent at once, the requests raced the tail of
                    # the accept burst, which measured accept speed, not delays (that is the
                    # `connections` scenario's). How many were accepted, and the wait, are kept.
                    wait_start = time.monotonic()
                    while True:
                        accepted = len(os.listdir(f"/proc/{server.proc.pid}/fd")) - fds_before
                        if (accepted >= n
                                or time.monotonic() - wait_start > DELAY_ACCEPT_WAIT_S):
                            break
                        time.sleep(0.005)
                    accept_wait_ms = (time.monotonic() - wait_start) * 1000
                    client.stdin.write("go\n")
                    client.stdin.flush()
                    rec = json.loads(read_line(client, 90))
                    client.wait(timeout=30)
                finally:
                    stop_process(client)
                rec["accepted_at_send"] = accepted
                rec["accept_wait_ms"] = accept_wait_ms
                rec["connect_ms"] = connected["connect_ms"]
                rec["other_cpu_pct"] = window.finish()
                ticks = server.cpu_ticks() - s0
                rec.update(type="run", scenario="delays", server="stubborn", rep=rep + 1,
                           peak_rss_kib=server.hwm_kib(), rss_kib=server.rss_kib(),
                           rss_idle_kib=rss_idle,
                           peak_above_idle_kib=server.hwm_kib() - rss_idle,
                           server_cpu_s=ticks / CLK_TCK,
                           cpu_us_per_req=(ticks / CLK_TCK * 1e6 / rec["replies"]
                                           if rec["replies"] else None))
            finally:
                server.stop()
            ctx.emit(rec)
            runs.append(rec)
            log(f"  [delays] {n:>6} connections run {rep + 1}/{ctx.reps}: on time "
                f"{rec['on_time']}/{n}, p50 {rec['p50_ms']:.1f} ms, p99 {rec['p99_ms']:.1f} ms, "
                f"max {rec['max_ms']:.1f} ms, peak RSS {rec['peak_rss_kib'] / 1024:.1f} MiB "
                f"(accepted {rec['accepted_at_send']} when the requests went out, "
                f"{rec['accept_wait_ms']:.0f} ms after the client's connects; sent in "
                f"{rec['send_ms']:.0f} ms)")
        ctx.summary(f"delays/{n}", {
            "scenario": "delays", "connections": n, "runs": len(runs),
            "on_time_median": median([r["on_time"] for r in runs]),
            "on_time_min": min(r["on_time"] for r in runs),
            "replies_min": min(r["replies"] for r in runs),
            "p50_ms": median([r["p50_ms"] for r in runs]),
            "p99_ms": median([r["p99_ms"] for r in runs]),
            "max_ms": median([r["max_ms"] for r in runs]),
            "max_ms_worst": max(r["max_ms"] for r in runs),
            "peak_rss_kib": median([r["peak_rss_kib"] for r in runs]),
            "peak_rss_kib_max": max(r["peak_rss_kib"] for r in runs),
            "peak_above_idle_kib_max": max(r["peak_above_idle_kib"] for r in runs),
            "cpu_us_per_req": median([r["cpu_us_per_req"] for r in runs]),
            "other_cpu_pct_max": max(r["other_cpu_pct"] for r in runs),
            "send_ms": median([r["send_ms"] for r in runs]),
            "accepted_at_send_min": min(r["accepted_at_send"] for r in runs),
            "accept_wait_ms_max": max(r["accept_wait_ms"] for r in runs),
            "on_time_runs": [r["on_time"] for r in runs],
        })


def read_line(proc, timeout):
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise RuntimeError("conn_bench said nothing in time")
    return proc.stdout.readline()


def hold_idle_connections(ctx, server, label, rep, scenario="connections", client_cmd=None,
                          connect_timeout=60):
    """10,000 keep-alive connections, one request each, then held idle: the server's memory.
    The client is conn_bench's idle mode unless `client_cmd` names another that prints the same
    two JSON lines (stubborn_tls_bench --mode idle)."""
    client = None
    try:
        time.sleep(0.3)
        rss_idle, pss_idle = server.rss_kib(), server.pss_kib()
        s0 = server.cpu_ticks()
        window = CpuWindow([server])
        client = start_process(
            client_cmd or run_conn_bench(ctx, server.port, "idle", IDLE_CONNECTIONS, "/hello",
                                         ["--hold-seconds", 60]),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        holding = json.loads(read_line(client, connect_timeout))
        time.sleep(1.0)  # let the server settle with every connection idle
        rss_held, pss_held = server.rss_kib(), server.pss_kib()
        client.stdin.close()
        final = json.loads(read_line(client, 60))
        client.wait(timeout=30)
        started.remove(client)
        client = None
        ticks = server.cpu_ticks() - s0
        other = window.finish()
        time.sleep(0.5)
        rss_after = server.rss_kib()
    finally:
        if client is not None:
            stop_process(client)
    served = holding["first_ok"] + final["second_ok"]
    return {
        "type": "run", "scenario": scenario, "server": label, "rep": rep + 1,
        "connections": IDLE_CONNECTIONS, "connected": holding["connected"],
        "first_ok": holding["first_ok"], "still_open": final["still_open"],
        "second_ok": final["second_ok"],
        "rss_idle_kib": rss_idle, "rss_held_kib": rss_held, "rss_after_kib": rss_after,
        "pss_idle_kib": pss_idle, "pss_held_kib": pss_held,
        "peak_rss_kib": server.hwm_kib(),
        "kib_per_connection": (rss_held - rss_idle) / IDLE_CONNECTIONS,
        "pss_kib_per_connection": (pss_held - pss_idle) / IDLE_CONNECTIONS,
        "server_cpu_s": ticks / CLK_TCK,
        "cpu_us_per_req": ticks / CLK_TCK * 1e6 / served if served else None,
        "connect_ms": holding["connect_ms"], "other_cpu_pct": other,
        **({"client": {"holding": holding, "final": final}} if client_cmd else {}),
    }


def scenario_connections(ctx):
    labels = ["stubborn"] + (["nginx"] if ctx.nginx and not ctx.args.no_nginx else [])
    runs = {label: [] for label in labels}
    for rep in range(ctx.reps):
        for label in labels:
            if label == "stubborn":
                server = start_stubborn(ctx.stubborn, ctx.bench_toml, ctx.threads, ctx.tmp,
                                        "conns")
            else:
                server = start_nginx(ctx.nginx, ctx.threads, ctx.tmp, ctx.body_file)
            try:
                rec = hold_idle_connections(ctx, server, label, rep)
            finally:
                server.stop()
            ctx.emit(rec)
            runs[label].append(rec)
            log(f"  [connections] {label:<8} run {rep + 1}/{ctx.reps}: idle "
                f"{rec['rss_idle_kib'] / 1024:.1f} MiB RSS ({rec['pss_idle_kib'] / 1024:.1f} PSS), "
                f"{rec['connected']} connections held: {rec['rss_held_kib'] / 1024:.1f} MiB RSS "
                f"({rec['pss_held_kib'] / 1024:.1f} PSS, {rec['pss_kib_per_connection']:.2f} "
                f"KiB each), 2nd request answered on {rec['second_ok']}")
    for label, recs in runs.items():
        key = "connections" if label == "stubborn" else f"connections/{label}"
        ctx.summary(key, {
            "scenario": "connections", "server": label, "connections": IDLE_CONNECTIONS,
            "runs": len(recs),
            "rss_idle_kib": median([r["rss_idle_kib"] for r in recs]),
            "rss_held_kib": median([r["rss_held_kib"] for r in recs]),
            "rss_held_kib_max": max(r["rss_held_kib"] for r in recs),
            "pss_idle_kib": median([r["pss_idle_kib"] for r in recs]),
            "pss_held_kib": median([r["pss_held_kib"] for r in recs]),
            "peak_rss_kib": median([r["peak_rss_kib"] for r in recs]),
            "rss_after_kib": median([r["rss_after_kib"] for r in recs]),
            "kib_per_connection": median([r["kib_per_connection"] for r in recs]),
            "pss_kib_per_connection": median([r["pss_kib_per_connection"] for r in recs]),
            "second_ok_min": min(r["second_ok"] for r in recs),
            "cpu_us_per_req": median([r["cpu_us_per_req"] for r in recs]),
            "other_cpu_pct_max": max(r["other_cpu_pct"] for r in recs),
        })


# ---- held streams and WebSocket echo -------------------------------------------------------------
#
# ws-held and sse-held: STREAM_CONNECTIONS streams held open on a fresh stubborn per run, each
# receiving one message every STREAM_INTERVAL_MS; benchmarks/stream_bench.cpp times every message
# against its schedule for STREAM_SECONDS and the runner reads the server's memory with all of
# them open. ws-echo: STREAM_ECHO_CONNECTIONS connections sending a message and waiting for it to
# come back, in a loop, against stubborn and against peer echo servers, interleaved.

def stream_configs_needed(ctx):
    """The stream scenarios' configs, written once (like delays_config, into the temp folder)."""
    if ctx.ws_held_toml is None:
        ctx.ws_held_toml = ctx.tmp / "ws-held.toml"
        ctx.ws_held_toml.write_text(ws_held_config())
        ctx.sse_held_toml = ctx.tmp / "sse-held.toml"
        ctx.sse_held_toml.write_text(sse_held_config())
        ctx.ws_echo_toml = ctx.tmp / "ws-echo.toml"
        ctx.ws_echo_toml.write_text(ws_echo_config())


def unsupported(ctx, config):
    """Why `stubborn --check config` rejects it (a key this build does not know), or None."""
    check = subprocess.run([str(ctx.stubborn), "--check", str(config)], capture_output=True,
                           text=True, timeout=30)
    if check.returncode == 0:
        return None
    reason = (check.stderr or check.stdout).strip().splitlines()
    return repo_relative(reason[0] if reason else f"exit {check.returncode}")


def stream_bench_command(ctx, port, mode, connections, path, extra=()):
    return [str(c) for c in [ctx.stream_bench, "--host", HOST, "--port", port, "--mode", mode,
                             "--connections", connections, "--path", path] + list(extra)]


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def hold_streams(ctx, server, scenario, rep):
    """One run of ws-held or sse-held against `server` (fresh, idle): the client's figures, the
    server's memory with every stream open, its CPU over the measured window."""
    mode, path = ("ws-held", STREAM_WS_PATH) if scenario == "ws-held" else \
        ("sse-held", STREAM_SSE_PATH)
    client = None
    try:
        time.sleep(0.3)
        rss_idle, pss_idle = server.rss_kib(), server.pss_kib()
        fds_idle = fd_count(server.proc.pid)
        window = CpuWindow([server])
        client = start_process(
            stream_bench_command(ctx, server.port, mode, STREAM_CONNECTIONS, path,
                                 ["--interval-ms", STREAM_INTERVAL_MS, "--seconds",
                                  STREAM_SECONDS, "--late-ms", STREAM_LATE_MS,
                                  "--hold-seconds", 120]),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        holding = json.loads(read_line(client, 150))
        s0 = server.cpu_ticks()  # the client's window starts now
        rss_open = server.rss_kib()  # every stream open; their first messages on their way
        final = json.loads(read_line(client, STREAM_SECONDS + 60))
        s1 = server.cpu_ticks()
        rss_held, pss_held = server.rss_kib(), server.pss_kib()
        threads = status_kib(server.proc.pid, "Threads")
        fds_held = fd_count(server.proc.pid)
        client.stdin.close()
        client.wait(timeout=30)
        started.remove(client)
        client = None
        other = window.finish()
        time.sleep(0.5)
        rss_after = server.rss_kib()
    finally:
        if client is not None:
            stop_process(client)
    open_ = final["open"]
    seconds = final["seconds"]
    window_cpu_s = (s1 - s0) / CLK_TCK
    return dict(final, **{
        "type": "run", "scenario": scenario, "server": "stubborn", "rep": rep + 1,
        "failed": holding["failed"],
        "rss_idle_kib": rss_idle, "rss_open_kib": rss_open, "rss_held_kib": rss_held,
        "rss_after_kib": rss_after, "pss_idle_kib": pss_idle, "pss_held_kib": pss_held,
        "peak_rss_kib": server.hwm_kib(),
        "kib_per_connection": (rss_held - rss_idle) / open_ if open_ else None,
        "pss_kib_per_connection": (pss_held - pss_idle) / open_ if open_ else None,
        "threads": threads, "fds_idle": fds_idle, "fds_held": fds_held,
        "server_cpu_s": round(window_cpu_s, 3),
        "server_cpu_pct": round(100.0 * window_cpu_s / seconds, 1) if seconds else None,
        "cpu_us_per_msg": window_cpu_s * 1e6 / final["messages"] if final["messages"] else None,
        "other_cpu_pct": other,
    })


def scenario_held(ctx, scenario):
    """ws-held or sse-held: a fresh stubborn per run, STREAM_CONNECTIONS streams held on it."""
    stream_configs_needed(ctx)
    config = ctx.ws_held_toml if scenario == "ws-held" else ctx.sse_held_toml
    reason = unsupported(ctx, config)
    if reason:
        log(f"[{scenario}] skipped: this stubborn does not take the config ({reason})")
        ctx.summary(scenario, {"scenario": scenario, "skipped": "not supported by this build",
                               "check_output": reason})
        return
    what = "WebSocket connections" if scenario == "ws-held" else "event streams"
    log(f"[{scenario}] {STREAM_CONNECTIONS:,} {what}, one message each per "
        f"{STREAM_INTERVAL_MS} ms, {STREAM_SECONDS} s measured, {ctx.stream_reps} run(s)")
    runs = []
    for rep in range(ctx.stream_reps):
        while True:
            waited, busy = wait_quiet(ctx.args.quiet_wait)
            server = start_stubborn(ctx.stubborn, config, ctx.threads, ctx.tmp, scenario)
            try:
                rec = hold_streams(ctx, server, scenario, rep)
            finally:
                server.stop()
            rec.update(waited_for_quiet_s=waited, busy_before_pct=busy)
            if rec["other_cpu_pct"] > ctx.args.max_other_load and retry_budget[0] > 0:
                # As for wrk runs: a run another process took CPU from is kept, marked, and
                # run again (lateness is what a busy machine shows first).
                retry_budget[0] -= 1
                rec["discarded"] = f"other processes used {rec['other_cpu_pct']:.0f}% of the " \
                    "CPU; run again"
                ctx.emit(rec)
                log(f"  [{scenario}] run {rep + 1}/{ctx.stream_reps}: other load "
                    f"{rec['other_cpu_pct']:.0f}% (lateness p99 {rec['lateness_p99_ms']:.1f} ms)"
                    " -> discarded, again")
                continue
            break
        ctx.emit(rec)
        runs.append(rec)
        log(f"  [{scenario}] run {rep + 1}/{ctx.stream_reps}: {rec['alive']:,}/"
            f"{rec['connections']:,} held (open in {rec['connect_ms'] / 1000:.1f} s); "
            f"{rec['messages']:,} messages of {rec['expected']:,} due in the window, "
            f"{rec['missing']} missing, {rec['late']} more than {STREAM_LATE_MS} ms late; "
            f"lateness p50 {rec['lateness_p50_ms']:.1f} ms, p99 {rec['lateness_p99_ms']:.1f} ms, "
            f"max {rec['lateness_max_ms']:.1f} ms; RSS {rec['rss_held_kib'] / 1024:.1f} MiB "
            f"(peak {rec['peak_rss_kib'] / 1024:.1f}, {rec['kib_per_connection']:.2f} KiB per "
            f"stream), {rec['threads']} threads; server CPU {rec['server_cpu_pct']:.0f}% of a "
            f"core, {fmt_num(rec['cpu_us_per_msg'], 1)} us/message (other load "
            f"{rec['other_cpu_pct']:.0f}%)")
    ctx.summary(scenario, held_summary(scenario, runs))


def held_summary(scenario, runs):
    """ws-held or sse-held over its runs (hold_streams' records): medians, and the worst run
    where a target is judged."""
    return {
        "scenario": scenario, "server": "stubborn", "connections": runs[0]["connections"],
        "interval_ms": runs[0]["interval_ms"], "seconds": STREAM_SECONDS,
        "late_ms": runs[0]["late_ms"], "runs": len(runs),
        "alive_min": min(r["alive"] for r in runs),
        "messages": median([r["messages"] for r in runs]),
        "expected": median([r["expected"] for r in runs]),
        "missing_max": max(r["missing"] for r in runs),
        "late_max": max(r["late"] for r in runs),
        "early_max": max(r["early"] for r in runs),
        "lateness_p50_ms": median([r["lateness_p50_ms"] for r in runs]),
        "lateness_p99_ms": median([r["lateness_p99_ms"] for r in runs]),
        "lateness_p99_ms_max": max(r["lateness_p99_ms"] for r in runs),
        "lateness_max_ms": max(r["lateness_max_ms"] for r in runs),
        "connect_ms": median([r["connect_ms"] for r in runs]),
        "rss_idle_kib": median([r["rss_idle_kib"] for r in runs]),
        "rss_held_kib": median([r["rss_held_kib"] for r in runs]),
        "pss_held_kib": median([r["pss_held_kib"] for r in runs]),
        "peak_rss_kib": median([r["peak_rss_kib"] for r in runs]),
        "peak_rss_kib_max": max(r["peak_rss_kib"] for r in runs),
        "rss_after_kib": median([r["rss_after_kib"] for r in runs]),
        "kib_per_connection": median([r["kib_per_connection"] for r in runs]),
        "threads_max": max(r["threads"] for r in runs),
        "server_cpu_pct": median([r["server_cpu_pct"] for r in runs]),
        "cpu_us_per_msg": median([r["cpu_us_per_msg"] for r in runs]),
        "other_cpu_pct_max": max(r["other_cpu_pct"] for r in runs),
        "lateness_p99_ms_runs": [r["lateness_p99_ms"] for r in runs],
        "peak_rss_kib_runs": [r["peak_rss_kib"] for r in runs],
    }


class PeerServer(Server):
    """An echo server of another make: its process and the workers it forked."""

    def pids(self):
        return [self.proc.pid] + child_pids(self.proc.pid)


def debian_python_websockets():
    """What Debian's python3 and its `websockets` are, or None when it cannot import it."""
    try:
        out = subprocess.run([DEBIAN_PYTHON, "-c", "import platform, websockets; print("
                              "websockets.__version__, platform.python_version())"],
                             capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    if out.returncode != 0:
        return None
    ws, python = out.stdout.split()
    return f"websockets {ws}, Python {python}, one process"


def node_ws_ready(ctx):
    """Node's `ws` in build-bench/npm, installed there with npm when missing (never committed).
    Returns (NODE_PATH, ws version) or (None, why not)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        return None, "node or npm is not installed"
    modules = NPM_PREFIX / "node_modules"
    package = modules / "ws" / "package.json"
    if not package.exists():
        NPM_PREFIX.mkdir(parents=True, exist_ok=True)
        cmd = [npm, "install", "--prefix", str(NPM_PREFIX), "--no-save", "--no-package-lock",
               "--no-audit", "--no-fund", f"ws@{NODE_WS_VERSION}"]
        log("  " + repo_relative(" ".join(cmd)))
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            return None, "npm install ws timed out"
        if out.returncode != 0 or not package.exists():
            lines = (out.stderr or out.stdout).strip().splitlines()
            return None, "npm install ws failed: " + (lines[-1] if lines else f"exit "
                                                       f"{out.returncode}")
    version = json.loads(package.read_text()).get("version")
    return modules, version


def start_peer(ctx, label, tag):
    """A peer echo server on an ephemeral port of 127.0.0.1: Python websockets or Node ws."""
    port_file = ctx.tmp / f"port-{tag}"
    log_path = ctx.tmp / f"{tag}.log"
    if port_file.exists():
        port_file.unlink()
    env = None
    if label == "python-websockets":
        cmd = [DEBIAN_PYTHON, BENCH / "ws_echo_peer.py", "--port-file", port_file]
    else:
        cmd = [shutil.which("node"), BENCH / "ws_echo_peer.mjs", "--port-file", port_file,
               "--workers", ctx.threads]
        env = dict(os.environ, NODE_PATH=str(ctx.node_path))
    with open(log_path, "w") as out:
        proc = start_process(cmd, stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        text = port_file.read_text().strip() if port_file.exists() else ""
        if text:
            return PeerServer(label, proc, int(text), log_path)
        time.sleep(0.01)
    stop_process(proc)
    raise RuntimeError(f"{label} did not start: {Path(log_path).read_text(errors='replace')}")


def run_echo(ctx, server, path, seconds):
    """stubborn_stream_bench --mode ws-echo for `seconds`: a record shaped like run_wrk's (one
    message and its echo counted as one request), RTTs as the latencies."""
    cmd = stream_bench_command(ctx, server.port, "ws-echo", STREAM_ECHO_CONNECTIONS, path,
                               ["--seconds", seconds, "--size", STREAM_ECHO_SIZE,
                                "--hold-seconds", 0])
    out, cpu = measured_client(server, cmd, seconds + 60)
    line = next((l for l in out.stdout.splitlines() if l.startswith('{"mode"')), None)
    if line is None:
        raise RuntimeError(f"stubborn_stream_bench failed ({out.returncode}): "
                           f"{out.stderr.strip()} {out.stdout}" + server_gone(server))
    e = json.loads(line)
    w = {"requests": e["messages"], "duration_us": e["seconds"] * 1e6,
         "bytes": e["messages"] * (STREAM_ECHO_SIZE + 2), "lat_method": "client",
         "errors_closed": e["connections"] - e["alive"]}
    for key, name in (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p999"),
                      ("max", "max")):
        w[f"lat_{name}_us"] = e[f"rtt_{key}_ms"] * 1000
    w["lat_mean_us"] = None
    rec = load_record(w, cpu, cmd)
    rec.update(messages_per_s=e["messages_per_s"], rtt_min_us=e["rtt_min_ms"] * 1000,
               connections=e["connections"], size=e["size"])
    return rec


def scenario_ws_echo(ctx):
    """Echo throughput on STREAM_ECHO_CONNECTIONS connections: stubborn against the peers,
    interleaved (A B C, C B A, ...) with a 1 s warm-up each, like the wrk scenarios."""
    stream_configs_needed(ctx)
    reason = unsupported(ctx, ctx.ws_echo_toml)
    if reason:
        log(f"[ws-echo] skipped: this stubborn does not take the config ({reason})")
        ctx.summary("ws-echo", {"scenario": "ws-echo", "skipped": "not supported by this build",
                                "check_output": reason})
        return
    peers, notes = [], {}
    python_peer = debian_python_websockets()
    if python_peer:
        peers.append("python-websockets")
        notes["python-websockets"] = python_peer
    else:
        notes["python-websockets"] = f"{DEBIAN_PYTHON} cannot import websockets " \
            "(apt-get install python3-websockets)"
    ctx.node_path, why = node_ws_ready(ctx)
    if ctx.node_path:
        peers.append("node-ws")
        node_version = subprocess.run(["node", "--version"], capture_output=True,
                                      text=True).stdout.strip()
        notes["node-ws"] = f"ws {why}, node {node_version}, {ctx.threads} worker(s)"
    else:
        notes["node-ws"] = f"not run: {why}"
    for label, note in notes.items():
        log(f"[ws-echo] {label}: {note}")
    servers = {"stubborn": start_stubborn(ctx.stubborn, ctx.ws_echo_toml, ctx.threads, ctx.tmp,
                                          "ws-echo")}
    try:
        for label in peers:
            servers[label] = start_peer(ctx, label, f"peer-{label}")
        contenders = [(label, server, STREAM_ECHO_PATH if label == "stubborn" else "/")
                      for label, server in servers.items()]
        log(f"[ws-echo] {STREAM_ECHO_CONNECTIONS} connections, {STREAM_ECHO_SIZE}-byte text "
            f"messages, closed loop, {ctx.duration} s, {ctx.stream_reps} runs each, interleaved: "
            + ", ".join(label for label, _, _ in contenders))
        saved = ctx.reps
        ctx.reps = ctx.stream_reps
        try:
            result = interleaved(ctx, "ws-echo", contenders, ctx.duration, None,
                                 measure=lambda server, path, seconds:
                                 run_echo(ctx, server, path, seconds))
        finally:
            ctx.reps = saved
    finally:
        for server in servers.values():
            server.stop()
    record_echo(ctx, result, peers, notes)


def record_echo(ctx, result, peers, notes):
    """ws-echo's summaries: each server's (summarise_wrk of its runs), and stubborn against each
    peer (`ws-echo/ratio`): the ratio of the medians and the median of the pair ratios."""
    for label, summary in result.items():
        ctx.summary(f"ws-echo/{label}", dict(summary, scenario="ws-echo", server=label,
                                             connections=STREAM_ECHO_CONNECTIONS,
                                             size=STREAM_ECHO_SIZE,
                                             **({"peer": notes[label]} if label in notes
                                                else {})))
    s = result["stubborn"]
    ratio = {"scenario": "ws-echo", "peers": peers, "peer_notes": notes}
    for label in peers:
        p = result[label]
        pairs = [a / b for a, b in zip(s["rps_runs"], p["rps_runs"]) if b]
        cpu_pairs = [a / b for a, b in zip(s["cpu_us_per_req_runs"], p["cpu_us_per_req_runs"])
                     if a is not None and b]
        ratio[label] = {
            "rate_ratio": s["rps"] / p["rps"] if p["rps"] else None,
            "pair_rate_ratio_median": median(pairs),
            "cpu_ratio": (s["cpu_us_per_req"] / p["cpu_us_per_req"]
                          if p["cpu_us_per_req"] else None),
            "pair_cpu_ratio_median": median(cpu_pairs),
        }
        log(f"[ws-echo] stubborn / {label}: messages/s {fmt_ratio(ratio[label]['rate_ratio'])} "
            f"(pairs {fmt_ratio(ratio[label]['pair_rate_ratio_median'])}), CPU per message "
            f"{fmt_ratio(ratio[label]['cpu_ratio'])}")
    ctx.summary("ws-echo/ratio", ratio)


# ---- proxy ---------------------------------------------------------------------------------------
#
# One upstream nginx serves /hello (the same reply as the `hello` scenario's nginx, with
# stub_status for its own counts); in front of it, stubborn with a proxy route and nginx with
# proxy_pass and upstream keep-alive, both with ctx.threads threads / workers. The three are
# started once for both proxy scenarios.

def proxy_config(upstream_port):
    return f"""# generated by benchmarks/run.py: /hello forwarded to the upstream nginx
[server]
listen = "{HOST}:0"

[admin]
journal = 0

[[route]]
name = "proxy-hello"
method = "GET"
path = "/hello"
[route.proxy]
to = "http://{HOST}:{upstream_port}"
"""


def nginx_status(server):
    """nginx's stub_status counters (`accepts`, `handled`, `requests`, `active`); the request
    that reads them is counted in them (one connection, one request)."""
    status, _, body = http_get(server.port, NGINX_STATUS_PATH)
    lines = body.decode(errors="replace").splitlines()
    if status != 200 or len(lines) < 3:
        raise RuntimeError(f"{server.name} {NGINX_STATUS_PATH}: status {status}, {body[:80]!r}")
    accepts, handled, requests = (int(x) for x in lines[2].split()[:3])
    return {"active": int(lines[0].split(":")[1]), "accepts": accepts, "handled": handled,
            "requests": requests}


def counted_upstream(upstream, measure):
    """`measure` with the upstream's own counts of the run added to its record: the connections
    it accepted and the requests it served (its stub_status before and after, less the reading's
    own connection and request)."""
    def counted(server, path, seconds):
        before = nginx_status(upstream)
        rec = measure(server, path, seconds)
        after = nginx_status(upstream)
        rec["upstream_accepts"] = after["accepts"] - before["accepts"] - 1
        rec["upstream_requests"] = after["requests"] - before["requests"] - 1
        return rec
    return counted


def stubborn_proxy_metrics(server):
    """The `stubborn_proxy_*` lines of stubborn's /__admin/metrics: {name{labels}: value}."""
    status, _, body = http_get(server.port, "/__admin/metrics")
    if status != 200:
        return {}
    counts = {}
    for line in body.decode(errors="replace").splitlines():
        if line.startswith("stubborn_proxy"):
            name, _, value = line.rpartition(" ")
            try:
                counts[name] = float(value)
            except ValueError:
                continue
    return counts


def proxy_servers(ctx, servers):
    """The upstream and the two proxies in `servers` ("upstream", "stubborn-proxy",
    "nginx-proxy"), started on first use; None when the proxy scenarios cannot run (the reason
    is in ctx.proxy_skipped)."""
    if ctx.proxy_skipped:
        return None
    if "upstream" in servers:
        return servers
    if not ctx.nginx or ctx.args.no_nginx:
        ctx.proxy_skipped = "nginx is not available (the upstream is nginx)"
        return None
    upstream = start_nginx(ctx.nginx, ctx.threads, ctx.tmp, ctx.body_file, name="nginx-upstream",
                           status=True)
    servers["upstream"] = upstream
    ctx.proxy_toml.write_text(proxy_config(upstream.port))
    check = subprocess.run([str(ctx.stubborn), "--check", str(ctx.proxy_toml)],
                           capture_output=True, text=True, timeout=30)
    if check.returncode != 0:
        reason = (check.stderr or check.stdout).strip().splitlines()
        reason = reason[0].replace(str(ctx.tmp) + "/", "") if reason else \
            f"exit {check.returncode}"
        ctx.proxy_skipped = f"proxy routes not supported yet (`stubborn --check`: {reason})"
        upstream.stop()
        del servers["upstream"]
        return None
    servers["stubborn-proxy"] = start_stubborn(ctx.stubborn, ctx.proxy_toml, ctx.threads, ctx.tmp,
                                               "proxy")
    servers["nginx-proxy"] = start_nginx(ctx.nginx, ctx.threads, ctx.tmp, ctx.body_file,
                                         name="nginx-proxy", proxy_to=upstream.port)
    log(f"[proxy] upstream nginx on port {upstream.port} ({ctx.threads} workers, stub_status); "
        f"stubborn's proxy route on {servers['stubborn-proxy'].port}, nginx's proxy_pass "
        f"(keepalive {UPSTREAM_KEEPALIVE}) on {servers['nginx-proxy'].port}")
    return servers


def skip_proxy(ctx, name):
    log(f"[{name}] skipped: {ctx.proxy_skipped}")
    ctx.summary(name, {"scenario": name, "skipped": ctx.proxy_skipped})


def scenario_proxy_hello(ctx, servers):
    """wrk -> a proxy -> the upstream nginx's /hello: stubborn's proxy route against nginx's
    proxy_pass, interleaved as `hello`; each proxy's CPU, and the upstream's apart."""
    px = proxy_servers(ctx, servers)
    if not px:
        skip_proxy(ctx, "proxy-hello")
        return
    upstream = px["upstream"]
    contenders = [("stubborn", px["stubborn-proxy"], "/hello"),
                  ("nginx", px["nginx-proxy"], "/hello")]
    heads = {label: check_reply(server, path, HELLO_BODY) for label, server, path in contenders}
    log(f"[proxy-hello] /hello through each proxy to the upstream: reply head bytes {heads}; "
        f"wrk -t{ctx.wrk_threads} -c{WRK_CONNECTIONS} -d{ctx.duration}s, {ctx.reps} runs each, "
        "interleaved")
    measure = counted_upstream(upstream, lambda server, path, seconds: run_wrk(
        ctx, server, path, seconds, "report.lua", upstream=upstream))
    result = interleaved(ctx, "proxy-hello", contenders, ctx.duration, None, measure=measure)
    for label, summary in result.items():
        summary["head_bytes"] = heads[label]
        ctx.summary(f"proxy-hello/{label}", dict(summary, scenario="proxy-hello", server=label))
        log(f"[proxy-hello] {label}: upstream CPU {summary['upstream_cpu_us_per_req']:.2f} us/req; "
            f"the upstream accepted {summary['upstream_accepts']:,} connections and served "
            f"{summary['upstream_requests']:,} requests for {summary['client_requests']:,} "
            "client requests")
    record_ratio(ctx, "proxy-hello", result,
                 {"stubborn_proxy_metrics": stubborn_proxy_metrics(px["stubborn-proxy"])})


def run_latency(ctx, server, path, seconds, upstream=None):
    """stubborn_latency_bench: one connection, one request at a time, for `seconds`. A record
    like run_wrk's, with the client's exact percentiles (microseconds, to 0.1 us)."""
    cmd = [str(c) for c in [ctx.latency_bench, "--host", HOST, "--port", server.port, "--path",
                            path, "--duration", seconds]]
    out, cpu = measured_client(server, cmd, seconds + 60, upstream)
    line = next((l for l in out.stdout.splitlines() if l.startswith("{")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"stubborn_latency_bench failed ({out.returncode}): "
                           f"{out.stderr.strip()} {out.stdout}" + server_gone(server))
    w = json.loads(line)
    rec = load_record(w, cpu, cmd)
    rec["min_us"] = w["lat_min_us"]
    return rec


def scenario_proxy_latency(ctx, servers):
    """The latency a proxy adds at low load: the upstream's /hello direct, through stubborn's
    proxy route and through nginx's proxy_pass, one connection and one request at a time,
    interleaved (A B C, C B A, ...)."""
    px = proxy_servers(ctx, servers)
    if not px:
        skip_proxy(ctx, "proxy-latency")
        return
    upstream = px["upstream"]
    contenders = [("direct", upstream, "/hello"), ("stubborn", px["stubborn-proxy"], "/hello"),
                  ("nginx", px["nginx-proxy"], "/hello")]
    for _, server, path in contenders:
        check_reply(server, path, HELLO_BODY)
    seconds = min(ctx.duration, LATENCY_MAX_DURATION)
    log(f"[proxy-latency] /hello direct, through stubborn, through nginx: stubborn_latency_bench, "
        f"one connection, one request at a time, {seconds}s, {ctx.reps} runs each, interleaved")
    measure = counted_upstream(upstream, lambda server, path, secs: run_latency(
        ctx, server, path, secs, None if server is upstream else upstream))
    result = interleaved(ctx, "proxy-latency", contenders, seconds, None, measure=measure)
    for label, summary in result.items():
        ctx.summary(f"proxy-latency/{label}", dict(summary, scenario="proxy-latency",
                                                   server=label))
    added = added_latency(result, seconds)
    ctx.summary("proxy-latency/added", added)
    d = result["direct"]
    for label in ("stubborn", "nginx"):
        log(f"[proxy-latency] {label} adds p50 {added[f'{label}_p50_us']:.1f} us (pairs "
            f"{added[f'pair_{label}_p50_us']:.1f}), p99 {added[f'{label}_p99_us']:.1f} us over "
            f"direct (p50 {d['p50_us']:.1f} us, p99 {d['p99_us']:.1f} us)")


def added_latency(result, seconds):
    """The `proxy-latency/added` summary from the three summaries (direct, stubborn, nginx):
    for each proxy, its p50 and p99 less the direct ones, as the difference of the medians and
    as the median of the differences of neighbouring runs (run k of each, as for the throughput
    ratios)."""
    d = result["direct"]
    added = {"scenario": "proxy-latency", "duration_s": seconds}
    for label in ("stubborn", "nginx"):
        x = result[label]
        for key in ("p50_us", "p99_us"):
            added[f"{label}_{key}"] = x[key] - d[key]
            pairs = [a - b for a, b in zip(x[key + "_runs"], d[key + "_runs"])]
            added[f"{label}_{key}_pairs"] = [round(v, 1) for v in pairs]
            added[f"pair_{label}_{key}"] = median(pairs)
    return added


# ---- HTTPS ---------------------------------------------------------------------------------------

def make_certificate(tmp):
    """One EC P-256 certificate (self-signed, for localhost and 127.0.0.1) and its key, made for
    the run with the openssl program and given to both servers: (certificate, key)."""
    openssl = shutil.which("openssl")
    if not openssl:
        raise SystemExit("the HTTPS scenarios need the openssl program (apt-get install openssl)")
    cert, key = tmp / "tls-cert.pem", tmp / "tls-key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-noenc", "-keyout", str(key), "-out",
                    str(cert), "-days", "7", "-subj", f"/CN={TLS_SNI}", "-addext",
                    f"subjectAltName=DNS:{TLS_SNI},IP:{HOST}"],
                   check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o600)
    os.chmod(cert, 0o644)
    return cert, key


def tls_config(body_file, cert, key):
    """bench.toml's replies over HTTPS only: TLS 1.3, the run's certificate and key."""
    return bench_config(body_file).replace(
        f'[server]\nlisten = "{HOST}:0"\n',
        f'[server]\nlisten = ""\n\n[server.tls]\nlisten = "{HOST}:0"\ncert = "{cert.name}"\n'
        f'key = "{key.name}"\nmin_version = "1.3"\n')


def ensure_tls(ctx):
    """The certificate and stubborn's HTTPS config, made once per run."""
    if ctx.tls_cert is None:
        ctx.tls_cert, ctx.tls_key = make_certificate(ctx.tmp)
        ctx.tls_toml = ctx.tmp / "bench-tls.toml"
        ctx.tls_toml.write_text(tls_config(ctx.body_file.name, ctx.tls_cert, ctx.tls_key))
        fingerprint = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256",
                                      "-in", str(ctx.tls_cert)], capture_output=True, text=True)
        log(f"[https] one EC P-256 certificate for both servers: "
            f"{fingerprint.stdout.strip() or ctx.tls_cert.name}")


def start_tls_server(ctx, label, tag):
    ensure_tls(ctx)
    if label == "stubborn":
        return start_stubborn(ctx.stubborn, ctx.tls_toml, ctx.threads, ctx.tmp, tag, tls=True)
    return start_nginx(ctx.nginx, ctx.threads, ctx.tmp, ctx.body_file,
                       tls=(ctx.tls_cert, ctx.tls_key))


def tls_labels(ctx):
    return ["stubborn"] + (["nginx"] if ctx.nginx and not ctx.args.no_nginx else [])


def negotiated(ctx, server):
    """What a TLS 1.3 client and the server agree on (one connection of stubborn_tls_bench), and
    how many session tickets the server sends per handshake."""
    h = run_tls_handshakes(ctx, server, "/hello", 0.3, connections=1, threads=1)
    return {k: h[k] for k in ("protocol", "cipher", "group", "alpn")} | {
        "tickets_per_handshake": h["tickets"] / h["handshakes"] if h["handshakes"] else None}


def stubborn_tls_handshakes(server):
    """stubborn's own count of TLS handshakes by result, from /__admin/metrics (over TLS)."""
    status, _, body = http_get(server.port, "/__admin/metrics", tls=True)
    counts = {}
    if status != 200:
        return counts
    for line in body.decode(errors="replace").splitlines():
        if line.startswith("stubborn_tls_handshakes_total{"):
            labels, _, value = line.rpartition(" ")
            # {result="failed",reason="eof"} -> "failed eof"
            key = " ".join(part.split("=", 1)[1].strip('"') for part in
                           labels[labels.index("{") + 1:labels.rindex("}")].split(","))
            counts[key] = counts.get(key, 0) + int(float(value))
    return counts


def scenario_https(ctx, tls_servers, name):
    """https-hello (wrk, keep-alive) or https-handshakes (stubborn_tls_bench, a new connection
    and a full handshake per request), stubborn and nginx interleaved as for hello."""
    contenders = [(label, tls_servers[label], "/hello") for label in tls_labels(ctx)]
    info = {}
    for label, server, path in contenders:
        check_reply(server, path, HELLO_BODY)
        info[label] = negotiated(ctx, server)
        log(f"[{name}] {label}: {info[label]}")
    stubborn = tls_servers["stubborn"]
    before = stubborn_tls_handshakes(stubborn)
    label_of = {server.port: label for label, server, _ in contenders}
    client = {label: {"handshakes": 0, "resumed": 0} for label in label_of.values()}

    def measure(server, path, seconds):
        rec = run_tls_handshakes(ctx, server, path, seconds)
        for key in ("handshakes", "resumed"):
            client[label_of[server.port]][key] += rec[key]
        return rec

    if name == "https-hello":
        log(f"[{name}] wrk -t{ctx.wrk_threads} -c{WRK_CONNECTIONS} -d{ctx.duration}s over TLS "
            f"1.3, keep-alive, {ctx.reps} runs each, interleaved")
        result = interleaved(ctx, name, contenders, ctx.duration, "report.lua")
    else:
        log(f"[{name}] stubborn_tls_bench --mode handshakes --connections {HANDSHAKE_CONNECTIONS} "
            f"--threads {HANDSHAKE_CLIENT_THREADS} --duration {ctx.duration}: a new connection "
            f"and a full handshake per request, {ctx.reps} runs each, interleaved")
        result = interleaved(ctx, name, contenders, ctx.duration, None, measure=measure)
    after = stubborn_tls_handshakes(stubborn)
    for label, summary in result.items():
        summary["negotiated"] = info[label]
        if name == "https-handshakes":
            # The client never offers a session: every handshake is a full one, on both
            # servers; its own count of resumed handshakes (warm-ups included) shows it.
            summary["client_handshakes"] = client[label]["handshakes"]
            summary["client_resumed"] = client[label]["resumed"]
        ctx.summary(f"{name}/{label}", dict(summary, scenario=name, server=label))
    ratio_extra = {"stubborn_handshakes": {k: after.get(k, 0) - before.get(k, 0)
                                           for k in sorted(set(before) | set(after))}}
    if "nginx" in result:
        record_ratio(ctx, name, result, ratio_extra)
    log(f"[{name}] stubborn's handshake counts over the scenario (warm-ups and probes included): "
        f"{ratio_extra['stubborn_handshakes']}")


def scenario_https_idle(ctx):
    """10,000 TLS connections, each with a full handshake and one request, then held idle: RSS
    of each server (a fresh one per run), stubborn and nginx alternating."""
    ensure_tls(ctx)
    labels = tls_labels(ctx)
    runs = {label: [] for label in labels}
    for rep in range(ctx.reps):
        for label in (labels if rep % 2 == 0 else list(reversed(labels))):
            wait_quiet(ctx.args.quiet_wait)
            server = start_tls_server(ctx, label, "https-idle")
            try:
                cmd = tls_bench_command(ctx, server, "idle", IDLE_CONNECTIONS,
                                        ["--path", "/hello", "--hold-seconds", 60,
                                         "--connect-parallel", TLS_IDLE_PARALLEL])
                rec = hold_idle_connections(ctx, server, label, rep, "https-idle", cmd,
                                            connect_timeout=150)
            finally:
                server.stop()
            ctx.emit(rec)
            runs[label].append(rec)
            held = rec["client"]["holding"]
            log(f"  [https-idle] {label:<8} run {rep + 1}/{ctx.reps}: idle "
                f"{rec['rss_idle_kib'] / 1024:.1f} MiB RSS ({rec['pss_idle_kib'] / 1024:.1f} PSS), "
                f"{rec['connected']} TLS connections held (handshakes in "
                f"{held['connect_ms'] / 1000:.1f} s, {held['first_resumed']} resumed): "
                f"{rec['rss_held_kib'] / 1024:.1f} MiB RSS ({rec['pss_held_kib'] / 1024:.1f} PSS, "
                f"{rec['kib_per_connection']:.2f} KiB RSS each), 2nd request answered on "
                f"{rec['second_ok']}")
    summaries = {}
    for label, recs in runs.items():
        summaries[label] = {
            "scenario": "https-idle", "server": label, "connections": IDLE_CONNECTIONS,
            "runs": len(recs),
            "rss_idle_kib": median([r["rss_idle_kib"] for r in recs]),
            "rss_held_kib": median([r["rss_held_kib"] for r in recs]),
            "rss_held_kib_max": max(r["rss_held_kib"] for r in recs),
            "pss_idle_kib": median([r["pss_idle_kib"] for r in recs]),
            "pss_held_kib": median([r["pss_held_kib"] for r in recs]),
            "peak_rss_kib": median([r["peak_rss_kib"] for r in recs]),
            "rss_after_kib": median([r["rss_after_kib"] for r in recs]),
            "kib_per_connection": median([r["kib_per_connection"] for r in recs]),
            "pss_kib_per_connection": median([r["pss_kib_per_connection"] for r in recs]),
            "connected_min": min(r["connected"] for r in recs),
            "second_ok_min": min(r["second_ok"] for r in recs),
            "handshake_s": median([r["client"]["holding"]["connect_ms"] / 1000 for r in recs]),
            "resumed": sum(r["client"]["holding"]["first_resumed"] for r in recs),
            "cpu_us_per_req": median([r["cpu_us_per_req"] for r in recs]),
            "other_cpu_pct_max": max(r["other_cpu_pct"] for r in recs),
            "rss_held_kib_runs": [r["rss_held_kib"] for r in recs],
        }
        ctx.summary(f"https-idle/{label}", summaries[label])
    if "nginx" in summaries:
        st, ng = summaries["stubborn"], summaries["nginx"]
        ratio = {
            "scenario": "https-idle",
            "rss_ratio": st["rss_held_kib"] / ng["rss_held_kib"],
            "pss_ratio": st["pss_held_kib"] / ng["pss_held_kib"],
            "per_connection_ratio": (st["kib_per_connection"] / ng["kib_per_connection"]
                                     if ng["kib_per_connection"] > 0 else None),
        }
        ctx.summary("https-idle/ratio", ratio)
        log(f"[https-idle] stubborn/nginx with {IDLE_CONNECTIONS:,} held: RSS "
            f"{ratio['rss_ratio']:.2f}x, PSS {ratio['pss_ratio']:.2f}x; per connection "
            f"{st['kib_per_connection']:.2f} vs {ng['kib_per_connection']:.2f} KiB")


def first_reply_ms(port, t0, deadline_s=10.0):
    request = f"GET {ROUTES_REQUEST} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
    while time.perf_counter() - t0 < deadline_s:
        try:
            with socket.create_connection((HOST, port), timeout=2.0) as s:
                s.sendall(request)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if data.startswith(b"HTTP/1.1 200"):
                    return (time.perf_counter() - t0) * 1000.0
        except OSError:
            pass
        time.sleep(0.0002)
    raise RuntimeError("no reply within 10 s of exec")


def scenario_startup(ctx):
    runs = []
    for rep in range(max(ctx.reps, 5)):
        port = free_port()
        log_path = ctx.tmp / "startup.log"
        wait_quiet(ctx.args.quiet_wait)
        window = CpuWindow()
        with open(log_path, "w") as out:
            t0 = time.perf_counter()
            proc = start_process([ctx.stubborn, "--listen", f"{HOST}:{port}", "--threads",
                                  ctx.threads, "--log-level", "warn", ctx.routes_toml],
                                 stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            ms = first_reply_ms(port, t0)
            ticks = cpu_ticks(proc.pid)
            rss = status_kib(proc.pid, "VmRSS")
            other = window.finish(extra_ticks=ticks)
        finally:
            stop_process(proc)
        rec = {"type": "run", "scenario": "startup", "server": "stubborn", "rep": rep + 1,
               "routes": ROUTES_COUNT, "first_reply_ms": ms, "server_cpu_s": ticks / CLK_TCK,
               "cpu_us_per_req": ticks / CLK_TCK * 1e6, "rss_kib": rss,
               "other_cpu_pct": other}
        ctx.emit(rec)
        runs.append(rec)
        log(f"  [startup] run {rep + 1}: first reply {ms:.1f} ms after exec "
            f"({ROUTES_COUNT} routes), RSS {rss / 1024:.1f} MiB")
    t0 = time.perf_counter()
    subprocess.run([str(ctx.stubborn), "--check", str(ctx.routes_toml)], capture_output=True)
    check_ms = (time.perf_counter() - t0) * 1000.0
    ctx.summary("startup", {
        "scenario": "startup", "routes": ROUTES_COUNT, "runs": len(runs),
        "first_reply_ms": median([r["first_reply_ms"] for r in runs]),
        "first_reply_ms_max": max(r["first_reply_ms"] for r in runs),
        "first_reply_ms_min": min(r["first_reply_ms"] for r in runs),
        "check_ms": check_ms,
        "cpu_us_per_req": median([r["cpu_us_per_req"] for r in runs]),
        "rss_kib": median([r["rss_kib"] for r in runs]),
        "other_cpu_pct_max": max(r["other_cpu_pct"] for r in runs),
    })


def scenario_micro(ctx):
    if not ctx.micro_bench:
        log("[micro] skipped: stubborn_micro_bench not built (libbenchmark-dev missing)")
        ctx.summary("micro", {"scenario": "micro", "skipped": "libbenchmark-dev not installed"})
        return
    reps = 1 if ctx.args.quick else 3
    min_time = "0.05" if ctx.args.quick else "0.2"
    cmd = [str(ctx.micro_bench), "--benchmark_format=json", f"--benchmark_repetitions={reps}",
           f"--benchmark_min_time={min_time}"]
    if reps > 1:
        cmd.append("--benchmark_report_aggregates_only=true")
    log("[micro] " + " ".join(cmd))
    waited, busy = wait_quiet(ctx.args.quiet_wait)
    window = CpuWindow()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
    other = window.finish()
    data = json.loads(out.stdout)
    rows = {}
    for b in data["benchmarks"]:
        if b.get("error_occurred"):
            # SkipWithError (e.g. a config the binary cannot load): no time to report.
            log(f"  [micro] {b['run_name']}: skipped: {b.get('error_message', '')}")
            continue
        if reps > 1 and b.get("aggregate_name") != "median":
            continue
        name = b["run_name"]
        scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[b["time_unit"]]
        # CPU time is the headline: on a shared machine real time also counts the time the
        # benchmark thread waited for a core.
        rows[name] = {"ns": b["cpu_time"] * scale, "real_ns": b["real_time"] * scale,
                      "allocs_per_iter": b.get("allocs/iter")}
        ctx.emit({"type": "run", "scenario": "micro", "name": name, **rows[name]})
    for name, row in rows.items():
        log(f"  [micro] {name:<28} {fmt_ns(row['ns']):>10}  allocs/iter "
            f"{row['allocs_per_iter'] if row['allocs_per_iter'] is not None else '-'}")
    ctx.summary("micro", {"scenario": "micro", "repetitions": reps, "statistic": "median",
                          "benchmarks": rows, "busy_before_pct": busy,
                          "other_cpu_pct_max": other})


def scenario_wrk_threads(ctx, servers):
    """Measures wrk -t1 against -t2 on hello, for both servers, interleaved."""
    contenders = [("stubborn", servers["stubborn"], "/hello")]
    if servers.get("nginx"):
        contenders.append(("nginx", servers["nginx"], "/hello"))
    for t in (1, 2):
        log(f"[wrk-threads] wrk -t{t}")
        result = interleaved(ctx, f"wrk-threads-t{t}", contenders, ctx.duration, "report.lua",
                             threads=t)
        for label, summary in result.items():
            ctx.summary(f"wrk-threads/t{t}/{label}", dict(summary, scenario="wrk-threads",
                                                         server=label, wrk_threads=t))


# scaling: one I/O thread against two, the measurements the scaling model in
# docs/performance.md is checked against. stubborn's `hello` (the load-test profile: journal = 0,
# metrics on) with --threads 1 and --threads 2, nginx with worker_processes 1 and 2 beside it.
# In the one-thread runs the server is pinned to one CPU and wrk (one thread) to the other, so
# that each has a core to itself and the server's CPU per request is not shared with wrk's on
# the same core; the two-thread runs pin nothing (two cores for both servers' threads, wrk and
# the kernel).
SCALING_CONTENDERS = (("stubborn-t1", "stubborn", 1), ("nginx-w1", "nginx", 1),
                      ("stubborn-t2", "stubborn", 2), ("nginx-w2", "nginx", 2))


def pin_process_tree(server, cpu):
    """Pins every thread of every process of `server` (nginx: master and workers) to `cpu`;
    None if it worked, else what went wrong."""
    for pid in server.pids():
        out = subprocess.run([shutil.which("taskset"), "-a", "-p", "-c", cpu, str(pid)],
                             capture_output=True, text=True, timeout=10)
        if out.returncode != 0:
            return f"taskset -a -p -c {cpu} {pid}: {out.stderr.strip()}"
    return None


def scenario_scaling(ctx):
    """stubborn with one I/O thread against two, nginx with one worker against two, on hello,
    interleaved; then the `scaling/model` summary: CPU per request with two threads against one,
    and the two-thread throughput predicted from the one-thread runs' CPU per request."""
    cpus = sorted(os.sched_getaffinity(0))
    why_not = None
    if not shutil.which("taskset"):
        why_not = "taskset is not installed (util-linux)"
    elif len(cpus) < 2:
        why_not = f"only {len(cpus)} CPU(s) available"
    server_cpu, wrk_cpu = (str(cpus[0]), str(cpus[1])) if not why_not else (None, None)
    servers = {}
    settings = {}
    try:
        for label, kind, threads in SCALING_CONTENDERS:
            if kind == "nginx" and (not ctx.nginx or ctx.args.no_nginx):
                continue
            if kind == "stubborn":
                server = start_stubborn(ctx.stubborn, ctx.bench_toml, threads, ctx.tmp,
                                        f"scaling-{label}")
            else:
                server = start_nginx(ctx.nginx, threads, ctx.tmp, ctx.body_file,
                                     name=f"nginx-{label}")
            servers[label] = server
            check_reply(server, "/hello", HELLO_BODY)
            pinned = threads == 1 and not why_not
            if pinned:
                problem = pin_process_tree(server, server_cpu)
                if problem:
                    log(f"[scaling] {label}: could not pin ({problem}); runs unpinned")
                    pinned = False
            settings[id(server)] = {
                "server_threads": threads, "pinned": pinned,
                "server_cpus": server_cpu if pinned else "any",
                "wrk_cpus": wrk_cpu if pinned else "any",
                "wrk_threads": 1 if pinned else ctx.wrk_threads}
        contenders = [(label, servers[label], "/hello") for label, _, _ in SCALING_CONTENDERS
                      if label in servers]

        def measure(server, path, seconds):
            s = settings[id(server)]
            rec = run_wrk(ctx, server, path, seconds, "report.lua", threads=s["wrk_threads"],
                          cpu=s["wrk_cpus"] if s["pinned"] else None)
            requests = max(rec["requests"], 1)
            # softirq_cpu_pct is a share of all the machine's CPUs over the run.
            softirq_s = rec["softirq_cpu_pct"] / 100.0 * NPROC * rec["wall_s"]
            rec.update(s, wrk_cpu_pct=round(100.0 * rec["wrk_cpu_s"] / rec["wall_s"], 1),
                       wrk_cpu_us_per_req=rec["wrk_cpu_s"] * 1e6 / requests,
                       softirq_us_per_req=softirq_s * 1e6 / requests)
            return rec

        log(f"[scaling] hello, 1 server thread (pinned to CPU {server_cpu}, wrk -t1 to CPU "
            f"{wrk_cpu})" if not why_not else f"[scaling] hello, not pinned: {why_not}")
        result = interleaved(ctx, "scaling", contenders, ctx.duration, "report.lua",
                             measure=measure)
    finally:
        for server in servers.values():
            server.stop()
    by_label = {}
    for label, kind, threads in SCALING_CONTENDERS:
        if label not in result:
            continue
        s = settings[id(servers[label])]
        summary = dict(result[label], scenario="scaling", server=kind, **s,
                       **({"not_pinned_because": why_not} if threads == 1 and why_not else {}))
        by_label[label] = summary
        ctx.summary(f"scaling/{label}", summary)
    ctx.summary("scaling/model", dict(scaling_model(by_label), scenario="scaling",
                                      pinning=not why_not, not_pinned_because=why_not))


def scaling_model(s):
    """The model's check: per server, CPU per request with two threads against one (1.0 when
    nothing shared costs anything), and the two-thread throughput predicted from the one-thread
    runs (the machine's cores divided by the CPU one request costs the server, wrk and the
    kernel's softirq together) against the one measured."""
    out = {"nproc": NPROC}
    for kind, one, two in (("stubborn", "stubborn-t1", "stubborn-t2"),
                           ("nginx", "nginx-w1", "nginx-w2")):
        a, b = s.get(one), s.get(two)
        if not a or not b or not a.get("cpu_us_per_req") or not b.get("cpu_us_per_req"):
            continue
        per_request_1 = a["cpu_us_per_req"] + a["wrk_cpu_us_per_req"] + a["softirq_us_per_req"]
        busy_2 = (b["server_cpu_pct"] + b["wrk_cpu_pct"]) / 100.0 + \
            b["softirq_cpu_pct"] / 100.0 * NPROC
        predicted = NPROC * 1e6 / per_request_1
        out[kind] = {
            "cpu_us_per_req_1": a["cpu_us_per_req"], "cpu_us_per_req_2": b["cpu_us_per_req"],
            "cpu_ratio_2_to_1": b["cpu_us_per_req"] / a["cpu_us_per_req"],
            "rps_1": a["rps"], "rps_2": b["rps"], "rps_ratio_2_to_1": b["rps"] / a["rps"],
            "server_cpu_pct_1": a["server_cpu_pct"], "server_cpu_pct_2": b["server_cpu_pct"],
            "machine_us_per_req_1": per_request_1,
            "predicted_rps_2": predicted, "measured_to_predicted_2": b["rps"] / predicted,
            "busy_cores_2": round(busy_2, 2),
        }
        log(f"[scaling] {kind}: CPU/request {a['cpu_us_per_req']:.2f} us with 1 thread, "
            f"{b['cpu_us_per_req']:.2f} us with 2 ({out[kind]['cpu_ratio_2_to_1']:.3f}x); "
            f"2 threads predicted {predicted:,.0f} req/s, measured {b['rps']:,.0f} "
            f"({out[kind]['measured_to_predicted_2']:.3f}x)")
    return out


# System calls a server makes per `hello` request, counted by the kernel's syscall tracepoints
# (perf, Debian package linux-perf; root or kernel.perf_event_paranoid <= 1). Deterministic where
# wall-clock CPU per request is not: on this machine CPU per request moves by 10 % and more from
# run to run, while these counts repeat to the second decimal.
SYSCALL_NAMES = ["recvfrom", "recvmsg", "recvmmsg", "read", "sendto", "sendmsg", "writev",
                 "write", "epoll_wait", "epoll_pwait", "epoll_ctl"]


def scenario_syscalls(ctx, servers):
    perf = shutil.which("perf")
    if not perf:
        log("[syscalls] perf is not installed (apt-get install linux-perf): skipped")
        ctx.summary("syscalls", {"scenario": "syscalls", "skipped": "perf is not installed"})
        return
    events = [f"syscalls:sys_enter_{n}" for n in SYSCALL_NAMES] + ["context-switches"]
    for label in ("stubborn", "nginx"):
        server = servers.get(label)
        if not server:
            continue
        run_wrk(ctx, server, "/hello", 1, "report.lua")  # warm-up, not counted
        url = f"http://{HOST}:{server.port}/hello"
        wrk = [ctx.wrk, f"-t{ctx.wrk_threads}", f"-c{WRK_CONNECTIONS}", f"-d{ctx.duration}s",
               "--timeout", "5s", "-s", str(BENCH / "wrk" / "report.lua"), url]
        # perf counts the server's processes for as long as wrk runs.
        cmd = [perf, "stat", "-x,", "-e", ",".join(events), "-p",
               ",".join(str(p) for p in server.pids()), "--"] + wrk
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=ctx.duration + 60)
        line = next((l for l in out.stdout.splitlines() if l.startswith("WRK_JSON ")), None)
        if out.returncode != 0 or line is None:
            log(f"[syscalls] {label}: perf stat failed ({out.returncode}): "
                f"{out.stderr.strip()[-300:]}")
            ctx.summary("syscalls", {"scenario": "syscalls",
                                     "skipped": "perf stat failed: " + out.stderr.strip()[-200:]})
            return
        requests = json.loads(line[len("WRK_JSON "):])["requests"]
        counts = {}
        for row in out.stderr.splitlines():
            fields = row.split(",")
            if len(fields) >= 3 and fields[2] in events:
                try:
                    counts[fields[2].replace("syscalls:sys_enter_", "")] = int(fields[0])
                except ValueError:  # "<not counted>" / "<not supported>"
                    continue
        per_request = {k: v / requests for k, v in counts.items() if requests}
        ctx.summary(f"syscalls/{label}", {"scenario": "syscalls", "server": label,
                                          "requests": requests, "counts": counts,
                                          "per_request": per_request})
        shown = ", ".join(f"{k} {v:.3f}" for k, v in per_request.items() if v >= 0.0005)
        log(f"[syscalls] {label}: {requests:,} requests; per request: {shown}")


# ---- soak --------------------------------------------------------------------------------------
#
# The server's own count: stubborn has no request counter (yet), and /proc/PID/io cannot stand in
# for one: its wchar/rchar count read(2)/write(2), while Asio talks to sockets with
# send/recv/sendmsg/recvmsg (measured: wchar stays flat while stubborn serves). So the soak
# preloads benchmarks/socket_counters.cpp into the server (LD_PRELOAD): it adds up the bytes the
# server process hands to its sockets and takes from them, in a shared file the runner reads.
# Every reply to GET /hello is the same size (measured first on a raw socket; the Date header has
# a fixed width) and so is every request wrk sends, so bytes / size is a count, and any partial
# or odd-sized reply shows up as a remainder. At the end of the long run wrk's connections are
# still open and idle, so the kernel's own tcp_info byte counters of the server's sockets (`ss`)
# give a second, independent count.

SOCKET_COUNTERS_FIELDS = ("magic", "pid", "bytes_sent", "send_calls", "bytes_received",
                          "receive_calls", "eof_reads", "reserved")
SOCKET_COUNTERS_MAGIC = 0x73747562636E7431  # "stubcnt1", as in socket_counters.cpp


def build_socket_counters():
    """benchmarks/socket_counters.cpp -> build-bench/libstubborn_socket_counters.so. Built here,
    also with --no-build: it is one small file."""
    source = BENCH / "socket_counters.cpp"
    target = BUILD / "libstubborn_socket_counters.so"
    if not target.exists() or target.stat().st_mtime < source.stat().st_mtime:
        BUILD.mkdir(parents=True, exist_ok=True)
        cxx = shutil.which("c++") or shutil.which("g++")
        cmd = [cxx, "-O2", "-std=c++20", "-shared", "-fPIC", "-o", str(target), str(source),
               "-ldl"]
        log("[soak] " + " ".join(cmd))
        subprocess.run(cmd, check=True, stdout=sys.stderr)
    return target


def read_socket_counters(path):
    data = Path(path).read_bytes()
    if len(data) < 64:
        raise RuntimeError(f"{path}: socket counters not written (is the LD_PRELOAD library "
                           "loaded?)")
    values = dict(zip(SOCKET_COUNTERS_FIELDS, struct.unpack("<8Q", data[:64])))
    if values["magic"] != SOCKET_COUNTERS_MAGIC:
        raise RuntimeError(f"{path}: not a socket counters file")
    return values


def settled_socket_counters(path, timeout=2.0):
    """The counters once two reads 50 ms apart agree. The library adds to them just after each
    call returns, so a client can hold a reply a moment before it is counted; the soak reads
    only when the server should be idle, and this waits out that moment."""
    deadline = time.monotonic() + timeout
    values = read_socket_counters(path)
    while True:
        time.sleep(0.05)
        again = read_socket_counters(path)
        if again == values or time.monotonic() >= deadline:
            return again
        values = again


def start_counted_stubborn(ctx, tag):
    """stubborn serving soak.toml with the socket counters preloaded: (server, counters path)."""
    counters = ctx.tmp / f"socket-counters-{tag}"
    env = dict(os.environ, LD_PRELOAD=str(ctx.socket_counters),
               STUBBORN_SOCKET_COUNTERS=str(counters))
    server = start_stubborn(ctx.stubborn, ctx.soak_toml, ctx.threads, ctx.tmp, tag, env=env)
    if read_socket_counters(counters)["pid"] != server.proc.pid:
        server.stop()
        raise RuntimeError("the socket counters belong to another process")
    return server, counters


def read_reply(sock, buffered):
    """One response with a Content-Length from a blocking socket: (status, its bytes, the bytes
    read after it)."""
    while b"\r\n\r\n" not in buffered:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError(f"connection closed before a whole reply: {buffered[:200]!r}")
        buffered += chunk
    head, _, rest = buffered.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed inside a reply body")
        rest += chunk
    status = int(head.split(b" ", 2)[1])
    return status, head + b"\r\n\r\n" + rest[:length], rest[length:]


def measure_replies(port, path):
    """The exact size of the reply wrk gets (two on one keep-alive connection must be the same
    size) and of the same reply when it closes the connection (what a draining server sends)."""
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
    closing_request = request[:-2] + b"Connection: close\r\n\r\n"
    sizes = []
    with socket.create_connection((HOST, port), timeout=5) as s:
        buffered = b""
        for _ in range(2):
            s.sendall(request)
            status, reply, buffered = read_reply(s, buffered)
            if status != 200:
                raise RuntimeError(f"GET {path}: status {status}")
            sizes.append(len(reply))
        s.sendall(closing_request)
        status, closing, buffered = read_reply(s, buffered)
    if sizes[0] != sizes[1] or buffered:
        raise RuntimeError(f"GET {path}: replies of {sizes} bytes: not a fixed size")
    if status != 200 or b"\r\nconnection: close\r\n" not in closing.lower() \
            or len(closing) <= sizes[0]:
        raise RuntimeError(f"GET {path} with Connection: close: unexpected reply {closing!r}")
    return sizes[0], len(closing), reply


def process_snapshot(pid):
    return {"fds": len(os.listdir(f"/proc/{pid}/fd")), "threads": status_kib(pid, "Threads"),
            "rss_kib": status_kib(pid, "VmRSS")}


def wait_for_fds(pid, wanted, timeout=10.0):
    """Polls until the process has `wanted` descriptors open (it closes its side of a connection
    when it reads the client's FIN, a little after the client is done), or the deadline passes.
    Returns the snapshot at that moment, with the time waited."""
    t0 = time.monotonic()
    while True:
        snap = process_snapshot(pid)
        waited = time.monotonic() - t0
        if snap["fds"] <= wanted or waited >= timeout:
            snap["waited_s"] = round(waited, 2)
            return snap
        time.sleep(0.05)


def kernel_socket_counts(port, timeout=2.0):
    """tcp_info byte counters of the established sockets whose local port is `port` (the
    server's side of every connection), summed; None without `ss`. Read again until every byte
    sent has been acknowledged (the client's delayed ACK for its last reply can take 40 ms or
    more), or the timeout passes."""
    ss = shutil.which("ss")
    if not ss:
        return None
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run([ss, "-tinH", "state", "established", f"( sport = :{port} )"],
                             capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            return None
        sockets = []
        for line in out.stdout.splitlines():
            if line and not line[0].isspace():
                sockets.append({"bytes_sent": 0, "bytes_acked": 0, "bytes_received": 0})
            elif sockets:
                for token in line.split():
                    name, _, value = token.partition(":")
                    if name in sockets[-1] and value.isdigit():
                        sockets[-1][name] = int(value)
        settled = all(x["bytes_acked"] == x["bytes_sent"] for x in sockets)
        if settled or time.monotonic() >= deadline:
            totals = {k: sum(x[k] for x in sockets)
                      for k in ("bytes_sent", "bytes_acked", "bytes_received")}
            return dict(totals, sockets=len(sockets), all_acked=settled)
        time.sleep(0.05)


def soak_wrk_command(ctx, port, requests, duration, path="/hello"):
    threads = ctx.wrk_threads
    connections = max(threads, WRK_CONNECTIONS - WRK_CONNECTIONS % threads)
    cmd = [ctx.wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "5s",
           "-s", BENCH / "wrk" / "soak.lua", f"http://{HOST}:{port}{path}", "--", requests,
           threads, connections]
    return [str(c) for c in cmd], connections


def finish_wrk(proc):
    """SIGINT (wrk then prints its summary and runs done()), then its WRK_JSON and WRK_SOAK."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    if proc in started:
        started.remove(proc)
    found = {}
    for line in out.splitlines():
        for tag in ("WRK_JSON", "WRK_SOAK"):
            if line.startswith(tag + " "):
                found[tag] = json.loads(line[len(tag) + 1:])
    if set(found) != {"WRK_JSON", "WRK_SOAK"}:
        raise RuntimeError(f"wrk gave no summary (exit {proc.returncode}): {err.strip()} {out}")
    return found["WRK_JSON"], found["WRK_SOAK"]


def soak_requests(ctx, server, counters, requests, reply_bytes, label):
    """wrk (soak.lua) until exactly `requests` responses are in and every connection is idle;
    then the server's counters and the kernel's, while wrk's connections are still open; then
    wrk's own summary."""
    # wrk's own clock is only an upper bound (at least 5,000 req/s): the runner ends it.
    duration = max(60, requests // 5000 + 60)
    cmd, connections = soak_wrk_command(ctx, server.port, requests, duration)
    log(f"[soak] {label}: {requests:,} requests: {' '.join(cmd)}")
    c0 = settled_socket_counters(counters)
    window = CpuWindow([server])
    s0 = server.cpu_ticks()
    proc = start_process(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    last_sent, last_change, last_log = c0["bytes_sent"], t0, t0
    seen_threads = finished = stalled = False
    while proc.poll() is None:
        time.sleep(0.05)
        try:
            tasks = len(os.listdir(f"/proc/{proc.pid}/task"))
        except OSError:
            break
        # soak.lua stops each wrk thread once its share is answered; main's thread remains.
        if tasks > 1:
            seen_threads = True
        elif seen_threads:
            finished = True
            break
        now = time.monotonic()
        sent = read_socket_counters(counters)["bytes_sent"]
        if sent != last_sent:
            last_sent, last_change = sent, now
        elif now - last_change > SOAK_STALL_S:
            stalled = True
            log(f"[soak] {label}: the server wrote nothing for {SOAK_STALL_S:.0f} s: stopping")
            break
        if now - last_log >= 15:
            last_log = now
            done = (sent - c0["bytes_sent"]) // reply_bytes
            log(f"  [soak] {label}: {now - t0:.0f} s, {done:,} replies written by the server "
                f"({done / (now - t0):,.0f}/s)")
    elapsed = time.monotonic() - t0
    c1 = settled_socket_counters(counters)
    kernel = kernel_socket_counts(server.port) if finished else None
    server_cpu_s = (server.cpu_ticks() - s0) / CLK_TCK
    w, soak = finish_wrk(proc)
    return {
        "label": label, "requests_wanted": requests, "connections": connections,
        "finished": finished, "stalled": stalled, "elapsed_s": round(elapsed, 2),
        "wrk": w, "wrk_soak": soak, "wrk_cmd": " ".join(cmd),
        "server_bytes_sent": c1["bytes_sent"] - c0["bytes_sent"],
        "server_bytes_received": c1["bytes_received"] - c0["bytes_received"],
        "server_send_calls": c1["send_calls"] - c0["send_calls"],
        "server_receive_calls": c1["receive_calls"] - c0["receive_calls"],
        "kernel": kernel, "server_cpu_s": round(server_cpu_s, 2),
        "other_cpu_pct": window.finish(),
    }


def churn_connections(port, total, batch, reply_bytes):
    """Opens and closes `total` connections, `batch` of them open at a time, ending them four
    ways in turn: a request and its whole reply, then a close; a close without sending a byte;
    half a request head, then a close; a request, then a reset (SO_LINGER 0) without reading."""
    request = f"GET /hello HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
    counts = {"served": 0, "silent": 0, "half_head": 0, "reset": 0, "failures": 0}
    problems = []
    t0 = time.monotonic()
    for first in range(0, total, batch):
        socks = []
        for i in range(first, min(first + batch, total)):
            try:
                socks.append((i % 4, socket.create_connection((HOST, port), timeout=5)))
            except OSError as e:
                counts["failures"] += 1
                problems.append(f"connect: {e}")
        for kind, s in socks:
            try:
                if kind == 0 or kind == 3:
                    s.sendall(request)
                elif kind == 2:
                    s.sendall(request[:len(request) // 2])
            except OSError as e:
                counts["failures"] += 1
                problems.append(f"send: {e}")
        for kind, s in socks:
            try:
                if kind == 0:
                    status, reply, rest = read_reply(s, b"")
                    if status == 200 and len(reply) == reply_bytes and not rest:
                        counts["served"] += 1
                    else:
                        counts["failures"] += 1
                        problems.append(f"reply: status {status}, {len(reply)} bytes")
                elif kind == 1:
                    counts["silent"] += 1
                elif kind == 2:
                    counts["half_head"] += 1
                else:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    counts["reset"] += 1
            except (OSError, RuntimeError) as e:
                counts["failures"] += 1
                problems.append(f"read: {e}")
            finally:
                s.close()
    counts["elapsed_s"] = round(time.monotonic() - t0, 2)
    counts["problems"] = problems[:5]
    return counts


def soak_drain(ctx, path):
    """SIGTERM to a server under wrk load: it must exit 0, and every request it read must have
    been answered (and every answer received by wrk)."""
    server, counters = start_counted_stubborn(ctx, "soak-drain")
    code = None
    try:
        start = process_snapshot(server.proc.pid)
        reply_bytes, closing_bytes, _ = measure_replies(server.port, path)
        # Once the server has closed the measuring connection, that reply is counted.
        wait_for_fds(server.proc.pid, start["fds"])
        cmd, connections = soak_wrk_command(ctx, server.port, 10**12, 60, path)
        log(f"[soak] drain: SIGTERM to the server under load on {path}: {' '.join(cmd)}")
        c0 = settled_socket_counters(counters)
        proc = start_process(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        t0 = time.monotonic()
        # Under full load first: at least a second and 500 replies.
        while time.monotonic() - t0 < 20 and proc.poll() is None:
            time.sleep(0.05)
            sent = read_socket_counters(counters)["bytes_sent"] - c0["bytes_sent"]
            if time.monotonic() - t0 >= 1.0 and sent >= 500 * reply_bytes:
                break
        t_term = time.monotonic()
        code = stop_process(server.proc, signal.SIGTERM, timeout=SOAK_DRAIN_WAIT_S)
        exit_ms = (time.monotonic() - t_term) * 1000
        # wrk reads what is already in its sockets within milliseconds; then it only meets
        # refused connections.
        time.sleep(0.5)
        w, soak = finish_wrk(proc)
    finally:
        if server.alive():
            server.stop()
    c1 = read_socket_counters(counters)
    request_bytes = soak["request_bytes"]
    read_bytes = c1["bytes_received"] - c0["bytes_received"]
    sent_bytes = c1["bytes_sent"] - c0["bytes_sent"]
    requests_read, read_rest = divmod(read_bytes, request_bytes)
    # Each request read is answered either with the usual reply or, once draining, with the same
    # reply plus "Connection: close": sent = read x reply + closing x (closing - reply).
    closing_replies, sent_rest = divmod(sent_bytes - requests_read * reply_bytes,
                                        closing_bytes - reply_bytes)
    statuses = {int(k): v for k, v in soak["statuses"].items()}
    answered_all = read_rest == 0 and sent_rest == 0 and 0 <= closing_replies <= connections
    rec = {
        "path": path, "exit_code": code, "exit_ms": round(exit_ms, 1),
        "connections": connections,
        "reply_bytes": reply_bytes, "closing_reply_bytes": closing_bytes,
        "request_bytes": request_bytes, "server_bytes_received": read_bytes,
        "server_bytes_sent": sent_bytes, "requests_read": requests_read,
        "read_remainder": read_rest, "closing_replies": closing_replies,
        "sent_remainder": sent_rest, "answered_all": answered_all,
        "wrk_completed": w["requests"], "statuses": statuses,
        "wrk_errors": {k: w[k] for k in w if k.startswith("errors_")},
    }
    rec["pass"] = (code == 0 and answered_all and w["requests"] == requests_read
                   and statuses == ({200: requests_read} if requests_read else {}))
    return rec


def scenario_soak(ctx):
    args = ctx.args
    n = args.soak_requests
    tolerance_kib = int(args.soak_rss_tolerance_mib * 1024)
    ctx.socket_counters = build_socket_counters()
    checks = []

    def check(name, ok, detail):
        checks.append({"check": name, "ok": bool(ok), "detail": detail})
        log(f"  [soak] {'ok  ' if ok else 'FAIL'} {name}: {detail}")

    server, counters = start_counted_stubborn(ctx, "soak")
    pid = server.proc.pid
    try:
        start = process_snapshot(pid)  # listening, no connection yet
        reply_bytes, closing_bytes, reply = measure_replies(server.port, "/hello")
        log(f"[soak] GET /hello: every reply is {reply_bytes} bytes "
            f"({closing_bytes} when it closes the connection): {reply[:60]!r}...")
        # Warm-up: 100,000 requests and one full round of connections before the baseline. glibc
        # keeps freed memory in each worker thread's arena, so RSS first climbs to a working
        # size and then stays flat (measured: +1.9 MiB over the first 10,000 connections after a
        # batch of 500, +0.7 MiB over the next 10,000, then +0 KiB per 10,000; with
        # MALLOC_ARENA_MAX=1, +0.66 MiB then at most 16 KiB per 10,000). The baseline is taken
        # once that size is reached, so what the soak then adds is what it would leak.
        warm = soak_requests(ctx, server, counters, min(SOAK_WARMUP_REQUESTS, n), reply_bytes,
                             "warm-up")
        warm_churn = churn_connections(server.port, args.soak_connections, args.soak_batch,
                                       reply_bytes)
        baseline = wait_for_fds(pid, start["fds"])
        log(f"[soak] baseline after the warm-up: {baseline['fds']} descriptors, "
            f"{baseline['threads']} threads, RSS {baseline['rss_kib'] / 1024:.1f} MiB "
            f"(at start {start['rss_kib'] / 1024:.1f} MiB)")
        check("warm-up: descriptors back to the start", baseline["fds"] == start["fds"],
              f"{start['fds']} -> {baseline['fds']}")
        check("warm-up: no errors", warm["finished"] and warm_churn["failures"] == 0 and not any(
            warm["wrk"][k] for k in warm["wrk"] if k.startswith("errors_")),
            f"{warm['wrk']['requests']:,} requests, {args.soak_connections:,} connections")

        wait_quiet(ctx.args.quiet_wait)
        run = soak_requests(ctx, server, counters, n, reply_bytes, "long run")
        after_requests = wait_for_fds(pid, baseline["fds"])
        churn = churn_connections(server.port, args.soak_connections, args.soak_batch,
                                  reply_bytes)
        after_connections = wait_for_fds(pid, baseline["fds"])
        exit_code = stop_process(server.proc)
    finally:
        if server.alive():
            server.stop()
    w, soak = run["wrk"], run["wrk_soak"]
    errors = {k[len("errors_"):]: w[k] for k in sorted(w) if k.startswith("errors_")}
    statuses = {int(k): v for k, v in soak["statuses"].items()}
    request_bytes = soak["request_bytes"]
    replies_written, sent_rest = divmod(run["server_bytes_sent"], reply_bytes)
    requests_read, read_rest = divmod(run["server_bytes_received"], request_bytes)
    rps = w["requests"] / run["elapsed_s"] if run["elapsed_s"] else 0

    check("long run completed", run["finished"] and not run["stalled"],
          f"{run['elapsed_s']:.1f} s" + (" (stalled)" if run["stalled"] else ""))
    check("wrk: zero errors", sum(errors.values()) == 0,
          ", ".join(f"{k} {v}" for k, v in errors.items()))
    check("wrk: requests completed", w["requests"] == n and soak["issued"] == n,
          f"{w['requests']:,} completed, {soak['issued']:,} issued, {n:,} wanted")
    check("wrk: every response 200", statuses == {200: n},
          ", ".join(f"{k}: {v:,}" for k, v in sorted(statuses.items())) or "none")
    check("wrk: bytes read = requests x reply size", w["bytes"] == n * reply_bytes,
          f"{w['bytes']:,} = {w['bytes'] / reply_bytes:,.2f} x {reply_bytes}")
    check("server: replies written = wrk's count", sent_rest == 0 and replies_written == w["requests"],
          f"{run['server_bytes_sent']:,} bytes / {reply_bytes} = {replies_written:,}"
          + (f" remainder {sent_rest}" if sent_rest else ""))
    check("server: requests read = wrk's count", read_rest == 0 and requests_read == w["requests"],
          f"{run['server_bytes_received']:,} bytes / {request_bytes} = {requests_read:,}"
          + (f" remainder {read_rest}" if read_rest else ""))
    kernel = run["kernel"]
    if kernel is not None:
        check("kernel (tcp_info of the server's sockets) agrees",
              kernel["sockets"] == run["connections"]
              and kernel["bytes_acked"] == n * reply_bytes
              and kernel["bytes_received"] == n * request_bytes,
              f"{kernel['sockets']} sockets, {kernel['bytes_acked']:,} bytes sent and acked "
              f"(= {kernel['bytes_acked'] / reply_bytes:,.2f} replies), "
              f"{kernel['bytes_received']:,} received")
    for name, snap in (("after the requests", after_requests),
                       ("after the connections", after_connections)):
        check(f"{name}: descriptors", snap["fds"] == baseline["fds"],
              f"{baseline['fds']} -> {snap['fds']} (waited {snap['waited_s']} s)")
        check(f"{name}: threads", snap["threads"] == baseline["threads"],
              f"{baseline['threads']} -> {snap['threads']}")
        check(f"{name}: RSS within +{args.soak_rss_tolerance_mib:g} MiB",
              snap["rss_kib"] <= baseline["rss_kib"] + tolerance_kib,
              f"{baseline['rss_kib'] / 1024:.2f} -> {snap['rss_kib'] / 1024:.2f} MiB "
              f"({(snap['rss_kib'] - baseline['rss_kib']):+d} KiB)")
    expected_served = len(range(0, args.soak_connections, 4))
    check("connections: all opened and closed, the requested ones served",
          churn["failures"] == 0 and churn["served"] == expected_served,
          f"{args.soak_connections:,} in batches of {args.soak_batch}: {churn['served']:,} "
          f"served, {churn['silent']:,} closed silent, {churn['half_head']:,} half a head, "
          f"{churn['reset']:,} reset; {churn['failures']} failures {churn['problems']}")
    check("SIGTERM after the soak: exit 0", exit_code == 0, f"exit {exit_code}")

    drains = []
    for path in ("/hello", "/hello-delayed"):
        drain = soak_drain(ctx, path)
        drains.append(drain)
        if drain["answered_all"]:
            answered = (f"{drain['requests_read']:,} requests read, all answered "
                        f"({drain['closing_replies']} of them with Connection: close)")
        else:
            answered = (f"read {drain['server_bytes_received']:,} bytes, wrote "
                        f"{drain['server_bytes_sent']:,}: not one whole reply per whole request")
        check(f"drain ({path}): SIGTERM under load exits 0 and answers every request it read",
              drain["pass"], f"exit {drain['exit_code']} after {drain['exit_ms']:.0f} ms; "
              f"{answered}; wrk received {drain['wrk_completed']:,}, statuses "
              f"{drain['statuses']}")
    # With a 20 ms delay nearly every connection is waiting for its reply when SIGTERM comes:
    # unless some were, the step above proved little.
    check("drain (/hello-delayed): requests were in flight at SIGTERM",
          drains[-1]["closing_replies"] > 0,
          f"{drains[-1]['closing_replies']} of {drains[-1]['connections']} connections")

    passed = all(c["ok"] for c in checks)
    summary = {
        "scenario": "soak", "pass": passed, "requests": n, "reply_bytes": reply_bytes,
        "closing_reply_bytes": closing_bytes, "request_bytes": request_bytes,
        "wrk_completed": w["requests"], "wrk_issued": soak["issued"], "wrk_errors": errors,
        "wrk_bytes": w["bytes"], "statuses": statuses,
        "server_replies_written": replies_written, "server_requests_read": requests_read,
        "server_bytes_sent": run["server_bytes_sent"],
        "server_bytes_received": run["server_bytes_received"],
        "server_send_calls": run["server_send_calls"],
        "server_receive_calls": run["server_receive_calls"],
        "kernel": kernel, "elapsed_s": run["elapsed_s"], "rps": rps,
        "p50_us": w["lat_p50_us"], "p99_us": w["lat_p99_us"], "max_us": w["lat_max_us"],
        "server_cpu_s": run["server_cpu_s"],
        "cpu_us_per_req": run["server_cpu_s"] * 1e6 / n, "other_cpu_pct_max": run["other_cpu_pct"],
        "wrk_cmd": run["wrk_cmd"],
        "start": start, "baseline": baseline, "after_requests": after_requests,
        "after_connections": after_connections, "rss_tolerance_kib": tolerance_kib,
        "churn": churn, "connections": args.soak_connections, "batch": args.soak_batch,
        "exit_code": exit_code, "drains": drains, "checks": checks,
    }
    ctx.summary("soak", summary)
    failed = [c["check"] for c in checks if not c["ok"]]
    line = (f"SOAK PASS: {n:,} requests, 0 errors, server count {replies_written:,} = wrk count "
            f"{w['requests']:,}; {args.soak_connections:,} connections; descriptors, threads "
            f"and RSS back to baseline; SIGTERM under load: exit 0, every request read answered"
            if passed else "SOAK FAIL: " + "; ".join(failed))
    ctx.notes.append(line)
    log(line)


# ---- report ------------------------------------------------------------------------------------

def fmt_ns(ns):
    if ns is None:
        return "-"
    if ns < 1e3:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.2f} us"
    return f"{ns / 1e6:.2f} ms"


def fmt_ms_us(us):
    return "-" if us is None else f"{us / 1000:.2f} ms"


def fmt_num(v, digits=0):
    return "-" if v is None else f"{v:,.{digits}f}"


def fmt_ratio(value):
    return "n/a" if value is None else f"{value:.2f}x"


def verdict(ok, paired_ok=None):
    """paired_ok: the same test on the median of pair ratios; when the two estimators disagree,
    the difference is within the run-to-run noise and the verdict says so."""
    if ok is None:
        return "n/a"
    if paired_ok is not None and paired_ok != ok:
        return "within noise (" + ("met" if ok else "missed") + "; pairs: " + \
            ("met" if paired_ok else "missed") + ")"
    return "met" if ok else "MISSED"


def targets(ctx):
    s = ctx.summaries
    rows = []

    def add(name, target, measured, ok, paired_ok=None):
        rows.append({"target": name, "wanted": target, "measured": measured,
                     "result": verdict(ok, paired_ok)})

    for name in ("hello", "pipelined"):
        r = s.get(f"{name}/ratio")
        if r:
            add(f"{name}: throughput vs nginx", ">= 1.0x",
                f"{r['rps_ratio']:.3f}x (pairs: {r['pair_rps_ratio_median']:.3f}x)",
                r["rps_ratio"] >= 1.0, r["pair_rps_ratio_median"] >= 1.0)
            add(f"{name}: p99 vs nginx", "<= 1.0x",
                f"{r['p99_ratio']:.2f}x ({fmt_ms_us(s[name + '/stubborn']['p99_us'])} vs "
                f"{fmt_ms_us(s[name + '/nginx']['p99_us'])}; pairs: "
                f"{fmt_ratio(r['pair_p99_ratio_median'])})", r["p99_ratio"] <= 1.0,
                None if r["pair_p99_ratio_median"] is None else r["pair_p99_ratio_median"] <= 1.0)
            add(f"{name}: CPU per request vs nginx", "<= nginx",
                f"{s[name + '/stubborn']['cpu_us_per_req']:.2f} vs "
                f"{s[name + '/nginx']['cpu_us_per_req']:.2f} us (pairs: "
                f"{r['pair_cpu_ratio_median']:.2f}x)", r["cpu_ratio"] <= 1.0,
                r["pair_cpu_ratio_median"] <= 1.0)
            add(f"{name}: CPU per request vs nginx, the load-test goal", "<= 0.8x",
                f"{r['cpu_ratio']:.3f}x (pairs: {r['pair_cpu_ratio_median']:.3f}x)",
                r["cpu_ratio"] <= 0.8, r["pair_cpu_ratio_median"] <= 0.8)
            pairs = [p for p in r.get("pair_p99_ratios", []) if p is not None]
            if name == "hello" and pairs:
                add("hello: p99 vs nginx in every pair of runs", "<= 1.0x each",
                    ", ".join(f"{p:.2f}x" for p in pairs), max(pairs) <= 1.0)
    r = s.get("proxy-hello/ratio")
    if r:
        add("proxy-hello: throughput vs nginx proxy_pass", ">= 1.0x",
            f"{r['rps_ratio']:.3f}x (pairs: {r['pair_rps_ratio_median']:.3f}x)",
            r["rps_ratio"] >= 1.0, r["pair_rps_ratio_median"] >= 1.0)
        add("proxy-hello: CPU per request vs nginx proxy_pass", "<= nginx",
            f"{s['proxy-hello/stubborn']['cpu_us_per_req']:.2f} vs "
            f"{s['proxy-hello/nginx']['cpu_us_per_req']:.2f} us (pairs: "
            f"{r['pair_cpu_ratio_median']:.2f}x)", r["cpu_ratio"] <= 1.0,
            r["pair_cpu_ratio_median"] <= 1.0)
    a = s.get("proxy-latency/added")
    if a:
        add("proxy-latency: p50 added by a proxy route over a direct call", "< 100 us",
            f"{a['stubborn_p50_us']:.1f} us ({s['proxy-latency/stubborn']['p50_us']:.1f} vs "
            f"{s['proxy-latency/direct']['p50_us']:.1f} us; pairs: "
            f"{a['pair_stubborn_p50_us']:.1f} us)", a["stubborn_p50_us"] < 100,
            a["pair_stubborn_p50_us"] < 100)
    r = s.get("https-hello/ratio")
    if r:
        add("https-hello: throughput vs nginx", ">= 1.0x",
            f"{r['rps_ratio']:.3f}x (pairs: {r['pair_rps_ratio_median']:.3f}x)",
            r["rps_ratio"] >= 1.0, r["pair_rps_ratio_median"] >= 1.0)
        add("https-hello: CPU per request vs nginx", "<= nginx",
            f"{s['https-hello/stubborn']['cpu_us_per_req']:.2f} vs "
            f"{s['https-hello/nginx']['cpu_us_per_req']:.2f} us (pairs: "
            f"{r['pair_cpu_ratio_median']:.2f}x)", r["cpu_ratio"] <= 1.0,
            r["pair_cpu_ratio_median"] <= 1.0)
    r = s.get("https-handshakes/ratio")
    if r:
        add("https-handshakes: throughput vs nginx", ">= 1.0x",
            f"{r['rps_ratio']:.3f}x (pairs: {r['pair_rps_ratio_median']:.3f}x)",
            r["rps_ratio"] >= 1.0, r["pair_rps_ratio_median"] >= 1.0)
    r = s.get("https-idle/ratio")
    if r:
        st, ng = s["https-idle/stubborn"], s["https-idle/nginx"]
        add(f"https-idle: RSS with {st['connections']:,} held vs nginx", "<= 1.2x",
            f"{r['rss_ratio']:.3f}x ({st['rss_held_kib'] / 1024:.1f} vs "
            f"{ng['rss_held_kib'] / 1024:.1f} MiB)", r["rss_ratio"] <= 1.2)
        add(f"https-idle: PSS with {st['connections']:,} held vs nginx", "<= 1.2x",
            f"{r['pss_ratio']:.3f}x ({st['pss_held_kib'] / 1024:.1f} vs "
            f"{ng['pss_held_kib'] / 1024:.1f} MiB)", r["pss_ratio"] <= 1.2)
    r = s.get("routes-1000/ratio")
    if r:
        add("routes-1000 vs hello", ">= 0.9x", f"{r['rps_ratio_to_hello']:.3f}x",
            r["rps_ratio_to_hello"] >= 0.9)
    m = s.get("micro")
    if m and "benchmarks" in m:
        worst = max((v["ns"], k) for k, v in m["benchmarks"].items() if k.endswith("/1000")
                    and k.startswith("bm_match"))
        add("match 1,000 routes (median, slowest kind)", "< 1 us",
            f"{fmt_ns(worst[0])} ({worst[1]})", worst[0] < 1000)
        cond = m["benchmarks"].get("bm_conditions_match/1000")
        if cond:
            add("match 1,000 routes with two json_path conditions each, 1 KiB JSON body "
                "(median)", "< 5 us", fmt_ns(cond["ns"]), cond["ns"] < 5000)
    d = s.get("delays/10000")
    if s.get("delays", {}).get("skipped"):
        add("delays: 10,000 on time; peak RSS", "10,000/10,000; < 64 MiB", "skipped: "
            "delay not supported yet", None)
    elif d:
        add("delays: 10,000 on time (worst run)", "10,000/10,000", f"{d['on_time_min']:,}",
            d["on_time_min"] == 10000)
        add("delays: peak RSS (10,000)", "< 64 MiB", f"{d['peak_rss_kib_max'] / 1024:.1f} MiB",
            d["peak_rss_kib_max"] < 64 * 1024)
        if "peak_above_idle_kib_max" in d:
            above = d["peak_above_idle_kib_max"]
            add("delays: peak RSS above the idle server's, 10,000 delayed replies in flight",
                "< 32 MiB", f"{above / 1024:.1f} MiB ({above / 10000:.2f} KiB each)",
                above < 32 * 1024)
    c = s.get("connections")
    if c:
        add("connections: 10,000 idle, RSS", "< 64 MiB", f"{c['rss_held_kib_max'] / 1024:.1f} MiB",
            c["rss_held_kib_max"] < 64 * 1024)
        add("connections: idle server RSS", "< 10 MiB", f"{c['rss_idle_kib'] / 1024:.1f} MiB",
            c["rss_idle_kib"] < 10 * 1024)
        above = c["rss_held_kib_max"] - c["rss_idle_kib"]
        add("connections: 10,000 idle, RSS above the idle server's", "< 16 MiB (<= 1 KiB each)",
            f"{above / 1024:.1f} MiB ({above / 10000:.2f} KiB each)", above < 16 * 1024)
    for name, what in (("ws-held", "WebSocket connections"), ("sse-held", "event streams")):
        h = s.get(name)
        if h and h.get("skipped"):
            add(f"{name}: {STREAM_CONNECTIONS:,} {what}, one message a second",
                f"all delivered; p99 <= {STREAM_LATE_MS} ms late; peak RSS < "
                f"{STREAM_RSS_MAX_MIB} MiB", f"skipped: {h['skipped']}", None)
        elif h:
            n = h["connections"]
            add(f"{name}: {n:,} {what}, one message a second: every message delivered "
                "(worst run)", f"{n:,} open; none missing",
                f"{h['alive_min']:,} open; {h['missing_max']:,} missing",
                h["alive_min"] == n and h["missing_max"] == 0)
            add(f"{name}: lateness against the schedule, p99 (worst run)",
                f"<= {STREAM_LATE_MS} ms", f"{h['lateness_p99_ms_max']:.1f} ms (max "
                f"{h['lateness_max_ms']:.1f} ms; {h['late_max']:,} messages over "
                f"{h['late_ms']:g} ms)", h["lateness_p99_ms_max"] <= STREAM_LATE_MS)
            add(f"{name}: peak RSS with {n:,} held (worst run)", f"< {STREAM_RSS_MAX_MIB} MiB",
                f"{h['peak_rss_kib_max'] / 1024:.1f} MiB ({h['kib_per_connection']:.2f} KiB "
                "per stream)", h["peak_rss_kib_max"] < STREAM_RSS_MAX_MIB * 1024)
    e = s.get("ws-echo/ratio")
    if e:
        st = s["ws-echo/stubborn"]
        for label in e["peers"]:
            r, pe = e[label], s[f"ws-echo/{label}"]
            add(f"ws-echo: messages/s on {st['connections']} connections vs {label}", ">= 1.0x",
                f"{fmt_ratio(r['rate_ratio'])} ({st['rps']:,.0f} vs {pe['rps']:,.0f}/s; pairs: "
                f"{fmt_ratio(r['pair_rate_ratio_median'])})",
                None if r["rate_ratio"] is None else r["rate_ratio"] >= 1.0,
                None if r["pair_rate_ratio_median"] is None
                else r["pair_rate_ratio_median"] >= 1.0)
    elif s.get("ws-echo", {}).get("skipped"):
        add("ws-echo: messages/s vs the peer echo servers", ">= 1.0x",
            f"skipped: {s['ws-echo']['skipped']}", None)
    sk = s.get("soak")
    if sk:
        add(f"soak: {sk['requests']:,} requests, {sk['connections']:,} connections, drain",
            "0 errors; server count = client count; fds, threads, RSS back; drain exit 0",
            "pass" if sk["pass"] else "fail: " + "; ".join(c["check"] for c in sk["checks"]
                                                          if not c["ok"]),
            sk["pass"])
    st = s.get("startup")
    if st:
        add("startup, 1,000 routes (median)", "< 100 ms",
            f"{st['first_reply_ms']:.1f} ms (max {st['first_reply_ms_max']:.1f})",
            st["first_reply_ms"] < 100)
    c = s.get("cluster")
    if c and not c.get("skipped"):
        add(f"cluster: {c['instances']} instances share {c['requests_per_s']}/s, burst "
            f"{c['burst']}, in Redis: admitted in {c['duration_s']} s",
            f"{c['expected']:,} within {c['tolerance_pct']:g} %",
            f"{', '.join(f'{x:,}' for x in c['admitted_runs'])} (worst "
            f"{c['worst_deviation_pct']:.2f} %)", c["pass"])
    return rows


def soak_markdown(sk):
    def snap(x):
        return f"{x['fds']} fds, {x['threads']} threads, {x['rss_kib'] / 1024:.2f} MiB"

    errors = ", ".join(f"{k} {v}" for k, v in sk["wrk_errors"].items())
    statuses = ", ".join(f"{k}: {v:,}" for k, v in sorted(sk["statuses"].items())) or "none"
    kernel = sk["kernel"]
    rows = [
        ("keep-alive requests (wrk completed / issued / wanted)",
         f"{sk['wrk_completed']:,} / {sk['wrk_issued']:,} / {sk['requests']:,}"),
        ("wrk errors", errors),
        ("responses by status", statuses),
        ("throughput, latency", f"{fmt_num(sk['rps'])} req/s over {sk['elapsed_s']:.1f} s; p50 "
         f"{fmt_ms_us(sk['p50_us'])}, p99 {fmt_ms_us(sk['p99_us'])}, max "
         f"{fmt_ms_us(sk['max_us'])}; server CPU {sk['cpu_us_per_req']:.2f} us/request"),
        (f"server: replies written (bytes sent / {sk['reply_bytes']})",
         f"{sk['server_replies_written']:,} ({sk['server_bytes_sent']:,} bytes in "
         f"{sk['server_send_calls']:,} calls)"),
        (f"server: requests read (bytes received / {sk['request_bytes']})",
         f"{sk['server_requests_read']:,} ({sk['server_bytes_received']:,} bytes in "
         f"{sk['server_receive_calls']:,} calls)"),
        ("kernel: tcp_info of the server's sockets",
         f"{kernel['sockets']} sockets, {kernel['bytes_acked']:,} bytes sent and acked, "
         f"{kernel['bytes_received']:,} received" if kernel else "`ss` not available"),
        ("process at start (listening)", snap(sk["start"])),
        ("baseline (after the warm-up: 100,000 requests, one round of connections)",
         snap(sk["baseline"])),
        ("after the requests", snap(sk["after_requests"])),
        (f"after {sk['connections']:,} connections (batches of {sk['batch']})",
         snap(sk["after_connections"])),
        ("RSS tolerance", f"+{sk['rss_tolerance_kib'] / 1024:g} MiB"),
    ]
    for d in sk["drains"]:
        rows.append((f"SIGTERM under load on {d['path']} (drain)",
                     f"exit {d['exit_code']} in {d['exit_ms']:.0f} ms; {d['requests_read']:,} "
                     f"requests read, all answered, {d['closing_replies']} of them with "
                     f"Connection: close; wrk received {d['wrk_completed']:,}"
                     if d["answered_all"] else f"exit {d['exit_code']}: NOT every request "
                     "read was answered"))
    out = ["| soak | figure |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows] + [""]
    out += ["| soak check | result | measured |", "|---|---|---|"]
    out += [f"| {c['check']} | {'ok' if c['ok'] else '**FAIL**'} | {c['detail']} |"
            for c in sk["checks"]]
    out += ["", ("**SOAK PASS**" if sk["pass"] else "**SOAK FAIL**") + f" (`{sk['wrk_cmd']}`)",
            ""]
    return out


def fmt_us(us):
    return "-" if us is None else f"{us:,.1f} us"


def proxy_markdown(s):
    """The proxy scenarios' own figures: the upstream's side of proxy-hello, and proxy-latency."""
    out = []
    rows = []
    for label in ("stubborn", "nginx"):
        x = s.get(f"proxy-hello/{label}")
        if x and "upstream_cpu_us_per_req" in x:
            rows.append(f"| {label} | {x['cpu_us_per_req']:.2f} "
                        f"| {x['upstream_cpu_us_per_req']:.2f} "
                        f"| {fmt_num(x.get('upstream_accepts'))} "
                        f"| {fmt_num(x.get('upstream_requests'))} / "
                        f"{fmt_num(x.get('client_requests'))} |")
    if rows:
        out += ["| proxy-hello: proxy | proxy CPU us/req | upstream nginx CPU us/req | connections "
                "the upstream accepted | requests the upstream served / client requests |",
                "|---|---:|---:|---:|---:|"] + rows + [""]
    a = s.get("proxy-latency/added")
    rows = []
    for label in ("direct", "stubborn", "nginx"):
        x = s.get(f"proxy-latency/{label}")
        if not x:
            continue
        added = "" if label == "direct" or not a else \
            f"{fmt_us(a[f'{label}_p50_us'])} / {fmt_us(a[f'{label}_p99_us'])}"
        rows.append(f"| {label} | {fmt_num(x['rps'])} | {fmt_us(x.get('min_us'))} "
                    f"| {fmt_us(x['p50_us'])} | {fmt_us(x.get('p90_us'))} | {fmt_us(x['p99_us'])} "
                    f"| {fmt_us(x.get('p999_us'))} | {fmt_us(x['max_us'])} | {added} "
                    f"| {x['cpu_us_per_req']:.2f} | {x['errors']} "
                    f"| {x['other_cpu_pct_max']:.0f}% |")
    if rows:
        out += ["| proxy-latency: 1 connection, 1 request at a time | req/s | min | p50 | p90 "
                "| p99 | p99.9 | max | added p50 / p99 | server CPU us/req | errors "
                "| other load (max) |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"] + rows + [""]
    for name in ("proxy-hello", "proxy-latency"):
        if s.get(name, {}).get("skipped"):
            out += [f"{name}: skipped: {s[name]['skipped']}", ""]
    return out


def streams_markdown(s):
    """The stream scenarios' figures: held streams, and echo against the peers."""
    out = []
    rows = []
    for name in ("ws-held", "sse-held"):
        h = s.get(name)
        if h and h.get("skipped"):
            out += [f"{name}: skipped: {h['skipped']} (`stubborn --check`: "
                    f"{h['check_output']})", ""]
        elif h:
            rows.append(f"| {name} | {h['alive_min']:,} / {h['connections']:,} "
                        f"| {fmt_num(h['messages'])} / {fmt_num(h['expected'])} "
                        f"| {h['missing_max']:,} | {h['late_max']:,} "
                        f"| {h['lateness_p50_ms']:.1f} ms | {h['lateness_p99_ms']:.1f} ms "
                        f"(worst {h['lateness_p99_ms_max']:.1f}) | {h['lateness_max_ms']:.1f} ms "
                        f"| {h['rss_held_kib'] / 1024:.1f} MiB (peak "
                        f"{h['peak_rss_kib_max'] / 1024:.1f}) | {h['kib_per_connection']:.2f} KiB "
                        f"| {h['threads_max']} | {h['server_cpu_pct']:.0f}% "
                        f"| {fmt_num(h['cpu_us_per_msg'], 1)} | {h['connect_ms'] / 1000:.1f} s "
                        f"| {h['other_cpu_pct_max']:.0f}% |")
    if rows:
        out += [f"| held streams, one message a second, {STREAM_SECONDS} s measured | held "
                "(worst run) | messages / due in the window | missing (worst run) | late > "
                f"{STREAM_LATE_MS} ms (worst run) | lateness p50 | p99 | max (worst run) "
                "| RSS held | RSS per stream | server threads | server CPU (of one core) "
                "| server CPU us/message | all open after | other load (max) |",
                "|---|" + "---:|" * 14] + rows + [""]
    rows = []
    e = s.get("ws-echo/ratio", {})
    for label in ["stubborn"] + e.get("peers", []):
        x = s.get(f"ws-echo/{label}")
        if not x:
            continue
        versus = "" if label == "stubborn" else \
            f"{fmt_ratio(e.get(label, {}).get('rate_ratio'))}"
        rows.append(f"| {label} | {fmt_num(x['rps'])} | {fmt_ms_us(x['p50_us'])} "
                    f"| {fmt_ms_us(x['p99_us'])} | {x['cpu_us_per_req']:.2f} "
                    f"| {x['server_cpu_pct']:.0f}% | {versus} | {x['errors']} "
                    f"| {x['other_cpu_pct_max']:.0f}% | {x.get('peer', '')} |")
    if rows:
        out += [f"| ws-echo: {STREAM_ECHO_CONNECTIONS} connections, {STREAM_ECHO_SIZE}-byte "
                "messages | messages/s | RTT p50 | RTT p99 | server CPU us/message | server "
                "CPU (of one core) | stubborn / this | errors | other load (max) | peer |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"] + rows + [""]
    if s.get("ws-echo", {}).get("skipped"):
        out += [f"ws-echo: skipped: {s['ws-echo']['skipped']}", ""]
    return out


def scaling_markdown(s):
    rows = []
    for label, _, _ in SCALING_CONTENDERS:
        r = s.get(f"scaling/{label}")
        if r:
            wrk_cpu = f" on CPU {r['wrk_cpus']}" if r["pinned"] else ""
            rows.append(f"| {label} | {r['server_threads']} | "
                        f"{'CPU ' + r['server_cpus'] if r['pinned'] else 'no'} "
                        f"| -t{r['wrk_threads']}{wrk_cpu} "
                        f"| {fmt_num(r['rps'])} | {r['cpu_us_per_req']:.2f} "
                        f"| {r['server_cpu_pct']:.0f}% | {r['wrk_cpu_pct']:.0f}% "
                        f"| {fmt_ms_us(r['p99_us'])} |")
    if not rows:
        return []
    out = ["| scaling | server threads | server pinned | wrk | req/s | server CPU us/req "
           "| server CPU (of one core) | wrk CPU (of one core) | p99 |",
           "|---|---:|---|---|---:|---:|---:|---:|---:|"] + rows + [""]
    for kind, m in s.get("scaling/model", {}).items():
        if isinstance(m, dict):
            out.append(f"{kind}: CPU per request with 2 threads / 1: {m['cpu_ratio_2_to_1']:.3f}x; "
                       f"2-thread req/s predicted from the 1-thread runs "
                       f"{fmt_num(m['predicted_rps_2'])}, measured {fmt_num(m['rps_2'])} "
                       f"({m['measured_to_predicted_2']:.3f}x).")
    return out + [""]


def https_markdown(s):
    """The HTTPS scenarios' own figures: what was negotiated, the idle connections' memory."""
    out = []
    for name in ("https-hello", "https-handshakes"):
        for label in ("stubborn", "nginx"):
            x = s.get(f"{name}/{label}")
            if x:
                n = x.get("negotiated", {})
                extra = (f"; resumed {x['client_resumed']:,} of {x['client_handshakes']:,} "
                         "handshakes" if "client_resumed" in x else "")
                out.append(f"- {name}, {label}: {n.get('protocol')}, {n.get('cipher')}, "
                           f"{n.get('group')}, ALPN {n.get('alpn') or '-'}, "
                           f"{fmt_num(n.get('tickets_per_handshake'), 1)} tickets per "
                           f"handshake{extra}")
    if out:
        out.append("")
    rows = []
    for label in ("stubborn", "nginx"):
        c = s.get(f"https-idle/{label}")
        if c:
            rows.append(f"| {label} | {c['rss_idle_kib'] / 1024:.1f} MiB "
                        f"({c['pss_idle_kib'] / 1024:.1f}) | {c['rss_held_kib'] / 1024:.1f} MiB "
                        f"({c['pss_held_kib'] / 1024:.1f}) | {c['kib_per_connection']:.2f} KiB "
                        f"({c['pss_kib_per_connection']:.2f}) "
                        f"| {c['rss_after_kib'] / 1024:.1f} MiB "
                        f"| {c['connected_min']:,} | {c['second_ok_min']:,} "
                        f"| {c['handshake_s']:.1f} s | {c['cpu_us_per_req']:.1f} |")
    if rows:
        out += ["| https-idle: 10,000 idle TLS connections | idle server RSS (PSS) | RSS (PSS) "
                "with 10,000 held | RSS (PSS) per connection | RSS after they close | held "
                "(worst run) | answered a 2nd request | 10,000 handshakes took | server CPU "
                "us/req |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"] + rows + [""]
    return out


def markdown(ctx, meta):
    s = ctx.summaries
    out = [f"# stubborn benchmark {ctx.stamp}", ""]
    out.append(f"Machine: {meta['nproc']} x {meta['cpu_model']}, Linux {meta['kernel']}, "
               f"{meta['mem_mib']:,} MiB; git {meta['git_commit'] or '(no commit)'}"
               f"{' + local changes' if meta['git_dirty'] else ''}. wrk -t{ctx.wrk_threads} "
               f"-c{WRK_CONNECTIONS} -d{ctx.duration}s, keep-alive, server threads "
               f"{ctx.threads} (nginx worker_processes {ctx.threads}); medians of {ctx.reps} "
               f"runs, stubborn and nginx interleaved. Open-file limit (ulimit -n): "
               f"{meta['nofile_before']} -> {meta['nofile']}, set by the runner.")
    out.append("")
    rows = []
    for name in ("hello", "pipelined", "body-64k", "routes-1000", "conditions", "proxy-hello",
                 "journal", "https-hello", "https-handshakes"):
        for label in ("stubborn", "nginx", "hello-reference", "on", "off"):
            r = s.get(f"{name}/{label}")
            if not r:
                continue
            if name in ("routes-1000", "conditions"):
                ratio = s[f"{name}/ratio"]["rps_ratio_to_hello"] if label == "stubborn" else None
                ratio_text = f"{ratio:.3f}x hello" if ratio else "(hello, same run)"
            elif name == "journal":
                rr = s[f"{name}/ratio"]
                ratio_text = (f"journal on / off: {rr['rps_ratio']:.3f}x req/s, CPU "
                              f"{rr['cpu_ratio']:.3f}x" if label == "on" else "")
            else:
                rr = s.get(f"{name}/ratio")
                ratio_text = (f"**{rr['rps_ratio']:.3f}x** (p99 {rr['p99_ratio']:.2f}x, "
                              f"CPU {rr['cpu_ratio']:.2f}x)" if rr and label == "stubborn"
                              else "")
            shown = {"hello-reference": "stubborn hello", "on": "journal = 1000",
                     "off": "journal = 0"}.get(label, label)
            rows.append(f"| {name} | {shown} "
                        f"| {fmt_num(r['rps'])} | {fmt_ms_us(r['p50_us'])} "
                        f"| {fmt_ms_us(r['p99_us'])} | {fmt_ms_us(r['max_us'])} "
                        f"| {r['cpu_us_per_req']:.2f} | {r['bytes_per_reply']:.0f} "
                        f"| {ratio_text} | {r['errors']} | {r['other_cpu_pct_max']:.0f}% |")
    if rows:
        out += ["| scenario | server | req/s | p50 | p99 | max | server CPU us/req | bytes/reply "
                "| stubborn / nginx | errors | other load (max) |",
                "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"] + rows + [""]
        if s.get("pipelined/stubborn"):
            out += ["Pipelined latencies are per batch of 16 (wrk times the batch's write to its "
                    "16th reply).", ""]
    if s.get("delays", {}).get("skipped"):
        out += [f"delays: skipped: {s['delays']['skipped']} "
                f"(`stubborn --check`: {s['delays']['check_output']})", ""]
    drows = []
    for n in DELAY_CONNECTIONS:
        d = s.get(f"delays/{n}")
        if d:
            runs = ", ".join(f"{x:,}" for x in d["on_time_runs"])
            drows.append(f"| {n:,} | {fmt_num(d['on_time_median'])} ({runs}) "
                         f"| {d['p50_ms']:.1f} ms | {d['p99_ms']:.1f} ms | {d['max_ms']:.1f} ms "
                         f"(worst {d['max_ms_worst']:.1f}) | {d['peak_rss_kib'] / 1024:.1f} MiB "
                         f"| {d['cpu_us_per_req']:.1f} | {d['send_ms']:.0f} ms "
                         f"| {d['accepted_at_send_min']:,} "
                         f"| {d['accept_wait_ms_max']:.0f} ms |")
    if drows:
        out += [f"| delays: connections, 1 s delay | on time (<= {DELAY_ON_TIME_MS:.0f} ms): "
                "median (each run) | p50 | p99 | max | peak RSS | server CPU us/req "
                "| client's send burst | accepted when sent (worst run) "
                "| wait for the accepts (worst run) |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"] + drows + [""]
    crow = []
    for key in ("connections", "connections/nginx"):
        c = s.get(key)
        if c:
            crow.append(f"| {c['server']} | {c['rss_idle_kib'] / 1024:.1f} MiB "
                        f"({c['pss_idle_kib'] / 1024:.1f}) | {c['rss_held_kib'] / 1024:.1f} MiB "
                        f"({c['pss_held_kib'] / 1024:.1f}) | {c['pss_kib_per_connection']:.2f} "
                        f"KiB | {c['rss_after_kib'] / 1024:.1f} MiB | {c['second_ok_min']:,} "
                        f"| {c['cpu_us_per_req']:.1f} |")
    if crow:
        out += ["| connections: 10,000 idle keep-alive | idle server RSS (PSS) | RSS (PSS) with "
                "10,000 held | PSS per connection | RSS after they close | answered a 2nd "
                "request | server CPU us/req |", "|---|---:|---:|---:|---:|---:|---:|"]
        out += crow + ["", "nginx's figures are its master and workers summed; PSS counts the "
                       "pages they share once.", ""]
    out += streams_markdown(s)
    out += proxy_markdown(s)
    out += https_markdown(s)
    out += cluster_markdown(s)
    st = s.get("startup")
    if st:
        out += ["| startup | exec to first reply (median) | min | max | `--check` wall time "
                "| server CPU | RSS |",
                "|---|---:|---:|---:|---:|---:|---:|",
                f"| {st['routes']:,} routes | {st['first_reply_ms']:.1f} ms "
                f"| {st['first_reply_ms_min']:.1f} ms | {st['first_reply_ms_max']:.1f} ms "
                f"| {st['check_ms']:.1f} ms | {st['cpu_us_per_req'] / 1000:.1f} ms "
                f"| {st['rss_kib'] / 1024:.1f} MiB |", ""]
    sk = s.get("soak")
    if sk:
        out += soak_markdown(sk)
    m = s.get("micro")
    if m and "benchmarks" in m:
        out += [f"| micro-benchmark ({m['statistic']} of {m['repetitions']}) | CPU time "
                "| real time | allocations per iteration |", "|---|---:|---:|---:|"]
        for name, row in m["benchmarks"].items():
            allocs = row["allocs_per_iter"]
            out.append(f"| {name} | {fmt_ns(row['ns'])} | {fmt_ns(row['real_ns'])} | "
                       f"{'-' if allocs is None else f'{allocs:g}'} |")
        out.append("")
    sc = [label for label in ("stubborn", "nginx") if s.get(f"syscalls/{label}")]
    if sc:
        names = [n for n in SYSCALL_NAMES + ["context-switches"]
                 if any(s[f"syscalls/{label}"]["per_request"].get(n, 0) >= 0.0005 for label in sc)]
        out += ["| per `hello` request (perf) | " + " | ".join(sc) + " |",
                "|---|" + "---:|" * len(sc)]
        for n in names:
            out.append(f"| {n} | " + " | ".join(
                f"{s[f'syscalls/{label}']['per_request'].get(n, 0):.3f}" for label in sc) + " |")
        out.append("")
    elif s.get("syscalls", {}).get("skipped"):
        out += [f"syscalls: skipped: {s['syscalls']['skipped']}", ""]
    wt = [k for k in s if k.startswith("wrk-threads/")]
    if wt:
        out += ["| wrk threads | server | req/s | p99 | server CPU us/req | server CPU "
                "(of one core) | wrk CPU (of one core) |", "|---|---|---:|---:|---:|---:|---:|"]
        for k in sorted(wt):
            r = s[k]
            out.append(f"| -t{r['wrk_threads']} | {r['server']} | {fmt_num(r['rps'])} "
                       f"| {fmt_ms_us(r['p99_us'])} | {r['cpu_us_per_req']:.2f} "
                       f"| {r['server_cpu_pct']:.0f}% "
                       f"| {100 * r['wrk_cpu_s'] / ctx.duration:.0f}% |")
        out.append("")
    out += scaling_markdown(s)
    t = targets(ctx)
    if t:
        out += ["| target | wanted | measured | result |", "|---|---|---|---|"]
        out += [f"| {r['target']} | {r['wanted']} | {r['measured']} | {r['result']} |" for r in t]
        out.append("")
    for r in t:
        ctx.emit(dict(r, type="target"))
    noisy = [k for k, v in s.items() if isinstance(v, dict) and
             (v.get("other_cpu_pct_max") or 0) > 10]
    if noisy:
        out += [f"Note: other processes used more than 10% of the CPU during some runs of "
                f"{', '.join(sorted(noisy))}; see `other_cpu_pct` in the JSON lines.", ""]
    repeated = 8 - retry_budget[0]
    if repeated:
        out += [f"{repeated} run(s) were repeated because other processes used more than "
                f"{ctx.args.max_other_load:g}% of the CPU during them (they are in the JSON lines, "
                "marked `discarded`).", ""]
    if stop_problems:
        out += ["Servers that did not exit on their stop signal (killed after the timeout): "
                + "; ".join(stop_problems) + ".", ""]
    out.append(f"Command: `python3 benchmarks/run.py {' '.join(sys.argv[1:])}`".rstrip())
    return "\n".join(out) + "\n"


# ---- main --------------------------------------------------------------------------------------

def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("scenario", nargs="*",
                   help="scenarios to run, like --only (e.g. `run.py soak`)")
    p.add_argument("--quick", action="store_true",
                   help="short runs for iterating: 2 s, one run each, shorter micro-benchmarks")
    p.add_argument("--only", default="",
                   help="comma-separated scenarios: "
                   + ",".join(DEFAULT_SCENARIOS + EXTRA_SCENARIOS)
                   + "; `https` means " + ",".join(TLS_SCENARIOS)
                   + "; `proxy` means " + ",".join(PROXY_SCENARIOS)
                   + "; `streams` means " + ",".join(STREAM_SCENARIOS))
    p.add_argument("--duration", type=float, default=None,
                   help="seconds per wrk run (default 8, --quick 2)")
    p.add_argument("--reps", type=int, default=None,
                   help=f"runs per scenario (default 3; the stream scenarios {STREAM_REPS})")
    p.add_argument("--threads", type=int, default=NPROC,
                   help="stubborn --threads and nginx worker_processes (default: nproc)")
    p.add_argument("--wrk-threads", type=int, default=DEFAULT_WRK_THREADS)
    p.add_argument("--quiet-wait", type=float, default=15.0,
                   help="before each run, wait up to this long for other processes to go quiet "
                        "(at most 120 s in all)")
    p.add_argument("--max-other-load", type=float, default=10.0,
                   help="a wrk or held-stream run during which other processes used more than "
                        "this %% of the machine's CPU is repeated (at most 8 repeats in all)")
    p.add_argument("--no-build", action="store_true", help="use the binaries in build-bench/")
    p.add_argument("--no-nginx", action="store_true", help="skip the nginx side by side")
    p.add_argument("--keep", action="store_true", help="keep the generated configs (temp dir)")
    p.add_argument("--stubborn", default=None,
                   help="benchmark this stubborn binary instead of build-bench/stubborn")
    p.add_argument("--soak-requests", type=int, default=SOAK_REQUESTS,
                   help=f"soak: keep-alive requests in the long run (default {SOAK_REQUESTS:,})")
    p.add_argument("--soak-connections", type=int, default=SOAK_CONNECTIONS,
                   help=f"soak: connections opened and closed (default {SOAK_CONNECTIONS:,})")
    p.add_argument("--soak-batch", type=int, default=SOAK_BATCH,
                   help=f"soak: connections open at once while churning (default {SOAK_BATCH})")
    p.add_argument("--soak-rss-tolerance-mib", type=float, default=SOAK_RSS_TOLERANCE_MIB,
                   help="soak: RSS may end this much above its baseline (default "
                        f"{SOAK_RSS_TOLERANCE_MIB:g} MiB)")
    args = p.parse_args()
    if args.duration is None:
        args.duration = 2 if args.quick else 8
    args.stream_reps = args.reps if args.reps is not None else 1 if args.quick else STREAM_REPS
    if args.reps is None:
        args.reps = 1 if args.quick else 3
    args.duration = int(args.duration) if float(args.duration).is_integer() else args.duration
    chosen = [x.strip() for x in args.only.split(",") if x.strip()]
    chosen += [x for x in args.scenario if x not in chosen]
    chosen = [y for x in chosen for y in SCENARIO_GROUPS.get(x, [x])]
    chosen = list(dict.fromkeys(chosen)) or DEFAULT_SCENARIOS
    unknown = [x for x in chosen if x not in DEFAULT_SCENARIOS + EXTRA_SCENARIOS]
    if unknown:
        p.error(f"unknown scenario {', '.join(unknown)}")
    if args.soak_requests < 1 or args.soak_connections < 0 or args.soak_batch < 1:
        p.error("--soak-requests must be >= 1, --soak-connections >= 0, --soak-batch >= 1")
    args.scenarios = chosen
    return args


def main():
    args = parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    limit_before, limit_after = raise_open_file_limit()
    ctx = Context(args)
    t_start = time.monotonic()
    servers = {}
    try:
        install_missing(ctx)
        build(ctx)
        meta = machine_info()
        meta.update(type="meta", stamp=ctx.stamp, argv=sys.argv[1:], duration_s=ctx.duration,
                    reps=ctx.reps, wrk_threads=ctx.wrk_threads, wrk_connections=WRK_CONNECTIONS,
                    server_threads=ctx.threads, wrk=ctx.wrk, nginx=ctx.nginx,
                    nofile_before=limit_before, nofile=limit_after, configs=str(ctx.tmp),
                    nginx_version=(subprocess.run([ctx.nginx, "-v"], capture_output=True,
                                                  text=True).stderr.strip()
                                   if ctx.nginx else None))
        ctx.emit(meta)
        log(f"machine: {meta['nproc']} x {meta['cpu_model']}, Linux {meta['kernel']}, "
            f"load average {', '.join(f'{x:.2f}' for x in meta['loadavg'])}")
        wrk_scenarios = [x for x in args.scenarios
                         if x in ("hello", "pipelined", "body-64k", "routes-1000", "conditions",
                                  "wrk-threads", "scaling", "journal", "syscalls",
                                  "https-hello", "proxy-hello", "cluster")]
        if wrk_scenarios and not ctx.wrk:
            log("wrk is not installed: skipping " + ", ".join(wrk_scenarios))
            args.scenarios = [x for x in args.scenarios if x not in wrk_scenarios]
            wrk_scenarios = []
        if any(x in TLS_SCENARIOS for x in args.scenarios) and not ctx.tls_bench:
            raise SystemExit("stubborn_tls_bench was not built")
        if any(x in ("https-hello", "https-handshakes") for x in args.scenarios):
            # One HTTPS server of each for both scenarios, beside the plain ones.
            for label in tls_labels(ctx):
                servers[f"{label}-tls"] = start_tls_server(ctx, label, "tls")
        if "proxy-latency" in args.scenarios and not ctx.latency_bench:
            raise SystemExit("stubborn_latency_bench was not built")
        # The scaling scenario starts servers of its own, with the thread counts it compares.
        if any(x not in TLS_SCENARIOS + PROXY_SCENARIOS + ["scaling"] for x in wrk_scenarios):
            servers["stubborn"] = start_stubborn(ctx.stubborn, ctx.bench_toml, ctx.threads,
                                                 ctx.tmp, "main")
            nginx_wanted = any(x in ("hello", "pipelined", "body-64k", "wrk-threads", "syscalls")
                               for x in wrk_scenarios)
            if nginx_wanted and ctx.nginx and not args.no_nginx:
                servers["nginx"] = start_nginx(ctx.nginx, ctx.threads, ctx.tmp, ctx.body_file)
            elif nginx_wanted:
                log("nginx is not available: stubborn runs alone, no ratios")
        needs_client = any(x in ("delays", "connections") for x in args.scenarios)
        if needs_client and not ctx.conn_bench:
            raise SystemExit("stubborn_conn_bench was not built")
        if any(x in STREAM_SCENARIOS for x in args.scenarios) and not ctx.stream_bench:
            raise SystemExit("stubborn_stream_bench was not built")
        for name in args.scenarios:
            if name in ("hello", "pipelined", "body-64k"):
                scenario_vs_nginx(ctx, servers, name)
            elif name == "routes-1000":
                scenario_routes(ctx, servers)
            elif name == "conditions":
                scenario_conditions(ctx, servers)
            elif name == "proxy-hello":
                scenario_proxy_hello(ctx, servers)
            elif name == "proxy-latency":
                scenario_proxy_latency(ctx, servers)
            if name in PROXY_SCENARIOS and not any(
                    x in PROXY_SCENARIOS for x in args.scenarios[args.scenarios.index(name) + 1:]):
                # The proxies and their upstream are done with: stopped (proxies first) so that
                # they sit in none of the later scenarios.
                for key in ("stubborn-proxy", "nginx-proxy", "upstream"):
                    if key in servers:
                        servers.pop(key).stop()
            elif name == "delays":
                scenario_delays(ctx)
            elif name == "connections":
                scenario_connections(ctx)
            elif name in ("ws-held", "sse-held"):
                scenario_held(ctx, name)
            elif name == "ws-echo":
                scenario_ws_echo(ctx)
            elif name == "startup":
                scenario_startup(ctx)
            elif name == "micro":
                scenario_micro(ctx)
            elif name == "wrk-threads":
                scenario_wrk_threads(ctx, servers)
            elif name == "scaling":
                scenario_scaling(ctx)
            elif name == "journal":
                scenario_journal(ctx, servers)
            elif name == "syscalls":
                scenario_syscalls(ctx, servers)
            elif name == "cluster":
                scenario_cluster(ctx)
            elif name in ("https-hello", "https-handshakes"):
                scenario_https(ctx, {label: servers[f"{label}-tls"] for label in tls_labels(ctx)},
                               name)
            elif name == "https-idle":
                scenario_https_idle(ctx)
            elif name == "soak":
                if not ctx.wrk:
                    raise SystemExit("soak needs wrk (apt-get install wrk)")
                scenario_soak(ctx)
        for server in servers.values():
            server.stop()
        servers.clear()
        text = markdown(ctx, meta)
        text += f"\nTotal runner time: {time.monotonic() - t_start:.0f} s.\n"
        ctx.md_path.write_text(repo_relative(text))
        print(text)
        for note in ctx.notes:
            print(note)
        log(f"results: {ctx.jsonl_path.relative_to(ROOT)} and {ctx.md_path.relative_to(ROOT)}")
    finally:
        for server in servers.values():
            if server.alive():
                server.stop()
        stop_all()
        ctx.close()
    soak = ctx.summaries.get("soak")
    if soak and not soak["pass"]:
        sys.exit(1)


if __name__ == "__main__":
    main()

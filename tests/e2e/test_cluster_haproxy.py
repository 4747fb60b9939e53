#!/usr/bin/env python3
"""Three stubborn instances sharing one redis-server, behind HAProxy, all on 127.0.0.1.

Usage: test_cluster_haproxy.py BINARY SOURCE_DIR

Starts redis-server (a free port, nothing written to disk, a temp dir), three instances of the
binary with a [cluster] pointing at it under a fresh namespace, and haproxy (roundrobin over the
three, health checks on /__admin/status), waits until HAProxy sees all three up, then checks:
- /__admin/status on each instance says Redis is up, with the namespace;
- HAProxy spreads the requests over the three instances (each answers some);
- a route with replies 503, 503, 200 (then = "cycle"), asked 9 times through HAProxy, answers
  503, 503, 200 three times, in this order, although each instance saw only some of them;
- GET /__admin/requests/count?scope=cluster on each instance equals the requests sent;
- a runtime route POSTed to one instance's admin API is served by all three within 1 s.
Every process started here is stopped by its PID at the end, also on failure.
Standard library only; needs redis-server and haproxy (Debian's, scripts/setup.sh).
"""
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_support import check, finish, results, wait_for_port  # noqa: E402

BINARY, SOURCE = sys.argv[1], sys.argv[2]
HOST = "127.0.0.1"
INSTANCES = 3

CONFIG = """
[server]
listen = "127.0.0.1:0"

[cluster]
redis = "redis://127.0.0.1:{redis_port}/0"
namespace = "{namespace}"
timeout = "200ms"

[[route]]
name = "flaky"
method = "GET"
path = "/flaky"
then = "cycle"
[[route.replies]]
status = 503
repeat = 2
body = "down"
[[route.replies]]
status = 200
body = "up"
"""

HAPROXY = """
global
    maxconn 1024
    stats socket {socket} level admin

defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend stubborn
    bind 127.0.0.1:{port}
    default_backend stubborn

backend stubborn
    balance roundrobin
    option httpchk
    http-check send meth GET uri /__admin/status ver HTTP/1.1 hdr Host localhost
    http-check expect status 200
{servers}
"""

started = []  # (name, process): stopped by PID at the end, in reverse order


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start(name, cmd, log_path):
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    started.append((name, proc))
    return proc


def stop_all():
    for name, proc in reversed(started):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                print(f"note: {name} (pid {proc.pid}) ignored SIGTERM: killed")
                proc.kill()
                proc.wait()
    started.clear()


def log_tail(path, size=1500):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-size:]
    except OSError:
        return ""


def redis_ping(port):
    try:
        with socket.create_connection((HOST, port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(work):
    """redis-server on a free loopback port (retried when another process took the port)."""
    for attempt in range(5):
        port = free_port()
        log = os.path.join(work, f"redis-{attempt}.log")
        proc = start("redis-server", ["redis-server", "--bind", HOST, "--port", str(port),
                                      "--save", "", "--appendonly", "no", "--dir", work,
                                      "--daemonize", "no"], log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            if redis_ping(port):
                return port
            time.sleep(0.02)
        if proc.poll() is None:
            raise RuntimeError("redis-server did not answer PING: " + log_tail(log))
    raise RuntimeError("redis-server did not start on a free port: " + log_tail(log))


def start_instance(work, index, redis_port, namespace):
    folder = os.path.join(work, f"stubborn-{index}")
    os.makedirs(folder)
    config = os.path.join(folder, "cluster.toml")
    with open(config, "w") as f:
        f.write(CONFIG.format(redis_port=redis_port, namespace=namespace))
    port_file = os.path.join(folder, "port")
    log = os.path.join(folder, "stubborn.log")
    proc = start(f"stubborn {index}", [BINARY, "--listen", f"{HOST}:0", "--port-file", port_file,
                                       "--threads", "1", config], log)
    port = wait_for_port(port_file, proc)
    if port is None:
        raise RuntimeError(f"stubborn {index} did not start: " + log_tail(log))
    return port, log


def haproxy_status(sock_path):
    """{server name: status} from HAProxy's `show stat` (UP, DOWN, ...)."""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(sock_path)
            s.sendall(b"show stat\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    except OSError:
        return {}
    lines = data.decode(errors="replace").splitlines()
    if not lines or not lines[0].startswith("# "):
        return {}
    header = lines[0][2:].split(",")
    rows = [dict(zip(header, line.split(","))) for line in lines[1:] if line]
    return {r["svname"]: r["status"] for r in rows
            if r.get("pxname") == "stubborn" and r.get("svname") not in ("FRONTEND", "BACKEND")}


def start_haproxy(work, ports):
    servers = "\n".join(f"    server s{i + 1} {HOST}:{p} check inter 200ms rise 1 fall 2"
                        for i, p in enumerate(ports))
    sock_path = os.path.join(work, "haproxy.sock")
    for attempt in range(5):
        port = free_port()
        cfg = os.path.join(work, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY.format(socket=sock_path, port=port, servers=servers))
        log = os.path.join(work, f"haproxy-{attempt}.log")
        proc = start("haproxy", ["haproxy", "-f", cfg, "-db"], log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            status = haproxy_status(sock_path)
            if len(status) == len(ports) and all(v == "UP" for v in status.values()):
                return port, log
            time.sleep(0.05)
        if proc.poll() is None:
            raise RuntimeError(f"HAProxy did not see every instance up: {haproxy_status(sock_path)}"
                               + log_tail(log))
    raise RuntimeError("haproxy did not start: " + log_tail(log))


def request(port, method, path, body=None):
    """(status, body text) on a new connection."""
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        reply = conn.getresponse()
        return reply.status, reply.read().decode(errors="replace")
    finally:
        conn.close()


def count(port, query):
    """The journal's count, or the reply as text when there is none."""
    status, text = request(port, "GET", "/__admin/requests/count" + query)
    try:
        return json.loads(text)["count"] if status == 200 else f"{status} {text}"
    except (ValueError, KeyError):
        return f"{status} {text}"


def main():
    for tool in ("redis-server", "haproxy"):
        if not shutil.which(tool):
            print(f"{tool} is not installed (scripts/setup.sh installs it)")
            sys.exit(1)
    work = tempfile.mkdtemp(prefix="stubborn-cluster-e2e-")
    logs = []
    try:
        redis_port = start_redis(work)
        namespace = f"e2e-{os.getpid()}-{secrets.token_hex(4)}"
        instances = [start_instance(work, i + 1, redis_port, namespace) for i in range(INSTANCES)]
        ports = [p for p, _ in instances]
        logs = [log for _, log in instances]
        lb, haproxy_log = start_haproxy(work, ports)
        logs.append(haproxy_log)
        check("redis-server, three instances and HAProxy are up", True)
        clusters = []
        for p in ports:
            status, text = request(p, "GET", "/__admin/status")
            try:
                clusters.append(json.loads(text).get("cluster") if status == 200 else text)
            except ValueError:
                clusters.append(text)
        check("/__admin/status on each instance: Redis up, our namespace",
              all(isinstance(c, dict) and c.get("redis") == "up" and
                  c.get("namespace") == namespace for c in clusters), clusters)

        # (a) The sequence, asked through HAProxy: 503, 503, 200, three times over.
        sent = 0
        statuses = []
        for _ in range(9):
            statuses.append(request(lb, "GET", "/flaky")[0])
            sent += 1
        local = [count(p, "") for p in ports]
        check("HAProxy gave each instance some of the requests (local journals)",
              all(isinstance(n, int) and n > 0 for n in local) and sum(local) == sent,
              f"local counts {local}, sent {sent}")
        check("the sequence holds across the instances: 503,503,200 x3 in order",
              statuses == [503, 503, 200] * 3, statuses)

        # (c) The cluster's journal counts every request, whichever instance is asked.
        deadline = time.monotonic() + 2
        counts = [count(p, "?scope=cluster") for p in ports]
        while counts != [sent] * INSTANCES and time.monotonic() < deadline:
            time.sleep(0.05)
            counts = [count(p, "?scope=cluster") for p in ports]
        check(f"count?scope=cluster on each instance is {sent}", counts == [sent] * INSTANCES,
              counts)

        # (b) A runtime route added on one instance is served by all three within 1 s.
        route = {"name": "added-at-runtime", "method": "GET", "path": "/added",
                 "reply": {"status": 200, "body": "added"}}
        status, text = request(ports[0], "POST", "/__admin/routes", json.dumps(route))
        check("POST /__admin/routes on the first instance: 201", status == 201, (status, text))
        t0 = time.monotonic()
        served = {}
        while len(served) < INSTANCES and time.monotonic() < t0 + 1.0:
            for i, p in enumerate(ports):
                if i not in served and request(p, "GET", "/added") == (200, "added"):
                    served[i] = round(time.monotonic() - t0, 3)
            time.sleep(0.01)
        check("the runtime route is served by all three instances within 1 s",
              len(served) == INSTANCES, f"served by instances {served} (seconds after the POST)")
    except (RuntimeError, OSError) as e:
        check("the cluster runs", False, e)
    finally:
        stop_all()
        if results["failed"]:
            for log in logs:
                print(f"--- end of {os.path.relpath(log, work)}:\n{log_tail(log, 600)}")
        shutil.rmtree(work, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The binary's reloads and access log: a file edit reloads (inotify, also when the editor
renames a new file over the old), SIGHUP reloads with --no-watch, a broken edit keeps the old
routes and shows why in /__admin/status, --access-log writes one JSON line per request, and a
folder given as the config reloads when a file appears in it ([server] access_log there).
Reloads are awaited on /__admin/status's counters. Also: an [admin] listen that cannot bind
exits 1 naming the address, and SIGTERM drains for the drain_timeout of the last reload.
Usage: test_admin_binary.py STUBBORN_BINARY PROJECT_DIR"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_support import check, finish, start_server, stop_server  # noqa: E402

BINARY = sys.argv[1]
PROJECT = sys.argv[2]

# Requests this test sent to the admin API since the last server started (the access log has a
# line for each).
admin_calls = {"n": 0}


def http(port, path, method="GET", body=None, headers=None):
    if path.startswith("/__admin"):
        admin_calls["n"] += 1
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=body,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def reload_counts(port):
    """(reloads, failures) from /__admin/status."""
    last = json.loads(http(port, "/__admin/status")[1])["last_reload"]
    return last["reloads"], last["failures"]


def wait_for_reload(port, before, seconds):
    """Polls /__admin/status until a reload attempt after `before` (a reload_counts() value)
    has finished; returns (reloads, failures) then, or None at the deadline."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = reload_counts(port)
        if now[0] > before[0] or now[1] > before[1]:
            return now
        time.sleep(0.05)
    return None


def no_reload_for(port, before, seconds):
    """True if /__admin/status shows no reload attempt after `before` for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if reload_counts(port) != before:
            return False
        time.sleep(0.1)
    return True


def write_config(path, name, atomically=False):
    text = f'''[[route]]
name = "user"
method = "GET"
path = "/user"
[route.reply]
body = "{name}"
'''
    if atomically:
        # What many editors do: write a new file, then rename it over the old one.
        with open(path + ".new", "w") as f:
            f.write(text)
        os.replace(path + ".new", path)
    else:
        with open(path, "w") as f:
            f.write(text)


def main():
    work = tempfile.mkdtemp(prefix="stubborn-e2e-admin-")
    try:
        config = os.path.join(work, "stub.toml")
        write_config(config, "ada")
        access_log = os.path.join(work, "access.log")

        # Watching (the default): edits reload by themselves.
        admin_calls["n"] = 0
        proc, port = start_server(BINARY, config, work, "--access-log", access_log)
        check("starts with --access-log", port is not None)
        if port is None:
            return
        check("serves the file", http(port, "/user") == (200, "ada"))
        before = reload_counts(port)
        write_config(config, "grace")
        check("an edit reloads within 3 s", wait_for_reload(port, before, 3) is not None)
        check("the edit is served", http(port, "/user") == (200, "grace"))
        before = reload_counts(port)
        write_config(config, "hopper", atomically=True)
        check("a rename over the file reloads within 3 s", wait_for_reload(port, before, 3) is not None)
        check("the renamed file is served", http(port, "/user") == (200, "hopper"))
        before = reload_counts(port)
        with open(config, "a") as f:
            f.write("\n[[route]]\npath = 42\n")
        after = wait_for_reload(port, before, 3)
        check("a broken edit is refused within 3 s", after is not None and after[1] > before[1],
              str(after))
        check("a broken edit keeps the old routes", http(port, "/user") == (200, "hopper"))
        status = json.loads(http(port, "/__admin/status")[1])
        reload = status["last_reload"]
        check("/__admin/status shows the failed reload", reload["ok"] is False and
              "'path' must be a string" in reload.get("error", ""), json.dumps(reload))
        http(port, "/missing")
        requests = json.loads(http(port, "/__admin/requests")[1])["requests"]
        served = [r for r in requests]
        code, out, err = stop_server(proc)
        check("SIGTERM exits 0", code == 0, err)
        check("the log says the reload was refused", "reload refused" in err, err)
        with open(access_log) as f:
            lines = [json.loads(line) for line in f]
        user_lines = [l for l in lines if l["target"] == "/user"]
        admin_lines = [l for l in lines if l["route"] == "(admin)"]
        check("access log: one line per request",
              len(lines) == len(user_lines) + len(admin_lines) + 1 and
              len(admin_lines) == admin_calls["n"], f"{len(lines)} lines")
        check("access log: the journal saw the same /user requests",
              len([r for r in served if r["path"] == "/user"]) == len(user_lines),
              f"{len(served)} journal entries, {len(user_lines)} log lines")
        miss = [l for l in lines if l["target"] == "/missing"]
        check("access log: a miss has status 404 and route null",
              len(miss) == 1 and miss[0]["status"] == 404 and miss[0]["route"] is None, str(miss))

        # --no-watch: only SIGHUP (or POST /__admin/reload) reloads.
        write_config(config, "ada")
        proc, port = start_server(BINARY, config, work, "--no-watch")
        check("starts with --no-watch", port is not None)
        if port is None:
            return
        write_config(config, "lovelace")
        # Nothing to wait for here: a watcher would have reloaded well within this second.
        check("--no-watch: an edit alone reloads nothing", no_reload_for(port, (0, 0), 1.0))
        check("--no-watch: an edit alone changes nothing", http(port, "/user")[1] == "ada")
        proc.send_signal(signal.SIGHUP)
        check("SIGHUP reloads", wait_for_reload(port, (0, 0), 3) == (1, 0))
        check("SIGHUP: the edit is served", http(port, "/user")[1] == "lovelace")
        write_config(config, "babbage")
        status, body = http(port, "/__admin/reload", method="POST")
        check("POST /__admin/reload: 200", status == 200, body)
        check("POST /__admin/reload counted", reload_counts(port) == (2, 0))
        check("POST /__admin/reload reloaded", http(port, "/user")[1] == "babbage")
        code, out, err = stop_server(proc)
        check("SIGTERM exits 0 (no-watch)", code == 0, err)

        # A folder as the config: its *.toml files in name order; a file that appears in it is
        # loaded by the next reload. The access log comes from [server] access_log this time.
        folder = os.path.join(work, "conf.d")
        os.mkdir(folder)
        folder_log = os.path.join(work, "folder-access.log")
        with open(os.path.join(folder, "00-server.toml"), "w") as f:
            f.write(f'[server]\naccess_log = "{folder_log}"\n')
        write_config(os.path.join(folder, "10-user.toml"), "turing")
        proc, port = start_server(BINARY, folder, work)
        check("starts on a folder", port is not None)
        if port is None:
            return
        check("the folder's files are served", http(port, "/user") == (200, "turing"))
        check("a route not yet in the folder is a 404", http(port, "/added")[0] == 404)
        before = reload_counts(port)
        with open(os.path.join(folder, "20-added.toml.new"), "w") as f:
            f.write('[[route]]\nname = "added"\npath = "/added"\n[route.reply]\nbody = "new"\n')
        os.replace(os.path.join(folder, "20-added.toml.new"), os.path.join(folder, "20-added.toml"))
        check("a file added to the folder reloads within 3 s",
              wait_for_reload(port, before, 3) is not None)
        check("a file added to the folder is loaded", http(port, "/added") == (200, "new"))
        check("the other files still serve", http(port, "/user") == (200, "turing"))
        code, out, err = stop_server(proc)
        check("SIGTERM exits 0 (folder)", code == 0, err)
        with open(folder_log) as f:
            targets = [json.loads(line)["target"] for line in f]
        check("[server] access_log writes the lines", "/user" in targets and "/added" in targets,
              str(targets))

        admin_listen_taken(work)
        drain_after_reload(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def admin_listen_taken(work):
    """An [admin] listen on a port in use: exit 1 with a message naming the address."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        taken = f"127.0.0.1:{holder.getsockname()[1]}"
        config = os.path.join(work, "admin-taken.toml")
        with open(config, "w") as f:
            f.write(f'[admin]\nlisten = "{taken}"\n\n[[route]]\npath = "/x"\n')
        r = subprocess.run([BINARY, "--listen", "127.0.0.1:0", config], capture_output=True,
                           text=True, timeout=20)
        check("[admin] listen in use: exit 1", r.returncode == 1, f"{r.returncode} {r.stderr}")
        check("[admin] listen in use: the message names the address",
              f"cannot listen on {taken} ([admin] listen): " in r.stderr, r.stderr)
    finally:
        holder.close()


def drain_after_reload(work):
    """SIGTERM drains for the drain_timeout of the last reload, not the one at start."""
    slow = ('[[route]]\nname = "slow"\npath = "/slow"\n[route.reply]\n'
            'interim = [ { status = 103 } ]\ndelay = "20s"\nbody = "late"\n')
    config = os.path.join(work, "drain.toml")
    with open(config, "w") as f:
        f.write('[server]\ndrain_timeout = "30s"\n' + slow)
    proc, port = start_server(BINARY, config, work, "--no-watch")
    check("starts with a 30 s drain_timeout", port is not None)
    if port is None:
        return
    with open(config, "w") as f:
        f.write('[server]\ndrain_timeout = "300ms"\n' + slow)
    status, body = http(port, "/__admin/reload", method="POST")
    check("reload to a 300 ms drain_timeout", status == 200, body)
    client = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        client.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        seen = b""
        # The 103 says the request is in flight: the drain has a request to wait for.
        while b"\r\n\r\n" not in seen:
            chunk = client.recv(4096)
            if not chunk:
                break
            seen += chunk
        check("the slow request is in flight", seen.startswith(b"HTTP/1.1 103"), repr(seen))
        began = time.monotonic()
        code, out, err = stop_server(proc)
        took = time.monotonic() - began
        check("SIGTERM exits 0 after the reloaded drain_timeout", code == 0, err)
        check("the drain took about the new 300 ms, not 30 s (or the 20 s delay)",
              0.25 <= took < 10, f"{took:.2f} s")
    finally:
        client.close()


if __name__ == "__main__":
    main()
    finish()

#!/usr/bin/env python3
"""The binary's reloads and access log: a file edit reloads (inotify, also when the editor
renames a new file over the old), SIGHUP reloads with --no-watch, a broken edit keeps the old
routes and shows why in /__admin/status, --access-log writes one JSON line per request, and a
folder given as the config reloads when a file appears in it ([server] access_log there).
Usage: test_admin_binary.py STUBBORN_BINARY PROJECT_DIR"""
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_support import check, finish, start_server, stop_server  # noqa: E402

BINARY = sys.argv[1]
PROJECT = sys.argv[2]


def http(port, path, method="GET", body=None, headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=body,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for_body(port, path, want, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if http(port, path)[1] == want:
            return True
        time.sleep(0.05)
    return False


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
        proc, port = start_server(BINARY, config, work, "--access-log", access_log)
        check("starts with --access-log", port is not None)
        if port is None:
            return
        check("serves the file", http(port, "/user") == (200, "ada"))
        write_config(config, "grace")
        check("an edit reloads within 3 s", wait_for_body(port, "/user", "grace", 3))
        write_config(config, "hopper", atomically=True)
        check("a rename over the file reloads within 3 s", wait_for_body(port, "/user", "hopper", 3))
        with open(config, "a") as f:
            f.write("\n[[route]]\npath = 42\n")
        time.sleep(1.0)
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
              len(admin_lines) == 2, f"{len(lines)} lines")
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
        time.sleep(1.0)
        check("--no-watch: an edit alone changes nothing", http(port, "/user")[1] == "ada")
        proc.send_signal(signal.SIGHUP)
        check("SIGHUP reloads", wait_for_body(port, "/user", "lovelace", 3))
        write_config(config, "babbage")
        status, body = http(port, "/__admin/reload", method="POST")
        check("POST /__admin/reload: 200", status == 200, body)
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
        with open(os.path.join(folder, "20-added.toml.new"), "w") as f:
            f.write('[[route]]\nname = "added"\npath = "/added"\n[route.reply]\nbody = "new"\n')
        os.replace(os.path.join(folder, "20-added.toml.new"), os.path.join(folder, "20-added.toml"))
        check("a file added to the folder is loaded within 3 s",
              wait_for_body(port, "/added", "new", 3))
        check("the other files still serve", http(port, "/user") == (200, "turing"))
        code, out, err = stop_server(proc)
        check("SIGTERM exits 0 (folder)", code == 0, err)
        with open(folder_log) as f:
            targets = [json.loads(line)["target"] for line in f]
        check("[server] access_log writes the lines", "/user" in targets and "/added" in targets,
              str(targets))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
    finish()

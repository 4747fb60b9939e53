#!/usr/bin/env python3
"""The container's HEALTHCHECK (deploy/docker/healthcheck.sh) against the real binary.

Usage: test_docker_healthcheck.py BINARY SOURCE_DIR

The image is not built here (no registry), but its probe is a script: it must pass against a
serving stubborn, fail when nothing listens, fail when the admin API is off or wants a token it
was not given, and pass with that token.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BINARY, SOURCE = sys.argv[1], sys.argv[2]
PROBE = os.path.join(SOURCE, "deploy", "docker", "healthcheck.sh")

failures = []
passed = 0


def check(name, ok, detail=""):
    global passed
    if ok:
        passed += 1
        print("ok   " + name)
    else:
        failures.append(name)
        print("FAIL " + name + ("\n     " + str(detail) if detail else ""))


class Server:
    def __init__(self, work, name, config):
        self.config = os.path.join(work, name + ".toml")
        self.port_file = os.path.join(work, name + ".port")
        with open(self.config, "w") as f:
            f.write(config)
        self.proc = subprocess.Popen(
            [BINARY, "--listen", "127.0.0.1:0", "--port-file", self.port_file, self.config],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("stubborn did not start: " + self.proc.stderr.read().decode())
            time.sleep(0.02)
        with open(self.port_file) as f:
            self.port = f.read().strip()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=20)


def probe(port, token=None):
    env = dict(os.environ)
    env.pop("STUBBORN_HEALTHCHECK_TOKEN", None)
    if token is not None:
        env["STUBBORN_HEALTHCHECK_TOKEN"] = token
    return subprocess.run(["bash", PROBE, str(port)], capture_output=True, text=True,
                          timeout=20, env=env).returncode


ROUTE = '[[route]]\npath = "/hello"\n[route.reply]\nbody = "hi"\n'


def main():
    work = tempfile.mkdtemp(prefix="stubborn-healthcheck-")
    try:
        server = Server(work, "open", ROUTE)
        try:
            check("the probe passes against a serving stubborn", probe(server.port) == 0)
        finally:
            server.stop()
        check("the probe fails when nothing listens", probe(server.port) != 0)

        server = Server(work, "no-admin", "[admin]\nenabled = false\n" + ROUTE)
        try:
            check("the probe fails without the admin API (404)", probe(server.port) != 0)
        finally:
            server.stop()

        server = Server(work, "token", '[admin]\ntoken = "s3cret"\n' + ROUTE)
        try:
            check("the probe fails without the admin token (401)", probe(server.port) != 0)
            check("the probe fails with another token (403)", probe(server.port, "x") != 0)
            check("the probe passes with STUBBORN_HEALTHCHECK_TOKEN",
                  probe(server.port, "s3cret") == 0)
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Shared helpers for the end-to-end tests: checks, the binary's life cycle, curl, raw reads."""
import os
import signal
import socket
import subprocess
import sys
import time

results = {"passed": 0, "failed": 0}


def check(name, condition, detail=""):
    if condition:
        results["passed"] += 1
        print(f"ok   {name}")
    else:
        results["failed"] += 1
        print(f"FAIL {name} {detail}")


def finish():
    """Prints the closing count line and exits non-zero if anything failed."""
    print(f"{results['passed']} passed, {results['failed']} failed")
    sys.exit(1 if results["failed"] else 0)


def wait_for_port(port_file, proc, deadline_s=10.0):
    """The port the server wrote once listening, or None if it died or took too long."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        try:
            with open(port_file) as f:
                text = f.read().strip()
            if text:
                return int(text)
        except FileNotFoundError:
            pass
        time.sleep(0.02)
    return None


def start_server(binary, config, work, *flags):
    """Starts the binary on 127.0.0.1:0 (with extra command-line flags); returns (process, port
    or None)."""
    port_file = os.path.join(work, "port")
    if os.path.exists(port_file):
        os.remove(port_file)
    proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--port-file", port_file, *flags,
                             config],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, wait_for_port(port_file, proc)


def stop_server(proc):
    """SIGTERM, then the exit code (None if it had to be killed), stdout and stderr."""
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = None
    out, err = proc.communicate()
    return code, out, err


class CurlResult:
    def __init__(self, completed):
        # Decoded by hand: text mode would turn the CRLFs we check into LFs.
        self.returncode = completed.returncode
        self.stdout = completed.stdout.decode("utf-8", "replace")
        self.stderr = completed.stderr.decode("utf-8", "replace")


def curl(*args):
    return CurlResult(subprocess.run(["curl", "-sS", "--max-time", "10", *args],
                                     capture_output=True, timeout=20))


def read_until_close(sock, deadline_s):
    """Everything the server sends until it closes (or the deadline passes): (data, closed)."""
    data = b""
    deadline = time.monotonic() + deadline_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, False
        sock.settimeout(left)
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            return data, False
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk

#!/usr/bin/env python3
"""End to end: the `stubborn record` command line (its usage and its checks before serving),
and `stubborn CONFIG` next to it.

Usage: test_record_cli.py STUBBORN_BINARY SOURCE_DIR
"""
import os
import shutil
import subprocess
import sys
import tempfile

from e2e_support import check, finish, start_server, stop_server

BINARY, SOURCE = sys.argv[1], sys.argv[2]


def run(*args):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=30)


def main():
    work = tempfile.mkdtemp(prefix="stubborn-e2e-record-")
    try:
        helped = run("--help")
        check("--help lists the record sub-command",
              helped.returncode == 0 and "stubborn record --upstream URL --out FILE.toml"
              in helped.stdout, helped.stdout)

        no_upstream = run("record", "--out", os.path.join(work, "r.toml"))
        check("record without --upstream is a usage error (exit 2)",
              no_upstream.returncode == 2 and "needs --upstream" in no_upstream.stderr,
              no_upstream.stderr)
        no_out = run("record", "--upstream", "http://127.0.0.1:9")
        check("record without --out is a usage error (exit 2)",
              no_out.returncode == 2 and "needs --out" in no_out.stderr, no_out.stderr)
        with_config = run("record", "--upstream", "http://127.0.0.1:9", "--out", "r.toml",
                          "configs/example.toml")
        check("record takes no CONFIG", with_config.returncode == 2
              and "serves no CONFIG" in with_config.stderr, with_config.stderr)
        unknown = run("record", "--upstream", "http://127.0.0.1:9", "--out", "r.toml", "--bogus")
        check("record refuses an unknown option", unknown.returncode == 2
              and "unknown option '--bogus'" in unknown.stderr, unknown.stderr)
        # --upstream and --out belong to record only.
        stray = run("--upstream", "http://127.0.0.1:9", os.path.join(SOURCE, "configs",
                                                                      "example.toml"))
        check("--upstream outside record is an unknown option", stray.returncode == 2
              and "unknown option '--upstream'" in stray.stderr, stray.stderr)

        # The plain form is unchanged.
        config = os.path.join(work, "routes.toml")
        with open(config, "w") as f:
            f.write('[[route]]\npath = "/x"\n[route.reply]\nbody = "x"\n')
        proc, port = start_server(BINARY, config, work)
        check("stubborn CONFIG still serves", port is not None)
        if port is not None:
            code, _, _ = stop_server(proc)
            check("stubborn CONFIG exits 0 on SIGTERM", code == 0)
        else:
            proc.kill()
            proc.communicate()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()

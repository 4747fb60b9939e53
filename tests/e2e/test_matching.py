#!/usr/bin/env python3
"""End to end: configs/matching.toml served by the built binary, driven by the curl lines of
docs/matching.md.

Usage: test_matching.py STUBBORN_BINARY SOURCE_DIR

Every `curl` line in a ```sh block of docs/matching.md is run, in page order, against a fresh
server on a free port (localhost:8080 replaced, -i added), and checked against the `# =>` line
under it: `# => STATUS TEXT`, where TEXT is pieces separated by `...` that must each appear in
the answer (head or body). A curl line without its `# =>` line is a failure, so the page cannot
show a line that is not checked. Each line of the page's ```toml blocks must be a line of the
config, so the excerpts cannot drift from the file either. Then a few checks the page cannot
express: the formats of {{now}}, {{now.http}}, {{uuid}} and the JSON types of the numbers.
"""
import datetime
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

from e2e_support import check, finish, start_server, stop_server

BINARY, SOURCE = sys.argv[1], sys.argv[2]
CONFIG = os.path.join(SOURCE, "configs", "matching.toml")
PAGE = os.path.join(SOURCE, "docs", "matching.md")
DOC_HOST = "localhost:8080"


class DocLine:
    def __init__(self, number, command, status, pieces):
        self.number = number    # line of the curl command in the page
        self.command = command  # the command as written (continuations joined)
        self.status = status    # expected status, or None when the `# =>` line is missing/bad
        self.pieces = pieces    # texts the answer must contain


def blocks(text, language):
    """(first line number, lines) of every fenced block in `language`."""
    found, current, start = [], None, 0
    for number, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        if current is None:
            if stripped == "```" + language:
                current, start = [], number + 1
        elif stripped.startswith("```"):
            found.append((start, current))
            current = None
        else:
            current.append(line)
    return found


def parse_expectation(line):
    """`# => 202 a ... b` -> (202, ["a", "b"]); (None, []) if the line is not one."""
    m = re.match(r"^#\s*=>\s*(\d{3})(?:\s+(.*))?$", line.strip())
    if not m:
        return None, []
    pieces = [p.strip() for p in (m.group(2) or "").split("...")]
    return int(m.group(1)), [p for p in pieces if p]


def doc_lines(text):
    out = []
    for start, lines in blocks(text, "sh"):
        i = 0
        while i < len(lines):
            number, line = start + i, lines[i].strip()
            i += 1
            if not line.startswith("curl "):
                continue
            while line.endswith("\\") and i < len(lines):
                line = line[:-1] + " " + lines[i].strip()
                i += 1
            status, pieces = (None, [])
            if i < len(lines):
                status, pieces = parse_expectation(lines[i])
                if status is not None:
                    i += 1
            out.append(DocLine(number, line, status, pieces))
    return out


def status_of(head_and_body):
    """The final status of curl -i output (1xx heads skipped), or None."""
    for m in re.finditer(r"^HTTP/1\.[01] (\d{3})", head_and_body, re.M):
        if not m.group(1).startswith("1"):
            return int(m.group(1))
    return None


def run_doc_line(doc, port):
    args = [a.replace(DOC_HOST, f"127.0.0.1:{port}") for a in shlex.split(doc.command)]
    cmd = [args[0], "-i", "-sS", "--max-time", "10"] + args[1:]
    r = subprocess.run(cmd, capture_output=True, timeout=20)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def check_doc_line(doc, port):
    name = f"docs/matching.md:{doc.number}: {doc.command[:90]}"
    if doc.status is None:
        check(f"{name}: has a '# => STATUS ...' line under it", False)
        return
    code, out, err = run_doc_line(doc, port)
    detail = f"\n  curl exit {code} {err.strip()}\n  answer: {out[:600]!r}"
    check(f"{name}: status {doc.status}", code == 0 and status_of(out) == doc.status, detail)
    for piece in doc.pieces:
        check(f"{name}: contains {piece[:70]!r}", piece in out, detail)


def check_excerpts(text, config_text):
    """Every line of the page's ```toml blocks is a line of the config."""
    config_lines = {line.rstrip() for line in config_text.split("\n")}
    for start, lines in blocks(text, "toml"):
        missing = [line for line in lines if line.strip() and line.rstrip() not in config_lines]
        check(f"docs/matching.md:{start}: the toml excerpt is in configs/matching.toml",
              not missing, f"lines not in the config: {missing}")


def split_reply(out):
    head, _, body = out.replace("\r\n", "\n").partition("\n\n")
    return head, body


def check_clock_and_ids(port):
    """What `...` hides in the page: the formats and JSON types of the clock, UUID and counter."""
    before = time.time()
    replies = []
    for _ in range(2):
        r = subprocess.run(["curl", "-i", "-sS", "--max-time", "10", "-X", "POST",
                            f"http://127.0.0.1:{port}/tickets"], capture_output=True, timeout=20)
        replies.append(split_reply(r.stdout.decode("utf-8", "replace")))
    after = time.time()
    bodies = []
    for head, body in replies:
        try:
            bodies.append(json.loads(body))
        except ValueError:
            check("POST /tickets: the reply is JSON", False, repr(body[:300]))
            return
    first, second = bodies
    check("{{counter}} is a JSON number, one more per request",
          isinstance(first.get("number"), int) and second.get("number") == first["number"] + 1,
          f"{first.get('number')!r}, {second.get('number')!r}")
    check("{{json.subject}} of a request without a body is null",
          "subject" in first and first["subject"] is None, repr(first))
    uuid4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
    check("{{uuid}} is a version 4 UUID", bool(uuid4.match(str(first.get("id")))),
          repr(first.get("id")))
    check("{{uuid}} differs from reply to reply", first.get("id") != second.get("id"))
    epoch, epoch_ms = first.get("epoch"), first.get("epoch_ms")
    check("{{now.epoch}} is a JSON number near the clock", isinstance(epoch, int) and
          before - 5 <= epoch <= after + 5, f"{epoch!r} not in [{before:.0f}, {after:.0f}]")
    check("{{now.epoch_ms}} is a JSON number, the same instant in ms",
          isinstance(epoch_ms, int) and isinstance(epoch, int) and epoch_ms // 1000 == epoch,
          f"{epoch_ms!r} vs {epoch!r}")
    created = str(first.get("created"))
    m = re.match(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.(\d{3})Z$", created)
    check("{{now}} is RFC 3339 UTC with milliseconds", bool(m), repr(created))
    if m and isinstance(epoch_ms, int):
        at = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=datetime.timezone.utc).timestamp() * 1000 + int(m.group(2))
        check("{{now}} and {{now.epoch_ms}} are the same instant", abs(at - epoch_ms) < 1000,
              f"{created} vs {epoch_ms}")
    head = replies[0][0]
    created_http = re.search(r"^X-Created: (.*)$", head, re.M)
    check("{{now.http}} is an IMF-fixdate", bool(created_http) and bool(re.match(
        r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|"
        r"Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$", created_http.group(1).strip())), head)
    location = re.search(r"^Location: (.*)$", head, re.M)
    check("{{counter}} in a header is its decimal text", bool(location) and
          location.group(1).strip() == f"/tickets/{first.get('number')}", head)


def main():
    with open(PAGE) as f:
        page = f.read()
    with open(CONFIG) as f:
        config_text = f.read()
    lines = doc_lines(page)
    # A parser that finds nothing would pass vacuously.
    check("docs/matching.md has its curl lines", len(lines) >= 30, f"found {len(lines)}")
    check_excerpts(page, config_text)

    r = subprocess.run([BINARY, "--check", CONFIG], capture_output=True, text=True, timeout=20)
    check("--check passes configs/matching.toml", r.returncode == 0, r.stdout + r.stderr)
    if r.returncode != 0:
        return

    work = tempfile.mkdtemp(prefix="stubborn-e2e-matching-")
    try:
        proc, port = start_server(BINARY, CONFIG, work)
        try:
            check("the server starts and writes its port", port is not None)
            if port is None:
                return
            for doc in lines:
                check_doc_line(doc, port)
            check_clock_and_ids(port)
        finally:
            code, out, err = stop_server(proc)
            check("SIGTERM exits 0", code == 0, f"code={code} stderr={err}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
    finish()

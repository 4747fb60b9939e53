#!/usr/bin/env python3
"""Reads `taplo check` output over the files of tests/schema/broken/ and checks that each file
failed on the key its "# wrong: KEY" line names, and on nothing else: every error either says
KEY was unexpected (an unknown key) or points into the value written after `KEY =` (a wrong type
or value). Usage: expect_failures.py TAPLO_OUTPUT FILE...
"""
import os
import re
import sys

ERROR = re.compile(r"^error: (.*)$")
PLACE = re.compile(r"^\s*┌─ (.+):(\d+):(\d+)\s*$")


def wrong_key(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^#\s*wrong:\s*(\S+)\s*$", line)
            if m:
                return m.group(1)
    return None


def main():
    output_path, files = sys.argv[1], sys.argv[2:]
    with open(output_path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    errors = {}  # real path -> [(message, line, column)]
    message = None
    for line in lines:
        m = ERROR.match(line)
        if m:
            message = m.group(1)
            continue
        m = PLACE.match(line)
        if m and message is not None:
            path = os.path.realpath(m.group(1))
            errors.setdefault(path, []).append((message, int(m.group(2)), int(m.group(3))))
            message = None
    if any("failed to load schema" in line for line in lines):
        print("taplo could not load the schema:")
        print("\n".join(l for l in lines if "failed to load schema" in l))
        return 1

    failed = 0
    known = set()
    for path in files:
        real = os.path.realpath(path)
        known.add(real)
        key = wrong_key(path)
        if key is None:
            print(f"FAIL {path}: no '# wrong: KEY' line")
            failed += 1
            continue
        with open(path, encoding="utf-8") as f:
            text = f.read().splitlines()
        found = errors.get(real, [])
        if not found:
            print(f"FAIL {path}: taplo accepted it, but '{key}' is wrong")
            failed += 1
            continue
        assignment = re.compile(r"(?:^|[\s{,])([A-Za-z0-9_-]+|\"[^\"]*\")\s*=")
        others = []
        for message, line, column in found:
            if f"'{key}' was unexpected" in message:
                continue
            # The error points into a value: the last `name =` before it on its line is KEY.
            before = text[line - 1][: column - 1] if 0 < line <= len(text) else ""
            names = [name.strip('"') for name in assignment.findall(before)]
            if names and names[-1] == key:
                continue
            others.append(f"  {line}:{column}: {message}")
        if others:
            print(f"FAIL {path}: expected errors on '{key}' only, also got:")
            print("\n".join(others))
            failed += 1
            continue
        print(f"ok   {path}: fails on '{key}' ({found[0][0]})")
    for path, found in errors.items():
        if path not in known:
            print(f"FAIL {path}: errors in a file not expected to fail: {found[0][0]}")
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""`stubborn --help`, the manual page and the bash and zsh completions agree on the options.

Usage: test_cli_docs.py BINARY SOURCE_DIR

- --help lists each option on a line of its own, no line wider than 80 columns, and says
  where the docs are; the man page's header has the version of `stubborn --version`;
- every option of --help is in docs/stubborn.1 (and in the page `man` renders, which must
  render without a warning), in deploy/completions/stubborn.bash and in
  deploy/completions/_stubborn, and those name no option that --help does not;
- the bash completion, run as bash runs it, offers exactly the options of --help after
  `stubborn --`, and --upstream and --out after `stubborn record --`;
- the zsh completion, run by an interactive zsh on a pseudo-terminal (zsh_complete.zsh), does
  the same.
"""
import os
import re
import shutil
import subprocess
import sys

BINARY, SOURCE = sys.argv[1], sys.argv[2]
MAN_PAGE = os.path.join(SOURCE, "docs", "stubborn.1")
BASH = os.path.join(SOURCE, "deploy", "completions", "stubborn.bash")
ZSH = os.path.join(SOURCE, "deploy", "completions", "_stubborn")
HERE = os.path.dirname(os.path.abspath(__file__))

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


def options_in(text):
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*[a-z]", text))


def main():
    helped = subprocess.run([BINARY, "--help"], capture_output=True, text=True, timeout=20)
    check("--help exits 0", helped.returncode == 0, helped.stderr)
    text = helped.stdout
    # An option line: two spaces, the option (and its short form), its argument, its meaning.
    listed = []
    for line in text.splitlines():
        m = re.match(r"^  (?:-h, )?(--[a-z][a-z-]*)\b", line)
        if m:
            listed.append(m.group(1))
    options = set(listed)
    check("--help lists options", len(options) >= 10, text)
    check("--help lists each option once", len(listed) == len(options), listed)
    check("--help lists -h", re.search(r"^  -h, --help ", text, re.M) is not None)
    check("every option --help mentions has a line of its own", options_in(text) <= options,
          options_in(text) - options)
    wide = [line for line in text.splitlines() if len(line) > 80]
    check("no line of --help is wider than 80 columns", not wide, wide)
    check("--help points to the man page and the docs",
          "man stubborn" in text and "docs/config.md" in text, text)
    check("--help lists the record sub-command and its options",
          "stubborn record --upstream URL --out FILE.toml" in text
          and {"--upstream", "--out"} <= options, text)
    serve_options = options - {"--upstream", "--out"}

    with open(MAN_PAGE, encoding="utf-8") as f:
        roff = f.read()
    # Comments (.\") may name other things, `man --warnings` for one.
    roff_text = "\n".join(line for line in roff.splitlines() if not line.startswith('.\\"'))
    in_roff = options_in(roff_text.replace("\\-", "-"))
    check("the man page names every option of --help", options <= in_roff, options - in_roff)
    check("the man page names no option that --help does not", in_roff <= options,
          in_roff - options)
    check("the man page documents -h", "\\-h" in roff)
    version = subprocess.run([BINARY, "--version"], capture_output=True, text=True,
                             timeout=20).stdout.strip()
    th = re.search(r'^\.TH STUBBORN 1 "[^"]*" "([^"]*)"', roff, re.M)
    check("the man page is of this version (" + version + ")",
          th is not None and th.group(1) == version, th and th.group(0))

    man = shutil.which("man")
    check("man is installed (man-db: scripts/setup.sh)", man is not None)
    if man:
        env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80")
        rendered = subprocess.run([man, "--warnings", "-l", MAN_PAGE], capture_output=True,
                                  text=True, timeout=60, env=env)
        check("man --warnings -l renders docs/stubborn.1 without a warning",
              rendered.returncode == 0 and rendered.stderr == "", rendered.stderr)
        shown = options_in(rendered.stdout)
        check("the rendered man page shows every option", options <= shown, options - shown)

    for path in (BASH, ZSH):
        with open(path, encoding="utf-8") as f:
            completion = f.read()
        # Comments may name other things; the code must name every option, and only those.
        code = "\n".join(line for line in completion.splitlines()
                         if not line.lstrip().startswith("#"))
        named = options_in(code)
        name = os.path.basename(path)
        check(name + " completes every option of --help", options <= named, options - named)
        check(name + " completes no option that --help does not", named <= options,
              named - options)

    def complete(*words):
        script = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); '
                  'COMPREPLY=(); _stubborn 2>/dev/null; printf "%s\\n" "${COMPREPLY[@]}"')
        r = subprocess.run(["bash", "-c", script, "bash", BASH, *words], capture_output=True,
                           text=True, timeout=20, cwd=SOURCE)
        return r.returncode, set(r.stdout.split())

    rc, offered = complete("stubborn", "--")
    check("bash: `stubborn --<TAB>` offers exactly the options of --help",
          rc == 0 and offered - {"-h"} == serve_options, (rc, offered ^ serve_options))
    rc, offered = complete("stubborn", "record", "--")
    check("bash: `stubborn record --<TAB>` offers --upstream and --out, not --check",
          rc == 0 and {"--upstream", "--out", "--listen"} <= offered
          and "--check" not in offered, offered)
    rc, offered = complete("stubborn", "--log-level", "")
    check("bash: `--log-level <TAB>` offers the levels",
          offered == {"error", "warn", "info", "debug"}, offered)
    rc, offered = complete("stubborn", "--log-level", "=", "de")
    check("bash: `--log-level=de<TAB>` offers debug", offered == {"debug"}, offered)
    rc, offered = complete("stubborn", "configs/ex")
    check("bash: a CONFIG completes to a TOML file", "configs/example.toml" in offered, offered)

    zsh = shutil.which("zsh")
    check("zsh is installed (scripts/setup.sh)", zsh is not None)
    if zsh:
        r = subprocess.run([zsh, "-n", ZSH], capture_output=True, text=True, timeout=20)
        check("_stubborn is valid zsh (zsh -n)", r.returncode == 0, r.stderr)

        def zsh_complete(line):
            r = subprocess.run([zsh, "-f", os.path.join(HERE, "zsh_complete.zsh"),
                                os.path.dirname(ZSH), line], capture_output=True, text=True,
                               timeout=30, cwd=SOURCE)
            return set(r.stdout.split())

        offered = zsh_complete("stubborn --")
        check("zsh: `stubborn --<TAB>` offers exactly the options of --help",
              offered == serve_options, offered ^ serve_options)
        offered = zsh_complete("stubborn record --")
        check("zsh: `stubborn record --<TAB>` offers --upstream and --out, not --check",
              {"--upstream", "--out", "--listen"} <= offered and "--check" not in offered,
              offered)
        offered = zsh_complete("stubborn --log-level ")
        check("zsh: `--log-level <TAB>` offers the levels",
              offered == {"error", "warn", "info", "debug"}, offered)
        offered = zsh_complete("stubborn ")
        check("zsh: the first word completes to record or a config",
              "record" in offered and "configs" in offered, offered)

    print(f"{passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

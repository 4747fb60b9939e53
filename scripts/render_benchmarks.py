#!/usr/bin/env python3
"""Renders the benchmark figures in README.md and docs/*.md from the committed result files.

    python3 scripts/render_benchmarks.py            # rewrite the marked blocks in place
    python3 scripts/render_benchmarks.py --check    # exit 1 if a block differs from its render

A block is everything between `<!-- benchmarks:begin NAME -->` and `<!-- benchmarks:end NAME -->`
in README.md or a file under docs/; NAME picks what is rendered there (BLOCKS below). Figures
come only from the files under benchmarks/results/ that git tracks (every file there when the
tree is not a git checkout), so each figure in the docs names the committed file it came from:

- `<UTC stamp>.jsonl` from benchmarks/run.py: the latest run with every default scenario is "the
  latest full run"; an extra scenario (soak, journal, syscalls, wrk-threads, scaling, https-hello,
  https-handshakes, https-idle, cluster), each proxy scenario (proxy-hello, proxy-latency) and
  each stream scenario (ws-held, sse-held, ws-echo) comes from the latest run that holds it;
- `instructions-<UTC stamp>.json` from benchmarks/instructions.py;
- `rate-limit-<UTC stamp>.json` from benchmarks/rate_limit.py.

Where no such file is committed, the block says so and names the command that makes one.
Python 3 standard library only.
"""

import argparse
import difflib
import json
import re
import subprocess
import sys
from pathlib import Path

RESULTS = "benchmarks/results"
# What a run must hold to be "the latest full run". The proxy scenarios (proxy-hello,
# proxy-latency), the stream scenarios (ws-held, sse-held, ws-echo) and `conditions` joined the
# runner's default set later and are not required here, so a full run from before them still
# counts; the proxy and stream scenarios, like the extra ones, come from the latest run that holds
# them, and `conditions` is shown with the full run's other wrk scenarios when that run holds it.
DEFAULT_SCENARIOS = ["hello", "pipelined", "body-64k", "routes-1000", "delays", "connections",
                     "startup", "micro"]
MARKER = re.compile(r"^<!-- benchmarks:(begin|end) ([a-z0-9-]+) -->$")
STAMP = re.compile(r"^(\d{8}T\d{6}Z)\.jsonl$")
JSON_STAMP = re.compile(r"^(instructions|rate-limit)-(\d{8}T\d{6}Z)\.json$")


class RenderError(Exception):
    """A result file or a doc that cannot be rendered; the message says which and why."""


# ---- reading the result files -------------------------------------------------------------------

def result_names(root):
    """(names of the result files to read, names present but not tracked by git)."""
    folder = root / RESULTS
    present = []
    if folder.is_dir():
        present = sorted(p.name for p in folder.iterdir()
                         if p.is_file() and (STAMP.match(p.name) or JSON_STAMP.match(p.name)))
    try:
        listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--", RESULTS],
                                capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        listed = None
    inside = None
    if listed is not None and listed.returncode == 0:
        top = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, timeout=60)
        inside = top.returncode == 0 and Path(top.stdout.strip()).resolve() == root.resolve()
    if not inside:
        return present, []
    tracked = sorted(Path(n).name for n in listed.stdout.split("\0") if n)
    tracked = [n for n in tracked if n in present]
    return tracked, [n for n in present if n not in tracked]


def load_run(path):
    """A benchmarks/run.py result: meta, summaries by key, the runner's target verdicts."""
    run = {"file": f"{RESULTS}/{path.name}", "stamp": STAMP.match(path.name).group(1),
           "meta": {}, "summaries": {}, "targets": []}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as e:
            raise RenderError(f"{run['file']}:{number}: not JSON: {e}") from None
        kind = record.get("type")
        if kind == "meta":
            run["meta"] = record
        elif kind == "summary":
            run["summaries"][record["key"]] = record
        elif kind == "target":
            run["targets"].append(record)
    return run


def load_json(path, kind):
    try:
        record = json.loads(path.read_text())
    except ValueError as e:
        raise RenderError(f"{RESULTS}/{path.name}: not JSON: {e}") from None
    if record.get("type") != kind:
        raise RenderError(f"{RESULTS}/{path.name}: \"type\" is not \"{kind}\"")
    record["file"] = f"{RESULTS}/{path.name}"
    return record


def scenarios_of(run):
    return {s.get("scenario") for s in run["summaries"].values()}


def is_full_run(run):
    """Every default scenario, at the runner's normal settings (not --quick)."""
    argv = run["meta"].get("argv") or []
    return "--quick" not in argv and set(DEFAULT_SCENARIOS) <= scenarios_of(run)


class Results:
    """The committed result files, and the latest of each kind."""

    def __init__(self, root):
        names, self.untracked = result_names(root)
        folder = root / RESULTS
        self.runs = sorted((load_run(folder / n) for n in names if STAMP.match(n)),
                           key=lambda r: r["stamp"])
        by_kind = {"instructions": [], "rate-limit": []}
        for n in names:
            m = JSON_STAMP.match(n)
            if m:
                by_kind[m.group(1)].append((m.group(2), load_json(folder / n, m.group(1))))
        self.instructions = max(by_kind["instructions"], default=(None, None))[1]
        self.rate_limit = max(by_kind["rate-limit"], default=(None, None))[1]
        full = [r for r in self.runs if is_full_run(r)]
        self.full_run = full[-1] if full else None

    def latest_with(self, scenario):
        holding = [r for r in self.runs if scenario in scenarios_of(r)
                   and not r["summaries"].get(scenario, {}).get("skipped")]
        return holding[-1] if holding else None


# ---- formatting ---------------------------------------------------------------------------------

def num(value, digits=0):
    return "-" if value is None else f"{value:,.{digits}f}"


def ms_from_us(us):
    return "-" if us is None else f"{us / 1000:.2f} ms"


def mib(kib):
    return "-" if kib is None else f"{kib / 1024:.1f} MiB"


def pss_mib(kib):
    return "-" if kib is None else f"{kib / 1024:.1f}"


def ns(value):
    if value is None:
        return "-"
    if value < 1e3:
        return f"{value:.0f} ns"
    if value < 1e6:
        return f"{value / 1e3:.2f} us"
    return f"{value / 1e6:.2f} ms"


def ratio(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}x"


def table(header, rows, align=None):
    align = align or ["---"] * len(header)
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"] +
                     ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def commit_text(record):
    commit = record.get("git_commit")
    if not commit:
        return "an unknown commit"
    return f"commit `{commit}`" + (" plus uncommitted changes" if record.get("git_dirty") else "")


def run_source(run):
    meta = run["meta"]
    argv = " ".join(meta.get("argv") or [])
    command = f"python3 benchmarks/run.py {argv}".rstrip()
    return (f"From `{run['file']}`: `{command}` on {commit_text(meta)}, "
            f"{meta.get('nproc', '?')} x {meta.get('cpu_model', '?')}, Linux "
            f"{meta.get('kernel', '?')}; wrk -t{meta.get('wrk_threads', '?')} "
            f"-c{meta.get('wrk_connections', '?')} -d{meta.get('duration_s', '?')}s, server "
            f"threads {meta.get('server_threads', '?')}, medians of {meta.get('reps', '?')} runs.")


def missing(what, command, then=""):
    return (f"No {what} is committed yet: run `{command}`{then}, commit the file it writes under "
            f"`{RESULTS}/`, then run `python3 scripts/render_benchmarks.py`.")


NO_FULL_RUN = missing("full run", "python3 benchmarks/run.py", " on a quiet machine")


# ---- blocks -------------------------------------------------------------------------------------

def instructions_sentence(r):
    i = r.instructions
    if not i:
        return missing("instruction count", "python3 benchmarks/instructions.py")
    s = i["servers"]["stubborn"]["per_request"]
    text = f"User-space instructions per `hello` request (callgrind, one thread): stubborn {s:,.0f}"
    if i["servers"].get("nginx"):
        text += (f", nginx {i['servers']['nginx']['per_request']:,.0f} "
                 f"({ratio(i.get('ratio'))})")
    build = i.get("stubborn", {}).get("build_type")
    return (text + f"; from `{i['file']}`, {commit_text(i)}"
            + (f", {build} build" if build else "") + ".")


def block_summary(r):
    """README: the runner's verdicts on every target, and the instruction count."""
    out = []
    run = r.full_run
    if not run:
        out.append(NO_FULL_RUN)
    elif not run["targets"]:
        out.append(f"`{run['file']}` holds no target verdicts (`target` records).")
    else:
        out += [table(["target", "wanted", "measured", "result"],
                      [[t["target"], t["wanted"], t["measured"], t["result"]]
                       for t in run["targets"]]), "", run_source(run)]
    out += ["", instructions_sentence(r)]
    return "\n".join(out)


def wrk_rows(s, names=("hello", "pipelined", "body-64k", "routes-1000", "conditions")):
    rows = []
    for name in names:
        for label in ("stubborn", "nginx", "hello-reference"):
            x = s.get(f"{name}/{label}")
            if not x:
                continue
            if name in ("routes-1000", "conditions"):
                rr = s.get(f"{name}/ratio", {}).get("rps_ratio_to_hello")
                versus = f"{ratio(rr, 3)} hello" if label == "stubborn" else "(hello, same run)"
            else:
                rr = s.get(f"{name}/ratio")
                versus = (f"**{ratio(rr.get('rps_ratio'), 3)}** (p99 "
                          f"{ratio(rr.get('p99_ratio'))}, CPU {ratio(rr.get('cpu_ratio'))})"
                          if rr and label == "stubborn" else "")
            shown = "stubborn hello" if label == "hello-reference" else label
            rows.append([name, shown, num(x.get("rps")), ms_from_us(x.get("p50_us")),
                         ms_from_us(x.get("p99_us")), ms_from_us(x.get("max_us")),
                         num(x.get("cpu_us_per_req"), 2), num(x.get("bytes_per_reply")), versus,
                         x.get("errors", "-"), f"{num(x.get('other_cpu_pct_max'))}%"])
    return rows


def block_results(r):
    """docs/performance.md: every figure of the latest full run."""
    run = r.full_run
    if not run:
        return NO_FULL_RUN
    s = run["summaries"]
    out = [run_source(run), ""]
    if run["targets"]:
        out += [table(["target", "wanted", "measured", "result"],
                      [[t["target"], t["wanted"], t["measured"], t["result"]]
                       for t in run["targets"]]), ""]
    rows = wrk_rows(s)
    if rows:
        out += [table(["scenario", "server", "req/s", "p50", "p99", "max", "server CPU us/req",
                       "bytes/reply", "stubborn / nginx", "errors", "other load (max)"], rows,
                      ["---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---",
                       "---:", "---:"]), ""]
        if s.get("pipelined/stubborn"):
            out += ["Pipelined latencies are per batch of 16 (wrk times the batch's write to its "
                    "16th reply).", ""]
    drows = []
    for key in sorted((k for k in s if k.startswith("delays/")),
                      key=lambda k: int(k.split("/")[1])):
        d = s[key]
        each = ", ".join(f"{x:,}" for x in d.get("on_time_runs", []))
        drows.append([f"{d['connections']:,}", f"{num(d.get('on_time_median'))} ({each})",
                      f"{num(d.get('p50_ms'), 1)} ms", f"{num(d.get('p99_ms'), 1)} ms",
                      f"{num(d.get('max_ms'), 1)} ms (worst {num(d.get('max_ms_worst'), 1)})",
                      mib(d.get("peak_rss_kib")), num(d.get("cpu_us_per_req"), 1),
                      f"{num(d.get('send_ms'))} ms", num(d.get("accepted_at_send_min")),
                      f"{num(d.get('accept_wait_ms_max'))} ms"])
    if drows:
        out += [table(["delays: connections, 1 s delay", "on time (<= 1,050 ms): median (each "
                       "run)", "p50", "p99", "max", "peak RSS", "server CPU us/req",
                       "client's send burst", "accepted when sent (worst run)",
                       "wait for the accepts (worst run)"], drows, ["---:"] * 10), ""]
    elif s.get("delays", {}).get("skipped"):
        out += [f"delays: skipped ({s['delays']['skipped']}).", ""]
    crows = []
    for key in ("connections", "connections/nginx"):
        c = s.get(key)
        if c:
            crows.append([c.get("server", "stubborn"),
                          f"{mib(c.get('rss_idle_kib'))} ({pss_mib(c.get('pss_idle_kib'))})",
                          f"{mib(c.get('rss_held_kib'))} ({pss_mib(c.get('pss_held_kib'))})",
                          f"{num(c.get('pss_kib_per_connection'), 2)} KiB",
                          mib(c.get("rss_after_kib")), num(c.get("second_ok_min")),
                          num(c.get("cpu_us_per_req"), 1)])
    if crows:
        out += [table(["connections: 10,000 idle keep-alive", "idle server RSS (PSS)",
                       "RSS (PSS) with 10,000 held", "PSS per connection", "RSS after they close",
                       "answered a 2nd request", "server CPU us/req"], crows,
                      ["---"] + ["---:"] * 6), "",
                "nginx's figures are its master and workers summed; PSS counts the pages they "
                "share once.", ""]
    st = s.get("startup")
    if st:
        out += [table(["startup", "exec to first reply (median)", "min", "max",
                       "`--check` wall time", "server CPU", "RSS"],
                      [[f"{st.get('routes', 0):,} routes", f"{num(st.get('first_reply_ms'), 1)} ms",
                        f"{num(st.get('first_reply_ms_min'), 1)} ms",
                        f"{num(st.get('first_reply_ms_max'), 1)} ms",
                        f"{num(st.get('check_ms'), 1)} ms",
                        f"{num((st.get('cpu_us_per_req') or 0) / 1000, 1)} ms",
                        mib(st.get("rss_kib"))]], ["---"] + ["---:"] * 6), ""]
    m = s.get("micro")
    if m and m.get("benchmarks"):
        rows = [[name, ns(row.get("ns")), ns(row.get("real_ns")),
                 "-" if row.get("allocs_per_iter") is None else f"{row['allocs_per_iter']:g}"]
                for name, row in m["benchmarks"].items()]
        out += [table([f"micro-benchmark ({m.get('statistic', 'median')} of "
                       f"{m.get('repetitions', '?')})", "CPU time", "real time",
                       "allocations per iteration"], rows, ["---", "---:", "---:", "---:"]), ""]
    elif m and m.get("skipped"):
        out += [f"micro: skipped ({m['skipped']}).", ""]
    return "\n".join(out).rstrip()


def block_instructions(r):
    i = r.instructions
    if not i:
        return missing("instruction count", "python3 benchmarks/instructions.py")
    rows = []
    for name in ("stubborn", "nginx"):
        x = i["servers"].get(name)
        if x:
            (n1, n2), (t1, t2) = x["requests"], x["totals"]
            rows.append([name, f"{x['per_request']:,.0f}", f"{t1:,} for {n1:,}",
                         f"{t2:,} for {n2:,}"])
    build = i.get("stubborn", {})
    out = [table(["per `hello` request", "user-space instructions", "first total",
                  "second total"], rows, ["---", "---:", "---:", "---:"]), ""]
    if i.get("ratio") is not None:
        out += [f"stubborn / nginx: **{ratio(i['ratio'])}**.", ""]
    out.append(f"From `{i['file']}`: `{i.get('command', 'python3 benchmarks/instructions.py')}` "
               f"on {commit_text(i)}; stubborn `{build.get('binary', '?')}` "
               f"({build.get('build_type') or 'build type unknown'}), "
               f"{(i.get('nginx_version') or 'no nginx').replace('nginx version: ', '')}, "
               f"{i.get('valgrind') or 'valgrind'}.")
    return "\n".join(out)


def block_syscalls(r):
    run = r.latest_with("syscalls")
    if not run:
        return missing("run with the syscalls scenario", "python3 benchmarks/run.py syscalls",
                       " (as root, with perf)")
    s = run["summaries"]
    labels = [label for label in ("stubborn", "nginx") if s.get(f"syscalls/{label}")]
    names = []
    for label in labels:
        for n, v in s[f"syscalls/{label}"].get("per_request", {}).items():
            if v >= 0.0005 and n not in names:
                names.append(n)
    rows = [[n] + [f"{s[f'syscalls/{label}']['per_request'].get(n, 0):.3f}" for label in labels]
            for n in names]
    return "\n".join([table(["per `hello` request (perf)"] + labels, rows,
                            ["---"] + ["---:"] * len(labels)), "", run_source(run)])


def block_journal(r):
    run = r.latest_with("journal")
    if not run:
        return missing("run with the journal scenario",
                       "python3 benchmarks/run.py --only hello,journal")
    s = run["summaries"]
    rows = []
    for key, shown in (("journal/off", "`journal = 0` (metrics on)"),
                       ("journal/on", "`journal = 1000`")):
        x = s.get(key)
        if x:
            rows.append([shown, num(x.get("rps")), ms_from_us(x.get("p99_us")),
                         num(x.get("cpu_us_per_req"), 2)])
    rr = s.get("journal/ratio", {})
    return "\n".join([table(["`[admin]`", "req/s", "p99", "server CPU us/req"], rows,
                            ["---", "---:", "---:", "---:"]), "",
                      f"journal on / off: {ratio(rr.get('rps_ratio'), 3)} req/s, CPU per request "
                      f"{ratio(rr.get('cpu_ratio'), 3)}.", "", run_source(run)])


# The scaling model's one figure that is not measured here: what an atomic operation on a cache
# line that other cores keep writing costs, i.e. moving the line between cores. An estimate, not
# a measurement: commonly quoted as ~50 ns between cores of one socket and 100-200 ns or more
# across sockets on current x86 servers; a machine with 2 cores cannot measure the 16- and
# 64-core figure. One such line serves at most 1 / (this) operations a second, however many
# cores share it.
CONTENDED_LINE_NS = (50, 200)
SCALING_LABELS = (("stubborn-t1", "stubborn"), ("nginx-w1", "nginx"), ("stubborn-t2", "stubborn"),
                  ("nginx-w2", "nginx"))


def block_scaling(r):
    """scaling: one server thread against two, the model's check, and its projection."""
    run = r.latest_with("scaling")
    if not run:
        return missing("run with the scaling scenario", "python3 benchmarks/run.py scaling")
    s = run["summaries"]
    rows = []
    for label, kind in SCALING_LABELS:
        x = s.get(f"scaling/{label}")
        if not x:
            continue
        pinned = x.get("pinned")
        rows.append([label, x.get("server_threads", "?"),
                     f"CPU {x.get('server_cpus')}" if pinned else "no",
                     f"-t{x.get('wrk_threads', '?')}" + (f" on CPU {x.get('wrk_cpus')}"
                                                         if pinned else ""),
                     num(x.get("rps")), num(x.get("cpu_us_per_req"), 2),
                     f"{num(x.get('server_cpu_pct'))}%", f"{num(x.get('wrk_cpu_pct'))}%",
                     num(x.get("wrk_cpu_us_per_req"), 2), num(x.get("softirq_us_per_req"), 2),
                     ms_from_us(x.get("p99_us")), x.get("errors", "-"),
                     f"{num(x.get('other_cpu_pct_max'))}%"])
    out = [table(["`hello`", "server threads", "server pinned to", "wrk", "req/s",
                  "server CPU us/req", "server CPU (of one core)", "wrk CPU (of one core)",
                  "wrk CPU us/req", "softirq us/req", "p99", "errors", "other load (max)"], rows,
                 ["---", "---:", "---", "---"] + ["---:"] * 9), ""]
    model = s.get("scaling/model", {})
    if not model.get("pinning"):
        out += [f"Not pinned: {model.get('not_pinned_because') or 'unknown why'}.", ""]
    checks = []
    for kind in ("stubborn", "nginx"):
        m = model.get(kind)
        if m:
            checks.append([kind, num(m.get("cpu_us_per_req_1"), 2),
                           num(m.get("cpu_us_per_req_2"), 2),
                           ratio(m.get("cpu_ratio_2_to_1"), 3),
                           num(m.get("machine_us_per_req_1"), 2), num(m.get("predicted_rps_2")),
                           num(m.get("rps_2")), ratio(m.get("measured_to_predicted_2"), 3),
                           num(m.get("busy_cores_2"), 2)])
    if checks:
        out += [table(["model check", "server CPU us/req, 1 thread (c)", "2 threads",
                       "2 threads / 1", "server + wrk + softirq us/req, 1 thread",
                       f"2 threads: predicted req/s ({model.get('nproc', '?')} cores / that)",
                       "measured", "measured / predicted", "cores busy (2 threads)"], checks,
                      ["---"] + ["---:"] * 8), ""]
    c = (model.get("stubborn") or {}).get("cpu_us_per_req_1")
    if c:
        projection = []
        for cores in (1, 2, 16, 64):
            shared = [min(cores * 1e6 / (c + ns / 1e3), 1e9 / ns)
                      for ns in reversed(CONTENDED_LINE_NS)]
            projection.append([cores, num(cores * 1e6 / c),
                               f"{num(shared[0])} - {num(shared[1])}"])
        out += [table(["cores (one I/O thread each)", "`hello`, nothing shared per request: N / c "
                       "req/s", "every request writing one shared line (a global rate limit, a "
                       "sequence counter): min(N / (c + t), 1 / t) req/s"], projection,
                      ["---:", "---:", "---:"]), "",
                f"c = {num(c, 2)} us, stubborn's server CPU per `hello` with one thread, measured "
                f"above; t = {CONTENDED_LINE_NS[0]}-{CONTENDED_LINE_NS[1]} ns per transfer of a "
                "contended cache line between cores, **an estimate, not measured here** (see the "
                "text). The projection counts the server's CPU only: the client and the "
                "kernel's network stack need cores of their own.", ""]
    meta = run["meta"]
    command = f"python3 benchmarks/run.py {' '.join(meta.get('argv') or [])}".rstrip()
    out.append(f"From `{run['file']}`: `{command}` on {commit_text(meta)}, "
               f"{meta.get('nproc', '?')} x {meta.get('cpu_model', '?')}, Linux "
               f"{meta.get('kernel', '?')}; wrk -c{meta.get('wrk_connections', '?')} "
               f"-d{meta.get('duration_s', '?')}s, the threads and pinning of each row as shown, "
               f"the four interleaved, medians of {meta.get('reps', '?')} runs.")
    return "\n".join(out)


def block_wrk_threads(r):
    run = r.latest_with("wrk-threads")
    if not run:
        return missing("run with the wrk-threads scenario",
                       "python3 benchmarks/run.py --only wrk-threads")
    s = run["summaries"]
    duration = run["meta"].get("duration_s") or 0
    rows = []
    for key in sorted(k for k in s if k.startswith("wrk-threads/")):
        x = s[key]
        wrk_pct = f"{100 * x['wrk_cpu_s'] / duration:.0f}%" if duration and \
            x.get("wrk_cpu_s") is not None else "-"
        rows.append([f"-t{x.get('wrk_threads', '?')}", x.get("server", "?"), num(x.get("rps")),
                     ms_from_us(x.get("p99_us")), num(x.get("cpu_us_per_req"), 2),
                     f"{num(x.get('server_cpu_pct'))}%", wrk_pct])
    return "\n".join([table(["wrk threads", "server", "req/s", "p99", "server CPU us/req",
                             "server CPU (of one core)", "wrk CPU (of one core)"], rows,
                            ["---", "---"] + ["---:"] * 5), "", run_source(run)])


WRK_HEADER = ["scenario", "server", "req/s", "p50", "p99", "max", "server CPU us/req",
              "bytes/reply", "stubborn / nginx", "errors", "other load (max)"]
WRK_ALIGN = ["---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---", "---:", "---:"]


def https_command(scenario):
    return f"python3 benchmarks/run.py --only {scenario}"


def scenario_targets(run, scenario):
    rows = [[t["target"], t["wanted"], t["measured"], t["result"]] for t in run["targets"]
            if t["target"].startswith(scenario + ":")]
    return [table(["target", "wanted", "measured", "result"], rows), ""] if rows else []


def negotiated_lines(s, scenario):
    out = []
    for label in ("stubborn", "nginx"):
        x = s.get(f"{scenario}/{label}")
        n = (x or {}).get("negotiated")
        if not n:
            continue
        line = (f"- {label}: {n.get('protocol')}, {n.get('cipher')}, key exchange "
                f"{n.get('group')}, ALPN `{n.get('alpn') or '-'}`, "
                f"{num(n.get('tickets_per_handshake'), 0)} session tickets sent per handshake")
        if "client_resumed" in x:
            line += (f"; {num(x['client_resumed'])} of {num(x.get('client_handshakes'))} "
                     "handshakes resumed")
        out.append(line + ".")
    return out + [""] if out else []


def block_https_wrk(r, scenario):
    """https-hello and https-handshakes: stubborn against nginx over TLS 1.3."""
    run = r.latest_with(scenario)
    if not run:
        return missing(f"run with the {scenario} scenario", https_command(scenario))
    s = run["summaries"]
    out = scenario_targets(run, scenario)
    out += [table(WRK_HEADER, wrk_rows(s, (scenario,)), WRK_ALIGN), ""]
    out += negotiated_lines(s, scenario)
    counted = s.get(f"{scenario}/ratio", {}).get("stubborn_handshakes")
    if counted:
        out += ["stubborn's own count of TLS handshakes over the scenario (warm-ups and probes "
                "included), from `/__admin/metrics`: "
                + ", ".join(f"{k} {v:,}" for k, v in counted.items()) + ".", ""]
    out.append(run_source(run))
    return "\n".join(out)


def block_https_idle(r):
    """https-idle: 10,000 idle TLS connections, the memory of each server."""
    run = r.latest_with("https-idle")
    if not run:
        return missing("run with the https-idle scenario", https_command("https-idle"))
    s = run["summaries"]
    rows = []
    for label in ("stubborn", "nginx"):
        c = s.get(f"https-idle/{label}")
        if c:
            rows.append([label,
                         f"{mib(c.get('rss_idle_kib'))} ({pss_mib(c.get('pss_idle_kib'))})",
                         f"{mib(c.get('rss_held_kib'))} ({pss_mib(c.get('pss_held_kib'))})",
                         f"{num(c.get('kib_per_connection'), 2)} KiB "
                         f"({num(c.get('pss_kib_per_connection'), 2)})",
                         mib(c.get("rss_after_kib")), num(c.get("connected_min")),
                         num(c.get("second_ok_min")), f"{num(c.get('handshake_s'), 1)} s",
                         num(c.get("cpu_us_per_req"), 1)])
    connections = num((s.get("https-idle/stubborn") or {}).get("connections"))
    out = scenario_targets(run, "https-idle")
    out += [table([f"{connections} idle TLS connections", "idle server RSS (PSS)",
                   f"RSS (PSS) with {connections} held", "RSS (PSS) per connection",
                   "RSS after they close", "held (worst run)", "answered a 2nd request",
                   f"{connections} handshakes took", "server CPU us/req"], rows,
                  ["---"] + ["---:"] * 8), "",
            "nginx's figures are its master and workers summed; PSS counts the pages they share "
            "once. Medians of the runs; a fresh server for each."]
    plain = [s.get("connections"), s.get("connections/nginx")]
    if all(plain):
        # The same run's plain keep-alive connections: what TLS adds to each server.
        out += ["", "In the same run, 10,000 plain (not TLS) keep-alive connections: RSS per "
                "connection " + ", ".join(f"{c.get('server', '?')} "
                                          f"{num(c.get('kib_per_connection'), 2)} KiB"
                                          for c in plain) + "."]
    out += ["", run_source(run)]
    return "\n".join(out)


def us(value):
    return "-" if value is None else f"{value:,.1f} us"


def block_proxy_hello(r):
    """proxy-hello: wrk -> a proxy -> one upstream nginx; stubborn's proxy route against nginx's
    proxy_pass, and what the upstream did for each."""
    run = r.latest_with("proxy-hello")
    if not run:
        return missing("run with the proxy-hello scenario",
                       "python3 benchmarks/run.py --only proxy-hello")
    s = run["summaries"]
    out = scenario_targets(run, "proxy-hello")
    out += [table(WRK_HEADER, wrk_rows(s, ("proxy-hello",)), WRK_ALIGN), ""]
    rows = []
    for label in ("stubborn", "nginx"):
        x = s.get(f"proxy-hello/{label}")
        if x and x.get("upstream_cpu_us_per_req") is not None:
            rows.append([label, num(x.get("cpu_us_per_req"), 2),
                         num(x.get("upstream_cpu_us_per_req"), 2), num(x.get("upstream_accepts")),
                         f"{num(x.get('upstream_requests'))} / {num(x.get('client_requests'))}"])
    if rows:
        out += [table(["proxy", "proxy CPU us/req", "upstream nginx CPU us/req",
                       "connections the upstream accepted", "requests the upstream served / "
                       "client requests"], rows, ["---"] + ["---:"] * 4), "",
                "The upstream's counts are its own (`stub_status`), summed over the measured "
                "runs.", ""]
    metrics = s.get("proxy-hello/ratio", {}).get("stubborn_proxy_metrics")
    if metrics:
        out += ["stubborn's own proxy counters after the scenario (warm-ups included), from "
                "`/__admin/metrics`: " + ", ".join(f"`{k}` {v:,.0f}" for k, v in metrics.items())
                + ".", ""]
    out.append(run_source(run))
    return "\n".join(out)


def block_proxy_latency(r):
    """proxy-latency: one connection, one request at a time; direct to the upstream, through
    stubborn's proxy route, through nginx's proxy_pass."""
    run = r.latest_with("proxy-latency")
    if not run:
        return missing("run with the proxy-latency scenario",
                       "python3 benchmarks/run.py --only proxy-latency")
    s = run["summaries"]
    added = s.get("proxy-latency/added", {})
    rows = []
    for label, shown in (("direct", "direct to the upstream"), ("stubborn", "stubborn proxy route"),
                         ("nginx", "nginx proxy_pass")):
        x = s.get(f"proxy-latency/{label}")
        if not x:
            continue
        extra = "" if label == "direct" else \
            f"{us(added.get(f'{label}_p50_us'))} / {us(added.get(f'{label}_p99_us'))}"
        rows.append([shown, num(x.get("rps")), us(x.get("min_us")), us(x.get("p50_us")),
                     us(x.get("p90_us")), us(x.get("p99_us")), us(x.get("p999_us")),
                     us(x.get("max_us")), extra, num(x.get("cpu_us_per_req"), 2),
                     x.get("errors", "-"), f"{num(x.get('other_cpu_pct_max'))}%"])
    out = scenario_targets(run, "proxy-latency")
    out += [table(["/hello, 1 connection, 1 request at a time", "req/s", "min", "p50", "p90",
                   "p99", "p99.9", "max", "added p50 / p99", "server CPU us/req", "errors",
                   "other load (max)"], rows, ["---"] + ["---:"] * 11), ""]
    if added:
        out += [f"Each run {added.get('duration_s', '?')} s of `stubborn_latency_bench`; medians "
                "of the runs. Added latency is the proxied median less the direct one; the "
                "medians of the differences of neighbouring runs: stubborn "
                f"{us(added.get('pair_stubborn_p50_us'))} (p50), "
                f"{us(added.get('pair_stubborn_p99_us'))} (p99); nginx "
                f"{us(added.get('pair_nginx_p50_us'))}, {us(added.get('pair_nginx_p99_us'))}.",
                ""]
    out.append(run_source(run))
    return "\n".join(out)


def stream_source(run, scenarios):
    """Where the stream scenarios' figures come from (they use no wrk)."""
    meta = run["meta"]
    argv = " ".join(meta.get("argv") or [])
    command = f"python3 benchmarks/run.py {argv}".rstrip()
    runs = sorted({str(run["summaries"][k].get("runs", "?")) for k in run["summaries"]
                   if run["summaries"][k].get("scenario") in scenarios
                   and "runs" in run["summaries"][k]})
    return (f"From `{run['file']}`: `{command}` on {commit_text(meta)}, "
            f"{meta.get('nproc', '?')} x {meta.get('cpu_model', '?')}, Linux "
            f"{meta.get('kernel', '?')}; server threads {meta.get('server_threads', '?')}, "
            f"{'/'.join(runs) or '?'} run(s) each.")


HELD = (("ws-held", "WebSocket, `every` 1 s"), ("sse-held", "Server-Sent Events, `delay` 1 s"))


def block_held_streams(r):
    """ws-held and sse-held: 10,000 streams held, each message timed against its schedule."""
    rows, targets, sources = [], [], []
    for name, shown in HELD:
        run = r.latest_with(name)
        if not run:
            continue
        h = run["summaries"][name]
        rows.append([f"`{name}` ({shown})",
                     f"{num(h.get('alive_min'))} / {num(h.get('connections'))}",
                     f"{num(h.get('messages'))} / {num(h.get('expected'))}",
                     num(h.get("missing_max")), num(h.get("late_max")),
                     f"{num(h.get('lateness_p50_ms'), 1)} ms",
                     f"{num(h.get('lateness_p99_ms'), 1)} ms "
                     f"(worst {num(h.get('lateness_p99_ms_max'), 1)})",
                     f"{num(h.get('lateness_max_ms'), 1)} ms",
                     f"{mib(h.get('rss_idle_kib'))} / {mib(h.get('rss_held_kib'))}",
                     mib(h.get("peak_rss_kib_max")),
                     f"{num(h.get('kib_per_connection'), 2)} KiB", num(h.get("threads_max")),
                     f"{num(h.get('server_cpu_pct'))}%", num(h.get("cpu_us_per_msg"), 1),
                     f"{num((h.get('connect_ms') or 0) / 1000, 1)} s",
                     f"{num(h.get('other_cpu_pct_max'))}%"])
        targets += [[t["target"], t["wanted"], t["measured"], t["result"]]
                    for t in run["targets"] if t["target"].startswith(name + ":")]
        if run not in sources:
            sources.append(run)
    if not rows:
        return missing("run with the held-stream scenarios",
                       "python3 benchmarks/run.py --only ws-held,sse-held")
    first = next(r2["summaries"][n] for r2 in sources for n, _ in HELD if n in r2["summaries"])
    out = [table(["target", "wanted", "measured", "result"], targets), ""] if targets else []
    out += [table([f"{num(first.get('connections'))} streams, one message each per "
                   f"{num(first.get('interval_ms'))} ms, {num(first.get('seconds'))} s measured",
                   "held (worst run)", "messages / due in the window",
                   "missing (worst run)", f"late > {num(first.get('late_ms'))} ms (worst run)",
                   "lateness p50", "p99", "max (worst run)", "RSS idle / held",
                   "peak RSS (worst run)", "RSS per stream", "server threads",
                   "server CPU (of one core)", "server CPU us/message", "all open after",
                   "other load (max)"], rows, ["---"] + ["---:"] * 15), ""]
    out += [stream_source(run, [n for n, _ in HELD]) for run in sources]
    return "\n".join(out)


def block_ws_echo(r):
    """ws-echo: echo throughput on 50 connections, stubborn against the peer echo servers."""
    run = r.latest_with("ws-echo")
    if not run:
        return missing("run with the ws-echo scenario", "python3 benchmarks/run.py --only ws-echo")
    s = run["summaries"]
    e = s.get("ws-echo/ratio", {})
    rows = []
    for label in ["stubborn"] + e.get("peers", []):
        x = s.get(f"ws-echo/{label}")
        if not x:
            continue
        versus = "" if label == "stubborn" else \
            (f"{ratio((e.get(label) or {}).get('rate_ratio'))} (pairs "
             f"{ratio((e.get(label) or {}).get('pair_rate_ratio_median'))})")
        rows.append([label, num(x.get("rps")), ms_from_us(x.get("p50_us")),
                     ms_from_us(x.get("p99_us")), num(x.get("cpu_us_per_req"), 2),
                     f"{num(x.get('server_cpu_pct'))}%", versus, x.get("errors", "-"),
                     f"{num(x.get('other_cpu_pct_max'))}%", x.get("peer") or "-"])
    stubborn = s.get("ws-echo/stubborn", {})
    out = scenario_targets(run, "ws-echo")
    out += [table([f"{num(stubborn.get('connections'))} connections, "
                   f"{num(stubborn.get('size'))}-byte text messages, closed loop", "messages/s",
                   "RTT p50", "RTT p99", "server CPU us/message", "server CPU (of one core)",
                   "stubborn / this", "errors", "other load (max)", "peer"], rows,
                  ["---"] + ["---:"] * 8 + ["---"]), ""]
    for label, note in (e.get("peer_notes") or {}).items():
        if label not in e.get("peers", []):
            out += [f"{label}: {note}.", ""]
    meta = run["meta"]
    out.append(stream_source(run, ["ws-echo"]).rstrip(".") +
               f"; {meta.get('duration_s', '?')} s per run, the servers interleaved.")
    return "\n".join(out)


def snapshot(x):
    if not x:
        return "-"
    return (f"{x.get('fds', '?')} descriptors, {x.get('threads', '?')} threads, "
            f"{mib(x.get('rss_kib'))}")


def block_soak(r):
    """docs/reliability.md: the latest soak's figures and checks."""
    run = r.latest_with("soak")
    if not run:
        return missing("soak run", "python3 benchmarks/run.py soak")
    k = run["summaries"]["soak"]
    statuses = ", ".join(f"{a}: {b:,}" for a, b in sorted(k.get("statuses", {}).items()))
    errors = ", ".join(f"{a.replace('errors_', '')} {b}"
                       for a, b in k.get("wrk_errors", {}).items())
    kernel = k.get("kernel")
    rows = [
        ["keep-alive requests: wrk completed / issued / wanted",
         f"{num(k.get('wrk_completed'))} / {num(k.get('wrk_issued'))} / {num(k.get('requests'))}"],
        ["wrk errors", errors or "-"],
        ["responses by status", statuses or "none"],
        [f"server: replies written (bytes sent / {k.get('reply_bytes')})",
         f"{num(k.get('server_replies_written'))} ({num(k.get('server_bytes_sent'))} bytes in "
         f"{num(k.get('server_send_calls'))} calls)"],
        [f"server: requests read (bytes received / {k.get('request_bytes')})",
         f"{num(k.get('server_requests_read'))} ({num(k.get('server_bytes_received'))} bytes in "
         f"{num(k.get('server_receive_calls'))} calls)"],
        ["kernel: `tcp_info` of the server's sockets",
         f"{kernel['sockets']} sockets, {kernel['bytes_acked']:,} bytes sent and acknowledged, "
         f"{kernel['bytes_received']:,} received" if kernel else "`ss` not available"],
        ["throughput, latency", f"{num(k.get('rps'))} req/s over {num(k.get('elapsed_s'), 1)} s; "
         f"p50 {ms_from_us(k.get('p50_us'))}, p99 {ms_from_us(k.get('p99_us'))}, max "
         f"{ms_from_us(k.get('max_us'))}; server CPU {num(k.get('cpu_us_per_req'), 2)} us/request"],
        ["process at start (listening)", snapshot(k.get("start"))],
        ["baseline (after the warm-up)", snapshot(k.get("baseline"))],
        ["after the requests", snapshot(k.get("after_requests"))],
        [f"after {num(k.get('connections'))} connections (batches of {k.get('batch', '?')})",
         snapshot(k.get("after_connections"))],
        ["RSS tolerance", f"+{(k.get('rss_tolerance_kib') or 0) / 1024:g} MiB"],
    ]
    for d in k.get("drains", []):
        rows.append([f"SIGTERM under load on `{d.get('path')}`",
                     f"exit {d.get('exit_code')} in {num(d.get('exit_ms'))} ms; "
                     f"{num(d.get('requests_read'))} requests read, all answered, "
                     f"{d.get('closing_replies')} of them with `Connection: close`; wrk received "
                     f"{num(d.get('wrk_completed'))}" if d.get("answered_all") else
                     f"exit {d.get('exit_code')}: not every request read was answered"])
    checks = [[c["check"], "ok" if c["ok"] else "**FAIL**"] for c in k.get("checks", [])]
    verdict = "**SOAK PASS**" if k.get("pass") else "**SOAK FAIL**"
    return "\n".join([f"{verdict}.", "", table(["soak", "figure"], rows), "",
                      table(["check", "result"], checks), "", run_source(run)])


def block_soak_brief(r):
    """README: one paragraph on the latest soak."""
    run = r.latest_with("soak")
    if not run:
        return missing("soak run", "python3 benchmarks/run.py soak")
    k = run["summaries"]["soak"]
    base, after = k.get("baseline") or {}, k.get("after_connections") or {}
    errors = sum(k.get("wrk_errors", {}).values())
    growth = (after.get("rss_kib", 0) - base.get("rss_kib", 0))
    return (f"Latest soak ({'passed' if k.get('pass') else '**failed**'}): "
            f"{num(k.get('wrk_completed'))} requests at {num(k.get('rps'))} req/s, {errors} "
            f"errors, the server's count {num(k.get('server_replies_written'))} = wrk's "
            f"{num(k.get('wrk_completed'))}; {base.get('fds', '?')} descriptors and "
            f"{base.get('threads', '?')} threads at the baseline, {after.get('fds', '?')} and "
            f"{after.get('threads', '?')} after, RSS {growth:+,} KiB; from `{run['file']}` "
            f"({commit_text(run['meta'])}).")


def block_rate_limit(r):
    x = r.rate_limit
    if not x:
        return missing("rate-limit run", "python3 benchmarks/rate_limit.py")
    rows = [[run.get("run"), num(run.get("offered_rps")), num(run.get("requests")),
             num(run.get("admitted")), num(run.get("limited")),
             f"{run.get('deviation_pct', 0):+.2f} %", num(run.get("expected_for_wrk_time"), 1),
             run.get("other_errors")] for run in x.get("runs", [])]
    return "\n".join([
        table(["run", "offered requests/s", "requests", "admitted (200)", "limited (429)",
               f"vs {x.get('expected', '?'):,}", "a perfect limiter in wrk's time",
               "other errors"], rows, ["---:"] * 8), "",
        f"{'PASS' if x.get('pass') else 'FAIL'}: worst deviation "
        f"{x.get('worst_deviation_pct', 0):.2f} %. From `{x['file']}`: "
        f"`{x.get('command', 'python3 benchmarks/rate_limit.py')}` on {commit_text(x)}."])


def block_rate_limit_brief(r):
    x = r.rate_limit
    if not x:
        return missing("rate-limit run", "python3 benchmarks/rate_limit.py")
    settings = x.get("settings", {})
    admitted = [run.get("admitted") for run in x.get("runs", [])]
    offered = [run.get("offered_rps") for run in x.get("runs", [])]
    return (f"Offered {num(min(offered))}-{num(max(offered))} requests/s for "
            f"{settings.get('duration_s', '?')} s against {settings.get('requests_per_s', '?')}/s "
            f"with a burst of {settings.get('burst', '?')}, it admitted "
            f"{', '.join(num(a) for a in admitted)} of an expected {num(x.get('expected'))} "
            f"(from `{x['file']}`).")


def block_cluster(r):
    """Three instances behind HAProxy sharing one rate limit in Redis, and the limiter's cost."""
    run = r.latest_with("cluster")
    if not run:
        return missing("run with the cluster scenario", "python3 benchmarks/run.py cluster",
                       " (redis-server and haproxy installed)")
    s = run["summaries"]
    c = s["cluster"]
    out = [table(["instances behind HAProxy", "limit", "offered requests/s (each run)",
                  "admitted (each run)", "expected", "worst deviation", "stubborn CPU",
                  "haproxy CPU", "redis-server CPU"],
                 [[c.get("instances"), f"{c.get('requests_per_s')}/s, burst {c.get('burst')}, "
                   f"{c.get('duration_s')} s",
                   ", ".join(num(x) for x in c.get("offered_rps_runs", [])),
                   ", ".join(num(x) for x in c.get("admitted_runs", [])), num(c.get("expected")),
                   f"{c.get('worst_deviation_pct', 0):.2f} % "
                   f"({'PASS' if c.get('pass') else 'FAIL'})",
                   f"{num(c.get('stubborn_cpu_pct'))}%", f"{num(c.get('haproxy_cpu_pct'))}%",
                   f"{num(c.get('redis_cpu_pct'))}%"]],
                 ["---:", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"])]
    rows = []
    for key, shown in (("cluster/local", "local limiter"), ("cluster/redis", "limiter in Redis")):
        x = s.get(key)
        if x:
            redis_cpu = x.get("redis_cpu_us_per_req")
            rows.append([shown, num(x.get("rps")), ms_from_us(x.get("p50_us")),
                         ms_from_us(x.get("p99_us")), num(x.get("cpu_us_per_req"), 2),
                         "-" if redis_cpu is None else num(redis_cpu, 2), x.get("errors")])
    if rows:
        rr = s.get("cluster/ratio", {})
        out += ["", table(["rate-limited route, one instance", "req/s", "p50", "p99",
                           "stubborn CPU us/req", "redis-server CPU us/req", "errors"], rows,
                          ["---", "---:", "---:", "---:", "---:", "---:", "---:"]), "",
                f"Limiter in Redis / local: {ratio(rr.get('rps_ratio'), 3)} req/s, stubborn CPU "
                f"per request {ratio(rr.get('cpu_ratio'), 3)}."]
    return "\n".join(out + ["", run_source(run)])


BLOCKS = {
    "summary": block_summary,
    "results": block_results,
    "instructions": block_instructions,
    "syscalls": block_syscalls,
    "journal": block_journal,
    "wrk-threads": block_wrk_threads,
    "scaling": block_scaling,
    "https-hello": lambda r: block_https_wrk(r, "https-hello"),
    "https-handshakes": lambda r: block_https_wrk(r, "https-handshakes"),
    "https-idle": block_https_idle,
    "proxy-hello": block_proxy_hello,
    "proxy-latency": block_proxy_latency,
    "held-streams": block_held_streams,
    "ws-echo": block_ws_echo,
    "soak": block_soak,
    "soak-brief": block_soak_brief,
    "rate-limit": block_rate_limit,
    "rate-limit-brief": block_rate_limit_brief,
    "cluster": block_cluster,
}


# ---- the docs -----------------------------------------------------------------------------------

def doc_files(root):
    docs = [root / "README.md"] + sorted((root / "docs").glob("*.md"))
    return [d for d in docs if d.is_file()]


def render_text(text, name, results):
    """text with every marked block rendered; raises RenderError on unbalanced markers."""
    out, open_block, number = [], None, 0
    for number, line in enumerate(text.split("\n"), 1):
        m = MARKER.match(line.strip())
        if open_block is None:
            out.append(line)
            if not m:
                continue
            edge, block = m.groups()
            if edge == "end":
                raise RenderError(f"{name}:{number}: end of block {block!r} that was not begun")
            if block not in BLOCKS:
                raise RenderError(f"{name}:{number}: unknown block {block!r} (known: "
                                  f"{', '.join(sorted(BLOCKS))})")
            open_block = (block, number)
            out += ["", BLOCKS[block](results), ""]
        elif m:
            edge, block = m.groups()
            if edge != "end" or block != open_block[0]:
                raise RenderError(f"{name}:{number}: block {open_block[0]!r} (line "
                                  f"{open_block[1]}) is not ended before this marker")
            out.append(line)
            open_block = None
    if open_block:
        raise RenderError(f"{name}:{open_block[1]}: block {open_block[0]!r} is never ended")
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a doc differs from its render")
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent),
                        help="the checkout (default: this script's)")
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    try:
        results = Results(root)
        for name in results.untracked:
            print(f"note: {RESULTS}/{name} is not tracked by git, so it is not rendered "
                  "(git add it first)", file=sys.stderr)
        stale = []
        for doc in doc_files(root):
            name = str(doc.relative_to(root))
            before = doc.read_text()
            after = render_text(before, name, results)
            if after == before:
                continue
            stale.append(name)
            if args.check:
                sys.stdout.writelines(difflib.unified_diff(
                    before.splitlines(True), after.splitlines(True), name, name + " (rendered)"))
            else:
                doc.write_text(after)
                print(f"rendered {name}")
    except (RenderError, OSError, KeyError, TypeError) as e:
        print(f"render_benchmarks: {e}", file=sys.stderr)
        return 2
    if args.check and stale:
        print(f"render_benchmarks: {', '.join(stale)} differ from the committed results; run "
              "python3 scripts/render_benchmarks.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Tests of scripts/render_benchmarks.py on synthetic result files in a temporary checkout.

    python3 tests/scripts/test_render_benchmarks.py [SOURCE_DIR]

The synthetic benchmarks/run.py result is built with the runner's own functions where it has
them (summarise_wrk, targets), so a change to the runner's output shows up here."""

import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

SOURCE = Path(sys.argv.pop(1)).resolve() if len(sys.argv) > 1 else \
    Path(__file__).resolve().parent.parent.parent


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = load_module("render_benchmarks", SOURCE / "scripts" / "render_benchmarks.py")
runner = load_module("bench_run", SOURCE / "benchmarks" / "run.py")

README = """# project

## Performance

<!-- benchmarks:begin summary -->
typed by hand
<!-- benchmarks:end summary -->

Soak:

<!-- benchmarks:begin soak-brief -->
<!-- benchmarks:end soak-brief -->

Rate limits:
<!-- benchmarks:begin rate-limit-brief -->
<!-- benchmarks:end rate-limit-brief -->
"""

PERFORMANCE = """# Performance

<!-- benchmarks:begin results -->
<!-- benchmarks:end results -->

<!-- benchmarks:begin instructions -->
<!-- benchmarks:end instructions -->

<!-- benchmarks:begin syscalls -->
<!-- benchmarks:end syscalls -->

<!-- benchmarks:begin journal -->
<!-- benchmarks:end journal -->

<!-- benchmarks:begin wrk-threads -->
<!-- benchmarks:end wrk-threads -->

<!-- benchmarks:begin rate-limit -->
<!-- benchmarks:end rate-limit -->

<!-- benchmarks:begin https-hello -->
<!-- benchmarks:end https-hello -->

<!-- benchmarks:begin https-handshakes -->
<!-- benchmarks:end https-handshakes -->

<!-- benchmarks:begin https-idle -->
<!-- benchmarks:end https-idle -->

<!-- benchmarks:begin proxy-hello -->
<!-- benchmarks:end proxy-hello -->

<!-- benchmarks:begin proxy-latency -->
<!-- benchmarks:end proxy-latency -->

<!-- benchmarks:begin held-streams -->
<!-- benchmarks:end held-streams -->

<!-- benchmarks:begin ws-echo -->
<!-- benchmarks:end ws-echo -->

<!-- benchmarks:begin cluster -->
<!-- benchmarks:end cluster -->
"""

RELIABILITY = """# Reliability

<!-- benchmarks:begin soak -->
<!-- benchmarks:end soak -->
"""


def wrk_run(scenario, server, rep, rps, p99_us, cpu_us):
    """One record as benchmarks/run.py's run_wrk() returns it, plus what interleaved() adds."""
    requests = int(rps * 8)
    return {"requests": requests, "rps": rps, "p50_us": 310, "p90_us": 700, "p99_us": p99_us,
            "p999_us": p99_us * 2, "max_us": p99_us * 5, "mean_us": 400, "lat_method": "wrk",
            "bytes_per_reply": 152 if server == "nginx" else 124, "errors": 0,
            "wrk_errors": {"errors_connect": 0, "errors_read": 0, "errors_write": 0,
                           "errors_status": 0, "errors_timeout": 0},
            "server_cpu_s": cpu_us * requests / 1e6, "cpu_us_per_req": cpu_us,
            "server_cpu_pct": 95.0, "wrk_cpu_s": 8.1, "other_cpu_pct": 0.0,
            "softirq_cpu_pct": 14.0, "steal_pct": 0.0, "wall_s": 8.02,
            "wrk_cmd": "/usr/bin/wrk -t2 -c50 -d8s --timeout 5s -s benchmarks/wrk/report.lua "
                       "http://127.0.0.1:40000/hello",
            "type": "run", "scenario": scenario, "server": server, "rep": rep,
            "waited_for_quiet_s": 0.5, "busy_before_pct": 2.0}


class FakeContext:
    """What benchmarks/run.py's targets() reads of its context."""

    def __init__(self):
        self.summaries = {}
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def summary(self, key, record):
        self.summaries[key] = record
        self.emit(dict(record, type="summary", key=key))


def full_run(stamp, commit, hello_rps=108864.0, argv=(), extra=()):
    """The JSON lines of a full default run (and the extra scenarios named), runner-shaped."""
    ctx = FakeContext()
    ctx.emit({"type": "meta", "stamp": stamp, "argv": list(argv), "duration_s": 8, "reps": 3,
              "wrk_threads": 2, "wrk_connections": 50, "server_threads": "2", "nproc": 2,
              "cpu_model": "AMD EPYC", "kernel": "6.1.0", "mem_mib": 24000, "python": "3.11.2",
              "loadavg": [0.1, 0.2, 0.3], "git_commit": commit, "git_dirty": False,
              "wrk": "/usr/bin/wrk", "nginx": "/usr/sbin/nginx", "nofile_before": 20000,
              "nofile": 20000, "configs": "/tmp/stubborn-bench-x",
              "nginx_version": "nginx version: nginx/1.22.1"})
    for name, scale in (("hello", 1.0), ("pipelined", 11.4), ("body-64k", 0.33)):
        runs = {"stubborn": [], "nginx": []}
        for rep in range(3):
            runs["stubborn"].append(wrk_run(name, "stubborn", rep + 1, hello_rps * scale,
                                            1070, 8.40 / scale))
            runs["nginx"].append(wrk_run(name, "nginx", rep + 1, 99509.0 * scale,
                                         2640, 9.22 / scale))
        for records in runs.values():
            for record in records:
                ctx.emit(record)
        result = {label: runner.summarise_wrk(records) for label, records in runs.items()}
        for label, summary in result.items():
            summary["head_bytes"] = 119 if label == "stubborn" else 147
            ctx.summary(f"{name}/{label}", dict(summary, scenario=name, server=label))
        s, n = result["stubborn"], result["nginx"]
        pairs = {key: [a / b for a, b in zip(s[key + "_runs"], n[key + "_runs"])]
                 for key in ("rps", "p99_us", "cpu_us_per_req")}
        ctx.summary(f"{name}/ratio", {
            "scenario": name, "rps_ratio": s["rps"] / n["rps"],
            "p99_ratio": s["p99_us"] / n["p99_us"], "cpu_ratio": s["cpu_us_per_req"] /
            n["cpu_us_per_req"], "pair_rps_ratios": pairs["rps"],
            "pair_p99_ratios": pairs["p99_us"], "pair_cpu_ratios": pairs["cpu_us_per_req"],
            "pair_rps_ratio_median": runner.median(pairs["rps"]),
            "pair_p99_ratio_median": runner.median(pairs["p99_us"]),
            "pair_cpu_ratio_median": runner.median(pairs["cpu_us_per_req"])})
    routes = runner.summarise_wrk([wrk_run("routes-1000", "routes-1000", r, 104372.0, 1840, 8.96)
                                   for r in (1, 2, 3)])
    hello = runner.summarise_wrk([wrk_run("routes-1000", "stubborn-hello", r, 99161.0, 2780, 9.3)
                                  for r in (1, 2, 3)])
    ctx.summary("routes-1000/stubborn", dict(routes, scenario="routes-1000", server="stubborn"))
    ctx.summary("routes-1000/hello-reference", dict(hello, scenario="routes-1000",
                                                    server="stubborn-hello"))
    ctx.summary("routes-1000/ratio", {"scenario": "routes-1000",
                                      "rps_ratio_to_hello": routes["rps"] / hello["rps"],
                                      "pair_ratios": [1.05, 1.06, 1.04]})
    if "conditions" in extra:
        cond = runner.summarise_wrk([wrk_run("conditions", "conditions", r, 61250.0, 2100, 15.1)
                                     for r in (1, 2, 3)])
        ref = runner.summarise_wrk([wrk_run("conditions", "stubborn-hello", r, 98000.0, 2700,
                                            9.4) for r in (1, 2, 3)])
        ctx.summary("conditions/stubborn", dict(cond, scenario="conditions", server="stubborn",
                                                request_body_bytes=997))
        ctx.summary("conditions/hello-reference", dict(ref, scenario="conditions",
                                                       server="stubborn-hello"))
        ctx.summary("conditions/ratio", {"scenario": "conditions",
                                         "rps_ratio_to_hello": cond["rps"] / ref["rps"],
                                         "pair_ratios": [0.62, 0.63, 0.61]})
    for n, p99 in ((1000, 1002.2), (10000, 1020.6)):
        ctx.summary(f"delays/{n}", {
            "scenario": "delays", "connections": n, "runs": 3, "on_time_median": n,
            "on_time_min": n, "replies_min": n, "p50_ms": 1003.7, "p99_ms": p99,
            "max_ms": p99 + 1.3, "max_ms_worst": p99 + 2.7, "peak_rss_kib": 54476,
            "peak_rss_kib_max": 54500, "cpu_us_per_req": 55.0, "other_cpu_pct_max": 0.0,
            "send_ms": 103.0, "accepted_at_send_min": n, "accept_wait_ms_max": 37.0,
            "on_time_runs": [n, n, n]})
    for label, held in (("stubborn", 53555), ("nginx", 29388)):
        key = "connections" if label == "stubborn" else "connections/nginx"
        ctx.summary(key, {
            "scenario": "connections", "server": label, "connections": 10000, "runs": 3,
            "rss_idle_kib": 5836, "rss_held_kib": held, "rss_held_kib_max": held + 10,
            "pss_idle_kib": 2765, "pss_held_kib": held - 3000, "peak_rss_kib": held,
            "rss_after_kib": held, "kib_per_connection": 4.77, "pss_kib_per_connection": 4.75,
            "second_ok_min": 10000, "cpu_us_per_req": 28.5, "other_cpu_pct_max": 0.0})
    ctx.summary("startup", {
        "scenario": "startup", "routes": 1000, "runs": 5, "first_reply_ms": 46.3,
        "first_reply_ms_max": 53.4, "first_reply_ms_min": 43.3, "check_ms": 47.8,
        "cpu_us_per_req": 30000.0, "rss_kib": 15565, "other_cpu_pct_max": 4.0})
    benchmarks = {f"bm_match_{kind}/1000": {"ns": 185.0 + i, "real_ns": 186.0 + i,
                                            "allocs_per_iter": 0}
                  for i, kind in enumerate(("exact", "param", "regex"))}
    if "conditions" in extra:
        benchmarks["bm_conditions_match/1000"] = {"ns": 3210.0, "real_ns": 3250.0,
                                                  "allocs_per_iter": 1}
    ctx.summary("micro", {
        "scenario": "micro", "repetitions": 3, "statistic": "median", "benchmarks": benchmarks,
        "busy_before_pct": 1.0, "other_cpu_pct_max": 0.0})
    if "syscalls" in extra:
        for label in ("stubborn", "nginx"):
            ctx.summary(f"syscalls/{label}", {
                "scenario": "syscalls", "server": label, "requests": 800000,
                "counts": {}, "per_request": {"recvmmsg" if label == "stubborn" else
                                              "recvfrom": 1.0, "epoll_wait": 0.231}})
    for target in runner.targets(ctx):
        ctx.emit(dict(target, type="target"))
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in ctx.records)


def https_run(stamp, commit):
    """A `run.py https` result, built with the runner's own functions where it has them."""
    ctx = FakeContext()
    ctx.emit({"type": "meta", "stamp": stamp, "argv": ["https"], "duration_s": 8, "reps": 3,
              "wrk_threads": 2, "wrk_connections": 50, "server_threads": "2", "nproc": 2,
              "cpu_model": "AMD EPYC", "kernel": "6.1.0", "git_commit": commit,
              "git_dirty": False})
    negotiated = {"protocol": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "group": "X25519",
                  "alpn": "http/1.1", "tickets_per_handshake": 2.0}
    for name, rps, nginx_rps in (("https-hello", 60000.0, 50000.0),
                                 ("https-handshakes", 1500.0, 1600.0)):
        result = {}
        for label, base, cpu in (("stubborn", rps, 12.0), ("nginx", nginx_rps, 13.5)):
            records = [wrk_run(name, label, rep + 1, base, 2000, cpu) for rep in range(3)]
            for record in records:
                ctx.emit(record)
            result[label] = runner.summarise_wrk(records)
        for label, summary in result.items():
            summary["negotiated"] = negotiated
            if name == "https-handshakes":
                summary["client_handshakes"], summary["client_resumed"] = 40000, 0
            ctx.summary(f"{name}/{label}", dict(summary, scenario=name, server=label))
        runner.record_ratio(ctx, name, result,
                            {"stubborn_handshakes": {"failed": 0, "full": 40123, "resumed": 0}})
    for label, held, per in (("stubborn", 110000, 10.5), ("nginx", 80000, 5.2)):
        ctx.summary(f"https-idle/{label}", {
            "scenario": "https-idle", "server": label, "connections": 10000, "runs": 3,
            "rss_idle_kib": 6000, "rss_held_kib": held, "rss_held_kib_max": held + 10,
            "pss_idle_kib": 3000, "pss_held_kib": held - 5000, "peak_rss_kib": held,
            "rss_after_kib": held, "kib_per_connection": per, "pss_kib_per_connection": per,
            "connected_min": 10000, "second_ok_min": 10000, "handshake_s": 4.2, "resumed": 0,
            "cpu_us_per_req": 150.0, "other_cpu_pct_max": 0.0})
    for label, per in (("stubborn", 4.85), ("nginx", 0.52)):
        ctx.summary("connections" if label == "stubborn" else "connections/nginx", {
            "scenario": "connections", "server": label, "connections": 10000,
            "rss_idle_kib": 5836, "rss_held_kib_max": 53565, "kib_per_connection": per})
    ctx.summary("https-idle/ratio", {"scenario": "https-idle", "rss_ratio": 110000 / 80000,
                                     "pss_ratio": 105000 / 75000,
                                     "per_connection_ratio": 10.5 / 5.2})
    for target in runner.targets(ctx):
        ctx.emit(dict(target, type="target"))
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in ctx.records)


def proxy_run(stamp, commit, skipped=None):
    """A `run.py proxy` result, built with the runner's own functions where it has them; with
    `skipped`, the run of a binary without proxy routes."""
    ctx = FakeContext()
    ctx.emit({"type": "meta", "stamp": stamp, "argv": ["proxy"], "duration_s": 8, "reps": 3,
              "wrk_threads": 2, "wrk_connections": 50, "server_threads": "2", "nproc": 2,
              "cpu_model": "AMD EPYC", "kernel": "6.1.0", "git_commit": commit,
              "git_dirty": False})
    if skipped:
        for name in ("proxy-hello", "proxy-latency"):
            ctx.summary(name, {"scenario": name, "skipped": skipped})
        return "".join(json.dumps(r, sort_keys=True) + "\n" for r in ctx.records)
    result = {}
    for label, rps, cpu, upstream_cpu in (("stubborn", 40000.0, 10.0, 6.0),
                                          ("nginx", 36000.0, 12.5, 6.5)):
        records = []
        for rep in range(3):
            record = wrk_run("proxy-hello", label, rep + 1, rps, 3000, cpu)
            record.update(upstream_cpu_s=upstream_cpu * record["requests"] / 1e6,
                          upstream_cpu_us_per_req=upstream_cpu, upstream_accepts=2,
                          upstream_requests=record["requests"] + 10)
            records.append(record)
            ctx.emit(record)
        result[label] = runner.summarise_wrk(records)
        ctx.summary(f"proxy-hello/{label}", dict(result[label], scenario="proxy-hello",
                                                 server=label))
    runner.record_ratio(ctx, "proxy-hello", result, {"stubborn_proxy_metrics": {
        'stubborn_proxy_errors_total{cause="refused"}': 0.0}})
    latency = {}
    for label, p50, p99 in (("direct", 20.0, 40.0), ("stubborn", 55.5, 90.0),
                            ("nginx", 70.0, 120.0)):
        records = []
        for rep in range(3):
            record = wrk_run("proxy-latency", label, rep + 1, 1e6 / (p50 + 5), p99, 30.0)
            record.update(p50_us=p50 + rep, min_us=p50 / 2, lat_method="client")
            records.append(record)
            ctx.emit(record)
        latency[label] = runner.summarise_wrk(records)
        ctx.summary(f"proxy-latency/{label}", dict(latency[label], scenario="proxy-latency",
                                                   server=label))
    ctx.summary("proxy-latency/added", runner.added_latency(latency, 5))
    for target in runner.targets(ctx):
        ctx.emit(dict(target, type="target"))
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in ctx.records)


def held_record(scenario, rep, p99, peak_kib, missing=0):
    """One record as benchmarks/run.py's hold_streams() returns it."""
    return {"mode": scenario, "connections": 10000, "open": 10000, "alive": 10000,
            "connect_ms": 2500.0, "seconds": 20.0, "interval_ms": 1000.0, "messages": 200000,
            "expected": 200000, "missing": missing, "late_ms": 50.0, "late": 12 * rep,
            "early": 0, "lateness_min_ms": 0.1, "lateness_p50_ms": 2.5, "lateness_p90_ms": 6.0,
            "lateness_p99_ms": p99, "lateness_p999_ms": p99 * 2, "lateness_max_ms": 80.0 + rep,
            "type": "run", "scenario": scenario, "server": "stubborn", "rep": rep,
            "failed": 0, "rss_idle_kib": 6000, "rss_open_kib": 60000, "rss_held_kib": 62000,
            "rss_after_kib": 20000, "pss_idle_kib": 3000, "pss_held_kib": 59000,
            "peak_rss_kib": peak_kib, "kib_per_connection": 5.6, "pss_kib_per_connection": 5.6,
            "threads": 4, "fds_idle": 12, "fds_held": 10012, "server_cpu_s": 4.0,
            "server_cpu_pct": 20.0, "cpu_us_per_msg": 20.0, "other_cpu_pct": 1.0}


def streams_run(stamp, commit, skipped=None):
    """A `run.py streams` result, built with the runner's own functions where it has them; with
    `skipped`, the run of a binary without stream routes."""
    ctx = FakeContext()
    ctx.emit({"type": "meta", "stamp": stamp, "argv": ["streams"], "duration_s": 8, "reps": 3,
              "wrk_threads": 2, "wrk_connections": 50, "server_threads": "2", "nproc": 2,
              "cpu_model": "AMD EPYC", "kernel": "6.1.0", "git_commit": commit,
              "git_dirty": False})
    if skipped:
        for name in ("ws-held", "sse-held", "ws-echo"):
            ctx.summary(name, {"scenario": name, "skipped": skipped, "check_output": "x"})
    else:
        for scenario, p99, peak in (("ws-held", 12.5, 70000), ("sse-held", 61.0, 140000)):
            runs = [held_record(scenario, rep, p99 + rep, peak + rep) for rep in (1, 2)]
            for record in runs:
                ctx.emit(record)
            ctx.summary(scenario, runner.held_summary(scenario, runs))
        result = {}
        for label, rate, cpu in (("stubborn", 30000.0, 20.0), ("python-websockets", 5000.0, 150.0),
                                 ("node-ws", 32000.0, 22.0)):
            records = [wrk_run("ws-echo", label, rep + 1, rate, 3000, cpu) for rep in range(2)]
            for record in records:
                ctx.emit(record)
            result[label] = runner.summarise_wrk(records)
        runner.record_echo(ctx, result, ["python-websockets", "node-ws"],
                           {"python-websockets": "websockets 10.4",
                            "node-ws": "ws 8.23.1, node v20.20.2, 2 worker(s)"})
    for target in runner.targets(ctx):
        ctx.emit(dict(target, type="target"))
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in ctx.records)


def cluster_run(stamp, commit, skipped=None):
    """A `run.py cluster` result, built with the runner's own functions where it has them; with
    `skipped`, the run of a machine without redis-server."""
    ctx = FakeContext()
    ctx.emit({"type": "meta", "stamp": stamp, "argv": ["cluster"], "duration_s": 8, "reps": 3,
              "wrk_threads": 2, "wrk_connections": 50, "server_threads": "2", "nproc": 2,
              "cpu_model": "AMD EPYC", "kernel": "6.1.0", "git_commit": commit,
              "git_dirty": False})
    if skipped:
        ctx.summary("cluster", {"scenario": "cluster", "skipped": skipped})
    else:
        runs = []
        for rep, admitted in enumerate((1098, 1104, 1101)):
            runs.append({"type": "run", "scenario": "cluster", "part": "limit", "rep": rep + 1,
                         "offered_rps": 19800 + rep, "requests": 198000, "admitted": admitted,
                         "limited": 198000 - admitted, "expected": 1100,
                         "deviation_pct": round(100 * (admitted - 1100) / 1100, 2),
                         "other_errors": 0, "stubborn_cpu_pct": 80.0, "haproxy_cpu_pct": 45.0,
                         "redis_cpu_pct": 30.0})
            ctx.emit(runs[-1])
        ctx.summary("cluster", runner.cluster_limit_summary(runs, 10))
        result = {}
        for label, rps, cpu in (("local-limiter", 100000.0, 9.0), ("redis-limiter", 50000.0, 14.0)):
            records = [wrk_run("cluster", label, rep + 1, rps, 2000, cpu) for rep in range(3)]
            if label == "redis-limiter":
                for record in records:
                    record.update(upstream_cpu_s=4.0 * record["requests"] / 1e6,
                                  upstream_cpu_us_per_req=4.0)
            for record in records:
                ctx.emit(record)
            result[label] = runner.summarise_wrk(records)
        ctx.summary("cluster/local", dict(result["local-limiter"], scenario="cluster",
                                          server="local-limiter"))
        red = result["redis-limiter"]
        ctx.summary("cluster/redis", dict(red, scenario="cluster", server="redis-limiter",
                                          redis_cpu_us_per_req=red["upstream_cpu_us_per_req"]))
        ctx.summary("cluster/ratio", {"scenario": "cluster", "rps_ratio": 0.5,
                                      "cpu_ratio": 14.0 / 9.0, "p99_ratio": 1.0})
    for target in runner.targets(ctx):
        ctx.emit(dict(target, type="target"))
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in ctx.records)


def soak_run(stamp, commit):
    """A `run.py soak` result: meta and the soak summary only."""
    snap = {"fds": 17, "threads": 5, "rss_kib": 8755}
    records = [
        {"type": "meta", "stamp": stamp, "argv": ["soak"], "duration_s": 8, "reps": 3,
         "wrk_threads": 2, "wrk_connections": 50, "server_threads": "2", "nproc": 2,
         "cpu_model": "AMD EPYC", "kernel": "6.1.0", "git_commit": commit, "git_dirty": False},
        {"type": "summary", "key": "soak", "scenario": "soak", "pass": True,
         "requests": 10000000, "reply_bytes": 124, "closing_reply_bytes": 143,
         "request_bytes": 46, "wrk_completed": 10000000, "wrk_issued": 10000000,
         "wrk_errors": {"errors_connect": 0, "errors_read": 0, "errors_write": 0,
                        "errors_status": 0, "errors_timeout": 0},
         "wrk_bytes": 1240000000, "statuses": {"200": 10000000},
         "server_replies_written": 10000000, "server_requests_read": 10000000,
         "server_bytes_sent": 1240000000, "server_bytes_received": 460000000,
         "server_send_calls": 10000000, "server_receive_calls": 10000000,
         "kernel": {"sockets": 50, "bytes_acked": 1240000000, "bytes_received": 460000000},
         "elapsed_s": 98.4, "rps": 101626.0, "p50_us": 310, "p99_us": 3310, "max_us": 40000,
         "server_cpu_s": 87.9, "cpu_us_per_req": 8.79, "other_cpu_pct_max": 0.0,
         "wrk_cmd": "/usr/bin/wrk -t2 -c50 --timeout 5s -s benchmarks/wrk/soak.lua",
         "start": dict(snap, rss_kib=5100), "baseline": snap, "after_requests": snap,
         "after_connections": dict(snap, rss_kib=8765), "rss_tolerance_kib": 2048,
         "churn": {}, "connections": 10000, "batch": 500, "exit_code": 0,
         "drains": [{"path": "/hello", "exit_code": 0, "exit_ms": 16.0, "requests_read": 91218,
                     "closing_replies": 3, "wrk_completed": 91218, "answered_all": True}],
         "checks": [{"check": "wrk: zero errors", "ok": True, "detail": "0"}]},
    ]
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)


def instructions_result(stamp, stubborn, nginx):
    return json.dumps({
        "type": "instructions", "stamp": stamp,
        "command": "python3 benchmarks/instructions.py --stubborn build/stubborn",
        "git_commit": "abc1234", "git_dirty": False,
        "stubborn": {"binary": "build/stubborn", "build_type": "RelWithDebInfo",
                     "version": "stubborn 0.1.0"},
        "nginx_version": "nginx version: nginx/1.22.1", "valgrind": "valgrind-3.19.0",
        "machine": {"nproc": 2, "cpu_model": "AMD EPYC", "kernel": "6.1.0"},
        "requests": 10000, "first": 1000,
        "servers": {"stubborn": {"per_request": stubborn, "requests": [1000, 11000],
                                 "totals": [9744847, 9744847 + int(stubborn * 10000)]},
                    "nginx": {"per_request": nginx, "requests": [1000, 11000],
                              "totals": [16024333, 16024333 + int(nginx * 10000)]}},
        "ratio": stubborn / nginx}, indent=2)


class RenderTest(unittest.TestCase):
    def setUp(self):
        self.root = Path(tempfile.mkdtemp(prefix="render-benchmarks-test-"))
        (self.root / "docs").mkdir()
        (self.root / "benchmarks" / "results").mkdir(parents=True)
        (self.root / "README.md").write_text(README)
        (self.root / "docs" / "performance.md").write_text(PERFORMANCE)
        (self.root / "docs" / "reliability.md").write_text(RELIABILITY)

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def result(self, name, text):
        (self.root / "benchmarks" / "results" / name).write_text(text)

    def run_script(self, *args):
        done = subprocess.run([sys.executable, str(SOURCE / "scripts" / "render_benchmarks.py"),
                               "--root", str(self.root)] + list(args),
                              capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout + done.stderr

    def doc(self, name):
        return (self.root / name).read_text()

    def test_without_results_says_how_to_make_them(self):
        code, out = self.run_script("--check")
        self.assertEqual(code, 1, out)  # "typed by hand" differs from the render
        self.assertEqual(self.doc("README.md"), README, "--check must change nothing")
        code, out = self.run_script()
        self.assertEqual(code, 0, out)
        readme = self.doc("README.md")
        self.assertNotIn("typed by hand", readme)
        self.assertIn("No full run is committed yet: run `python3 benchmarks/run.py` on a quiet "
                      "machine", readme)
        self.assertIn("No instruction count is committed yet", readme)
        self.assertIn("No soak run is committed yet", readme)
        self.assertIn("No full run is committed yet", self.doc("docs/performance.md"))
        self.assertIn("No soak run is committed yet", self.doc("docs/reliability.md"))
        self.assertEqual(self.run_script("--check")[0], 0)

    def test_full_run_and_instructions(self):
        self.result("20261205T031056Z.jsonl", full_run("20261205T031056Z", "9756399"))
        self.result("20261205T031056Z.md", "# the runner's tables: not read\n")
        self.result("instructions-20261206T140811Z.json", instructions_result(
            "20261206T140811Z", 6608.1232, 8193.5822))
        code, out = self.run_script()
        self.assertEqual(code, 0, out)
        readme = self.doc("README.md")
        self.assertIn("| hello: throughput vs nginx | >= 1.0x | 1.094x (pairs: 1.094x) | met |", readme)
        self.assertIn("| delays: 10,000 on time (worst run) | 10,000/10,000 | 10,000 | met |",
                      readme)
        self.assertIn("From `benchmarks/results/20261205T031056Z.jsonl`: `python3 "
                      "benchmarks/run.py` on commit `9756399`", readme)
        self.assertIn("stubborn 6,608, nginx 8,194 (0.81x); from "
                      "`benchmarks/results/instructions-20261206T140811Z.json`, commit "
                      "`abc1234`, RelWithDebInfo build.", readme)
        perf = self.doc("docs/performance.md")
        self.assertIn("| hello | stubborn | 108,864 | 0.31 ms | 1.07 ms | 5.35 ms | 8.40 | 124 "
                      "| **1.094x** (p99 0.41x, CPU 0.91x) | 0 | 0% |", perf)
        self.assertIn("| 10,000 | 10,000 (10,000, 10,000, 10,000) | 1,003.7 ms | 1,020.6 ms", perf)
        self.assertIn("| stubborn | 5.7 MiB (2.7) | 52.3 MiB (49.4) | 4.75 KiB |", perf)
        self.assertIn("| 1,000 routes | 46.3 ms | 43.3 ms | 53.4 ms |", perf)
        self.assertIn("| bm_match_regex/1000 | 187 ns | 188 ns | 0 |", perf)
        self.assertIn("| stubborn | 6,608 | 9,744,847 for 1,000 |", perf)
        self.assertIn("No run with the syscalls scenario is committed yet", perf)
        self.assertEqual(self.run_script("--check")[0], 0)
        # Rendering again changes nothing.
        self.assertEqual(self.run_script()[0], 0)
        self.assertEqual(self.doc("docs/performance.md"), perf)

    def test_conditions_beside_hello_and_its_micro_target(self):
        self.result("20261207T000000Z.jsonl", full_run("20261207T000000Z", "5555555",
                                                       extra=("conditions",)))
        code, out = self.run_script()
        self.assertEqual(code, 0, out)
        perf = self.doc("docs/performance.md")
        self.assertIn("| conditions | stubborn | 61,250 |", perf)
        self.assertIn("| 0.625x hello |", perf)
        self.assertIn("| conditions | stubborn hello | 98,000 |", perf)
        self.assertIn("| match 1,000 routes with two json_path conditions each, 1 KiB JSON body "
                      "(median) | < 5 us | 3.21 us | met |", perf)
        # The 1 us target of routes without conditions stays about them alone.
        self.assertIn("| match 1,000 routes (median, slowest kind) | < 1 us | 187 ns "
                      "(bm_match_regex/1000) | met |", perf)

    def test_latest_full_run_wins_and_partial_runs_do_not_count_as_full(self):
        self.result("20261201T000000Z.jsonl", full_run("20261201T000000Z", "1111111", 90000.0))
        self.result("20261202T000000Z.jsonl", full_run("20261202T000000Z", "2222222", 95000.0,
                                                       extra=("syscalls",)))
        self.result("20261203T000000Z.jsonl", full_run("20261203T000000Z", "3333333", 50000.0,
                                                       argv=("--quick",)))
        self.result("20261204T000000Z.jsonl", soak_run("20261204T000000Z", "4444444"))
        code, out = self.run_script()
        self.assertEqual(code, 0, out)
        perf = self.doc("docs/performance.md")
        self.assertIn("From `benchmarks/results/20261202T000000Z.jsonl`", perf)
        self.assertIn("| hello | stubborn | 95,000 |", perf)
        self.assertNotIn("3333333", perf)
        self.assertIn("| recvmmsg | 1.000 | 0.000 |", perf)
        reliability = self.doc("docs/reliability.md")
        self.assertIn("**SOAK PASS**", reliability)
        self.assertIn("From `benchmarks/results/20261204T000000Z.jsonl`: `python3 "
                      "benchmarks/run.py soak` on commit `4444444`", reliability)
        self.assertIn("10,000,000 requests at 101,626 req/s, 0 errors, the server's count "
                      "10,000,000 = wrk's 10,000,000; 17 descriptors and 5 threads at the "
                      "baseline, 17 and 5 after, RSS +10 KiB", self.doc("README.md"))

    def test_https_scenarios_come_from_the_latest_run_that_holds_them(self):
        code, out = self.run_script()
        self.assertEqual(code, 0, out)
        perf = self.doc("docs/performance.md")
        self.assertIn("No run with the https-idle scenario is committed yet: run `python3 "
                      "benchmarks/run.py --only https-idle`", perf)
        self.result("20261205T031056Z.jsonl", full_run("20261205T031056Z", "9756399"))
        self.result("20261206T170000Z.jsonl", https_run("20261206T170000Z", "5555555"))
        code, out = self.run_script()
        self.assertEqual(code, 0, out)
        perf = self.doc("docs/performance.md")
        self.assertIn("| https-hello: throughput vs nginx | >= 1.0x | 1.200x (pairs: 1.200x) "
                      "| met |", perf)
        self.assertIn("| https-hello: CPU per request vs nginx | <= nginx | 12.00 vs 13.50 us "
                      "(pairs: 0.89x) | met |", perf)
        self.assertIn("| https-hello | stubborn | 60,000 | 0.31 ms | 2.00 ms | 10.00 ms | 12.00 "
                      "| 124 | **1.200x** (p99 1.00x, CPU 0.89x) | 0 | 0% |", perf)
        self.assertIn("| https-handshakes: throughput vs nginx | >= 1.0x | 0.938x (pairs: "
                      "0.938x) | MISSED |", perf)
        self.assertIn("- nginx: TLSv1.3, TLS_AES_256_GCM_SHA384, key exchange X25519, ALPN "
                      "`http/1.1`, 2 session tickets sent per handshake; 0 of 40,000 handshakes "
                      "resumed.", perf)
        self.assertIn("from `/__admin/metrics`: failed 0, full 40,123, resumed 0.", perf)
        self.assertIn("| https-idle: RSS with 10,000 held vs nginx | <= 1.2x | 1.375x (107.4 vs "
                      "78.1 MiB) | MISSED |", perf)
        self.assertIn("| stubborn | 5.9 MiB (2.9) | 107.4 MiB (102.5) | 10.50 KiB (10.50) "
                      "| 107.4 MiB | 10,000 | 10,000 | 4.2 s | 150.0 |", perf)
        self.assertIn("In the same run, 10,000 plain (not TLS) keep-alive connections: RSS "
                      "per connection stubborn 4.85 KiB, nginx 0.52 KiB.", perf)
        self.assertIn("From `benchmarks/results/20261206T170000Z.jsonl`: `python3 "
                      "benchmarks/run.py https` on commit `5555555`", perf)
        # The full run's own block is unchanged by a run of extra scenarios.
        self.assertIn("From `benchmarks/results/20261205T031056Z.jsonl`", perf)
        self.assertEqual(self.run_script("--check")[0], 0)

    def test_proxy_scenarios_come_from_the_latest_run_that_holds_them(self):
        code, out = self.run_script()
        self.assertEqual(code, 0, out)
        perf = self.doc("docs/performance.md")
        self.assertIn("No run with the proxy-hello scenario is committed yet: run `python3 "
                      "benchmarks/run.py --only proxy-hello`", perf)
        self.assertIn("No run with the proxy-latency scenario is committed yet", perf)
        self.result("20261205T031056Z.jsonl", full_run("20261205T031056Z", "9756399"))
        self.result("20261206T200000Z.jsonl", proxy_run("20261206T200000Z", "7777777"))
        # A later run whose binary had no proxy routes replaces nothing.
        self.result("20261206T210000Z.jsonl", proxy_run("20261206T210000Z", "8888888",
                                                        skipped="proxy routes not supported"))
        code, out = self.run_script()
        self.assertEqual(code, 0, out)
        perf = self.doc("docs/performance.md")
        self.assertIn("| proxy-hello: throughput vs nginx proxy_pass | >= 1.0x | 1.111x (pairs: "
                      "1.111x) | met |", perf)
        self.assertIn("| proxy-hello: CPU per request vs nginx proxy_pass | <= nginx | 10.00 vs "
                      "12.50 us (pairs: 0.80x) | met |", perf)
        self.assertIn("| proxy-hello | stubborn | 40,000 | 0.31 ms | 3.00 ms | 15.00 ms | 10.00 "
                      "| 124 | **1.111x** (p99 1.00x, CPU 0.80x) | 0 | 0% |", perf)
        self.assertIn("| stubborn | 10.00 | 6.00 | 6 | 960,030 / 960,000 |", perf)
        self.assertIn('`stubborn_proxy_errors_total{cause="refused"}` 0', perf)
        self.assertIn("| proxy-latency: p50 added by a proxy route over a direct call | < 100 us "
                      "| 35.5 us (56.5 vs 21.0 us; pairs: 35.5 us) | met |", perf)
        self.assertIn("| stubborn proxy route | 16,529 | 27.8 us | 56.5 us | 700.0 us | 90.0 us "
                      "| 180.0 us | 450.0 us | 35.5 us / 50.0 us | 30.00 | 0 | 0% |", perf)
        self.assertIn("Each run 5 s of `stubborn_latency_bench`", perf)
        self.assertIn("From `benchmarks/results/20261206T200000Z.jsonl`: `python3 "
                      "benchmarks/run.py proxy` on commit `7777777`", perf)
        self.assertNotIn("20261206T210000Z", perf)
        # The full run's own block is unchanged by a run of the proxy scenarios.
        self.assertIn("From `benchmarks/results/20261205T031056Z.jsonl`", perf)
        self.assertEqual(self.run_script("--check")[0], 0)

    def test_stream_scenarios_come_from_the_latest_run_that_holds_them(self):
        code, out = self.run_script()
        self.assertEqual(code, 0, out)
        perf = self.doc("docs/performance.md")
        self.assertIn("No run with the held-stream scenarios is committed yet: run `python3 "
                      "benchmarks/run.py --only ws-held,sse-held`", perf)
        self.assertIn("No run with the ws-echo scenario is committed yet", perf)
        self.result("20261207T100000Z.jsonl", streams_run("20261207T100000Z", "abcdef1"))
        # A later run whose binary had no stream routes replaces nothing.
        self.result("20261207T110000Z.jsonl", streams_run("20261207T110000Z", "abcdef2",
                                                          skipped="not supported by this build"))
        code, out = self.run_script()
        self.assertEqual(code, 0, out)
        perf = self.doc("docs/performance.md")
        self.assertNotIn("abcdef2", perf)
        self.assertIn("| ws-held: 10,000 WebSocket connections, one message a second: every "
                      "message delivered (worst run) | 10,000 open; none missing | 10,000 open; "
                      "0 missing | met |", perf)
        self.assertIn("| ws-held: lateness against the schedule, p99 (worst run) | <= 50 ms "
                      "| 14.5 ms (max 82.0 ms; 24 messages over 50 ms) | met |", perf)
        self.assertIn("| sse-held: lateness against the schedule, p99 (worst run) | <= 50 ms "
                      "| 63.0 ms (max 82.0 ms; 24 messages over 50 ms) | MISSED |", perf)
        self.assertIn("| sse-held: peak RSS with 10,000 held (worst run) | < 128 MiB | 136.7 MiB "
                      "(5.60 KiB per stream) | MISSED |", perf)
        self.assertIn("| `ws-held` (WebSocket, `every` 1 s) | 10,000 / 10,000 | 200,000 / "
                      "200,000 | 0 | 24 | 2.5 ms | 14.0 ms (worst 14.5) | 82.0 ms | 5.9 MiB / "
                      "60.5 MiB | 68.4 MiB | 5.60 KiB | 4 | 20% | 20.0 | 2.5 s | 1% |", perf)
        self.assertIn("| ws-echo: messages/s on 50 connections vs python-websockets | >= 1.0x "
                      "| 6.00x (30,000 vs 5,000/s; pairs: 6.00x) | met |", perf)
        self.assertIn("| ws-echo: messages/s on 50 connections vs node-ws | >= 1.0x | 0.94x "
                      "(30,000 vs 32,000/s; pairs: 0.94x) | MISSED |", perf)
        self.assertIn("| stubborn | 30,000 | 0.31 ms | 3.00 ms | 20.00 | 95% |  | 0 | 0% | - |",
                      perf)
        self.assertIn("| node-ws | 32,000 | 0.31 ms | 3.00 ms | 22.00 | 95% | 0.94x (pairs "
                      "0.94x) | 0 | 0% | ws 8.23.1, node v20.20.2, 2 worker(s) |", perf)
        self.assertIn("From `benchmarks/results/20261207T100000Z.jsonl`: `python3 "
                      "benchmarks/run.py streams` on commit `abcdef1`", perf)
        self.assertEqual(self.run_script("--check")[0], 0)

    def test_cluster_comes_from_the_latest_run_that_holds_it(self):
        code, out = self.run_script()
        self.assertEqual(code, 0, out)
        perf = self.doc("docs/performance.md")
        self.assertIn("No run with the cluster scenario is committed yet: run `python3 "
                      "benchmarks/run.py cluster` (redis-server and haproxy installed)", perf)
        self.result("20261207T120000Z.jsonl", cluster_run("20261207T120000Z", "c1c1c1c"))
        # A later run on a machine without redis-server replaces nothing.
        self.result("20261207T130000Z.jsonl", cluster_run("20261207T130000Z", "c2c2c2c",
                                                          skipped="redis-server not installed"))
        code, out = self.run_script()
        self.assertEqual(code, 0, out)
        perf = self.doc("docs/performance.md")
        self.assertIn("| 3 | 100/s, burst 100, 10 s | 19,800, 19,801, 19,802 | 1,098, 1,104, 1,101 "
                      "| 1,100 | 0.36 % (PASS) | 80% | 45% | 30% |", perf)
        self.assertIn("| local limiter | 100,000 | 0.31 ms | 2.00 ms | 9.00 | - | 0 |", perf)
        self.assertIn("| limiter in Redis | 50,000 | 0.31 ms | 2.00 ms | 14.00 | 4.00 | 0 |", perf)
        self.assertIn("Limiter in Redis / local: 0.500x req/s, stubborn CPU per request 1.556x.",
                      perf)
        self.assertIn("From `benchmarks/results/20261207T120000Z.jsonl`: `python3 "
                      "benchmarks/run.py cluster` on commit `c1c1c1c`", perf)
        self.assertNotIn("20261207T130000Z", perf)
        self.assertEqual(self.run_script("--check")[0], 0)

    def test_unbalanced_or_unknown_markers_are_errors(self):
        (self.root / "docs" / "performance.md").write_text(
            "<!-- benchmarks:begin results -->\ntext\n")
        code, out = self.run_script("--check")
        self.assertEqual(code, 2)
        self.assertIn("docs/performance.md:1: block 'results' is never ended", out)
        (self.root / "docs" / "performance.md").write_text(
            "<!-- benchmarks:begin nonsense -->\n<!-- benchmarks:end nonsense -->\n")
        code, out = self.run_script()
        self.assertEqual(code, 2)
        self.assertIn("unknown block 'nonsense'", out)

    def test_a_broken_result_file_is_an_error(self):
        self.result("20261201T000000Z.jsonl", '{"type": "meta"\n')
        code, out = self.run_script("--check")
        self.assertEqual(code, 2)
        self.assertIn("benchmarks/results/20261201T000000Z.jsonl:1: not JSON", out)

    @unittest.skipUnless(shutil.which("git"), "git is not installed")
    def test_in_a_checkout_only_tracked_files_count(self):
        self.result("20261201T000000Z.jsonl", full_run("20261201T000000Z", "1111111", 90000.0))

        def git(*args):
            subprocess.run(["git", "-C", str(self.root), "-c", "user.name=t", "-c",
                            "user.email=t@example.com"] + list(args), check=True,
                           capture_output=True, timeout=60)

        git("init", "-q")
        git("add", "-A")
        git("commit", "-q", "-m", "docs and one result")
        self.result("20261202T000000Z.jsonl", full_run("20261202T000000Z", "2222222", 95000.0))
        code, out = self.run_script()
        self.assertEqual(code, 0, out)
        self.assertIn("20261202T000000Z.jsonl is not tracked by git", out)
        self.assertIn("| hello | stubborn | 90,000 |", self.doc("docs/performance.md"))
        git("add", "benchmarks/results/20261202T000000Z.jsonl")  # staged counts as tracked
        self.assertEqual(self.run_script("--check")[0], 1)
        self.assertEqual(self.run_script()[0], 0)
        self.assertIn("| hello | stubborn | 95,000 |", self.doc("docs/performance.md"))


if __name__ == "__main__":
    unittest.main(verbosity=2)

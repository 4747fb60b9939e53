#!/usr/bin/env python3
"""End to end: WebSocket routes and event streams of the built binary, driven by real clients.

Usage: test_streams.py STUBBORN_BINARY SOURCE_DIR

- Python's `websockets` (Debian python3-websockets): the handshake and subprotocol, on_open steps
  and their delay, on_message answers with match, repeat and echo (text and binary), a close
  asked for by a message, `every` and close_after with its code and reason, a plain request's
  426, and the journal's WebSocket entries.
- curl -N: an event stream's fields and pacing, Last-Event-ID, a held stream's heartbeats.
- Headless Chromium through Selenium (Debian chromium, chromium-driver, python3-selenium): a page
  served by stubborn opens the browser's own WebSocket and EventSource; the messages it got are
  read back. The EventSource reconnects by itself when the stream ends, with Last-Event-ID, and
  must not see an event twice.

Run with Debian's python3 (the modules above are Debian's); tests/CMakeLists.txt picks it.
"""
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

from e2e_support import check, curl, finish, start_server, stop_server

import websockets  # noqa: E402  (Debian python3-websockets)

BINARY, SOURCE = sys.argv[1], sys.argv[2]

PAGE = r"""<!doctype html>
<html><head><meta charset="utf-8"><title>streams</title></head><body>
<script>
window.results = {ws: [], wsProtocol: null, wsClose: null, sse: [], done: [], opens: 0,
                  finished: false};
const ws = new WebSocket(`ws://${location.host}/ws/quotes/ACME`, ["other", "quotes.v1"]);
ws.onopen = () => { results.wsProtocol = ws.protocol; };
ws.onmessage = (e) => {
  results.ws.push(e.data);
  if (e.data === '{"hello":"ACME"}') ws.send("ping");
  if (e.data === "tick 1") ws.send("bye");
};
ws.onclose = (e) => { results.wsClose = {code: e.code, reason: e.reason, clean: e.wasClean}; };
const es = new EventSource("/events/feed");
es.onopen = () => {
  results.opens++;
  // The second open is the browser's own reconnection with Last-Event-ID: give it a moment to
  // show any event it should not get again, then stop.
  if (results.opens === 2) setTimeout(() => { es.close(); results.finished = true; }, 400);
};
es.onmessage = (e) => { results.sse.push([e.data, e.lastEventId]); };
es.addEventListener("done", (e) => { results.done.push(e.data); });
</script></body></html>
"""

CONFIG = """
[[route]]
name = "page"
method = "GET"
path = "/page"
[route.reply]
headers = { "Content-Type" = "text/html; charset=utf-8" }
body = '''""" + PAGE + """'''

[[route]]
name = "quotes"
path = "/ws/quotes/{symbol}"
[route.websocket]
subprotocols = ["quotes.v1"]
on_open = [ { send = '{"hello":"{{path.symbol}}"}' },
            { send = "tick 1", delay = "100ms" } ]
[[route.websocket.on_message]]
match = { equals = "ping" }
repeat = 2
reply = [ { send = "pong" } ]
[[route.websocket.on_message]]
match = { equals = "ping" }
reply = [ { send = "enough" } ]
[[route.websocket.on_message]]
match = { equals = "bye" }
reply = [ { close = { code = 4000, reason = "bye" } } ]
[[route.websocket.on_message]]
match = {}
echo = true

[[route]]
name = "ticker"
path = "/ws/ticker"
[route.websocket]
every = { send = "tick", interval = "100ms" }
close_after = "550ms"
close_code = 4001
close_reason = "done"

[[route]]
name = "completions"
method = "POST"
path = "/v1/chat/completions"
[route.reply]
events = [ { data = '{"delta":"Hel"}', delay = "50ms" },
           { data = '{"delta":"lo"}', delay = "50ms", id = "2" },
           { event = "done", data = "[DONE]", retry = "3s" } ]

[[route]]
name = "feed"
method = "GET"
path = "/events/feed"
[route.reply]
events = [ { id = "1", data = "a", retry = "100ms" },
           { id = "2", data = "b", delay = "20ms" },
           { event = "done", id = "3", data = "end", delay = "20ms" } ]

[[route]]
name = "held"
method = "GET"
path = "/events/held"
[route.reply]
events = [ { data = "first" } ]
then = "hold"
heartbeat = "200ms"
"""


def parse_events(text):
    """The events of a text/event-stream, each a dict of its fields (data lines joined by LF)."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            fields[name] = fields[name] + "\n" + value if name in fields else value
        if fields:
            events.append(fields)
    return events


def admin_json(port, query):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__admin/{query}", timeout=10) as r:
        return json.loads(r.read())


def journal_list(port, query):
    """The entries a journal listing gave (a JSON array)."""
    entries = admin_json(port, query)
    return entries if isinstance(entries, list) else entries.get("requests", [])


async def websocket_checks(port):
    base = f"ws://127.0.0.1:{port}"
    async with websockets.connect(f"{base}/ws/quotes/XYZ",
                                  subprotocols=["nope", "quotes.v1"]) as ws:
        check("ws: the route's subprotocol the client offers is chosen",
              ws.subprotocol == "quotes.v1", repr(ws.subprotocol))
        start = time.monotonic()
        hello = await asyncio.wait_for(ws.recv(), 5)
        check("ws: on_open's first step, templated", hello == '{"hello":"XYZ"}', repr(hello))
        tick = await asyncio.wait_for(ws.recv(), 5)
        elapsed = time.monotonic() - start
        check("ws: on_open's second step after its delay", tick == "tick 1" and elapsed >= 0.09,
              f"{tick!r} after {elapsed:.3f} s")
        answers = []
        for _ in range(3):
            await ws.send("ping")
            answers.append(await asyncio.wait_for(ws.recv(), 5))
        check("ws: repeat = 2, then the next answer", answers == ["pong", "pong", "enough"],
              repr(answers))
        await ws.send("anything else")
        echoed = await asyncio.wait_for(ws.recv(), 5)
        check("ws: echo of a text message", echoed == "anything else", repr(echoed))
        await ws.send(b"\x00\x01\xfe")
        echoed = await asyncio.wait_for(ws.recv(), 5)
        check("ws: echo of a binary message", echoed == b"\x00\x01\xfe", repr(echoed))
    check("ws: the client's close is answered", ws.close_code == 1000, repr(ws.close_code))

    async with websockets.connect(f"{base}/ws/quotes/A") as ws:
        check("ws: no subprotocol offered, none chosen", ws.subprotocol is None,
              repr(ws.subprotocol))
        await asyncio.wait_for(ws.recv(), 5)
        await ws.send("bye")
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
        except websockets.exceptions.ConnectionClosed:
            pass
        check("ws: a close step's code and reason", (ws.close_code, ws.close_reason) ==
              (4000, "bye"), repr((ws.close_code, ws.close_reason)))

    async with websockets.connect(f"{base}/ws/ticker") as ws:
        ticks = 0
        start = time.monotonic()
        try:
            while True:
                message = await asyncio.wait_for(ws.recv(), 5)
                ticks += message == "tick"
        except websockets.exceptions.ConnectionClosed:
            pass
        elapsed = time.monotonic() - start
        check("ws: every 100ms until close_after (550ms): 5 ticks", ticks == 5, str(ticks))
        check("ws: close_after's code and reason", (ws.close_code, ws.close_reason) ==
              (4001, "done") and 0.5 <= elapsed < 3, repr((ws.close_code, ws.close_reason,
                                                            elapsed)))


def journal_checks(port):
    entries = journal_list(port, "requests?kind=websocket&direction=in&route=quotes")
    texts = [e.get("body") for e in entries
             if e.get("websocket", {}).get("opcode") == 1]
    # Oldest first or newest first: compare as a multiset of what the clients sent.
    check("journal: the clients' text messages, as kind=websocket direction=in",
          sorted(texts) == sorted(["ping", "ping", "ping", "anything else", "bye"]), repr(texts))
    count = admin_json(port, "requests/count?kind=websocket&direction=in&route=quotes")
    binary = [e for e in entries if e.get("websocket", {}).get("opcode") == 2]
    check("journal: the binary message, with its size", len(binary) == 1 and
          binary[0]["websocket"].get("size") == 3, repr(binary))
    check("journal: /requests/count agrees with the listing",
          count.get("count") == len(entries), f"{count} vs {len(entries)}")
    outbound = admin_json(port, "requests/count?kind=websocket&direction=out&route=ticker")
    check("journal: the ticker's messages out", outbound.get("count", 0) >= 5, repr(outbound))
    upgrades = admin_json(port, "requests/count?route=quotes")
    check("journal: without kind, requests only (the upgrades: 101)",
          upgrades.get("count") == 2, repr(upgrades))


def curl_checks(port):
    url = f"http://127.0.0.1:{port}"
    r = curl("-i", f"{url}/ws/quotes/X")
    check("426 for a plain request to a WebSocket route", r.stdout.startswith("HTTP/1.1 426")
          and "upgrade: websocket" in r.stdout.lower(), r.stdout[:200])

    start = time.monotonic()
    r = curl("-N", "-X", "POST", f"{url}/v1/chat/completions")
    elapsed = time.monotonic() - start
    events = parse_events(r.stdout)
    check("sse: the events, each with only its fields",
          events == [{"data": '{"delta":"Hel"}'}, {"id": "2", "data": '{"delta":"lo"}'},
                     {"event": "done", "retry": "3000", "data": "[DONE]"}], repr(r.stdout))
    check("sse: paced by the delays", elapsed >= 0.1, f"{elapsed:.3f} s")
    r = curl("-N", "-i", "-X", "POST", "-H", "Last-Event-ID: 2", f"{url}/v1/chat/completions")
    head, _, body = r.stdout.partition("\r\n\r\n")
    check("sse: text/event-stream", "content-type: text/event-stream" in head.lower(), head)
    check("sse: Last-Event-ID resumes after that event",
          parse_events(body) == [{"event": "done", "retry": "3000", "data": "[DONE]"}], repr(body))
    r = curl("-N", "-X", "POST", "-H", "Last-Event-ID: nope", f"{url}/v1/chat/completions")
    check("sse: an unknown Last-Event-ID replays from the start", len(parse_events(r.stdout)) == 3,
          repr(r.stdout))
    r = subprocess.run(["curl", "-sSN", "--max-time", "1", f"{url}/events/held"],
                       capture_output=True, timeout=20)
    text = r.stdout.decode()
    check("sse: a held stream sends heartbeats until the client goes",
          r.returncode == 28 and parse_events(text) == [{"data": "first"}]
          and text.count(":") - text.count("data:") >= 3, repr(text))


def browser_checks(port, work):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as e:
        check("browser: selenium is installed (python3-selenium)", False, str(e))
        return
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        check("browser: chromium and chromedriver are installed", False,
              f"chromium={chromium} chromedriver={driver_path}")
        return
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--user-data-dir={os.path.join(work, 'chromium')}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.set_page_load_timeout(20)
        driver.get(f"http://127.0.0.1:{port}/page")
        deadline = time.monotonic() + 20
        results = {}
        while time.monotonic() < deadline:
            results = driver.execute_script("return window.results") or {}
            if results.get("finished") and results.get("wsClose"):
                break
            time.sleep(0.05)
        check("browser: WebSocket with the route's subprotocol",
              results.get("wsProtocol") == "quotes.v1", repr(results))
        check("browser: WebSocket messages in order", results.get("ws") ==
              ['{"hello":"ACME"}', "pong", "tick 1"], repr(results.get("ws")))
        close = results.get("wsClose") or {}
        check("browser: the server's close, code and reason",
              (close.get("code"), close.get("reason"), close.get("clean")) == (4000, "bye", True),
              repr(close))
        check("browser: EventSource got each event once, with its id",
              results.get("sse") == [["a", "1"], ["b", "2"]] and results.get("done") == ["end"],
              repr(results))
        check("browser: EventSource reconnected by itself", results.get("opens", 0) >= 2,
              repr(results.get("opens")))
    finally:
        driver.quit()
    feed = journal_list(port, "requests?route=feed")
    resumed = [e for e in feed if any(name.lower() == "last-event-id" and value == "3"
                                      for name, value in e.get("headers", {}).items())]
    check("browser: the reconnection said Last-Event-ID: 3", len(resumed) >= 1, repr(feed))


def main():
    work = tempfile.mkdtemp(prefix="stubborn-e2e-streams-")
    try:
        config = os.path.join(work, "streams.toml")
        with open(config, "w") as f:
            f.write(CONFIG)
        proc, port = start_server(BINARY, config, work)
        check("the server starts on the streams config", port is not None,
              proc.stderr.read() if port is None and proc.poll() is not None else "")
        if port is None:
            stop_server(proc)
            finish()
        try:
            asyncio.run(websocket_checks(port))
            journal_checks(port)
            curl_checks(port)
            browser_checks(port, work)
        finally:
            code, _, err = stop_server(proc)
            check("the server stops cleanly on SIGTERM", code == 0, err[-2000:])
        # The example config shipped with the docs loads.
        r = subprocess.run([BINARY, "--check", os.path.join(SOURCE, "configs", "streams.toml")],
                           capture_output=True, text=True, timeout=30)
        check("configs/streams.toml passes --check", r.returncode == 0, r.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()

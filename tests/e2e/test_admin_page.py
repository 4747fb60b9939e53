#!/usr/bin/env python3
"""End to end: the admin page of the built binary in headless Chromium (through Selenium).

Usage: test_admin_page.py STUBBORN_BINARY SOURCE_DIR SCREENSHOT_DIR

The server runs configs/admin.toml with `[admin] token` set. The browser loads
/__admin/?token=..., a request made with urllib shows up in the live journal within a second,
Reset brings the counters to zero, and a screenshot is saved in SCREENSHOT_DIR (its path is
printed). A request whose path and headers hold HTML and script shows as text: no element is
made from it and nothing runs. curl -N reads the same stream with ?token=, and the access
log does not show the token.

Run with Debian's python3 (python3-selenium is Debian's); tests/CMakeLists.txt picks it.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

from e2e_support import check, finish, start_server, stop_server

BINARY, SOURCE, SHOTS = sys.argv[1], sys.argv[2], sys.argv[3]
TOKEN = "e2e-token"
EVIL_PATH = "/esc/<svg/onload=window.__pwned=1><script>window.__pwned=2</script>"
EVIL_HEADER = '<img src=x onerror="window.__pwned=3"><script>window.__pwned=4</script>'


def config_text():
    """configs/admin.toml with its token line switched on."""
    with open(os.path.join(SOURCE, "configs", "admin.toml")) as f:
        text = f.read()
    marker = '# token = "change-me"'
    if marker not in text:
        raise SystemExit("configs/admin.toml has no token line to switch on")
    return text.replace(marker, f'token = "{TOKEN}"')


def send(port, path, headers=None, method="GET"):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def wait_until(driver, script, deadline_s, poll_s=0.02):
    """Runs `script` until it returns something true; (value, seconds waited)."""
    start = time.monotonic()
    value = None
    while time.monotonic() - start < deadline_s:
        value = driver.execute_script(script)
        if value:
            break
        time.sleep(poll_s)
    return value, time.monotonic() - start


COUNTER = ("var c = document.querySelector('[data-counter=\"%s\"] .value');"
           "return c ? c.textContent : null;")


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
                "--window-size=1400,1000", f"--user-data-dir={os.path.join(work, 'chromium')}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.set_page_load_timeout(15)
        driver.get(f"http://127.0.0.1:{port}/__admin/?token={TOKEN}")
        live, _ = wait_until(driver, "return document.getElementById('stream-state')"
                             ".textContent.indexOf('live') >= 0", 5)
        check("browser: the page's event stream is live (token passed on as ?token=)", live,
              driver.execute_script("return document.getElementById('stream-state').textContent"))
        routes, _ = wait_until(driver, "return document.querySelectorAll('#routes tr').length", 3)
        check("browser: the routes of configs/admin.toml are listed (fetch with the header)",
              routes == 3, repr(routes))

        # A request made now appears in the journal within a second.
        start = time.monotonic()
        check("urllib: GET /users/42", send(port, "/users/42", {"X-Probe": "e2e"}) == 200)
        seen, _ = wait_until(driver, "return Array.from(document.querySelectorAll("
                             "'#journal tr.entry td.target')).some("
                             "td => td.textContent === '/users/42')", 1.0)
        waited = time.monotonic() - start
        check("browser: the request is in the journal within 1 s", seen, f"{waited:.2f} s")
        counted, _ = wait_until(driver, "var c = document.querySelector("
                                "'[data-counter=\"requests\"] .value');"
                                "return c && c.textContent === '1';", 3)
        check("browser: the counters count it", counted,
              repr(driver.execute_script(COUNTER % "requests")))
        hits, _ = wait_until(driver, "var r = document.querySelector('#routes tr[data-route=\"user\"]"
                             " td.hits'); return r && r.textContent === '1';", 3)
        check("browser: the route's hits count it", hits)

        # HTML and script in the path and a header: text on the page, no element, nothing run.
        check("urllib: the request with HTML in its path and headers is answered 404",
              send(port, EVIL_PATH, {"X-Evil": EVIL_HEADER}) == 404)
        shown, _ = wait_until(driver, "return Array.from(document.querySelectorAll("
                              "'#journal td.target')).some(td => td.textContent === %r)"
                              % EVIL_PATH, 2)
        check("browser: the path shows as literal text in the journal", shown)
        unmatched, _ = wait_until(driver, "return Array.from(document.querySelectorAll("
                                  "'#unmatched td')).some(td => td.textContent === %r)"
                                  % EVIL_PATH, 2)
        check("browser: ... and among the unmatched requests", unmatched)
        driver.execute_script("Array.from(document.querySelectorAll('#journal tr.entry'))"
                              ".find(tr => tr.querySelector('td.target').textContent === "
                              "arguments[0]).click();", EVIL_PATH)
        detail = driver.execute_script("var p = document.querySelector('#journal tr.detail pre');"
                                       "return p ? p.textContent : '';")
        check("browser: the header shows as literal text in the entry's details",
              f"X-Evil: {EVIL_HEADER}" in detail, repr(detail[:300]))
        made = driver.execute_script(
            "return document.querySelectorAll('main img, main svg, main script, main iframe')"
            ".length;")
        check("browser: no element was made from the request", made == 0, repr(made))
        time.sleep(0.3)  # an onerror or onload would have run by now
        pwned = driver.execute_script("return window.__pwned === undefined ? null : "
                                      "window.__pwned;")
        check("browser: no script from the request ran", pwned is None, repr(pwned))

        os.makedirs(SHOTS, exist_ok=True)
        shot = os.path.join(SHOTS, "admin-page.png")
        driver.save_screenshot(shot)
        check("browser: screenshot saved", os.path.getsize(shot) > 0, shot)
        print(f"screenshot: {shot}")

        # Reset: the counters drop to zero and the journal empties.
        driver.find_element("id", "reset-button").click()
        zero, _ = wait_until(driver, "var c = document.querySelector('[data-counter=\"requests\"]"
                             " .value'); var s = document.querySelector('[data-counter=\"4xx\"]"
                             " .value'); return c && s && c.textContent === '0' && "
                             "s.textContent === '0' && document.querySelectorAll("
                             "'#journal tr.entry').length === 0;", 3)
        check("browser: Reset brings the counters to zero and empties the journal", zero,
              repr([driver.execute_script(COUNTER % "requests"),
                    driver.execute_script(COUNTER % "4xx")]))
        result = driver.execute_script("return document.getElementById('action-result')"
                                       ".textContent")
        check("browser: Reset's result is shown", result == "reset done", repr(result))
        hits, _ = wait_until(driver, "var r = document.querySelector('#routes tr[data-route=\"user\"]"
                             " td.hits'); return r && r.textContent === '0';", 3)
        check("browser: the route's hits are back to zero", hits)
        driver.find_element("id", "reload-button").click()
        reloaded, _ = wait_until(driver, "return document.getElementById('action-result')"
                                 ".textContent.indexOf('reloaded: 3 routes') === 0", 3)
        check("browser: Reload's result is shown", reloaded)
    finally:
        driver.quit()


def curl_checks(port):
    # -N: each event as it comes; the stream never ends by itself, so curl stops at --max-time.
    curl = subprocess.Popen(["curl", "-sN", "--max-time", "3",
                             f"http://127.0.0.1:{port}/__admin/requests/stream?token={TOKEN}"
                             "&route=user"],
                            stdout=subprocess.PIPE, text=True)
    try:
        first = curl.stdout.readline()  # "retry: 2000": the stream is open
        check("curl -N: the stream opens with ?token=", first.startswith("retry:"), repr(first))
        curl.stdout.readline()  # the opening comment
        curl.stdout.readline()
        send(port, "/users/7")
        line = curl.stdout.readline()
        data = curl.stdout.readline()
        check("curl -N: an event per request, with its id",
              line.startswith("id: ") and '"path":"/users/7"' in data, repr([line, data]))
    finally:
        curl.kill()
        curl.wait()
    check("a wrong token gets 403", send(port, "/__admin/requests/stream?token=nope") == 403)


def main():
    work = tempfile.mkdtemp(prefix="stubborn-e2e-admin-page-")
    try:
        config = os.path.join(work, "admin.toml")
        with open(config, "w") as f:
            f.write(config_text())
        access_log = os.path.join(work, "access.log")
        proc, port = start_server(BINARY, config, work, "--no-watch", "--access-log", access_log)
        check("the server starts on configs/admin.toml with a token", port is not None,
              proc.stderr.read() if port is None and proc.poll() is not None else "")
        if port is None:
            stop_server(proc)
            finish()
        try:
            browser_checks(port, work)
            curl_checks(port)
        finally:
            code, _, err = stop_server(proc)
            check("the server stops cleanly on SIGTERM", code == 0,
                  err[-2000:])
        with open(access_log) as f:
            logged = f.read()
        check("the access log has the stream's requests with the token hidden",
              "/__admin/requests/stream?token=***" in logged and TOKEN not in logged,
              logged[-1500:])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""End to end over HTTPS: the built binary's TLS listener met by real clients.

curl --cacert with the CA the server wrote (ca_out): localhost, 127.0.0.1 and [::1] (when IPv6
loopback works), ALPN http/1.1; curl failing with its exact error for each scripted certificate
fault; the scripted handshake faults (delay, stall until max_hang, reset, close, alerts shown
by openssl s_client) and handshake_timeout; per-name min_version/max_version/ciphers; Python's
ssl and http.client with the written CA (SNI, templates, a ClientHello in pieces, session
resumption counted in /__admin/metrics); mutual TLS in "request" and "require" mode with
client certificates made by the openssl program; plain HTTP on the TLS port and a ClientHello
on the plain port; the journal's "tls" fields; a reload that picks up a renewed certificate
file (and new scripted names) without dropping a keep-alive connection, and refuses a broken
one; ca_cert/ca_key and SSL_CERT_FILE; --tls-listen without [server.tls]; configs/tls.toml.

Resumption: {{tls.sni}} on a resumed TLS 1.2 connection is the SNI sent, and a session is never
resumed under another SNI name (RFC 6066 section 3), which would skip that name's scripted
certificate fault.

The openssl program makes the test's own CAs and certificates (for client certificates and the
reload); the server makes its certificates in-process. Timing checks are lower bounds only.
Usage: test_tls.py STUBBORN_BINARY SOURCE_DIR
"""
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_support import check, finish, read_until_close, stop_server, wait_for_port  # noqa: E402

BINARY, SOURCE = sys.argv[1], sys.argv[2]

# curl's messages for each certificate fault (curl 7.88 with OpenSSL 3), all exit 60.
CERT_FAULTS = [
    ("expired", "SSL certificate problem: certificate has expired"),
    ("not-yet-valid", "SSL certificate problem: certificate is not yet valid"),
    ("wrong-host", "SSL: no alternative certificate subject name matches target host name "
                   "'wrong-host.localhost'"),
    ("self-signed", "SSL certificate problem: self-signed certificate"),
    ("untrusted-issuer", "SSL certificate problem: unable to get local issuer certificate"),
]

MAIN_CONFIG = """
[server]
listen = "127.0.0.1:0"
max_hang = "2s"

[server.tls]
listen = "127.0.0.1:0"
hosts = ["localhost", "127.0.0.1", "::1", "*.localhost"]
ca_out = "ca.pem"
client_auth = "request"
client_ca = "clients-ca.pem"
""" + "".join(f"""
[[server.tls.names]]
name = "{fault}.localhost"
cert = "{fault}"
""" for fault, _ in CERT_FAULTS) + """
[[server.tls.names]]
name = "slow.localhost"
handshake = { delay = "1s" }

[[server.tls.names]]
name = "stall.localhost"
handshake = "stall"

[[server.tls.names]]
name = "reset.localhost"
handshake = "reset"

[[server.tls.names]]
name = "close.localhost"
handshake = "close"

[[server.tls.names]]
name = "refused.localhost"
handshake = { alert = "handshake_failure" }

[[server.tls.names]]
name = "denied.localhost"
handshake = { alert = "access_denied" }

[[server.tls.names]]
name = "old.localhost"
max_version = "1.2"

[[server.tls.names]]
name = "new.localhost"
min_version = "1.3"

[[server.tls.names]]
name = "cipher.localhost"
max_version = "1.2"
ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256"

[[route]]
name = "hello"
path = "/hello"
[route.reply]
body = "hello\\n"

[[route]]
name = "whoami"
path = "/whoami"
[route.reply]
body = "sni={{tls.sni}} version={{tls.version}} client={{tls.client_subject}}\\n"

[[route]]
name = "secure-only"
path = "/account"
scheme = "https"
[route.reply]
body = "balance\\n"

[[route]]
name = "billing"
path = "/invoices"
client_cert = { subject = "CN=billing" }
[route.reply]
body = "invoices for {{tls.client_subject}}\\n"
"""

REQUIRE_CONFIG = """
[server]
listen = "127.0.0.1:0"

[server.tls]
listen = "127.0.0.1:0"
ca_out = "ca-require.pem"
handshake_timeout = "1s"
client_auth = "require"
client_ca = "clients-ca.pem"

[[route]]
name = "billing"
path = "/invoices"
client_cert = { subject = "CN=billing" }
[route.reply]
body = "invoices for {{tls.client_subject}}\\n"

[[route]]
name = "whoami"
path = "/whoami"
[route.reply]
body = "client={{tls.client_subject}}\\n"
"""

RELOAD_CONFIG = """
[server]
listen = "127.0.0.1:0"

[server.tls]
listen = "127.0.0.1:0"
cert = "server.pem"
key = "server.key"

[[route]]
name = "hello"
path = "/hello"
[route.reply]
body = "hello\\n"
"""

PLAIN_CONFIG = """
[[route]]
name = "hello"
path = "/hello"
[route.reply]
body = "hello\\n"
"""

USER_CA_CONFIG = """
[server]
listen = "127.0.0.1:0"

[server.tls]
listen = "127.0.0.1:0"
ca_cert = "user-ca.pem"
ca_key = "user-ca.key"

[[server.tls.names]]
name = "expired.localhost"
cert = "expired"

[[server.tls.names]]
name = "untrusted-issuer.localhost"
cert = "untrusted-issuer"

[[route]]
name = "hello"
path = "/hello"
[route.reply]
body = "hello\\n"
"""

IPV6_CONFIG = """
[server.tls]
ca_out = "ca-v6.pem"

[[route]]
name = "hello"
path = "/hello"
[route.reply]
body = "hello\\n"
"""


class Result:
    def __init__(self, completed):
        self.returncode = completed.returncode
        self.stdout = completed.stdout.decode("utf-8", "replace")
        self.stderr = completed.stderr.decode("utf-8", "replace")

    def __str__(self):
        return f"rc={self.returncode} stdout={self.stdout!r} stderr={self.stderr!r}"


def curl(*args, max_time=10):
    # e2e_support's curl, with a time limit of the caller's (a stall is given up on at 1 s).
    return Result(subprocess.run(["curl", "-sS", "--max-time", str(max_time), *args],
                                 capture_output=True, timeout=max_time + 10))


def curl_name(ca, name, port, path, *args, max_time=10):
    """curl to https://NAME:PORT/PATH with NAME resolved to 127.0.0.1 (so SNI is NAME)."""
    return curl("--cacert", ca, "--resolve", f"{name}:{port}:127.0.0.1", *args,
                f"https://{name}:{port}{path}", max_time=max_time)


def openssl(*args, stdin=b""):
    return Result(subprocess.run(["openssl", *args], input=stdin, capture_output=True,
                                 timeout=20))


def make_ca(work, name, cn):
    """A CA certificate and key made by the openssl program: (cert path, key path)."""
    cert, key = os.path.join(work, f"{name}.pem"), os.path.join(work, f"{name}.key")
    r = openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={cn}")
    if r.returncode != 0:
        raise RuntimeError(f"openssl req: {r}")
    return cert, key


def make_leaf(work, name, ca, cn, serial, san=None):
    """A certificate for CN=cn signed by ca (a make_ca pair): (cert path, key path)."""
    cert, key = os.path.join(work, f"{name}.pem"), os.path.join(work, f"{name}.key")
    csr, ext = os.path.join(work, f"{name}.csr"), os.path.join(work, f"{name}.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints = CA:FALSE\n")
        if san:
            f.write(f"subjectAltName = {san}\n")
    r = openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={cn}")
    if r.returncode == 0:
        r = openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-set_serial",
                    str(serial), "-days", "2", "-extfile", ext, "-out", cert)
    if r.returncode != 0:
        raise RuntimeError(f"openssl x509: {r}")
    return cert, key


def start_tls(config_text, work, name, *flags, tls_listen="127.0.0.1:0"):
    """Writes the config into work and starts the binary with both listeners on port 0:
    (process, plain port or None, TLS port or None)."""
    config = os.path.join(work, f"{name}.toml")
    with open(config, "w") as f:
        f.write(config_text)
    port_file, tls_port_file = (os.path.join(work, f"{name}.port"),
                                os.path.join(work, f"{name}.tls-port"))
    proc = subprocess.Popen([BINARY, "--listen", "127.0.0.1:0", "--port-file", port_file,
                             "--tls-listen", tls_listen, "--tls-port-file", tls_port_file,
                             "--no-watch", *flags, config],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    port = wait_for_port(port_file, proc)
    tls_port = wait_for_port(tls_port_file, proc) if port is not None else None
    return proc, port, tls_port


def http_get(port, path, method="GET"):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(port, line_start):
    """The value of the /__admin/metrics sample whose line starts with line_start (0 if none)."""
    _, text = http_get(port, "/__admin/metrics")
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def https_get(ctx, port, path, server_hostname="localhost", host="127.0.0.1"):
    """One GET with http.client over ctx: (status, body, version of the TLS socket)."""
    conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=10)
    if server_hostname != host:
        # http.client sends the connection's host as SNI; another name needs its own socket.
        conn.sock = ctx.wrap_socket(socket.create_connection((host, port), timeout=10),
                                    server_hostname=server_hostname)
    try:
        conn.request("GET", path, headers={"Host": server_hostname})
        r = conn.getresponse()
        return r.status, r.read().decode(), conn.sock.version()
    finally:
        conn.close()


def fragmented_handshake(ctx, port, server_hostname, cuts):
    """A handshake whose ClientHello reaches the server in pieces (cut at the offsets in cuts,
    a pause between): then GET /hello. Returns the reply's first line, or the SSLError."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = outgoing.read()
        for start, end in zip([0] + cuts, cuts + [len(hello)]):
            sock.sendall(hello[start:end])
            time.sleep(0.1)  # so each piece is its own segment, read on its own
        try:
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    sock.sendall(outgoing.read())
                    data = sock.recv(65536)
                    if not data:
                        return "closed"
                    incoming.write(data)
            tls.write(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            sock.sendall(outgoing.read())
            reply = b""
            while b"\r\n" not in reply:
                try:
                    reply += tls.read(65536)
                except ssl.SSLWantReadError:
                    data = sock.recv(65536)
                    if not data:
                        break
                    incoming.write(data)
            return reply.split(b"\r\n")[0].decode()
        except ssl.SSLError as e:
            return e


def resumed_get(ctx, port, server_hostname, session):
    """GET /whoami on a new connection offering session: (reused, body, session), or the
    SSLError."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=server_hostname, session=session) as s:
                s.sendall(b"GET /whoami HTTP/1.1\r\nHost: localhost\r\n"
                          b"Connection: close\r\n\r\n")
                data, _ = read_until_close(s, 10)
                body = data.split(b"\r\n\r\n", 1)[-1].decode()
                return s.session_reused, body, s.session
    except ssl.SSLError as e:
        return e


def ipv6_loopback_works():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_curl_success(ca, port):
    for url in (f"https://localhost:{port}/hello", f"https://127.0.0.1:{port}/hello"):
        r = curl("--cacert", ca, "-w", "%{http_code} %{http_version}", url)
        check(f"curl --cacert {url}: 200 over HTTP/1.1", r.returncode == 0 and
              r.stdout == "hello\n200 1.1", str(r))
    r = curl("-v", "--cacert", ca, f"https://localhost:{port}/hello")
    check("curl -v: ALPN: server accepted http/1.1",
          "ALPN: server accepted http/1.1" in r.stderr, r.stderr[-2000:])
    r = curl("--cacert", ca, f"https://localhost:{port}/whoami")
    check("{{tls.sni}} and {{tls.version}} over curl",
          r.stdout == "sni=localhost version=TLSv1.3 client=\n", str(r))
    r = curl("--cacert", ca, f"https://127.0.0.1:{port}/whoami")
    check("an IP address is sent as no SNI: {{tls.sni}} is empty",
          r.stdout == "sni= version=TLSv1.3 client=\n", str(r))
    r = curl("--cacert", ca, "--resolve", f"api.localhost:{port}:127.0.0.1",
             f"https://api.localhost:{port}/whoami")
    check("a new name under *.localhost gets its own certificate",
          r.returncode == 0 and r.stdout == "sni=api.localhost version=TLSv1.3 client=\n",
          str(r))
    r = curl("--cacert", ca, "-w", "%{http_code}", "-o", "/dev/null",
             f"https://localhost:{port}/account")
    check("a scheme = \"https\" route answers over HTTPS", r.stdout == "200", str(r))


def test_cert_faults(ca, port):
    for fault, message in CERT_FAULTS:
        r = curl_name(ca, f"{fault}.localhost", port, "/hello")
        check(f"cert = \"{fault}\": curl exits 60", r.returncode == 60, str(r))
        check(f"cert = \"{fault}\": curl says {message!r}",
              f"curl: (60) {message}\n" in r.stderr, r.stderr)
    # Exactly one fault each: with verification off, the same names answer.
    for fault, _ in CERT_FAULTS:
        r = curl_name(ca, f"{fault}.localhost", port, "/hello", "-k")
        check(f"cert = \"{fault}\" with curl -k: 200", r.returncode == 0 and
              r.stdout == "hello\n", str(r))


def test_handshake_faults(ca, port):
    start = time.monotonic()
    r = curl_name(ca, "slow.localhost", port, "/hello")
    elapsed = time.monotonic() - start
    check("handshake delay 1s: curl succeeds", r.returncode == 0 and r.stdout == "hello\n",
          str(r))
    check("handshake delay 1s: after the delay", elapsed >= 0.95, f"{elapsed:.2f}s")

    start = time.monotonic()
    r = curl_name(ca, "stall.localhost", port, "/hello", max_time=1)
    elapsed = time.monotonic() - start
    check("handshake stall: curl --max-time 1 exits 28", r.returncode == 28, str(r))
    check("handshake stall: curl says it timed out",
          re.search(r"curl: \(28\) Connection timed out after \d+ milliseconds", r.stderr)
          is not None, r.stderr)
    check("handshake stall: curl gave up after its 1 s", elapsed >= 0.95, f"{elapsed:.2f}s")
    # A client that waits longer meets [server] max_hang (2 s here): the server closes.
    ctx = ssl.create_default_context(cafile=ca)
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            ctx.wrap_socket(raw, server_hostname="stall.localhost")
            outcome = "handshake finished"
        except (ssl.SSLError, OSError) as e:
            outcome = type(e).__name__
    elapsed = time.monotonic() - start
    check("handshake stall: ended by max_hang, not by the client",
          outcome in ("SSLEOFError", "SSLZeroReturnError", "ConnectionResetError") and
          1.9 <= elapsed < 9, f"{outcome} after {elapsed:.2f}s")

    r = curl_name(ca, "reset.localhost", port, "/hello")
    check("handshake reset: curl (35) Recv failure: Connection reset by peer",
          r.returncode == 35 and "curl: (35) Recv failure: Connection reset by peer" in r.stderr,
          str(r))

    r = curl_name(ca, "close.localhost", port, "/hello")
    check("handshake close: curl (35) SSL_ERROR_SYSCALL",
          r.returncode == 35 and "curl: (35) OpenSSL SSL_connect: SSL_ERROR_SYSCALL in "
          f"connection to close.localhost:{port}" in r.stderr, str(r))

    for name, alert, number, text in (("refused", "handshake_failure", 40,
                                       "sslv3 alert handshake failure"),
                                      ("denied", "access_denied", 49,
                                       "tlsv1 alert access denied")):
        r = curl_name(ca, f"{name}.localhost", port, "/hello")
        check(f"alert {alert}: curl exits 35 naming it",
              r.returncode == 35 and text in r.stderr, str(r))
        r = openssl("s_client", "-connect", f"127.0.0.1:{port}", "-servername",
                    f"{name}.localhost", "-CAfile", ca)
        out = r.stdout + r.stderr
        check(f"alert {alert}: openssl s_client shows '{text}'", text in out, out)
        check(f"alert {alert}: openssl s_client shows 'SSL alert number {number}'",
              f"SSL alert number {number}" in out, out)
        check(f"alert {alert}: openssl s_client gets no certificate",
              "no peer certificate available" in out and r.returncode == 1, out)
    r = openssl("s_client", "-connect", f"127.0.0.1:{port}", "-servername", "REFUSED.localhost")
    check("names are case-insensitive: REFUSED.localhost meets alert 40",
          "SSL alert number 40" in r.stdout + r.stderr, str(r))
    # RFC 7301 section 3.2: a client offering only protocols the server does not speak gets
    # the no_application_protocol alert.
    r = openssl("s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
                "-alpn", "h2", "-CAfile", ca)
    check("ALPN h2 only: openssl s_client shows alert 120 (no application protocol)",
          "alert no application protocol" in r.stdout + r.stderr and
          "SSL alert number 120" in r.stdout + r.stderr, str(r))


def test_versions(ca, port):
    r = curl_name(ca, "old.localhost", port, "/whoami")
    check("max_version 1.2: curl gets TLSv1.2",
          r.stdout == "sni=old.localhost version=TLSv1.2 client=\n", str(r))
    r = curl_name(ca, "old.localhost", port, "/whoami", "--tlsv1.3")
    check("max_version 1.2: curl --tlsv1.3 fails with a protocol version alert",
          r.returncode == 35 and "tlsv1 alert protocol version" in r.stderr, str(r))
    r = curl_name(ca, "new.localhost", port, "/whoami")
    check("min_version 1.3: curl gets TLSv1.3",
          r.stdout == "sni=new.localhost version=TLSv1.3 client=\n", str(r))
    r = curl_name(ca, "new.localhost", port, "/whoami", "--tls-max", "1.2")
    check("min_version 1.3: curl --tls-max 1.2 fails with a protocol version alert",
          r.returncode == 35 and "tlsv1 alert protocol version" in r.stderr, str(r))
    r = curl_name(ca, "localhost", port, "/whoami", "--tls-max", "1.2")
    check("the listener's default: curl --tls-max 1.2 gets TLSv1.2",
          r.stdout == "sni=localhost version=TLSv1.2 client=\n", str(r))
    other = "ECDHE-ECDSA-CHACHA20-POLY1305"
    r = curl_name(ca, "cipher.localhost", port, "/whoami", "--ciphers", other)
    check("per-name ciphers: a client offering only another cipher: handshake failure",
          r.returncode == 35 and "sslv3 alert handshake failure" in r.stderr, str(r))
    r = curl_name(ca, "localhost", port, "/whoami", "--tls-max", "1.2", "--ciphers", other)
    check("per-name ciphers: that cipher is fine on the other names",
          r.returncode == 0 and r.stdout == "sni=localhost version=TLSv1.2 client=\n", str(r))


def test_python(ca, port, plain_port):
    ctx = ssl.create_default_context(cafile=ca)
    status, body, version = https_get(ctx, port, "/hello", server_hostname="127.0.0.1")
    check("http.client to 127.0.0.1 with the written CA: 200 hello",
          (status, body) == (200, "hello\n"), f"{status} {body!r}")
    conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
    try:
        conn.request("GET", "/whoami")
        r = conn.getresponse()
        body = r.read().decode()
        check("http.client to localhost: 200, SNI and version in the body",
              r.status == 200 and body == "sni=localhost version=TLSv1.3 client=\n",
              f"{r.status} {body!r}")
        check("http.client: ALPN http/1.1 was offered and chosen",
              conn.sock.selected_alpn_protocol() in (None, "http/1.1"),
              str(conn.sock.selected_alpn_protocol()))
    finally:
        conn.close()
    status, body, version = https_get(ctx, port, "/whoami", server_hostname="api.localhost")
    check("ssl server_hostname api.localhost: {{tls.sni}}",
          body == f"sni=api.localhost version={version} client=\n", f"{status} {body!r}")
    for fault in ("expired", "untrusted-issuer"):
        try:
            https_get(ctx, port, "/hello", server_hostname=f"{fault}.localhost")
            check(f"Python's ssl refuses cert = \"{fault}\"", False, "it connected")
        except ssl.SSLCertVerificationError as e:
            check(f"Python's ssl refuses cert = \"{fault}\"", True, str(e))

    # The ClientHello in pieces (its first byte alone, then the SNI in a later piece): the
    # server waits for the whole of it before it picks the certificate.
    outcome = fragmented_handshake(ctx, port, "localhost", [1, 100])
    check("a ClientHello in three pieces: the handshake finishes, 200",
          outcome == "HTTP/1.1 200 OK", str(outcome))
    outcome = fragmented_handshake(ctx, port, "expired.localhost", [1, 5, 300])
    check("a ClientHello in pieces, the SNI late: expired.localhost's certificate is served",
          isinstance(outcome, ssl.SSLCertVerificationError) and
          "certificate has expired" in str(outcome), str(outcome))

    # Session resumption: the second connection offers the first one's session (a TLS 1.3
    # ticket, which arrives after the handshake: reading the reply takes it in).
    before = metric(plain_port, 'stubborn_tls_handshakes_total{result="resumed"}')
    session = None
    reused = []
    for _ in range(2):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as s:
                s.sendall(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                data, _ = read_until_close(s, 10)
                reused.append((s.session_reused, data.endswith(b"\r\n\r\nhello\n")))
                session = s.session
    check("Python reuses the session on its second connection",
          reused == [(False, True), (True, True)], str(reused))
    after = metric(plain_port, 'stubborn_tls_handshakes_total{result="resumed"}')
    check("stubborn_tls_handshakes_total{result=\"resumed\"} rises by one", after == before + 1,
          f"{before} -> {after}")

    # TLS 1.2 resumption (a ticket): the client sends its SNI again, and the reply should say it.
    ctx12 = ssl.create_default_context(cafile=ca)
    ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
    first = resumed_get(ctx12, port, "localhost", None)
    again = resumed_get(ctx12, port, "localhost", first[2])
    check("TLS 1.2: the second connection resumes", again[0] is True, str(again))
    check("TLS 1.2 resumed: {{tls.sni}} is the SNI the client sent",
          again[1] == "sni=localhost version=TLSv1.2 client=\n", repr(again[1]))

    # RFC 6066 section 3: a server MUST NOT resume a session offered with another SNI name, so a
    # client reusing localhost's session for expired.localhost meets the expired certificate.
    for version, maximum in (("1.3", ssl.TLSVersion.TLSv1_3), ("1.2", ssl.TLSVersion.TLSv1_2)):
        ctx_v = ssl.create_default_context(cafile=ca)
        ctx_v.maximum_version = maximum
        session = resumed_get(ctx_v, port, "localhost", None)[2]
        crossed = resumed_get(ctx_v, port, "expired.localhost", session)
        check(f"TLS {version}: localhost's session offered for expired.localhost is not "
              "resumed (a full handshake shows the expired certificate)",
              isinstance(crossed, ssl.SSLCertVerificationError), str(crossed))


def test_request_mode_mtls(ca, port, certs):
    billing, shipping, rogue = certs["billing"], certs["shipping"], certs["rogue"]
    r = curl("--cacert", ca, f"https://localhost:{port}/whoami")
    check("client_auth = \"request\": a client without a certificate gets in",
          r.returncode == 0 and r.stdout.endswith("client=\n"), str(r))
    r = curl("--cacert", ca, "--cert", billing[0], "--key", billing[1],
             f"https://localhost:{port}/invoices")
    check("client_auth = \"request\": CN=billing matches client_cert",
          r.stdout == "invoices for CN=billing\n", str(r))
    r = curl("--cacert", ca, "-w", "%{http_code}", "-o", "/dev/null",
             f"https://localhost:{port}/invoices")
    check("client_auth = \"request\": no certificate on a client_cert route: 403",
          r.stdout == "403", str(r))
    r = curl("--cacert", ca, "--cert", shipping[0], "--key", shipping[1], "-w", "%{http_code}",
             "-o", "/dev/null", f"https://localhost:{port}/invoices")
    check("client_auth = \"request\": CN=shipping on a client_cert route: 403",
          r.stdout == "403", str(r))
    r = curl("--cacert", ca, "--cert", rogue[0], "--key", rogue[1], "-w", "%{http_code}",
             "-o", "/dev/null", f"https://localhost:{port}/invoices")
    check("client_auth = \"request\": CN=billing from an unknown CA gets in, but not "
          "matched: 403", r.returncode == 0 and r.stdout == "403", str(r))


def test_plain_and_tls_mixed(ca, port, plain_port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data, closed = read_until_close(sock, 10)
    text = data.decode("latin-1")
    check("plain HTTP on the TLS port: 400", text.startswith("HTTP/1.1 400 Bad Request\r\n"),
          repr(text))
    check("plain HTTP on the TLS port: nginx's reason",
          text.endswith("\r\n\r\nBad Request: plain HTTP request was sent to HTTPS port\n"),
          repr(text))
    check("plain HTTP on the TLS port: Connection: close, then closed",
          "\r\nConnection: close\r\n" in text and closed, repr(text))
    r = curl("-w", "%{http_code}", "-o", "/dev/null", f"http://127.0.0.1:{port}/hello")
    check("curl http:// to the TLS port: 400", r.stdout == "400", str(r))

    before = metric(plain_port, "stubborn_tls_on_plain_port_total")
    r = curl("--cacert", ca, f"https://127.0.0.1:{plain_port}/hello")
    check("curl https:// to the plain port: exit 35, no reply",
          r.returncode == 35 and "SSL_ERROR_SYSCALL" in r.stderr, str(r))
    with socket.create_connection(("127.0.0.1", plain_port), timeout=10) as raw:
        ctx = ssl.create_default_context(cafile=ca)
        try:
            ctx.wrap_socket(raw, server_hostname="localhost")
            check("Python's ssl on the plain port fails", False, "handshake finished")
        except (ssl.SSLError, OSError) as e:
            check("Python's ssl on the plain port fails", True, str(e))
    after = metric(plain_port, "stubborn_tls_on_plain_port_total")
    check("stubborn_tls_on_plain_port_total rises by two", after == before + 2,
          f"{before} -> {after}")
    r = curl("-w", "%{http_code}", "-o", "/dev/null", f"http://127.0.0.1:{plain_port}/account")
    check("a scheme = \"https\" route does not match over plain HTTP: 404", r.stdout == "404",
          str(r))


def test_journal(ca, port, plain_port, billing):
    http_get(plain_port, "/__admin/reset", method="POST")
    r = curl("--cacert", ca, "--cert", billing[0], "--key", billing[1], "--resolve",
             f"api.localhost:{port}:127.0.0.1", f"https://api.localhost:{port}/hello?j=1")
    check("journal: the HTTPS request succeeds", r.stdout == "hello\n", str(r))
    curl(f"http://127.0.0.1:{plain_port}/hello?j=2")
    status, text = http_get(plain_port, "/__admin/requests?path=/hello")
    entries = json.loads(text) if status == 200 else []
    if isinstance(entries, dict):
        entries = entries.get("requests", [])
    by_target = {e.get("target"): e for e in entries}
    tls = by_target.get("/hello?j=1", {}).get("tls")
    check("journal: the HTTPS entry has tls {sni, version, cipher, client_subject}",
          isinstance(tls, dict) and tls.get("sni") == "api.localhost" and
          tls.get("version") == "TLSv1.3" and tls.get("cipher", "").startswith("TLS_") and
          tls.get("client_subject") == "CN=billing", text)
    check("journal: the plain HTTP entry has no tls key",
          "/hello?j=2" in by_target and "tls" not in by_target["/hello?j=2"], text)


def test_main(work, certs):
    proc, port, tls_port = start_tls(MAIN_CONFIG, work, "main")
    try:
        check("main: the server starts and writes both port files",
              port is not None and tls_port is not None)
        if tls_port is None:
            return
        ca = os.path.join(work, "ca.pem")
        check("main: ca_out is written at start", os.path.getsize(ca) > 0)
        test_curl_success(ca, tls_port)
        test_cert_faults(ca, tls_port)
        test_handshake_faults(ca, tls_port)
        test_versions(ca, tls_port)
        test_python(ca, tls_port, port)
        test_request_mode_mtls(ca, tls_port, certs)
        test_plain_and_tls_mixed(ca, tls_port, port)
        test_journal(ca, tls_port, port, certs["billing"])
    finally:
        code, out, err = stop_server(proc)
        check("main: the start-up line names both URLs",
              f"http://127.0.0.1:{port} and https://127.0.0.1:{tls_port}" in out, out + err)
        check("main: SIGTERM exits 0", code == 0, f"code={code} stderr={err}")


def test_require(work, certs):
    billing, shipping, rogue = certs["billing"], certs["shipping"], certs["rogue"]
    proc, port, tls_port = start_tls(REQUIRE_CONFIG, work, "require")
    try:
        check("require: the server starts", tls_port is not None)
        if tls_port is None:
            return
        ca = os.path.join(work, "ca-require.pem")
        url = f"https://localhost:{tls_port}/invoices"
        # TLS 1.3: the client's handshake is done before the server has checked its
        # certificate, so curl meets the alert on its first read (56); TLS 1.2: in the
        # handshake (35).
        r = curl("--cacert", ca, url)
        check("client_auth = \"require\", no certificate, TLS 1.3: curl (56) certificate "
              "required", r.returncode == 56 and r.stdout == "" and
              "SSL routines::tlsv13 alert certificate required" in r.stderr, str(r))
        r = curl("--cacert", ca, "--tls-max", "1.2", url)
        check("client_auth = \"require\", no certificate, TLS 1.2: curl (35) handshake "
              "failure", r.returncode == 35 and r.stdout == "" and
              "SSL routines::sslv3 alert handshake failure" in r.stderr, str(r))
        # -ign_eof: s_client keeps reading after its (empty) input ends, so it meets the alert
        # that TLS 1.3 sends after the client's handshake is done.
        r = openssl("s_client", "-connect", f"127.0.0.1:{tls_port}", "-servername", "localhost",
                    "-CAfile", ca, "-ign_eof")
        out = r.stdout + r.stderr
        check("client_auth = \"require\": openssl s_client shows alert number 116",
              "tlsv13 alert certificate required" in out and "SSL alert number 116" in out, out)
        r = curl("--cacert", ca, "--cert", rogue[0], "--key", rogue[1], url)
        check("client_auth = \"require\": a certificate client_ca did not sign: curl (56) "
              "unknown ca", r.returncode == 56 and r.stdout == "" and
              "SSL routines::tlsv1 alert unknown ca" in r.stderr, str(r))
        r = curl("--cacert", ca, "--cert", billing[0], "--key", billing[1], url)
        check("client_auth = \"require\": CN=billing from client_ca: 200",
              r.returncode == 0 and r.stdout == "invoices for CN=billing\n", str(r))
        r = curl("--cacert", ca, "--cert", shipping[0], "--key", shipping[1], "-i", url)
        check("client_auth = \"require\": CN=shipping on the CN=billing route: 403",
              r.stdout.startswith("HTTP/1.1 403 "), str(r))
        r = curl("--cacert", ca, "--cert", shipping[0], "--key", shipping[1],
                 f"https://localhost:{tls_port}/whoami")
        check("client_auth = \"require\": {{tls.client_subject}}",
              r.stdout == "client=CN=shipping\n", str(r))
        # handshake_timeout = "1s": a connection that never sends its ClientHello is closed.
        before = metric(port, 'stubborn_tls_handshakes_total{result="failed",reason="timeout"}')
        with socket.create_connection(("127.0.0.1", tls_port), timeout=10) as sock:
            start = time.monotonic()
            data, closed = read_until_close(sock, 8)
            elapsed = time.monotonic() - start
        check("handshake_timeout 1s: a silent client is closed after it",
              closed and data == b"" and 0.95 <= elapsed < 8, f"{closed} {data!r} {elapsed:.2f}s")
        after = metric(port, 'stubborn_tls_handshakes_total{result="failed",reason="timeout"}')
        check("handshake_timeout: counted as reason=\"timeout\"", after == before + 1,
              f"{before} -> {after}")
        # Python's ssl with a client certificate.
        ctx = ssl.create_default_context(cafile=ca)
        ctx.load_cert_chain(billing[0], billing[1])
        status, body, _ = https_get(ctx, tls_port, "/invoices", server_hostname="localhost")
        check("client_auth = \"require\": http.client with load_cert_chain: 200",
              (status, body) == (200, "invoices for CN=billing\n"), f"{status} {body!r}")
    finally:
        code, _, err = stop_server(proc)
        check("require: SIGTERM exits 0", code == 0, f"code={code} stderr={err}")


def peer_der(ctx, port):
    """The DER of the certificate a new connection to localhost:port is served."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            return s.getpeercert(binary_form=True)


def test_reload(work):
    ca = make_ca(work, "reload-ca", "reload test CA")
    first = make_leaf(work, "first", ca, "first", 101, "DNS:localhost,IP:127.0.0.1")
    second = make_leaf(work, "second", ca, "second", 102, "DNS:localhost,IP:127.0.0.1")
    cert, key = os.path.join(work, "server.pem"), os.path.join(work, "server.key")
    shutil.copyfile(first[0], cert)
    shutil.copyfile(first[1], key)
    os.chmod(key, 0o600)
    proc, port, tls_port = start_tls(RELOAD_CONFIG, work, "reload")
    try:
        check("reload: the server starts with cert/key files", tls_port is not None)
        if tls_port is None:
            return
        ctx = ssl.create_default_context(cafile=ca[0])
        der = {n: ssl.PEM_cert_to_DER_cert(open(p[0]).read()) for n, p in
               (("first", first), ("second", second))}
        check("reload: the configured certificate is served", peer_der(ctx, tls_port) ==
              der["first"])
        kept = http.client.HTTPSConnection("localhost", tls_port, context=ctx, timeout=10)
        kept.request("GET", "/hello")
        r = kept.getresponse()
        check("reload: a keep-alive connection answers before", (r.status, r.read()) ==
              (200, b"hello\n"))
        kept_sock = kept.sock

        # A renewed certificate: new files over the old, then a reload.
        shutil.copyfile(second[0], cert + ".new")
        shutil.copyfile(second[1], key + ".new")
        # Readable by others this time: the reload warns.
        os.chmod(key + ".new", 0o644)
        os.replace(cert + ".new", cert)
        os.replace(key + ".new", key)
        # And a scripted name added to the config file: the reload reads it too.
        with open(os.path.join(work, "reload.toml"), "a") as f:
            f.write('\n[[server.tls.names]]\nname = "closed.localhost"\nhandshake = "close"\n')
        status, body = http_get(port, "/__admin/reload", method="POST")
        check("reload: POST /__admin/reload: 200", status == 200, f"{status} {body}")
        new_der = peer_der(ctx, tls_port)
        check("reload: a new connection is served the renewed certificate",
              new_der == der["second"])
        with socket.create_connection(("127.0.0.1", tls_port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                subject = dict(x[0] for x in s.getpeercert()["subject"])
                serial = s.getpeercert()["serialNumber"]
        check("reload: ... CN=second, serial 102 (0x66)",
              subject.get("commonName") == "second" and int(serial, 16) == 102,
              f"{subject} {serial}")
        r = curl_name(ca[0], "closed.localhost", tls_port, "/hello")
        check("reload: a [[server.tls.names]] entry added to the file is played",
              r.returncode == 35 and "SSL_ERROR_SYSCALL" in r.stderr, str(r))
        kept.request("GET", "/hello")
        r = kept.getresponse()
        check("reload: the keep-alive connection opened before still answers",
              (r.status, r.read()) == (200, b"hello\n") and kept.sock is kept_sock)
        check("reload: ... and is still on the old certificate",
              kept.sock.getpeercert(binary_form=True) == der["first"])

        # A broken certificate file: the reload is refused, the renewed certificate stays.
        os.chmod(key, 0o600)
        with open(cert, "w") as f:
            f.write("not a certificate\n")
        status, body = http_get(port, "/__admin/reload", method="POST")
        check("reload: a broken cert file: 422 naming it",
              status == 422 and "server.pem: no PEM certificate" in body, f"{status} {body}")
        check("reload: ... and the certificate served stays the renewed one",
              peer_der(ctx, tls_port) == der["second"])
        kept.close()
    finally:
        code, _, err = stop_server(proc)
        check("reload: SIGTERM exits 0", code == 0, f"code={code} stderr={err}")
    warnings = [line for line in err.splitlines() if "readable by other users" in line]
    check("reload: a key readable by others is warned about once (not the 0600 one at start)",
          len(warnings) == 1 and "server.key" in warnings[0], err)


def test_user_ca(work):
    """ca_cert/ca_key: the made certificates are signed by a CA the user keeps."""
    ca = make_ca(work, "user-ca", "user CA")
    proc, port, tls_port = start_tls(USER_CA_CONFIG, work, "user-ca")
    try:
        check("ca_cert: the server starts", tls_port is not None)
        if tls_port is None:
            return
        r = curl("--cacert", ca[0], f"https://localhost:{tls_port}/hello")
        check("ca_cert: curl --cacert with the user's CA: 200", r.stdout == "hello\n", str(r))
        r = curl_name(ca[0], "expired.localhost", tls_port, "/hello")
        check("ca_cert: the expired certificate is signed by it too: only 'expired'",
              r.returncode == 60 and "certificate has expired" in r.stderr, str(r))
        r = curl_name(ca[0], "untrusted-issuer.localhost", tls_port, "/hello")
        check("ca_cert: untrusted-issuer is still not signed by it",
              r.returncode == 60 and "unable to get local issuer certificate" in r.stderr, str(r))
        # SSL_CERT_FILE: what OpenSSL (and so Python's default context) trusts.
        code = ("import urllib.request, sys; "
                "print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode(), end='')")
        env = dict(os.environ, SSL_CERT_FILE=ca[0])
        r = Result(subprocess.run([sys.executable, "-c", code,
                                   f"https://localhost:{tls_port}/hello"],
                                  capture_output=True, timeout=20, env=env))
        check("SSL_CERT_FILE=CA: Python's urllib trusts the server", r.stdout == "hello\n",
              str(r))
    finally:
        code, _, err = stop_server(proc)
        check("ca_cert: SIGTERM exits 0", code == 0, f"code={code} stderr={err}")


def test_tls_listen_alone(work):
    """--tls-listen without [server.tls]: HTTPS with a made certificate and --tls-port-file."""
    proc, port, tls_port = start_tls(PLAIN_CONFIG, work, "alone")
    try:
        check("--tls-listen alone: the server starts and writes --tls-port-file",
              port is not None and tls_port is not None)
        if tls_port is None:
            return
        r = curl("-k", "-w", " %{http_code}", f"https://localhost:{tls_port}/hello")
        check("--tls-listen alone: HTTPS answers (curl -k)", r.stdout == "hello\n 200", str(r))
        r = curl(f"https://localhost:{tls_port}/hello")
        check("--tls-listen alone: the made certificate is not trusted by the system: 60",
              r.returncode == 60, str(r))
        r = curl("-w", " %{http_code}", f"http://127.0.0.1:{port}/hello")
        check("--tls-listen alone: plain HTTP still answers", r.stdout == "hello\n 200", str(r))
    finally:
        code, _, err = stop_server(proc)
        check("--tls-listen alone: SIGTERM exits 0", code == 0, f"code={code} stderr={err}")


def test_ipv6(work):
    if not ipv6_loopback_works():
        print("skip IPv6: no ::1 here")
        return
    proc, port, tls_port = start_tls(IPV6_CONFIG, work, "v6", tls_listen="[::1]:0")
    try:
        check("[::1]: the server starts", tls_port is not None)
        if tls_port is None:
            return
        ca = os.path.join(work, "ca-v6.pem")
        r = curl("-g", "--cacert", ca, "-w", " %{http_code}", f"https://[::1]:{tls_port}/hello")
        check("curl --cacert https://[::1]:PORT/: 200 (::1 is in the made certificate)",
              r.stdout == "hello\n 200", str(r))
    finally:
        code, _, err = stop_server(proc)
        check("[::1]: SIGTERM exits 0", code == 0, f"code={code} stderr={err}")


def test_example_config(work):
    """configs/tls.toml does what its comments say (its ca_out moved into the temp folder)."""
    with open(os.path.join(SOURCE, "configs", "tls.toml")) as f:
        text = f.read()
    check("configs/tls.toml writes its CA to /tmp/stubborn-ca.pem",
          'ca_out = "/tmp/stubborn-ca.pem"' in text)
    text = text.replace('ca_out = "/tmp/stubborn-ca.pem"', 'ca_out = "example-ca.pem"')
    proc, port, tls_port = start_tls(text, work, "example")
    try:
        check("configs/tls.toml: the server starts", tls_port is not None)
        if tls_port is None:
            return
        ca = os.path.join(work, "example-ca.pem")
        r = curl("--cacert", ca, f"https://localhost:{tls_port}/hello")
        check("configs/tls.toml: /hello over HTTPS", r.stdout == "hello\n", str(r))
        r = curl("--cacert", ca, f"https://localhost:{tls_port}/whoami")
        check("configs/tls.toml: /whoami", r.stdout == "sni=localhost version=TLSv1.3 client=\n",
              str(r))
        r = curl_name(ca, "expired.localhost", tls_port, "/hello")
        check("configs/tls.toml: expired.localhost: curl (60) certificate has expired",
              r.returncode == 60 and "certificate has expired" in r.stderr, str(r))
        r = openssl("s_client", "-connect", f"127.0.0.1:{tls_port}", "-servername",
                    "refused.localhost")
        check("configs/tls.toml: refused.localhost: alert 40",
              "SSL alert number 40" in r.stdout + r.stderr, str(r))
        r = curl("-i", f"http://127.0.0.1:{port}/account")
        check("configs/tls.toml: /account over plain HTTP: 308 to HTTPS",
              r.stdout.startswith("HTTP/1.1 308 ") and
              "\r\nLocation: https://localhost:8443/account\r\n" in r.stdout, str(r))
        r = curl("--cacert", ca, "-w", " %{http_code}", f"https://localhost:{tls_port}/account")
        check("configs/tls.toml: /account over HTTPS", r.stdout == '{"balance":42} 200', str(r))
        r = curl("--cacert", ca, "-w", "%{http_code}", "-o", "/dev/null",
                 f"https://localhost:{tls_port}/invoices")
        check("configs/tls.toml: /invoices without a client certificate: 403",
              r.stdout == "403", str(r))
    finally:
        code, _, err = stop_server(proc)
        check("configs/tls.toml: SIGTERM exits 0", code == 0, f"code={code} stderr={err}")


def main():
    started = time.monotonic()
    work = tempfile.mkdtemp(prefix="stubborn-e2e-tls-")
    try:
        r = subprocess.run([BINARY, "--check", os.path.join(SOURCE, "configs", "tls.toml")],
                           capture_output=True, text=True, timeout=20)
        check("--check passes configs/tls.toml", r.returncode == 0, r.stdout + r.stderr)
        missing = [p for p in ("curl", "openssl") if shutil.which(p) is None]
        check("curl and the openssl program are installed", not missing, f"missing: {missing}")
        if missing:
            return
        # Client certificates: two from client_ca (the file name both configs give), and one
        # for CN=billing from a CA the server does not know.
        clients_ca = make_ca(work, "clients-ca", "test clients CA")
        certs = {"billing": make_leaf(work, "billing", clients_ca, "billing", 11),
                 "shipping": make_leaf(work, "shipping", clients_ca, "shipping", 12),
                 "rogue": make_leaf(work, "rogue", make_ca(work, "rogue-ca", "rogue CA"),
                                    "billing", 13)}
        test_main(work, certs)
        test_require(work, certs)
        test_reload(work)
        test_user_ca(work)
        test_tls_listen_alone(work)
        test_ipv6(work)
        test_example_config(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        print(f"took {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
    finish()

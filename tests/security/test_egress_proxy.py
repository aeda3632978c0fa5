"""The egress proxy: ordinary clients reach allowed hosts, and nothing else.

Every server here listens on the host's loopback; the jail reaches it only
through the proxy brig serves on 127.0.0.1:3128 in the jail's own network
namespace, which refuses what the allowlist and the SSRF rules refuse.
"""
import http.server
import os
import select
import socket
import socketserver
import ssl
import subprocess
import threading

import pytest

from helpers import describe, run

PROXY = "127.0.0.1:3128"
BODY = b"hello through the proxy\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        self.server.seen.append((self.command, self.path, self.headers.get("Host")))
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def _serve(context=None):
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.seen = []
    srv.redirect_to = ""
    if context:
        srv.socket = context.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A test CA and a certificate for 127.0.0.1 it signed, made with openssl now."""
    d = tmp_path_factory.mktemp("pki")
    os.chmod(d, 0o755)

    def ssl_cmd(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=60)

    ssl_cmd("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=brig test CA")
    ssl_cmd("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr",
            "-subj", "/CN=127.0.0.1")
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    ssl_cmd("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "ext")
    for f in d.iterdir():
        os.chmod(f, 0o644)
    return d


@pytest.fixture(scope="module")
def plain():
    srv = _serve()
    yield srv
    srv.shutdown()


@pytest.fixture(scope="module")
def tls(pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "srv.pem", pki / "srv.key")
    srv = _serve(ctx)
    yield srv
    srv.shutdown()


def allow(*servers):
    flags = []
    for s in servers:
        flags += ["--allow-host", "127.0.0.1:%d" % s.server_address[1]]
    return flags


def guest(code, *flags, lang="python", timeout=60):
    res, _ = run(code, lang, *flags, timeout=timeout)
    return res


# ------------------------------------------------------------- clients


def test_urllib_plain_http(plain):
    port = plain.server_address[1]
    res = guest("import urllib.request\n"
                "print(urllib.request.urlopen('http://127.0.0.1:%d/a?b=1').read().decode(), "
                "end='')" % port, *allow(plain))
    assert res["ok"] and res["stdout"] == BODY.decode(), describe(res)
    # The server saw an origin-form request for the host that was checked.
    assert ("GET", "/a?b=1", "127.0.0.1:%d" % port) in plain.seen
    assert res["proxy_connections"] >= 1 and res["proxy_refused"] == 0


def test_urllib_https_through_connect(tls, pki):
    port = tls.server_address[1]
    res = guest("import ssl, urllib.request\n"
                "ctx = ssl.create_default_context(cafile='/pki/ca.pem')\n"
                "r = urllib.request.urlopen('https://127.0.0.1:%d/s', context=ctx)\n"
                "print(r.status, r.read().decode(), end='')" % port,
                *allow(tls), "--mount", "/pki:%s:ro" % pki)
    assert res["ok"] and res["stdout"] == "200 " + BODY.decode(), describe(res)


def test_http_client_tunnel(tls, pki):
    port = tls.server_address[1]
    res = guest("import http.client, ssl\n"
                "ctx = ssl.create_default_context(cafile='/pki/ca.pem')\n"
                "c = http.client.HTTPSConnection('127.0.0.1', 3128, context=ctx)\n"
                "c.set_tunnel('127.0.0.1', %d)\n"
                "c.request('GET', '/t')\n"
                "r = c.getresponse()\n"
                "print(r.status, r.read().decode(), end='')" % port,
                *allow(tls), "--mount", "/pki:%s:ro" % pki)
    assert res["ok"] and res["stdout"] == "200 " + BODY.decode(), describe(res)


def test_curl_and_wget(plain, tls, pki):
    p, t = plain.server_address[1], tls.server_address[1]
    sh = ("curl -sSf http://127.0.0.1:%d/c && curl -sSf --cacert /pki/ca.pem "
          "https://127.0.0.1:%d/c && wget -qO- http://127.0.0.1:%d/w && "
          "wget -qO- --ca-certificate=/pki/ca.pem https://127.0.0.1:%d/w" % (p, t, p, t))
    res = guest(sh, *allow(plain, tls), "--mount", "/pki:%s:ro" % pki, lang="sh")
    assert res["ok"] and res["exit_code"] == 0, describe(res)
    assert res["stdout"] == BODY.decode() * 4
    assert res["proxy_connections"] == 4 and res["proxy_refused"] == 0


NODE_AGENT = r'''
const http = require('http'), https = require('https'), tls = require('tls');
const net = require('net');
// A proxy agent: CONNECT through HTTPS_PROXY, then TLS over the tunnel.
class TunnelAgent extends https.Agent {
  createConnection(opts, cb) {
    const proxy = new URL(process.env.HTTPS_PROXY);
    http.request({host: proxy.hostname, port: proxy.port, method: 'CONNECT',
                  path: `${opts.host}:${opts.port}`})
      .on('connect', (res, socket) => {
        if (res.statusCode !== 200) return cb(new Error(`proxy: ${res.statusCode} ${res.statusMessage}`));
        cb(null, tls.connect({socket, host: opts.host, ca: opts.ca,
                             servername: net.isIP(opts.host) ? undefined : opts.host}));
      })
      .on('error', cb).end();
  }
}
const ca = require('fs').readFileSync('/pki/ca.pem');
https.get(process.argv[2], {agent: new TunnelAgent(), ca}, (res) => {
  let body = '';
  res.on('data', (d) => body += d).on('end', () => console.log(res.statusCode, body.trim()));
}).on('error', (e) => { console.log('error', e.message); process.exitCode = 3; });
'''


# node reserves more address space than a 256 MiB RLIMIT_AS (the bound of a
# shell run without a memory cgroup) allows.
NODE_FLAGS = ("--memory", "1g")


def test_node_https_get_with_proxy_agent(tls, pki, tmp_path):
    (tmp_path / "agent.js").write_text(NODE_AGENT)
    os.chmod(tmp_path, 0o755)
    os.chmod(tmp_path / "agent.js", 0o644)
    port = tls.server_address[1]
    res = guest("node /js/agent.js https://127.0.0.1:%d/n" % port, *allow(tls), "--mount",
                "/pki:%s:ro" % pki, "--mount", "/js:%s:ro" % tmp_path, *NODE_FLAGS, lang="sh")
    assert res["ok"] and res["stdout"] == "200 %s\n" % BODY.decode().strip(), describe(res)
    # A forbidden port is refused with the proxy's reason.
    res = guest("node /js/agent.js https://127.0.0.1:%d/n" % (port + 1 if port < 65535 else 1),
                *allow(tls), "--mount", "/pki:%s:ro" % pki, "--mount", "/js:%s:ro" % tmp_path,
                *NODE_FLAGS, lang="sh")
    assert res["exit_code"] == 3 and "proxy: 403" in res["stdout"], describe(res)
    assert "host not allowed" in res["stdout"] and res["proxy_refused"] == 1


# ------------------------------------------------------------ refusals


def test_redirect_to_a_forbidden_host_is_refused(plain):
    other = _serve()
    try:
        plain.redirect_to = "http://127.0.0.1:%d/secret" % other.server_address[1]
        res = guest("import urllib.request, urllib.error\n"
                    "try:\n"
                    "    urllib.request.urlopen('http://127.0.0.1:%d/redirect')\n"
                    "except urllib.error.HTTPError as e:\n"
                    "    print(e.code, e.reason)\n" % plain.server_address[1], *allow(plain))
        assert res["ok"], describe(res)
        assert res["stdout"].startswith("403 Forbidden (brig proxy: host not allowed: "
                                        "127.0.0.1 port %d)" % other.server_address[1]), \
            res["stdout"]
        assert other.seen == [] and res["proxy_refused"] == 1
    finally:
        other.shutdown()


def test_connect_to_a_forbidden_port_is_refused(tls):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        res = guest("import http.client\n"
                    "c = http.client.HTTPConnection('127.0.0.1', 3128)\n"
                    "c.set_tunnel('127.0.0.1', %d)\n"
                    "try:\n"
                    "    c.connect()\n"
                    "except OSError as e:\n"
                    "    print(e)\n" % port, *allow(tls))
        assert res["ok"], describe(res)
        assert res["stdout"].startswith("Tunnel connection failed: 403 Forbidden (brig proxy: "
                                        "host not allowed: 127.0.0.1 port %d)" % port), \
            res["stdout"]
        assert not select.select([listener], [], [], 0.2)[0], "a connection reached the port"
        assert res["proxy_refused"] == 1
    finally:
        listener.close()


def test_a_name_resolving_to_a_private_address_is_refused(plain):
    port = plain.server_address[1]
    before = len(plain.seen)
    res = guest("curl -sS http://localhost:%d/x; echo; curl -sS -o /dev/null -w '%%{http_connect}' "
                "-p http://localhost:%d/x" % (port, port), "--allow-host", "localhost:%d" % port,
                lang="sh")
    assert "brig proxy: host not allowed: localhost (resolves to private address 127.0.0.1)" \
        in res["stdout"], describe(res)
    assert res["stdout"].endswith("403"), res["stdout"]
    assert len(plain.seen) == before and res["proxy_refused"] == 2


def test_https_needs_connect_and_garbage_is_refused(plain):
    res = guest(r'''
import socket
def ask(raw):
    s = socket.create_connection(("127.0.0.1", 3128))
    s.sendall(raw)
    out = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        out += d
    print(out.split(b"\r\n")[0].decode())
ask(b"GET https://127.0.0.1/ HTTP/1.1\r\n\r\n")
ask(b"GET /relative HTTP/1.1\r\nHost: x\r\n\r\n")
ask(b"\x16\x03\x01 not http\r\n\r\n")
ask(b"CONNECT 127.0.0.1 HTTP/1.1\r\n\r\n")
ask(b"GET http://user:pw@127.0.0.1:%d/ HTTP/1.1\r\n\r\n")
''' % plain.server_address[1], *allow(plain))
    lines = res["stdout"].splitlines()
    assert res["ok"] and len(lines) == 5, describe(res)
    assert all(line.startswith("HTTP/1.1 400 Bad Request (brig proxy: ") for line in lines), lines
    assert "needs CONNECT" in lines[0] and "credentials" in lines[4]
    assert res["proxy_refused"] == 5


def test_raw_sockets_bypassing_the_proxy_fail(plain):
    port = plain.server_address[1]
    before = len(plain.seen)
    res = guest(r'''
import errno, socket
for addr in [("127.0.0.1", %d), ("10.1.2.3", 80), ("192.0.2.1", 443)]:
    try:
        socket.create_connection(addr, timeout=3).close()
        print("connected", addr)
    except OSError as e:
        print(errno.errorcode.get(e.errno, e))
''' % port, *allow(plain))
    assert res["ok"] and res["stdout"].split() == ["ECONNREFUSED", "ENETUNREACH",
                                                   "ENETUNREACH"], describe(res)
    assert len(plain.seen) == before and res["proxy_connections"] == 0


def test_no_proxy_without_allowed_hosts():
    res = guest("import errno, os, socket\nprint(os.environ.get('HTTP_PROXY'))\n"
                "try:\n    socket.create_connection(('127.0.0.1', 3128), timeout=3)\n"
                "except OSError as e:\n    print(errno.errorcode[e.errno])")
    # Without a proxy, lo stays down: nothing listens, nothing is reachable.
    assert res["ok"] and res["stdout"].split() == ["None", "ENETUNREACH"], describe(res)
    assert res["proxy_connections"] == 0


def test_the_run_timeout_ends_open_tunnels(tls):
    """A tunnel held open past the run's end is closed with it."""
    held = socket.create_server(("127.0.0.1", 0))
    port = held.getsockname()[1]
    try:
        res = guest("import socket, time\n"
                    "s = socket.create_connection(('127.0.0.1', 3128))\n"
                    "s.sendall(b'CONNECT 127.0.0.1:%d HTTP/1.1\\r\\n\\r\\n')\n"
                    "print(s.recv(100).split(b'\\r\\n')[0].decode(), flush=True)\n"
                    "time.sleep(60)\n" % port, "--allow-host", "127.0.0.1:%d" % port,
                    "--timeout", "2s")
        assert res["limit"] == "wall" and res["stdout"].startswith("HTTP/1.1 200"), \
            describe(res)
        held.settimeout(5)
        conn, _ = held.accept()
        conn.settimeout(10)
        # The proxy closed its side when the run ended: EOF, not a hang.
        assert conn.recv(10) == b""
        conn.close()
    finally:
        held.close()

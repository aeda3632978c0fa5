"""Figures of the egress proxy and install_pkg (bench.py prints them).

- a 100 MB download from a loopback server, direct from the host vs from a
  sandbox through its proxy (curl's own transfer time, median);
- the cost of one connection: many small requests, each on a new
  connection, direct vs through the proxy;
- install_pkg of a small wheel from a loopback index, cold cache vs warm.
"""
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests"))
import pkgindex  # noqa: E402

BIG = 100 << 20
CHUNK = b"x" * (1 << 20)


class _Server:
    """Answers every request with size bytes, on its own thread per connection."""

    def __init__(self, size):
        self.size = size
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        with c:
            data = b""
            while b"\r\n\r\n" not in data:
                more = c.recv(4096)
                if not more:
                    return
                data += more
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                      % self.size)
            left = self.size
            while left:
                n = min(left, len(CHUNK))
                c.sendall(CHUNK[:n])
                left -= n

    def close(self):
        self.sock.close()


def _curl_seconds(brig, env, port, through_brig):
    cmd = "curl -s -o /dev/null -w '%%{time_total}' http://127.0.0.1:%d/big" % port
    if through_brig:
        out = subprocess.run([brig, "--lang", "sh", "--timeout", "120s", "--allow-host",
                              "127.0.0.1:%d" % port, "-c", cmd], capture_output=True,
                             text=True, env=env, check=True).stdout
    else:
        out = subprocess.run(["/bin/sh", "-c", cmd], capture_output=True, text=True, env=env,
                             check=True).stdout
    return float(out)


def download_row(row, brig, env, runs=5):
    srv = _Server(BIG)
    try:
        direct, proxied = [], []
        for _ in range(runs):
            direct.append(_curl_seconds(brig, env, srv.port, False))
            proxied.append(_curl_seconds(brig, env, srv.port, True))
        d, p = statistics.median(direct), statistics.median(proxied)
        mb = BIG / (1 << 20)
        row("100 MB loopback download, through the proxy vs direct (curl)",
            "%.0f MB/s vs direct %.0f MB/s: %.2fx" % (mb / p, mb / d, d / p),
            ">= 0.8x", d / p >= 0.8)
    finally:
        srv.close()


CONNECTS = r'''
import http.client, os, statistics, time, urllib.request
port = int(os.environ.get("PORT") or %d)
ts = []
for _ in range(%d):
    t = time.perf_counter()
    urllib.request.urlopen("http://127.0.0.1:%%d/" %% port).read()
    ts.append(time.perf_counter() - t)
print(statistics.median(ts) * 1e6)
'''


def connection_row(row, brig, env, n=200):
    srv = _Server(16)
    try:
        code = CONNECTS % (srv.port, n)
        direct = float(subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True,
                                      text=True, env=dict(env, no_proxy="*"),
                                      check=True).stdout)
        proxied = float(subprocess.run([brig, "--allow-host", "127.0.0.1:%d" % srv.port, "-c",
                                        code], capture_output=True, text=True, env=env,
                                       check=True).stdout)
        row("new connection + small request (urllib), through the proxy vs direct",
            "%.0f us vs direct %.0f us: +%.0f us per connection" % (
                proxied, direct, proxied - direct))
    finally:
        srv.close()


INSTALL = r'''
import time
t = time.perf_counter()
info = install_pkg("benchpkg")
import benchpkg
print((time.perf_counter() - t) * 1e3, info["cached"])
'''


def install_rows(row, brig, env, runs=5):
    wheels = tempfile.mkdtemp(prefix="brig-bench-wheels-")
    os.chmod(wheels, 0o755)
    pkgindex.build_wheel(wheels, "benchpkg", "1.0", {"benchpkg/__init__.py": "X = 1\n"})
    index = pkgindex.Index(wheels)
    cold, warm = [], []
    try:
        for _ in range(runs):
            cache = tempfile.mkdtemp(prefix="brig-bench-pkgcache-")
            args = [brig, "--allow-package", "benchpkg", "--package-index", index.url,
                    "--package-cache", cache, "--timeout", "120s", "-c", INSTALL]
            for into in (cold, warm):
                out = subprocess.run(args, capture_output=True, text=True, env=env,
                                     check=True).stdout.split()
                into.append(float(out[0]))
            subprocess.run(["rm", "-rf", cache], check=False)
        row("install_pkg of a small wheel, cold cache (pip in its sandbox)",
            "p50 %.0f ms" % statistics.median(cold))
        row("install_pkg of the same wheel, warm cache",
            "p50 %.1f ms" % statistics.median(warm))
    finally:
        index.close()
        subprocess.run(["rm", "-rf", wheels], check=False)


def rows(row, brig, env):
    download_row(row, brig, env)
    connection_row(row, brig, env)
    install_rows(row, brig, env)

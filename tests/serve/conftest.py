"""Fixtures for `brig serve` and `brig mcp`: servers on loopback ports of their own."""
import http.client
import json
import re
import signal
import subprocess
import time

import pytest

from helpers import BRIG_BIN
from serve_util import SECRET_A, SECRET_B, SECRET_C, write_private


class Server:
    """One `brig serve` process; its stderr (start-up lines and logs) goes to a file."""

    def __init__(self, tmp_path, *args, expect_start=True):
        self.log_path = tmp_path / ("serve-%d.log" % time.monotonic_ns())
        self.log = open(self.log_path, "w+b")
        self.proc = subprocess.Popen([BRIG_BIN, "serve", "--listen", "127.0.0.1:0", *args],
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        self.port = None
        if expect_start:
            self.port = self._wait_port()

    def _wait_port(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", text)
            if m and "brig serve: ready" in text:
                return int(m.group(1))
            if self.proc.poll() is not None:
                raise AssertionError("brig serve exited %d: %s" % (self.proc.returncode, text))
            time.sleep(0.02)
        raise AssertionError("brig serve did not start: %s" % self.log_path.read_text())

    def conn(self, timeout=60):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, token=None, headers=None, timeout=60):
        """(status, headers, parsed JSON or text)."""
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        c = self.conn(timeout)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read().decode()
            ctype = r.getheader("Content-Type") or ""
            return r.status, r, (json.loads(data) if "json" in ctype and data else data)
        finally:
            c.close()

    def post(self, path, body=None, token=None, **kw):
        return self.request("POST", path, body if body is not None else {}, token, **kw)

    def log_lines(self):
        return self.log_path.read_text(errors="replace").splitlines()

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.fixture
def serve(tmp_path):
    """A factory of servers, all stopped at the end of the test."""
    started = []

    def start(*args, **kw):
        s = Server(tmp_path, *args, **kw)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """A server without tokens (loopback only), shared by a module."""
    s = Server(tmp_path_factory.mktemp("plain"))
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def authed(tmp_path_factory):
    """A server with tokens alice, bob and carol and a policy: alice may read a mount,
    call `echo` and reach one host; bob has only the defaults; carol's rate is
    bounded."""
    d = tmp_path_factory.mktemp("authed")
    data = d / "data"
    data.mkdir()
    (data / "in.txt").write_text("mounted")
    data.chmod(0o755)
    d.chmod(0o755)
    tokens = write_private(d / "tokens", "# name secret\nalice %s\nbob %s\ncarol %s\n"
                           % (SECRET_A, SECRET_B, SECRET_C))
    policy = d / "policy.json"
    policy.write_text(json.dumps({"tokens": {
        "alice": {
            "hosts": ["127.0.0.1:9"],
            "mounts": {"/data": {"host": str(data), "mode": "ro"}},
            "functions": {"echo": "cat"},
            "kv": {"shared": str(d / "kv.db")},
            "limits": {"wallTimeoutMs": 20000, "memoryBytes": 512 << 20},
            "maxSessions": 2,
        },
        "carol": {"rate": {"perSecond": 0.2, "burst": 3}},
    }}))
    s = Server(d, "--tokens", tokens, "--policy", str(policy))
    yield s
    assert s.stop() == 0

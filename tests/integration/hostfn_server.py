"""A threaded HTTP server on 127.0.0.1 for the host-function tests.

Routes (any method):
  /echo...           200, JSON {"method","path","headers","body_hex"} of the request
  /raw               200, the request body back as application/octet-stream
  /bytes             200, BINARY_BODY (every byte value, NULs included)
  /json              200, JSON_BODY with an application/json content type
  /latin1            200, LATIN1_TEXT encoded as ISO-8859-1 and labelled so
  /status/N          status N, body "status N" (none for 204 and 304)
  /slow              200 after SLOW_SECONDS (peak() counts how many overlapped)
  /big               200, BIG_BYTES bytes (larger than brig's default response limit)
  /bigchunked        the same, chunked, without a Content-Length
  /redirect?to=URL   302 to URL
Every response carries "X-Served-By: brig-test" and "X-Method: METHOD".
"""
import http.server
import json
import threading
import time
import urllib.parse

BINARY_BODY = bytes(range(256)) * 4 + b"\x00\x00tail\x00"
LATIN1_TEXT = "café crème £5"
JSON_BODY = {"name": "brig", "list": [1, 2.5, None, True, "x"], "nested": {"a": {"b": []}}}
SLOW_SECONDS = 0.3
BIG_BYTES = 11 << 20


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep pytest output clean
        pass

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status, body, ctype="text/plain; charset=utf-8", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Served-By", "brig-test")
        self.send_header("X-Method", self.command)
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_chunked(self, total, chunk=1 << 20):
        """No Content-Length: the client learns the size only as it reads."""
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        while sent < total:
            n = min(chunk, total - sent)
            self.wfile.write(b"%x\r\n" % n + b"y" * n + b"\r\n")
            sent += n
        self.wfile.write(b"0\r\n\r\n")

    def _route(self):
        body = self._body()
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        if path.startswith("/echo"):
            doc = {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body_hex": body.hex(),
            }
            return self._send(200, json.dumps(doc).encode(), "application/json")
        if path == "/raw":
            return self._send(200, body, "application/octet-stream")
        if path == "/bytes":
            return self._send(200, BINARY_BODY, "application/octet-stream")
        if path == "/latin1":
            return self._send(200, LATIN1_TEXT.encode("latin-1"), "text/plain; charset=ISO-8859-1")
        if path == "/json":
            return self._send(200, json.dumps(JSON_BODY).encode(), "application/json")
        if path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            return self._send(code, b"" if code in (204, 304) else ("status %d" % code).encode())
        if path == "/slow":
            with self.server.lock:
                self.server.inflight += 1
                self.server.peak = max(self.server.peak, self.server.inflight)
            time.sleep(SLOW_SECONDS)
            with self.server.lock:
                self.server.inflight -= 1
            return self._send(200, b"slow done")
        if path == "/big":
            return self._send(200, b"x" * BIG_BYTES, "application/octet-stream")
        if path == "/bigchunked":
            return self._send_chunked(BIG_BYTES)
        if path == "/redirect":
            to = urllib.parse.parse_qs(url.query)["to"][0]
            return self._send(302, b"", extra=[("Location", to)])
        return self._send(404, b"no such route")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _route


class _Httpd(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # 20 concurrent runs connect at once

    def __init__(self, addr, handler):
        super().__init__(addr, handler)
        self.lock = threading.Lock()
        self.inflight = self.peak = 0

    def handle_error(self, request, client_address):
        pass  # a client that gives up on /big is expected


class Server:
    """Start with .start(); .port is the ephemeral port, .url(path) a full URL."""

    def __init__(self):
        self.httpd = _Httpd(("127.0.0.1", 0), _Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    def reset_peak(self):
        with self.httpd.lock:
            self.httpd.peak = 0

    def peak(self):
        """The most /slow requests the server has handled at one time since reset_peak()."""
        with self.httpd.lock:
            return self.httpd.peak

    @property
    def allow(self):
        """The --allow-host entry naming exactly this server."""
        return "127.0.0.1:%d" % self.port

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

"""Small wheels built by hand and a PEP 503 simple index serving them on loopback."""
import base64
import hashlib
import http.server
import os
import re
import socketserver
import threading
import zipfile


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def build_wheel(directory, name, version, modules, requires=()):
    """A pure-Python wheel: modules maps file names ("pkg/__init__.py") to text."""
    dist = "%s-%s" % (re.sub(r"[-_.]+", "_", name), version)
    path = os.path.join(directory, "%s-py3-none-any.whl" % dist)
    files = dict(modules)
    files["%s.dist-info/METADATA" % dist] = "Metadata-Version: 2.1\nName: %s\nVersion: %s\n%s" % (
        name, version, "".join("Requires-Dist: %s\n" % r for r in requires))
    files["%s.dist-info/WHEEL" % dist] = ("Wheel-Version: 1.0\nGenerator: brig-tests\n"
                                          "Root-Is-Purelib: true\nTag: py3-none-any\n")
    record = []
    for fname, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append("%s,sha256=%s,%d" % (fname, digest.decode(), len(text.encode())))
    record.append("%s.dist-info/RECORD,," % dist)
    files["%s.dist-info/RECORD" % dist] = "\n".join(record) + "\n"
    with zipfile.ZipFile(path, "w") as z:
        for fname, text in files.items():
            z.writestr(fname, text)
    return path


class Index:
    """Serves every wheel in directory under /simple/<project>/ and counts requests."""

    def __init__(self, directory):
        self.directory = directory
        self.requests = []
        self.elsewhere = {}  # project -> an absolute URL its page links to
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                index.requests.append(self.path)
                body = index.page(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream"
                                 if self.path.endswith(".whl") else "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/simple" % self.port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wheels(self):
        return [f for f in sorted(os.listdir(self.directory))
                if f.endswith(".whl") or f.endswith(".tar.gz")]

    def downloads(self, fname):
        return self.requests.count("/files/" + fname)

    def page(self, path):
        if path.startswith("/files/"):
            f = os.path.join(self.directory, os.path.basename(path))
            return open(f, "rb").read() if os.path.exists(f) else None
        m = re.fullmatch(r"/simple/([^/]+)/?", path)
        if not m:
            return None
        links = []
        if normalize(m.group(1)) in self.elsewhere:
            url = self.elsewhere[normalize(m.group(1))]
            links.append('<a href="%s">%s</a>' % (url, url.rsplit("/", 1)[-1]))
        for w in self.wheels():
            if normalize(w.split("-")[0]) == normalize(m.group(1)):
                digest = hashlib.sha256(open(os.path.join(self.directory, w), "rb").read())
                links.append('<a href="/files/%s#sha256=%s">%s</a>' % (w, digest.hexdigest(), w))
        if not links:
            return None
        return ("<!DOCTYPE html><html><body>%s</body></html>" % "\n".join(links)).encode()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

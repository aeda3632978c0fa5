"""The implementation of brig's guest API (see brig/__init__.py and brig.pyi)."""
from brig._proto import channel as _ch


def call(name, /, **kwargs):
    """Call the host function `name` with keyword arguments; returns its JSON result."""
    return _ch.call("call", {"name": name, "args": kwargs})[0]


async def async_call(name, /, **kwargs):
    return (await _ch.acall("call", {"name": name, "args": kwargs}))[0]


def install_pkg(name, spec=None):
    """Install a package the run may install; returns {name, version, cached, path}."""
    import importlib
    import sys

    info = _ch.call("pkg.install", {"name": name, "spec": spec})[0]
    if info["path"] not in sys.path:
        sys.path.insert(1 if sys.path[:1] == [""] else 0, info["path"])
    importlib.invalidate_caches()
    return info


def run_async(*aws):
    """Run one coroutine (or several, gathered) to completion and return the result."""
    import asyncio

    if len(aws) == 1:
        return asyncio.run(_await(aws[0]))
    return asyncio.run(_gather(aws))


async def _await(aw):
    return await aw


async def _gather(aws):
    import asyncio

    return list(await asyncio.gather(*aws))


class Response:
    """An HTTP response: ok, status_code, headers, content (bytes), text, url, json()."""

    def __init__(self, meta, content):
        self.status_code = int(meta.get("status", 0))
        self.headers = dict(meta.get("headers") or {})
        self.url = meta.get("url", "")
        self.content = bytes(content)

    @property
    def ok(self):
        return 200 <= self.status_code < 300

    @property
    def text(self):
        return self.content.decode(self._charset(), errors="replace")

    def _charset(self):
        ctype = self.headers.get("content-type", "")
        for part in ctype.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                try:
                    import codecs

                    return codecs.lookup(value.strip('"')).name
                except LookupError:
                    break
        return "utf-8"

    def json(self):
        import json

        return json.loads(self.content)

    def __repr__(self):
        return "<Response [%d]>" % self.status_code


def _body(body):
    if body is None:
        return None
    if isinstance(body, str):
        return body.encode()
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    raise TypeError("body must be str or bytes, not %s" % type(body).__name__)


def _http_args(method, url, headers):
    if not isinstance(method, str) or not isinstance(url, str):
        raise TypeError("method and url must be strings")
    if headers is not None and not isinstance(headers, dict):
        raise TypeError("headers must be a dict")
    return {"method": method.upper(), "url": url, "headers": dict(headers or {})}


class _Http:
    def request(self, method, url, body=None, headers=None):
        meta, content = _ch.call("http.request", _http_args(method, url, headers), _body(body))
        return Response(meta, content)

    async def async_request(self, method, url, body=None, headers=None):
        args = _http_args(method, url, headers)
        meta, content = await _ch.acall("http.request", args, _body(body))
        return Response(meta, content)

    def get(self, url, body=None, headers=None):
        return self.request("GET", url, body, headers)

    def post(self, url, body=None, headers=None):
        return self.request("POST", url, body, headers)

    def put(self, url, body=None, headers=None):
        return self.request("PUT", url, body, headers)

    def patch(self, url, body=None, headers=None):
        return self.request("PATCH", url, body, headers)

    def delete(self, url, body=None, headers=None):
        return self.request("DELETE", url, body, headers)

    async def async_get(self, url, body=None, headers=None):
        return await self.async_request("GET", url, body, headers)

    async def async_post(self, url, body=None, headers=None):
        return await self.async_request("POST", url, body, headers)

    async def async_put(self, url, body=None, headers=None):
        return await self.async_request("PUT", url, body, headers)

    async def async_patch(self, url, body=None, headers=None):
        return await self.async_request("PATCH", url, body, headers)

    async def async_delete(self, url, body=None, headers=None):
        return await self.async_request("DELETE", url, body, headers)


def _path(path):
    if not isinstance(path, str):
        raise TypeError("path must be a string")
    return {"path": path}


class _Fs:
    def read_bytes(self, path):
        return _ch.call("fs.read", _path(path))[1]

    def read_text(self, path):
        return self.read_bytes(path).decode()

    def read_json(self, path):
        import json

        return json.loads(self.read_bytes(path))

    def write_bytes(self, path, data):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("data must be bytes")
        _ch.call("fs.write", _path(path), bytes(data))

    def write_text(self, path, text):
        if not isinstance(text, str):
            raise TypeError("text must be a str")
        _ch.call("fs.write", _path(path), text.encode())

    def write_json(self, path, data, indent=None):
        import json

        self.write_text(path, json.dumps(data, indent=indent))

    def listdir(self, path):
        return _ch.call("fs.listdir", _path(path))[0]

    def exists(self, path):
        return bool(_ch.call("fs.exists", _path(path))[0])

    def stat(self, path):
        return _ch.call("fs.stat", _path(path))[0]

    def mkdir(self, path):
        _ch.call("fs.mkdir", _path(path))

    def remove(self, path):
        _ch.call("fs.remove", _path(path))

    async def async_read_bytes(self, path):
        return (await _ch.acall("fs.read", _path(path)))[1]

    async def async_read_text(self, path):
        return (await self.async_read_bytes(path)).decode()

    async def async_read_json(self, path):
        import json

        return json.loads(await self.async_read_bytes(path))

    async def async_write_bytes(self, path, data):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("data must be bytes")
        await _ch.acall("fs.write", _path(path), bytes(data))

    async def async_write_text(self, path, text):
        if not isinstance(text, str):
            raise TypeError("text must be a str")
        await _ch.acall("fs.write", _path(path), text.encode())

    async def async_write_json(self, path, data, indent=None):
        import json

        await self.async_write_text(path, json.dumps(data, indent=indent))

    async def async_listdir(self, path):
        return (await _ch.acall("fs.listdir", _path(path)))[0]

    async def async_exists(self, path):
        return bool((await _ch.acall("fs.exists", _path(path)))[0])

    async def async_stat(self, path):
        return (await _ch.acall("fs.stat", _path(path)))[0]

    async def async_mkdir(self, path):
        await _ch.acall("fs.mkdir", _path(path))

    async def async_remove(self, path):
        await _ch.acall("fs.remove", _path(path))


def _key(key):
    if not isinstance(key, str):
        raise TypeError("key must be a string")
    return key


class _Kv:
    def get(self, key, default=None):
        found = _ch.call("kv.get", {"key": _key(key)})[0]
        return found["value"] if found["found"] else default

    def set(self, key, value):
        _ch.call("kv.set", {"key": _key(key), "value": value})

    def delete(self, key):
        return bool(_ch.call("kv.delete", {"key": _key(key)})[0])

    def keys(self):
        return _ch.call("kv.keys", {})[0]

    async def async_get(self, key, default=None):
        found = (await _ch.acall("kv.get", {"key": _key(key)}))[0]
        return found["value"] if found["found"] else default

    async def async_set(self, key, value):
        await _ch.acall("kv.set", {"key": _key(key), "value": value})

    async def async_delete(self, key):
        return bool((await _ch.acall("kv.delete", {"key": _key(key)}))[0])

    async def async_keys(self):
        return (await _ch.acall("kv.keys", {}))[0]


http = _Http()
fs = _Fs()
kv = _Kv()

"""The JavaScript guest: the host-function matrix, limits, errors and modules.

Every test goes through the CLI, with --json where the whole result matters.
"""
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest

from helpers import (BRIG_BIN, GUEST_DIR, IS_ROOT, REPO_ROOT, brig, cgroup_controllers, describe,
                     parse_result, run, run_ok, token)

pytestmark = pytest.mark.skipif(not (GUEST_DIR / "js" / "agent.js").exists(),
                                reason="the JavaScript guest is not in this tree")

SLOW_SECONDS = 0.3


def js(code, *flags, **kw):
    """Run JS code with --json; returns (result, brig's exit status)."""
    return run(code, "js", *flags, **kw)


def js_ok(code, *flags, **kw):
    return run_ok(code, "js", *flags, **kw)


def js_json(code, *flags, **kw):
    """Run JS whose last stdout line is JSON; returns that value."""
    res = js_ok(code, *flags, **kw)
    lines = res["stdout"].strip().splitlines()
    assert lines, describe(res)
    return json.loads(lines[-1])


def js_error(code, *flags):
    """Run JS that must throw; returns the guest's view of the error."""
    probe = """
try { %s; console.log(JSON.stringify({thrown: false})) }
catch (e) { console.log(JSON.stringify({thrown: true, isError: e instanceof Error,
                                        name: e.name, code: e.code, message: e.message})) }
""" % code
    return js_json(probe, *flags)


# ----------------------------------------------------------------- http server


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, body, ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Served-By", "brig-js-test")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        path = urllib.parse.urlsplit(self.path).path
        if path == "/slow":
            time.sleep(SLOW_SECONDS)
            return self._send(200, b'"slow done"')
        if path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            return self._send(code, json.dumps({"status": code}).encode())
        if path == "/raw":
            return self._send(200, body, "application/octet-stream")
        if path == "/latin1":
            return self._send(200, "caf\u00e9".encode("latin-1"), "text/plain; charset=iso-8859-1")
        doc = {"method": self.command, "path": self.path, "body_hex": body.hex(),
               "headers": {k.lower(): v for k, v in self.headers.items()}}
        return self._send(200, json.dumps(doc).encode())

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _route


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


@pytest.fixture(scope="module")
def server():
    httpd = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    port = httpd.server_address[1]
    yield {"url": "http://127.0.0.1:%d" % port, "allow": ["--allow-host", "127.0.0.1:%d" % port]}
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


# ------------------------------------------------------------------------ http


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_http_methods_round_trip_headers_and_body(server, method):
    out = js_json("""
const r = http.%s(%s + "/echo?q=1", {headers: {"X-Test": "t-%s", "X-Num": 7}, body: "body-%s"});
const doc = r.json();
console.log(JSON.stringify({ok: r.ok, status: r.statusCode, served: r.headers["x-served-by"],
  method: doc.method, path: doc.path, xtest: doc.headers["x-test"], xnum: doc.headers["x-num"],
  body: doc.body_hex}));
""" % (method, json.dumps(server["url"]), method, method), *server["allow"])
    assert out == {"ok": True, "status": 200, "served": "brig-js-test", "method": method.upper(),
                   "path": "/echo?q=1", "xtest": "t-" + method, "xnum": "7",
                   "body": ("body-" + method).encode().hex()}


@pytest.mark.parametrize("method", ["Get", "Post", "Put", "Patch", "Delete"])
def test_http_async_methods(server, method):
    out = js_json("""
const r = await http.async%s(%s + "/echo", {headers: {"X-Test": "a"}, body: "b"});
console.log(JSON.stringify([r.statusCode, r.json().method, r.json().headers["x-test"], r.json().body_hex]));
""" % (method, json.dumps(server["url"])), *server["allow"])
    assert out == [200, method.upper(), "a", b"b".hex()]


def test_http_request_takes_any_method(server):
    out = js_json("""
const a = http.request("OPTIONS", %s + "/echo");
const b = await http.asyncRequest("put", %s + "/echo", {body: "x"});
console.log(JSON.stringify([a.json().method, b.json().method, b.json().body_hex]));
""" % (json.dumps(server["url"]), json.dumps(server["url"])), *server["allow"])
    assert out == ["OPTIONS", "PUT", "78"]


def test_http_binary_bodies_cross_as_bytes(server):
    out = js_json("""
const sent = new Uint8Array(256).map((_, i) => i);
const r = http.post(%s + "/raw", {body: sent});
const back = r.bytes;
const viaBuffer = http.post(%s + "/raw", {body: sent.buffer.slice(250)}).bytes;
console.log(JSON.stringify({isU8: back instanceof Uint8Array, n: back.length,
  same: back.every((v, i) => v === i), tail: Array.from(viaBuffer)}));
""" % (json.dumps(server["url"]), json.dumps(server["url"])), *server["allow"])
    assert out == {"isU8": True, "n": 256, "same": True, "tail": [250, 251, 252, 253, 254, 255]}


def test_http_response_fields(server):
    out = js_json("""
const r = http.get(%s + "/status/404");
const t = http.get(%s + "/latin1");
console.log(JSON.stringify({ok: r.ok, status: r.statusCode, alias: r.status, text: r.text,
  json: r.json(), ctype: r.headers["content-type"], url: r.url, latin1: t.text}));
""" % (json.dumps(server["url"]), json.dumps(server["url"])), *server["allow"])
    assert out == {"ok": False, "status": 404, "alias": 404, "text": '{"status": 404}',
                   "json": {"status": 404}, "ctype": "application/json",
                   "url": server["url"] + "/status/404", "latin1": "caf\u00e9"}


def test_http_json_option_sends_json(server):
    out = js_json("""
const doc = http.post(%s + "/echo", {json: {a: [1, "x"]}}).json();
console.log(JSON.stringify([doc.headers["content-type"], doc.body_hex]));
""" % json.dumps(server["url"]), *server["allow"])
    assert out[0] == "application/json"
    assert json.loads(bytes.fromhex(out[1])) == {"a": [1, "x"]}


def test_http_to_a_host_not_allowed_is_a_permission_error(server):
    err = js_error('http.get("http://evil.com/")', *server["allow"])
    assert err == {"thrown": True, "isError": True, "name": "PermissionError", "code": "EACCES",
                   "message": "host not allowed: evil.com"}
    err = js_error('await http.asyncPost("http://evil.com/x", {body: "no"})')
    assert err["thrown"] and err["isError"] and err["name"] == "PermissionError"
    assert err["message"] == "host not allowed: evil.com"


def test_uncaught_http_denial_reports_the_users_line(server):
    res, rc = js("const a = 1;\nhttp.get('http://evil.com/');\n")
    assert rc == 1 and res["exit_code"] == 1
    assert res["stderr"].startswith("PermissionError: host not allowed: evil.com\n"), res["stderr"]
    assert "<string>:2:" in res["stderr"]
    assert "/opt/brig" not in res["stderr"] and "brig:api" not in res["stderr"]


def test_bad_arguments_are_type_errors(server):
    for code in ['http.get(42)', 'http.get("http://x/", {body: 5})', 'fs.readText(null)',
                 'kv.get(1)', 'call(5)', 'call("f", [1])']:
        err = js_error(code)
        assert err["thrown"] and err["isError"] and err["name"] == "TypeError", (code, err)


# ------------------------------------------------------------------- batching


def test_gathered_async_requests_run_in_parallel(server):
    # Three requests to a route that sleeps 300 ms: in parallel they take
    # about 300 ms, one after the other 900 ms.
    out = js_json("""
const u = %s + "/slow";
const t0 = Date.now();
const rs = await runAsync(http.asyncGet(u), http.asyncGet(u), http.asyncGet(u));
const elapsed = Date.now() - t0;
console.log(JSON.stringify({elapsed, texts: rs.map(r => r.json())}));
""" % json.dumps(server["url"]), *server["allow"])
    assert out["texts"] == ["slow done"] * 3
    assert out["elapsed"] < 600, out


def test_promise_all_batches_like_run_async(server):
    out = js_json("""
const u = %s + "/slow";
const t0 = Date.now();
const [a, b, c] = await Promise.all([http.asyncGet(u), http.asyncPost(u, {body: "x"}),
                                     kv.asyncSet("k", 1)]);
console.log(JSON.stringify({elapsed: Date.now() - t0, got: [a.statusCode, b.statusCode, c]}));
""" % json.dumps(server["url"]), *server["allow"])
    assert out["got"] == [200, 200, None]
    assert out["elapsed"] < 600, out


def test_blocking_calls_while_async_calls_are_pending(server):
    out = js_json("""
const u = %s;
const pending = Promise.all([http.asyncGet(u + "/slow"), http.asyncGet(u + "/echo?a")]);
const now = http.get(u + "/echo?sync").json().path;
kv.set("x", 1);
const later = (await pending).map(r => r.statusCode);
console.log(JSON.stringify([now, kv.get("x"), later]));
""" % json.dumps(server["url"]), *server["allow"])
    assert out == ["/echo?sync", 1, [200, 200]]


def test_many_pipelined_calls_complete():
    # More than the host keeps in flight at once: the agent queues the rest.
    out = js_json("""
const n = 600;
await Promise.all(Array.from({length: n}, (_, i) => kv.asyncSet("k" + i, i)));
const vals = await runAsync(Array.from({length: n}, (_, i) => kv.asyncGet("k" + i)));
console.log(JSON.stringify([vals.length, vals.every((v, i) => v === i), kv.keys().length]));
""")
    assert out == [600, True, 600]


# -------------------------------------------------------------------------- fs


@pytest.fixture
def dirs(tmp_path):
    ro, rw, rwc = (tmp_path / d for d in ("ro", "rw", "rwc"))
    for d in (ro, rw, rwc):
        d.mkdir()
    (ro / "hello.txt").write_text("hello\n")
    (ro / "conf.json").write_text('{"a": [1, 2], "b": null}')
    (ro / "bin").write_bytes(bytes(range(256)))
    (ro / "sub").mkdir()
    (rw / "existing.txt").write_text("old")
    flags = ["--mount", "/data:%s:ro" % ro, "--mount", "/rw:%s:rw" % rw,
             "--mount", "/out:%s:rwc" % rwc]
    return {"ro": ro, "rw": rw, "rwc": rwc, "flags": flags}


def test_fs_reads(dirs):
    out = js_json("""
const b = fs.readBytes("/data/bin");
console.log(JSON.stringify({text: fs.readText("/data/hello.txt"), json: fs.readJson("/data/conf.json"),
  bytes: [b instanceof Uint8Array, b.length, b[0], b[255]],
  list: fs.listdir("/data").sort((x, y) => x.name < y.name ? -1 : 1), isArray: fs.listdir("/data") instanceof Array,
  exists: [fs.exists("/data/hello.txt"), fs.exists("/data/nope"), fs.exists("/data/sub")],
  stat: fs.stat("/data/hello.txt")}));
""", *dirs["flags"])
    assert out["text"] == "hello\n"
    assert out["json"] == {"a": [1, 2], "b": None}
    assert out["bytes"] == [True, 256, 0, 255]
    assert out["isArray"] is True
    assert out["list"] == [{"name": "bin", "is_dir": False, "size": 256},
                           {"name": "conf.json", "is_dir": False, "size": 24},
                           {"name": "hello.txt", "is_dir": False, "size": 6},
                           {"name": "sub", "is_dir": True, "size": out["list"][3]["size"]}]
    assert out["exists"] == [True, False, True]
    st = out["stat"]
    assert (st["name"], st["size"], st["is_dir"]) == ("hello.txt", 6, False)
    assert abs(st["mod_time"] - os.stat(dirs["ro"] / "hello.txt").st_mtime) < 2


def test_fs_writes_land_on_the_host(dirs):
    js_ok("""
fs.writeText("/rw/existing.txt", "new text");
fs.writeText("/out/a.txt", "caf\u00e9");
fs.writeJson("/out/b.json", {k: [1, 2]}, 2);
fs.writeJson("/out/c.json", {k: 1});
fs.writeBytes("/out/d.bin", new Uint8Array([0, 1, 254, 255]));
fs.mkdir("/out/sub");
fs.writeText("/out/sub/e.txt", "e");
""", *dirs["flags"])
    rw, rwc = dirs["rw"], dirs["rwc"]
    assert (rw / "existing.txt").read_text() == "new text"
    assert (rwc / "a.txt").read_bytes() == "caf\u00e9".encode()
    assert (rwc / "b.json").read_text() == '{\n  "k": [\n    1,\n    2\n  ]\n}'
    assert json.loads((rwc / "c.json").read_text()) == {"k": 1}
    assert (rwc / "d.bin").read_bytes() == b"\x00\x01\xfe\xff"
    assert (rwc / "sub" / "e.txt").read_text() == "e"


def test_fs_remove(dirs):
    (dirs["rwc"] / "gone.txt").write_text("x")
    (dirs["rwc"] / "empty").mkdir()
    (dirs["rw"] / "gone-too.txt").write_text("x")
    js_ok('fs.remove("/out/gone.txt"); fs.remove("/out/empty"); fs.remove("/rw/gone-too.txt")',
          *dirs["flags"])
    assert not (dirs["rwc"] / "gone.txt").exists()
    assert not (dirs["rwc"] / "empty").exists()
    assert not (dirs["rw"] / "gone-too.txt").exists()


@pytest.mark.parametrize("code", [
    'fs.writeText("/data/hello.txt", "x")',
    'fs.writeBytes("/data/new.bin", new Uint8Array(1))',
    'fs.remove("/data/hello.txt")',
    'fs.mkdir("/data/newdir")',
    'fs.mkdir("/rw/newdir")',
    'fs.writeText("/rw/brand-new.txt", "x")',
])
def test_fs_mount_modes_are_enforced(dirs, code):
    err = js_error(code, *dirs["flags"])
    assert err["thrown"] and err["isError"], err
    assert err["name"] == "PermissionError" and err["code"] == "EACCES", err
    assert (dirs["ro"] / "hello.txt").read_text() == "hello\n"
    assert not (dirs["ro"] / "newdir").exists() and not (dirs["rw"] / "newdir").exists()
    assert not (dirs["rw"] / "brand-new.txt").exists()


@pytest.mark.parametrize("path", ["/data/../rw/existing.txt", "/data/../../etc/passwd",
                                  "/data/sub/../../../etc/passwd", "/etc/passwd", "/"])
def test_fs_paths_outside_mounts_are_refused(dirs, path):
    err = js_error("fs.readText(%s)" % json.dumps(path), *dirs["flags"])
    assert err["thrown"] and err["name"] == "PermissionError", err


def test_fs_missing_file_is_file_not_found(dirs):
    err = js_error('fs.readText("/data/missing.txt")', *dirs["flags"])
    assert (err["name"], err["code"], err["isError"]) == ("FileNotFoundError", "ENOENT", True)
    assert "missing.txt" in err["message"]


def test_fs_without_mounts_is_refused():
    err = js_error('fs.readText("/data/x")')
    assert err["thrown"] and err["name"] == "PermissionError"
    assert js_json('console.log(JSON.stringify(fs.exists("/data")))') is False


def test_fs_async_variants(dirs):
    out = js_json("""
await fs.asyncWriteText("/out/t.txt", "async");
await fs.asyncWriteJson("/out/j.json", [1, {a: 2}]);
await fs.asyncWriteBytes("/out/b.bin", new Uint8Array([9, 8]));
await fs.asyncMkdir("/out/d");
const [t, j, b, l, e, s] = await runAsync(fs.asyncReadText("/out/t.txt"), fs.asyncReadJson("/out/j.json"),
  fs.asyncReadBytes("/out/b.bin"), fs.asyncListdir("/out"), fs.asyncExists("/out/d"), fs.asyncStat("/out/t.txt"));
await fs.asyncRemove("/out/d");
let denied = null;
try { await fs.asyncWriteText("/data/x", "no") } catch (err) { denied = err.name }
console.log(JSON.stringify({t, j, b: Array.from(b), names: l.map(x => x.name).sort(), e, size: s.size,
  gone: !(await fs.asyncExists("/out/d")), denied}));
""", *dirs["flags"])
    assert out == {"t": "async", "j": [1, {"a": 2}], "b": [9, 8],
                   "names": ["b.bin", "d", "j.json", "t.txt"], "e": True, "size": 5,
                   "gone": True, "denied": "PermissionError"}


# -------------------------------------------------------------------------- kv


def test_kv_get_set_delete_keys():
    out = js_json("""
const r = {};
r.missing = kv.get("nope");
r.dflt = kv.get("nope", {d: 1});
kv.set("a", {nested: [1, "two", null, true]});
kv.set("b", 2.5);
kv.set("c", undefined);
r.a = kv.get("a");
r.b = kv.get("b", 0);
r.c = kv.get("c", "unused");
r.keys = kv.keys().sort();
r.del = [kv.delete("a"), kv.delete("a")];
r.after = kv.keys().sort();
console.log(JSON.stringify(r));
""")
    assert out == {"missing": None, "dflt": {"d": 1}, "a": {"nested": [1, "two", None, True]},
                   "b": 2.5, "c": None, "keys": ["a", "b", "c"], "del": [True, False],
                   "after": ["b", "c"]}


def test_kv_async_variants():
    out = js_json("""
await kv.asyncSet("x", [1]);
const [x, d, keys] = await runAsync(kv.asyncGet("x"), kv.asyncGet("y", "dflt"), kv.asyncKeys());
console.log(JSON.stringify([x, d, keys, await kv.asyncDelete("x"), await kv.asyncDelete("x")]));
""")
    assert out == [[1], "dflt", ["x"], True, False]


def test_kv_file_persists_between_runs(tmp_path):
    db = str(tmp_path / "kv.sqlite")
    js_ok('kv.set("visits", (kv.get("visits", 0)) + 1)', "--kv", db)
    js_ok('kv.set("visits", (kv.get("visits", 0)) + 1)', "--kv", db)
    assert js_json('console.log(JSON.stringify(kv.get("visits")))', "--kv", db) == 2


def test_kv_values_must_be_json():
    err = js_error('kv.set("k", 10n)')
    assert err["thrown"] and err["isError"] and err["name"] == "TypeError"


# ------------------------------------------------------------------------ call


def test_call_host_function():
    out = js_json("""
const a = call("echo", {id: "123", list: [1, 2]});
const b = await asyncCall("echo", {x: null});
const c = call("echo");
console.log(JSON.stringify([a, b, c]));
""", "--host-fn", "echo=cat")
    assert out == [{"id": "123", "list": [1, 2]}, {"x": None}, {}]


def test_call_gathers_in_parallel():
    out = js_json("""
const t0 = Date.now();
const rs = await runAsync(asyncCall("nap", {i: 1}), asyncCall("nap", {i: 2}), asyncCall("nap", {i: 3}));
console.log(JSON.stringify({rs, elapsed: Date.now() - t0}));
""", "--host-fn", "nap=sleep %s; cat" % SLOW_SECONDS)
    assert out["rs"] == [{"i": 1}, {"i": 2}, {"i": 3}]
    assert out["elapsed"] < 600, out


def test_call_unknown_function_is_an_error():
    err = js_error('call("nope", {})', "--host-fn", "echo=cat")
    assert err["thrown"] and err["isError"] and "nope" in err["message"]
    err = js_error('await asyncCall("nope")')
    assert err["thrown"] and err["isError"] and "nope" in err["message"]


# ------------------------------------------------------------ globals, realms


def test_node_globals_are_absent_and_the_api_is_present():
    out = js_json("""
const names = ["require", "process", "Buffer", "module", "exports", "__dirname", "__filename", "global"];
const api = ["http", "fs", "kv", "call", "asyncCall", "runAsync", "time_now", "console", "setTimeout",
  "setInterval", "clearTimeout", "clearInterval", "queueMicrotask", "TextEncoder", "TextDecoder", "URL",
  "URLSearchParams", "structuredClone", "atob", "btoa"];
console.log(JSON.stringify({absent: names.filter(n => typeof globalThis[n] !== "undefined"),
  bare: [typeof require, typeof process, typeof Buffer, typeof module, typeof __dirname],
  missing: api.filter(n => typeof globalThis[n] === "undefined")}));
""")
    assert out == {"absent": [], "bare": ["undefined"] * 5, "missing": []}


def test_values_belong_to_the_users_realm(dirs):
    out = js_json("""
const r = [];
r.push(fs.listdir("/data") instanceof Array, fs.stat("/data/hello.txt") instanceof Object,
  fs.readBytes("/data/bin") instanceof Uint8Array, new TextEncoder().encode("x") instanceof Uint8Array,
  structuredClone({a: [new Date(0)]}).a[0] instanceof Date, kv.keys() instanceof Array,
  asyncCall("echo", {}) instanceof Promise);
try { fs.readText("/nope") } catch (e) { r.push(e instanceof Error) }
console.log(JSON.stringify(r));
""", "--host-fn", "echo=cat", *dirs["flags"])
    assert out == [True] * 8


def test_web_globals_work():
    out = js_json("""
const u = new URL("https://example.com/a/b?c=1#h");
const te = new TextEncoder().encode("h\u00e9");
let order = [];
await new Promise(res => { setTimeout(() => { order.push("timeout"); res() }, 5); queueMicrotask(() => order.push("micro")) });
const iv = await new Promise(res => { let n = 0; const h = setInterval(() => { if (++n === 3) { clearInterval(h); res(n) } }, 1) });
clearTimeout(setTimeout(() => order.push("never"), 1));
await new Promise(res => setTimeout(res, 10));
console.log(JSON.stringify({host: u.host, q: u.searchParams.get("c"), te: Array.from(te),
  td: new TextDecoder().decode(te), b64: atob(btoa("hi")), order, iv,
  clone: structuredClone(new Map([[1, {x: [2]}]])).get(1), now: Math.abs(time_now() - Date.now() / 1000) < 5,
  uuid: crypto.randomUUID().length, perf: typeof performance.now()}));
""")
    assert out == {"host": "example.com", "q": "1", "te": [104, 195, 169], "td": "h\u00e9",
                   "b64": "hi", "order": ["micro", "timeout"], "iv": 3, "clone": {"x": [2]},
                   "now": True, "uuid": 36, "perf": "number"}


def test_builtins_can_be_shadowed_by_user_declarations():
    out = js_json('const URL = "u"; let Map = 1; class Set {}\n'
                  'console.log(JSON.stringify([URL, Map, typeof Set]))')
    assert out == ["u", 1, "function"]


def test_user_code_may_take_api_names_for_itself():
    out = js_json("""
function setTimeout() { return "mine"; }
var fs = "also mine";
queueMicrotask = 3;
console.log(JSON.stringify([setTimeout(), fs, queueMicrotask, typeof http.get, typeof clearTimeout]));
""")
    assert out == ["mine", "also mine", 3, "function", "function"]


def _plain_global_context():
    """Whether the system node makes vm contexts with a plain global (DONT_CONTEXTIFY)."""
    try:
        probe = "!!(require('vm').constants || {}).DONT_CONTEXTIFY"
        out = subprocess.run(["/usr/bin/node", "-p", probe], capture_output=True, text=True,
                             timeout=30).stdout
    except OSError:
        return False
    return out.strip() == "true"


@pytest.mark.skipif(not _plain_global_context(),
                    reason="older node: the agent wraps all code in a function")
def test_script_semantics_top_level_var_is_global():
    out = js_json('var v = 1; function f() {}\nconsole.log(JSON.stringify('
                  '[globalThis.v, typeof globalThis.f, this === globalThis]))')
    assert out == [1, "function", True]


# ---------------------------------------------------------------------- output


def test_console_streams():
    res = js_ok('console.log("L", 1, {a: [1]}); console.info("I"); console.debug("D");'
                'console.error("E"); console.warn("W %d", 5);')
    assert res["stdout"] == "L 1 { a: [ 1 ] }\nI\nD\n"
    assert res["stderr"] == "E\nW 5\n"


def test_huge_console_output_is_truncated():
    res, rc = js('const s = "x".repeat(1000); for (let i = 0; i < 1e5; i++) console.log(s)',
                 "--max-output", "64k")
    assert res["stdout_truncated"] is True
    assert len(res["stdout"]) == 64 << 10
    assert res["limit"] == "output" and rc != 0


# ------------------------------------------------------------------ errors


def test_uncaught_error_exits_1_with_the_users_line_numbers():
    res, rc = js("const a = 1;\nfunction boom() {\n  throw new TypeError('bad ' + a);\n}\n"
                 "boom();\n")
    assert rc == 1 and res["exit_code"] == 1 and res["ok"] is True
    err = res["stderr"]
    assert "TypeError: bad 1" in err
    assert "at boom (<string>:3:9)" in err
    assert "at <string>:5:1" in err
    for leak in ("/opt/brig", "agent.js", "brig:api", "node:internal", "node:vm"):
        assert leak not in err, err


def test_unhandled_rejection_exits_1_with_line_numbers():
    res, rc = js("async function f() {\n  await null;\n  throw new RangeError('late');\n}\nf();\n")
    assert rc == 1
    assert "RangeError: late" in res["stderr"]
    assert "<string>:3:9" in res["stderr"]


def test_error_thrown_in_a_timer_exits_1():
    res, rc = js("setTimeout(() => {\n  null.x;\n}, 1);\n")
    assert rc == 1
    assert "TypeError" in res["stderr"] and "<string>:2:8" in res["stderr"]


def test_thrown_non_error_value():
    res, rc = js("throw {code: 42}")
    assert rc == 1 and "Uncaught { code: 42 }" in res["stderr"]


def test_syntax_error_names_the_line():
    res, rc = js("let a = 1;\nlet b = (;\n")
    assert rc == 1
    assert res["stderr"].startswith("<string>:2\n"), res["stderr"]
    assert "SyntaxError: Unexpected token ';'" in res["stderr"]
    assert "/opt/brig" not in res["stderr"]


def test_file_name_appears_in_stack_traces(tmp_path):
    prog = tmp_path / "job.js"
    prog.write_text("const x = 1;\n\nthrow new Error('from file');\n")
    proc = brig("--json", str(prog))
    res = parse_result(proc)
    assert proc.returncode == 1
    assert "at %s:3:7" % prog in res["stderr"], res["stderr"]


def test_exit_status_is_0_after_async_work_and_timers():
    res = js_ok('await kv.asyncSet("a", 1);\n'
                'setTimeout(() => console.log("late"), 20);\nconsole.log("early")')
    assert res["stdout"] == "early\nlate\n"


# ----------------------------------------------------------- modules, await


def test_top_level_await():
    out = js_json("""
const v = await asyncCall("echo", {n: 1});
const w = await Promise.resolve(2);
console.log(JSON.stringify([v, w]));
""", "--host-fn", "echo=cat")
    assert out == [{"n": 1}, 2]


def test_top_level_await_keeps_line_numbers():
    res, rc = js("await null;\nconst x = 1;\n\nthrow new Error('line four');\n")
    assert rc == 1 and "<string>:4:7" in res["stderr"], res["stderr"]


# What `esbuild src/main.js --bundle --format=esm` writes for a two-module
# program with a default export and top-level await.
ESBUILD_BUNDLE = r"""// src/util.js
function greet(name) {
  return `hello ${name}`;
}
var PI2 = Math.PI * 2;
var Thing = class {
  constructor(x) {
    this.x = x;
  }
};

// src/main.js
var re = /[}{`'"]/g;
var t = new Thing(`a${1 + 2}b`);
console.log(greet("js"), PI2.toFixed(2), t.x, "x}{".replace(re, "_"));
var r = await asyncCall("echo", { v: 1 });
console.log(JSON.stringify(r));
var main_default = 42;
export {
  main_default as default,
  greet,
  t
};
"""

ESBUILD_MINIFIED = (
    'function e(o){return`hello ${o}`}var r=Math.PI*2,t=class{constructor(c){this.x=c}};'
    'var n=/[}{`\'"]/g,s=new t("a3b");console.log(e("js"),r.toFixed(2),s.x,"x}{".replace(n,"_"));'
    'var l=await asyncCall("echo",{v:1});console.log(JSON.stringify(l));var i=42;'
    'export{i as default,e as greet,s as t};\n')


@pytest.mark.parametrize("source", [ESBUILD_BUNDLE, ESBUILD_MINIFIED], ids=["plain", "minified"])
@pytest.mark.parametrize("name", ["bundle.js", "bundle.mjs"])
def test_esbuild_esm_bundle_runs_as_it_is(tmp_path, source, name):
    prog = tmp_path / name
    prog.write_text(source)
    proc = brig("--json", "--host-fn", "echo=cat", str(prog))
    res = parse_result(proc)
    assert proc.returncode == 0, describe(res)
    assert res["stdout"] == 'hello js 6.28 a3b x__\n{"v":1}\n'


def test_module_syntax_forms_and_strictness(tmp_path):
    prog = tmp_path / "m.mjs"
    prog.write_text("""// export { not, this }
const o = { export: 1 };
const t = `${ `${"}"}` } export`;
export const a = 1;
export function f() { return a + o.export; }
export default class { }
export class C { static export = 3; }
let strict = (function () { return this === undefined; })();
console.log(JSON.stringify([t, f(), C.export, strict, this === undefined,
  import.meta.url === "file://" + import.meta.filename]));
export { a as "a name", f as g };
""")
    proc = brig("--json", str(prog))
    res = parse_result(proc)
    assert proc.returncode == 0, describe(res)
    assert json.loads(res["stdout"]) == ["} export", 2, 3, True, True, True]


def test_module_errors_keep_line_numbers(tmp_path):
    prog = tmp_path / "m.js"
    prog.write_text("export const a = 1;\n\nthrow new Error('three');\n")
    proc = brig(str(prog))
    assert proc.returncode == 1 and "at %s:3:7" % prog in proc.stderr, proc.stderr


def test_import_declarations_are_refused_clearly(tmp_path):
    prog = tmp_path / "imp.js"
    prog.write_text("const a = 1;\nimport x from './x.js';\nconsole.log(x);\n")
    proc = brig(str(prog))
    assert proc.returncode == 1
    assert proc.stderr.startswith("%s:2\n" % prog), proc.stderr
    assert "SyntaxError" in proc.stderr and "bundle" in proc.stderr



def test_host_module_imports_call_host_functions():
    """`import ... from "host:m"` binds m.f(...) to the host function "m.f" with {args}."""
    code = (
        "const before = typeof m;\n"
        "import * as m from 'host:m';\n"
        "import { f as g } from \"host:m\";\n"
        "import dflt, * as again from 'host:m'\n"
        "console.log(JSON.stringify([before, m.f(1, 'two', null), g(), dflt.f(3), again.f(),\n"
        "  typeof m.then]));\n")
    assert js_json(code, "--host-fn", "m.f=cat") == [
        "object", {"args": [1, "two", None]}, {"args": []}, {"args": [3]}, {"args": []},
        "undefined"]


def test_host_module_imports_keep_line_numbers_and_refuse_others(tmp_path):
    prog = tmp_path / "lines.mjs"
    prog.write_text("import * as m from 'host:m';\n\nthrow new Error('three');\n")
    proc = brig(str(prog))
    assert proc.returncode == 1 and "at %s:3:7" % prog in proc.stderr, proc.stderr
    prog.write_text("import * as m from 'host:m';\nimport x from 'node:fs';\n")
    proc = brig(str(prog))
    assert proc.returncode == 1 and proc.stderr.startswith("%s:2\n" % prog), proc.stderr
    assert "SyntaxError" in proc.stderr and "bundle" in proc.stderr


# ---------------------------------------------------------------------- limits


def test_infinite_loop_is_killed_by_the_wall_timeout():
    res, rc = js("while (true) {}", "--timeout", "1s")
    assert rc == 124 and res["limit"] == "wall", describe(res)


def test_infinite_microtask_chain_is_killed_by_the_wall_timeout():
    res, rc = js("function spin() { Promise.resolve().then(spin); }\nspin();", "--timeout", "1s")
    assert rc == 124 and res["limit"] == "wall", describe(res)


def test_infinite_async_loop_is_killed_by_the_wall_timeout():
    res, rc = js("for (;;) { await null; }", "--timeout", "1s")
    assert rc == 124 and res["limit"] == "wall", describe(res)


def test_busy_loop_is_killed_by_the_cpu_timeout():
    res, rc = js("while (true) {}", "--cpu-timeout", "1s", "--timeout", "20s")
    assert res["limit"] == "cpu" and not res["ok"], describe(res)
    assert rc in (124, 137)
    assert res["wall_ms"] < 15000


def test_array_buffer_bomb_is_a_memory_limit():
    # Bounded at 2 GiB so that it cannot hurt the machine where no limit holds.
    code = ("const keep = [];\n"
            "for (let i = 0; i < 256; i++) keep.push(new Uint8Array(8 << 20).fill(1));\n")
    res, rc = js(code, "--memory", "128m", "--timeout", "30s")
    assert res["limit"] == "memory", describe(res)
    assert not res["ok"] and res["error"] == "ERR_LIMIT"
    assert rc == 137


def test_heap_bomb_is_a_memory_limit():
    code = "const keep = [];\nwhile (true) keep.push(new Array(1e5).fill(1.5));\n"
    res, rc = js(code, "--memory", "128m", "--timeout", "30s")
    assert res["limit"] == "memory", describe(res)
    assert rc == 137


# ------------------------------------------------------------ escaping the realm

ESCAPE = r"""
const routes = {
  "this.constructor.constructor": () => this.constructor.constructor("return process")(),
  "Function": () => Function("return process")(),
  "http.get.constructor": () => http.get.constructor("return process")(),
  "URL.constructor": () => URL.constructor("return process")(),
};
const tried = {};
let proc = null;
for (const [name, route] of Object.entries(routes)) {
  try { const p = route(); tried[name] = typeof p; if (p && typeof p.pid === "number") proc = proc || p; }
  catch (e) { tried[name] = e.name; }
}
const out = {tried, reached: proc !== null};
if (proc) {
  const req = proc.mainModule.require;
  const nfs = req("fs");
  out.files = {};
  for (const f of FILES) {
    try { nfs.readFileSync(f); out.files[f] = "READ"; } catch (e) { out.files[f] = e.code; }
  }
  out.kill = {};
  for (const pid of PIDS) {
    try { proc.kill(pid, "SIGKILL"); out.kill[pid] = "SENT"; } catch (e) { out.kill[pid] = e.code; }
  }
  out.net = await new Promise((resolve) => {
    const s = req("net").connect(PORT, "127.0.0.1");
    s.on("connect", () => { s.destroy(); resolve("CONNECTED"); });
    s.on("error", (e) => resolve(e.code));
    setTimeout(() => { s.destroy(); resolve("TIMEOUT"); }, 2000);
  });
}
console.log(JSON.stringify(out));
"""


@pytest.fixture
def listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    s.settimeout(0)
    yield s
    s.close()


@pytest.fixture
def sleeper():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", token()],
                            stdin=subprocess.DEVNULL)
    yield proc
    proc.kill()
    proc.wait()


def test_reaching_process_gains_nothing(tmp_path, listener, sleeper):
    secret = tmp_path / "secret.txt"
    secret.write_text(token())
    secret.chmod(0o644)
    source_root = os.environ.get("BRIG_SOURCE_ROOT", str(REPO_ROOT))
    files = [str(secret), str(REPO_ROOT / "README.md"), source_root + "/meson.build",
             "/etc/shadow", "/proc/1/root/etc/shadow"]
    pids = [sleeper.pid, os.getpid()]
    code = (ESCAPE.replace("FILES", json.dumps(files)).replace("PIDS", json.dumps(pids))
            .replace("PORT", str(listener.getsockname()[1])))
    out = js_json(code, "--timeout", "20s")
    # The context's own Function has no process to give.
    assert out["tried"]["this.constructor.constructor"] == "ReferenceError"
    assert out["tried"]["Function"] == "ReferenceError"
    if out["reached"]:
        assert all(v != "READ" for v in out["files"].values()), out
        assert out["files"][str(secret)] == "ENOENT"
        assert set(out["kill"].values()) == {"ESRCH"}, out
        assert out["net"] in ("ENETUNREACH", "ECONNREFUSED", "EHOSTUNREACH", "EACCES", "EPERM"), out
    assert sleeper.poll() is None, "a host process was killed from the guest"
    with pytest.raises(BlockingIOError):
        listener.accept()


# ------------------------------------------------------------------- users


@pytest.mark.skipif(not IS_ROOT, reason="needs root to switch to uid 65534")
def test_runs_as_an_unprivileged_user():
    probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "test", "-x", BRIG_BIN, "-a", "-r", str(GUEST_DIR / "js" / "agent.js")])
    if probe.returncode != 0:
        pytest.skip("uid 65534 cannot reach %s" % BRIG_BIN)
    proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", BRIG_BIN,
                           "--lang", "js", "-c", "console.log(1); await kv.asyncSet('k', 2);"
                           "console.log(kv.get('k'))"],
                          capture_output=True, text=True, timeout=60, cwd="/")
    assert (proc.returncode, proc.stdout) == (0, "1\n2\n"), proc.stderr

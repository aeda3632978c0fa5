"""Host functions for the Python guest, end to end through the CLI.

call/async_call, http, fs, kv and time, each in the success and the error case;
async batching; 20 concurrent runs; capabilities that stay with the run that
was granted them.  The HTTP server these tests talk to listens on 127.0.0.1
and is allowlisted by its exact IP and port.
"""
import errno
import json
import os
import shlex
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import GUEST_HOST_GID, GUEST_HOST_UID, describe, guest_json, run
from hostfn_server import BIG_BYTES, BINARY_BODY, JSON_BODY, LATIN1_TEXT, Server

# Guest-side helpers: catch() turns an outcome into JSON the test can inspect.
PRELUDE = r'''
import asyncio, json, time
def catch(f, *a, **k):
    try:
        v = f(*a, **k)
    except BaseException as e:
        return {"error": type(e).__name__, "message": str(e),
                "errno": getattr(e, "errno", None)}
    return {"ok": v}
def acatch(make):
    return catch(lambda: asyncio.run(make()))
def emit(v):
    print(json.dumps(v))
'''


def guest(code, *flags, **kw):
    """Run PRELUDE + code; returns the JSON value of its last stdout line."""
    return guest_json(PRELUDE + code, *flags, **kw)


def ok(outcome):
    assert "ok" in outcome, outcome
    return outcome["ok"]


def err(outcome, etype, *fragments):
    """The outcome is the exception etype (exactly), and its message holds fragments."""
    assert outcome.get("error") == etype, outcome
    for frag in fragments:
        assert frag in outcome["message"], outcome
    return outcome["message"]


# ===================================================================== call

PY = shlex.quote(sys.executable)
# Proves the result came from the command: wraps the arguments it read on stdin.
WRAP_CMD = PY + " -c " + shlex.quote(
    "import json, sys; a = json.load(sys.stdin); "
    "json.dump({'got': a, 'keys': sorted(a)}, sys.stdout)")
FAIL_CMD = "echo 'quota exceeded for tenant 7' >&2; exit 3"

NESTED = {
    "s": "ünïcødé \u2603 \"quoted\" \\ back",
    "i": -42,
    "big": 2 ** 53,
    "f": 1.25,
    "t": True,
    "fa": False,
    "n": None,
    "empty_l": [],
    "empty_d": {},
    "deep": {"a": [1, {"b": [None, {"c": ["d", 2.5, [[]]]}]}]},
}


def test_call_round_trips_nested_json():
    out = guest('''
emit({"echo": call("echo", **ARGS), "wrap": call("wrap", **ARGS),
      "none": call("wrap"), "big": len(call("echo", blob="x" * 300000)["blob"])})
'''.replace("ARGS", repr(NESTED)), "--host-fn", "echo=cat", "--host-fn", "wrap=" + WRAP_CMD)
    assert out["echo"] == NESTED
    assert out["wrap"] == {"got": NESTED, "keys": sorted(NESTED)}
    assert out["none"] == {"got": {}, "keys": []}
    assert out["big"] == 300000


def test_non_json_floats_raise_value_error_in_the_guest():
    # NaN and Infinity have no JSON form: the guest refuses them itself, and
    # the run goes on (they used to reach the host and end it as a protocol
    # violation).
    out = guest('''
emit([catch(call, "echo", x=float("inf")), catch(kv.set, "k", float("nan")),
      call("echo", x=1.5)])
''', "--host-fn", "echo=cat")
    err(out[0], "ValueError", "JSON")
    err(out[1], "ValueError", "JSON")
    assert out[2] == {"x": 1.5}


def test_async_call_round_trips_and_gathers():
    out = guest('''
async def main():
    return await asyncio.gather(async_call("echo", n=1, v=ARGS), async_call("wrap", n=2),
                                async_call("echo", n=3))
emit(asyncio.run(main()))
'''.replace("ARGS", repr(NESTED)), "--host-fn", "echo=cat", "--host-fn", "wrap=" + WRAP_CMD)
    assert out == [{"n": 1, "v": NESTED}, {"got": {"n": 2}, "keys": ["n"]}, {"n": 3}]


def test_failing_host_function_raises_runtime_error_with_its_stderr():
    out = guest('''
emit([catch(call, "fail", x=1), acatch(lambda: async_call("fail")),
      catch(call, "silent"), catch(call, "garbage")])
''', "--host-fn", "fail=" + FAIL_CMD, "--host-fn", "silent=exit 1",
                "--host-fn", "garbage=echo not json")
    for o in out[:2]:
        assert err(o, "RuntimeError") == "quota exceeded for tenant 7"
    err(out[2], "RuntimeError")  # no stderr: still an error, never a result
    err(out[3], "RuntimeError", "garbage")


def test_unknown_host_function_is_named():
    out = guest('''
emit([catch(call, "no_such_fn", a=1), acatch(lambda: async_call("other_missing")),
      catch(call, "echo")])
''', "--host-fn", "echo=cat")
    err(out[0], "RuntimeError", "unknown host function", "no_such_fn")
    err(out[1], "RuntimeError", "unknown host function", "other_missing")
    assert ok(out[2]) == {}


def test_brig_module_exports_the_same_objects_as_the_globals():
    out = guest('''
before = dict(call=call, async_call=async_call, run_async=run_async, time_now=time_now,
              http=http, fs=fs, kv=kv)
import brig
from brig import call, http, fs, kv
emit({"same": {n: getattr(brig, n) is v for n, v in before.items()},
      "from": [call is before["call"], http is before["http"], fs is before["fs"],
               kv is before["kv"]],
      "works": call("echo", via="import")})
''', "--host-fn", "echo=cat")
    assert all(out["same"].values()), out
    assert out["from"] == [True] * 4
    assert out["works"] == {"via": "import"}


# ===================================================================== http


@pytest.fixture(scope="module")
def server():
    srv = Server().start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def other():
    """A second live server that tests leave off the allowlist (or use as another origin)."""
    srv = Server().start()
    yield srv
    srv.stop()


def http_guest(server, code, *flags):
    return guest(code.replace("BASE", repr(server.url(""))), "--allow-host", server.allow, *flags)


def test_http_methods_round_trip_body_and_headers(server):
    out = http_guest(server, '''
res = {}
calls = {
    "GET": lambda: http.get(BASE + "/echo?q=1", headers={"X-Test": "get"}),
    "POST": lambda: http.post(BASE + "/echo", body="post body é", headers={"X-Test": "post"}),
    "PUT": lambda: http.put(BASE + "/echo", body=b"put\\x00body", headers={"X-Test": "put"}),
    "PATCH": lambda: http.patch(BASE + "/echo", body=bytearray(b"patch"),
                                headers={"X-Test": "patch"}),
    "DELETE": lambda: http.delete(BASE + "/echo", headers={"X-Test": "delete"}),
    "OPTIONS": lambda: http.request("OPTIONS", BASE + "/echo", headers={"X-Test": "options"}),
    "post": lambda: http.request("post", BASE + "/echo", body=memoryview(b"lower")),
}
for name, f in calls.items():
    r = f()
    res[name] = {"ok": r.ok, "status": r.status_code, "json": r.json(), "text": r.text,
                 "hdr": r.headers, "url": r.url, "ctype": type(r.content).__name__}
emit(res)
''')
    sent = {"GET": b"", "POST": "post body é".encode(), "PUT": b"put\x00body", "PATCH": b"patch",
            "DELETE": b"", "OPTIONS": b"", "post": b"lower"}
    for name, body in sent.items():
        r = out[name]
        method = name.upper()
        assert r["ok"] is True and r["status"] == 200, r
        assert r["ctype"] == "bytes"
        assert json.loads(r["text"]) == r["json"]
        assert r["json"]["method"] == method
        assert bytes.fromhex(r["json"]["body_hex"]) == body, name
        if name != "post":
            assert r["json"]["headers"]["x-test"] == name.lower()
        assert r["hdr"]["x-served-by"] == "brig-test"
        assert r["hdr"]["x-method"] == method
        assert r["hdr"]["content-type"] == "application/json"
        assert all(k == k.lower() for k in r["hdr"])
    assert out["GET"]["json"]["path"] == "/echo?q=1"
    assert out["GET"]["url"] == server.url("/echo?q=1")


def test_http_binary_bodies_cross_intact(server):
    out = http_guest(server, '''
sent = bytes(range(256)) * 64 + b"\\x00" * 100
up = http.post(BASE + "/raw", body=sent)
down = http.get(BASE + "/bytes")
emit({"up_same": up.content == sent, "up_len": len(up.content),
      "down_hex": down.content.hex(), "down_type": type(down.content).__name__,
      "ctype": down.headers["content-type"]})
''')
    assert out["up_same"] is True and out["up_len"] == 256 * 64 + 100
    assert bytes.fromhex(out["down_hex"]) == BINARY_BODY
    assert out["down_type"] == "bytes"
    assert out["ctype"] == "application/octet-stream"


def test_http_json_and_error_statuses_are_responses(server):
    out = http_guest(server, '''
j = http.get(BASE + "/json")
r404 = http.get(BASE + "/status/404")
r500 = http.post(BASE + "/status/500", body="x")
r204 = http.get(BASE + "/status/204")
lat = http.get(BASE + "/latin1")
emit({"latin1": [lat.text, lat.content.hex()], "json": j.json(), "j_ok": j.ok,
      "404": [r404.ok, r404.status_code, r404.text, r404.headers.get("x-served-by")],
      "500": [r500.ok, r500.status_code, r500.text],
      "204": [r204.ok, r204.status_code, r204.content.hex()],
      "bad_json": catch(r404.json)})
''')
    assert out["json"] == JSON_BODY and out["j_ok"] is True
    assert out["latin1"] == [LATIN1_TEXT, LATIN1_TEXT.encode("latin-1").hex()]
    assert out["404"] == [False, 404, "status 404", "brig-test"]
    assert out["500"] == [False, 500, "status 500"]
    assert out["204"] == [True, 204, ""]
    assert out["bad_json"]["error"] == "JSONDecodeError"


def test_http_async_variants_under_asyncio_run(server):
    out = http_guest(server, '''
async def main():
    rs = await asyncio.gather(
        http.async_get(BASE + "/echo"),
        http.async_post(BASE + "/echo", body="p"),
        http.async_put(BASE + "/echo", body=b"u"),
        http.async_patch(BASE + "/echo", body="a"),
        http.async_delete(BASE + "/echo"),
        http.async_request("OPTIONS", BASE + "/echo"),
        http.async_get(BASE + "/status/404"),
        http.async_get(BASE + "/bytes"))
    return ([[r.json()["method"], bytes.fromhex(r.json()["body_hex"]).decode()] for r in rs[:6]],
            [rs[6].ok, rs[6].status_code], rs[7].content.hex())
meth, nf, b = asyncio.run(main())
denied = acatch(lambda: http.async_get("http://evil.example/"))
emit({"meth": meth, "404": nf, "bytes": b, "denied": denied})
''')
    assert out["meth"] == [["GET", ""], ["POST", "p"], ["PUT", "u"], ["PATCH", "a"],
                           ["DELETE", ""], ["OPTIONS", ""]]
    assert out["404"] == [False, 404]
    assert bytes.fromhex(out["bytes"]) == BINARY_BODY
    assert err(out["denied"], "PermissionError") == "host not allowed: evil.example"


# --- denials: each case is (url, allowlist, denied host in the message)

DENIALS = [
    ("{srv}/echo", [], "127.0.0.1"),
    ("http://evil.com/?x=allowed.com", ["allowed.com"], "evil.com"),
    ("http://allowed.com.evil.com/", ["allowed.com"], "allowed.com.evil.com"),
    ("http://allowed.com@evil.com/", ["allowed.com"], "evil.com"),
    ("http://evil.com#@allowed.com/", ["allowed.com"], "evil.com"),
    ("http://notallowed.com/", ["allowed.com"], "notallowed.com"),
    ("http://allowed.com:8080/", ["allowed.com"], "allowed.com"),
    ("{other}/echo", ["{allow}"], "127.0.0.1"),
    ("http://2130706433:{port}/echo", ["example.com"], "127.0.0.1"),
    ("http://0x7f.1:{port}/echo", ["example.com"], "127.0.0.1"),
    ("http://127.1:{port}/echo", ["example.com"], "127.0.0.1"),
    ("http://[::1]:{port}/echo", ["{allow}"], "[::1]"),
    ("http://[::ffff:127.0.0.1]:{port}/echo", ["{allow}"], "[::ffff:127.0.0.1]"),
    ("http://[0:0:0:0:0:ffff:7f00:1]:{port}/echo", ["{allow}"], "[::ffff:127.0.0.1]"),
    ("http://example.com.evil./", ["example.com"], "example.com.evil"),
    ("http://169.254.169.254/latest/meta-data/", ["example.com"], "169.254.169.254"),
    ("http://[::ffff:169.254.169.254]/latest/meta-data/", ["example.com"], ""),
]


def _fill(text, server, other):
    return text.format(srv=server.url(""), other=other.url(""), port=server.port,
                       allow=server.allow)


@pytest.mark.parametrize("url,allow,host", DENIALS, ids=[d[0] for d in DENIALS])
def test_http_denied_hosts_raise_permission_error(server, other, url, allow, host):
    url = _fill(url, server, other)
    flags = [a for entry in allow for a in ("--allow-host", _fill(entry, server, other))]
    out = guest("emit([catch(http.get, %r), acatch(lambda: http.async_post(%r, body='x'))])"
                % (url, url), *flags)
    for o in out:
        msg = err(o, "PermissionError", "host not allowed: ")
        if host:
            assert msg == "host not allowed: " + host, o


@pytest.mark.parametrize("url", ["http://2130706433:{port}/echo", "http://0x7f.1:{port}/echo",
                                 "http://127.1:{port}/echo", "http://0177.0.0.1:{port}/echo"])
def test_http_ipv4_notations_match_an_allowlisted_literal(server, other, url):
    """They are 127.0.0.1 in disguise: allowed exactly when 127.0.0.1:PORT is."""
    url = _fill(url, server, other)
    out = guest("r = http.get(%r); emit([r.status_code, r.json()['path'], r.url])" % url,
                "--allow-host", server.allow)
    assert out == [200, "/echo", server.url("/echo")]


def test_http_case_and_trailing_dot_are_normalised():
    out = guest('''
emit([catch(http.get, "http://EXAMPLE.com./"), catch(http.get, "http://Sub.Example.COM/x"),
      catch(http.get, "http://example.com.evil./"), catch(http.get, "http://EXAMPLE.COM.EVIL/")])
''', "--allow-host", "example.com")
    for o in out[:2]:
        # Allowed, so never PermissionError; offline the name does not resolve.
        assert o.get("error") != "PermissionError", o
        assert "ok" in o or o["error"] in ("OSError", "TimeoutError"), o
    err(out[2], "PermissionError", "host not allowed: example.com.evil")
    err(out[3], "PermissionError", "host not allowed: example.com.evil")


def test_http_allowlist_entry_is_normalised_too():
    out = guest("emit(catch(http.get, 'http://example.com/'))", "--allow-host", "EXAMPLE.Com.")
    assert out.get("error") != "PermissionError", out


def test_http_redirects_are_rechecked(server, other):
    same = server.url("/echo?hop=1")
    out = http_guest(server, '''
def go(to, **kw):
    from urllib.parse import quote
    return catch(lambda: (lambda r: [r.status_code, r.url, r.json()])(
        http.get(BASE + "/redirect?to=" + quote(to, safe=""), **kw)))
emit({"ok": go(%r), "evil": go("http://evil.com/"), "other": go(%r),
      "meta": go("http://169.254.169.254/"), "six": go("http://[::1]:%d/echo")})
''' % (same, other.url("/echo"), server.port))
    status, final, echo = ok(out["ok"])
    assert status == 200 and final == same and echo["path"] == "/echo?hop=1"
    assert err(out["evil"], "PermissionError") == "host not allowed: evil.com"
    assert err(out["other"], "PermissionError") == "host not allowed: 127.0.0.1"
    err(out["meta"], "PermissionError", "host not allowed: 169.254.169.254")
    err(out["six"], "PermissionError", "host not allowed: [::1]")


def test_http_cross_origin_redirect_drops_credentials(server, other):
    out = http_guest(server, '''
from urllib.parse import quote
hdrs = {"Authorization": "Bearer s3cret", "Cookie": "sid=1", "X-Keep": "yes"}
same = http.get(BASE + "/redirect?to=" + quote(BASE + "/echo", safe=""), headers=hdrs).json()
cross = http.get(BASE + "/redirect?to=" + quote(%r, safe=""), headers=hdrs).json()
emit([same["headers"], cross["headers"]])
''' % other.url("/echo"), "--allow-host", other.allow)
    same, cross = out
    assert same["authorization"] == "Bearer s3cret" and same["cookie"] == "sid=1"
    assert "authorization" not in cross and "cookie" not in cross
    assert cross["x-keep"] == "yes" and cross["host"] == "127.0.0.1:%d" % other.port


def _loopback_names():
    """Names the host's /etc/hosts maps to loopback (always including localhost)."""
    names = ["localhost"]
    try:
        with open("/etc/hosts") as f:
            for line in f:
                parts = line.split("#", 1)[0].split()
                if len(parts) > 1 and (parts[0].startswith("127.") or parts[0] == "::1"):
                    names += [n.lower() for n in parts[1:] if n.lower() not in names]
    except OSError:
        pass
    return names[:3]


@pytest.mark.parametrize("name", _loopback_names())
def test_http_name_resolving_to_loopback_is_denied(server, name):
    url = "http://%s:%d/echo" % (name, server.port)
    out = guest("emit(catch(http.get, %r))" % url, "--allow-host", "%s:%d" % (name, server.port))
    err(out, "PermissionError", "host not allowed: %s" % name.lower())


def test_http_oversized_response_is_an_error_not_truncated(server):
    out = http_guest(server, '''
emit([catch(lambda: len(http.get(BASE + "/big").content)),
      acatch(lambda: http.async_get(BASE + "/big")),
      catch(lambda: len(http.get(BASE + "/bigchunked").content)),
      len(http.get(BASE + "/bytes").content)])
''')
    for o in out[:3]:
        assert "ok" not in o, "%d-byte body accepted: %r" % (BIG_BYTES, o)
        assert o["error"] in ("OSError", "ValueError"), o
        assert "exceeds" in o["message"], o
    assert out[3] == len(BINARY_BODY)  # the run goes on


def test_http_oversized_request_body_is_refused(server):
    out = http_guest(server, '''
emit([catch(http.post, BASE + "/raw", body=b"x" * (10 * 1024 * 1024 + 1)),
      len(http.post(BASE + "/raw", body=b"y" * (1024 * 1024)).content)])
''')
    err(out[0], "ValueError", "exceeds")
    assert out[1] == 1024 * 1024


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1:{port}/",
                                 "gopher://127.0.0.1:{port}/", "not a url", "http://"])
def test_http_non_http_urls_raise_value_error(server, other, url):
    url = _fill(url, server, other)
    out = guest("emit([catch(http.get, %r), acatch(lambda: http.async_get(%r))])" % (url, url),
                "--allow-host", server.allow)
    for o in out:
        err(o, "ValueError")


# ============================================================ async batching


def test_gathered_http_calls_run_concurrently(server):
    server.reset_peak()
    out = http_guest(server, '''
async def main():
    t0 = time.perf_counter()
    rs = await asyncio.gather(*[http.async_get(BASE + "/slow") for _ in range(3)])
    http_s = time.perf_counter() - t0
    kv.set("k", 1)
    t0 = time.perf_counter()
    mixed = await asyncio.gather(http.async_get(BASE + "/slow"), asyncio.sleep(0.2, "slept"),
                                 http.async_get(BASE + "/slow"), kv.async_set("k2", 2),
                                 kv.async_get("k"), async_call("echo", v=3))
    mixed_s = time.perf_counter() - t0
    return {"texts": [r.text for r in rs], "http_s": http_s, "mixed_s": mixed_s,
            "mixed": [mixed[0].text, mixed[1], mixed[2].text, mixed[3], mixed[4], mixed[5],
                      kv.get("k2")]}
emit(asyncio.run(main()))
''', "--host-fn", "echo=cat")
    assert out["texts"] == ["slow done"] * 3
    assert out["mixed"] == ["slow done", "slept", "slow done", None, 1, {"v": 3}, 2]
    # Three 300 ms responses gathered: together they must take less than two.
    assert out["http_s"] < 0.6, out
    assert out["mixed_s"] < 0.6, out
    assert server.peak() >= 3  # the server really saw all three at once


def test_run_async_helper_gathers(server):
    out = http_guest(server, '''
one = run_async(http.async_get(BASE + "/json"))
kv.set("a", 1)
many = run_async(kv.async_set("b", 2), kv.async_get("a", default=9),
                 http.async_get(BASE + "/echo"))
emit([one.json(), many[0], many[1], many[2].json()["method"]])
''')
    assert out == [JSON_BODY, None, 1, "GET"]


# ===================================================================== fs

BIN = bytes(range(256)) + b"\x00end"


def _populate(root):
    root.mkdir(parents=True, exist_ok=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "sub").mkdir()
    (root / "sub" / "b.json").write_text('{"k": [1, 2]}')
    (root / "bin.dat").write_bytes(BIN)
    (root / "empty").mkdir()
    return root


def test_fs_reads_on_a_ro_mount(tmp_path):
    data = _populate(tmp_path / "data")
    out = guest('''
emit({"text": fs.read_text("/data/a.txt"), "bytes": fs.read_bytes("/data/bin.dat").hex(),
      "json": fs.read_json("/data/sub/b.json"),
      "list": sorted(fs.listdir("/data"), key=lambda e: e["name"]),
      "exists": [fs.exists("/data/a.txt"), fs.exists("/data/sub"), fs.exists("/data/nope")],
      "stat": fs.stat("/data/a.txt"), "dstat": fs.stat("/data/sub"),
      "async": run_async(
          fs.async_read_text("/data/a.txt"), fs.async_read_json("/data/sub/b.json"),
          fs.async_exists("/data/nope"), fs.async_stat("/data/bin.dat"),
          fs.async_listdir("/data/sub")),
      "abytes": asyncio.run(fs.async_read_bytes("/data/bin.dat")).hex()})
''', "--mount", "/data:%s:ro" % data)
    assert out["text"] == "alpha\n"
    assert bytes.fromhex(out["bytes"]) == BIN and bytes.fromhex(out["abytes"]) == BIN
    assert out["json"] == {"k": [1, 2]}
    entries = {e["name"]: e for e in out["list"]}
    assert sorted(entries) == ["a.txt", "bin.dat", "empty", "sub"]
    assert entries["a.txt"] == {"name": "a.txt", "is_dir": False, "size": 6}
    assert entries["bin.dat"]["size"] == len(BIN) and entries["sub"]["is_dir"] is True
    assert out["exists"] == [True, True, False]
    st = out["stat"]
    assert set(st) == {"name", "size", "is_dir", "mod_time"}
    assert [st["name"], st["size"], st["is_dir"]] == ["a.txt", 6, False]
    assert abs(st["mod_time"] - os.stat(data / "a.txt").st_mtime) < 2
    assert out["dstat"]["is_dir"] is True and out["dstat"]["name"] == "sub"
    text, js, exists, stat, listing = out["async"]
    assert text == "alpha\n" and js == {"k": [1, 2]} and exists is False
    assert stat["size"] == len(BIN) and stat["name"] == "bin.dat"
    assert listing == [{"name": "b.json", "is_dir": False, "size": 13}]


def test_fs_writes_on_a_rwc_mount(tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "gone.txt").write_text("bye")
    (out_dir / "gone_dir").mkdir()
    (out_dir / "agone.txt").write_text("bye")
    res = guest('''
fs.write_text("/out/t.txt", "héllo\\n")
fs.write_bytes("/out/b.bin", bytes(range(256)) + b"\\x00end")
fs.write_json("/out/i.json", {"b": [1, {"c": None}], "a": "x"}, indent=2)
fs.write_json("/out/c.json", [1, 2])
fs.mkdir("/out/d")
fs.write_text("/out/d/inner.txt", "in")
fs.write_text("/out/t.txt", "replaced")
fs.remove("/out/gone.txt")
fs.remove("/out/gone_dir")
async def main():
    await fs.async_mkdir("/out/ad")
    await asyncio.gather(fs.async_write_text("/out/ad/t.txt", "at"),
                         fs.async_write_bytes("/out/ad/b.bin", b"\\x00\\x01"),
                         fs.async_write_json("/out/ad/j.json", {"z": 1}, indent=4),
                         fs.async_remove("/out/agone.txt"))
    return await fs.async_read_text("/out/ad/t.txt")
emit([asyncio.run(main()), fs.read_text("/out/t.txt")])
''', "--mount", "/out:%s:rwc" % out_dir)
    assert res == ["at", "replaced"]
    assert (out_dir / "t.txt").read_text() == "replaced"
    assert (out_dir / "b.bin").read_bytes() == BIN
    data = {"b": [1, {"c": None}], "a": "x"}
    assert (out_dir / "i.json").read_text() == json.dumps(data, indent=2)
    assert json.loads((out_dir / "c.json").read_text()) == [1, 2]
    assert (out_dir / "d" / "inner.txt").read_text() == "in"
    assert not (out_dir / "gone.txt").exists() and not (out_dir / "gone_dir").exists()
    assert not (out_dir / "agone.txt").exists()
    assert (out_dir / "ad" / "t.txt").read_text() == "at"
    assert (out_dir / "ad" / "b.bin").read_bytes() == b"\x00\x01"
    assert (out_dir / "ad" / "j.json").read_text() == json.dumps({"z": 1}, indent=4)


# (operation, guest code) -> allowed in ro, rw, rwc (the seed's table)
MODE_OPS = [
    ("read", 'fs.read_text("/m/exist.txt")', (True, True, True)),
    ("listdir", 'fs.listdir("/m")', (True, True, True)),
    ("stat", 'fs.stat("/m/exist.txt")', (True, True, True)),
    ("write_existing", 'fs.write_text("/m/exist.txt", "changed")', (False, True, True)),
    ("write_json_existing", 'fs.write_json("/m/j.json", {"v": 2})', (False, True, True)),
    ("remove", 'fs.remove("/m/victim.txt")', (False, True, True)),
    ("create", 'fs.write_text("/m/new.txt", "new")', (False, False, True)),
    ("create_bytes", 'fs.write_bytes("/m/new.bin", b"n")', (False, False, True)),
    ("mkdir", 'fs.mkdir("/m/newdir")', (False, False, True)),
]


@pytest.mark.parametrize("mode", ["ro", "rw", "rwc", ""], ids=["ro", "rw", "rwc", "default"])
def test_fs_mode_table(tmp_path, mode):
    m = tmp_path / "m"
    m.mkdir()
    (m / "exist.txt").write_text("orig")
    (m / "j.json").write_text('{"v": 1}')
    (m / "victim.txt").write_text("v")
    if mode == "rwc":
        # rwc changes, fs.* and open() alike, act as the user the guest maps to.
        for p in [m, *m.iterdir()]:
            os.chown(p, GUEST_HOST_UID, GUEST_HOST_GID)
    spec = "/m:%s" % m + (":" + mode if mode else "")
    col = {"ro": 0, "rw": 1, "rwc": 2, "": 0}[mode]  # the default is ro
    code = "emit({%s})" % ", ".join(
        "%r: catch(lambda: %s)" % (name, expr) for name, expr, _ in MODE_OPS)
    code += "\nemit({%s})" % ", ".join(
        "%r: acatch(lambda: %s)" % (name, expr.replace("fs.", "fs.async_"))
        for name, expr, _ in MODE_OPS if name != "remove")
    res, rc = run(PRELUDE + code, "python", "--mount", spec)
    assert rc == 0, describe(res)
    sync, asyn = [json.loads(line) for line in res["stdout"].splitlines()[-2:]]
    for name, _, allowed in MODE_OPS:
        if allowed[col]:
            ok(sync[name])
        else:
            err(sync[name], "PermissionError")
        if name in asyn and not allowed[col]:
            err(asyn[name], "PermissionError")
    # The host agrees with what the guest was told.
    writable, creatable = col >= 1, col == 2
    assert (m / "exist.txt").read_text() == ("changed" if writable else "orig")
    assert json.loads((m / "j.json").read_text()) == {"v": 2 if writable else 1}
    assert (m / "victim.txt").exists() != writable
    assert (m / "new.txt").exists() == creatable and (m / "newdir").is_dir() == creatable


@pytest.fixture
def side_by_side(tmp_path):
    """Host dirs data/ and data2/ side by side, plus a secret outside both, and links out."""
    data = _populate(tmp_path / "data")
    data2 = tmp_path / "data2"
    data2.mkdir()
    (data2 / "x").write_text("sibling secret")
    (tmp_path / "outside.txt").write_text("outside secret")
    os.symlink(str(tmp_path / "outside.txt"), data / "abs_link")
    os.symlink("../outside.txt", data / "rel_link")
    os.symlink("../data2", data / "rel_dir_link")
    os.symlink(str(data2), data / "abs_dir_link")
    os.symlink("../../outside.txt", data / "sub" / "deep_rel_link")
    os.symlink("a.txt", data / "inside_link")  # stays inside: allowed
    return tmp_path


TRAVERSALS = [
    "/data/../data2/x",
    "/data/sub/../../data2/x",
    "/data/../outside.txt",
    "/data/abs_link",
    "/data/rel_link",
    "/data/rel_dir_link/x",
    "/data/abs_dir_link/x",
    "/data/sub/deep_rel_link",
    "/data2/x",
    "/data2",
    "/",
    "/etc/passwd",
]


@pytest.mark.parametrize("mode", ["ro", "rwc"])
def test_fs_traversal_is_refused(side_by_side, mode):
    root = side_by_side
    out = guest('''
res = {}
for p in PATHS:
    res[p] = {"read": catch(fs.read_text, p), "write": catch(fs.write_text, p, "pwned"),
              "stat": catch(fs.stat, p), "list": catch(fs.listdir, p),
              "mkdir": catch(fs.mkdir, p + "/new"), "exists": catch(fs.exists, p),
              "async": acatch(lambda: fs.async_read_bytes(p))}
    if not p.endswith("_link"):  # unlinking a link itself would not leave the mount
        res[p]["remove"] = catch(fs.remove, p)
res["inside"] = fs.read_text("/data/inside_link")
emit(res)
'''.replace("PATHS", repr(TRAVERSALS)), "--mount", "/data:%s:%s" % (root / "data", mode))
    for p in TRAVERSALS:
        exists = out[p].pop("exists")
        assert exists.get("ok") is False or exists.get("error") == "PermissionError", (p, exists)
        for op, o in out[p].items():
            assert "ok" not in o, (p, op, o)
            if p in ("/data2/x", "/data2", "/", "/etc/passwd"):
                err(o, "PermissionError", "not mounted")
            else:
                err(o, "PermissionError")
    assert out["inside"] == "alpha\n"
    # Nothing outside the mount changed or appeared.
    assert (root / "outside.txt").read_text() == "outside secret"
    assert (root / "data2" / "x").read_text() == "sibling secret"
    assert sorted(os.listdir(root)) == ["data", "data2", "outside.txt"]
    assert sorted(os.listdir(root / "data2")) == ["x"]


def test_fs_magic_links_are_refused():
    out = guest('''
emit({p: catch(fs.read_text, p) for p in ["/p/self/root/etc/hostname", "/p/self/cwd",
      "/p/thread-self/root/etc/passwd", "/p/self/fd/0", "/p/self/exe"]}
     | {"list": catch(fs.listdir, "/p/self/root"), "plain": catch(fs.read_text, "/p/self/comm")})
''', "--mount", "/p:/proc:ro")
    assert ok(out.pop("plain")).strip()  # the mount itself works
    for p, o in out.items():
        err(o, "PermissionError")


def test_fs_errors_map_to_python_exceptions(tmp_path):
    data = _populate(tmp_path / "data")
    out = guest('''
emit({"missing": catch(fs.read_text, "/data/nope"),
      "missing_stat": catch(fs.stat, "/data/nope/deeper"),
      "missing_remove": catch(fs.remove, "/data/nope"),
      "missing_list": catch(fs.listdir, "/data/nope"),
      "missing_parent": catch(fs.write_text, "/data/nodir/f.txt", "x"),
      "read_dir": catch(fs.read_bytes, "/data/sub"),
      "write_dir": catch(fs.write_text, "/data/sub", "x"),
      "list_file": catch(fs.listdir, "/data/a.txt"),
      "under_file": catch(fs.read_text, "/data/a.txt/x"),
      "mkdir_exists": catch(fs.mkdir, "/data/sub"),
      "mkdir_file": catch(fs.mkdir, "/data/a.txt"),
      "remove_nonempty": catch(fs.remove, "/data/sub"),
      "relative": catch(fs.read_text, "data/a.txt"),
      "not_mounted": catch(fs.read_text, "/elsewhere/a.txt"),
      "amissing": acatch(lambda: fs.async_read_text("/data/nope")),
      "aexists": acatch(lambda: fs.async_mkdir("/data/sub"))})
''', "--mount", "/data:%s:rwc" % data)
    err(out["missing"], "FileNotFoundError", "/data/nope")
    err(out["missing_stat"], "FileNotFoundError")
    err(out["missing_remove"], "FileNotFoundError")
    err(out["missing_list"], "FileNotFoundError")
    err(out["missing_parent"], "FileNotFoundError")
    err(out["read_dir"], "IsADirectoryError")
    err(out["write_dir"], "IsADirectoryError")
    err(out["list_file"], "NotADirectoryError")
    err(out["under_file"], "NotADirectoryError")
    err(out["mkdir_exists"], "FileExistsError")
    err(out["mkdir_file"], "FileExistsError")
    err(out["remove_nonempty"], "OSError")  # ENOTEMPTY has no subclass of its own
    err(out["relative"], "ValueError")
    err(out["not_mounted"], "PermissionError", "path not mounted")
    err(out["amissing"], "FileNotFoundError")
    err(out["aexists"], "FileExistsError")
    assert (data / "sub" / "b.json").exists() and (data / "a.txt").read_text() == "alpha\n"


OPEN_CODE = '''
import os
def opened(path, mode, text="via open()"):
    try:
        with open(path, mode) as f:
            return {"ok": f.write(text) if "w" in mode else f.read()}
    except OSError as e:
        return {"error": type(e).__name__, "errno": e.errno, "message": str(e)}
'''


def _kernel_refused(o):
    assert "ok" not in o, o
    assert o["errno"] in (errno.EROFS, errno.EACCES, errno.EPERM), o


def test_open_on_ro_mount_is_read_only(tmp_path):
    data = _populate(tmp_path / "data")
    out = guest(OPEN_CODE + '''
emit({"read": opened("/data/a.txt", "r"), "write": opened("/data/a.txt", "w"),
      "create": opened("/data/new.txt", "w"), "ls": sorted(os.listdir("/data"))})
''', "--mount", "/data:%s:ro" % data)
    assert ok(out["read"]) == "alpha\n"
    _kernel_refused(out["write"])
    _kernel_refused(out["create"])
    assert out["ls"] == ["a.txt", "bin.dat", "empty", "sub"]
    assert (data / "a.txt").read_text() == "alpha\n" and not (data / "new.txt").exists()


def test_open_on_rw_mount_is_read_only_but_fs_writes(tmp_path):
    data = _populate(tmp_path / "data")
    os.chmod(data, 0o777)
    os.chmod(data / "a.txt", 0o666)  # so only the mount, not file modes, can refuse
    out = guest(OPEN_CODE + '''
emit({"read": opened("/data/a.txt", "r"), "write": opened("/data/a.txt", "w"),
      "create": opened("/data/new.txt", "w"),
      "fs": catch(fs.write_text, "/data/a.txt", "via fs"), "after": opened("/data/a.txt", "r")})
''', "--mount", "/data:%s:rw" % data)
    assert ok(out["read"]) == "alpha\n"
    _kernel_refused(out["write"])
    _kernel_refused(out["create"])
    ok(out["fs"])
    assert ok(out["after"]) == "via fs"
    assert (data / "a.txt").read_text() == "via fs" and not (data / "new.txt").exists()


def test_open_on_rwc_mount_writes_through(tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    os.chmod(out_dir, 0o777)  # guest processes are host uid GUEST_HOST_UID
    out = guest(OPEN_CODE + '''
os.mkdir("/out/sub")
emit({"write": opened("/out/o.txt", "w"), "nested": opened("/out/sub/n.txt", "w", "n"),
      "read": opened("/out/o.txt", "r"), "fs": catch(fs.read_text, "/out/sub/n.txt"),
      "ls": sorted(os.listdir("/out"))})
''', "--mount", "/out:%s:rwc" % out_dir)
    assert ok(out["write"]) == len("via open()") and ok(out["nested"]) == 1
    assert ok(out["read"]) == "via open()" and ok(out["fs"]) == "n"
    assert out["ls"] == ["o.txt", "sub"]
    assert (out_dir / "o.txt").read_text() == "via open()"
    assert (out_dir / "sub" / "n.txt").read_text() == "n"
    assert os.stat(out_dir / "o.txt").st_uid == GUEST_HOST_UID


# ===================================================================== kv

KV_VALUES = {
    "null": None, "true": True, "false": False, "zero": 0, "neg": -7, "big": 2 ** 62,
    "float": 3.5, "str": "ünï \u2603", "empty_str": "", "list": [1, "a", None, [2, [3]]],
    "empty_list": [], "obj": {"a": {"b": [True, {"c": 1.5}]}}, "empty_obj": {},
}


def test_kv_operations_and_json_types():
    out = guest('''
VALUES = %r
res = {"missing": kv.get("k"), "default": kv.get("k", default={"d": 1}),
       "keys0": kv.keys(), "del_missing": kv.delete("k")}
for k, v in VALUES.items():
    kv.set(k, v)
res["back"] = {k: kv.get(k, default="DEFAULT") for k in VALUES}
res["null_not_default"] = kv.get("null", default="DEFAULT")
res["keys"] = sorted(kv.keys())
kv.set("str", "overwritten")
res["over"] = kv.get("str")
res["del"] = [kv.delete("neg"), kv.delete("neg"), kv.get("neg", default="gone")]
res["type_errors"] = [catch(kv.set, 5, 1)["error"], catch(kv.get, None)["error"],
                      catch(kv.set, "s", {1, 2})["error"]]
async def main():
    await kv.async_set("a", {"x": [1]})
    got = await kv.async_get("a")
    dflt = await kv.async_get("nope", default=7)
    keys = await kv.async_keys()
    dels = [await kv.async_delete("a"), await kv.async_delete("a")]
    return [got, dflt, "a" in keys, dels, await kv.async_get("a")]
res["async"] = asyncio.run(main())
emit(res)
''' % KV_VALUES)
    assert out["missing"] is None and out["default"] == {"d": 1}
    assert out["keys0"] == [] and out["del_missing"] is False
    assert out["back"] == KV_VALUES
    assert out["null_not_default"] is None  # a stored null is found, not defaulted
    assert out["keys"] == sorted(KV_VALUES)
    assert out["over"] == "overwritten"
    assert out["del"] == [True, False, "gone"]
    assert out["type_errors"] == ["TypeError"] * 3
    assert out["async"] == [{"x": [1]}, 7, True, [True, False], None]


def test_kv_limits_raise_value_error():
    out = guest('''
res = {"key256": catch(kv.set, "k" * 256, 1), "key257": catch(kv.set, "k" * 257, 1),
       "key_utf8": catch(kv.set, "é" * 129, 1),
       "val_big": catch(kv.set, "v", "x" * (64 * 1024)),
       "val_nested_big": catch(kv.set, "v", {"a": ["y" * 40000, "z" * 40000]}),
       "aval_big": acatch(lambda: kv.async_set("v", "x" * 70000)),
       "val_ok": catch(kv.set, "v", "x" * 60000), "val_back": len(kv.get("v"))}
for i in range(1000 - len(kv.keys())):
    kv.set("n%d" % i, i)
res["count"] = len(kv.keys())
res["full"] = catch(kv.set, "one-too-many", 1)
res["afull"] = acatch(lambda: kv.async_set("another", 1))
res["overwrite_when_full"] = catch(kv.set, "n0", "new")
kv.delete("n1")
res["after_delete"] = catch(kv.set, "fits-now", 1)
res["final"] = [len(kv.keys()), kv.get("n0"), kv.get("one-too-many", default="absent")]
emit(res)
''')
    ok(out["key256"])
    for k in ("key257", "key_utf8", "val_big", "val_nested_big", "aval_big"):
        err(out[k], "ValueError", "exceeds")
    ok(out["val_ok"])
    assert out["val_back"] == 60000
    assert out["count"] == 1000
    err(out["full"], "ValueError", "1000")
    err(out["afull"], "ValueError", "1000")
    ok(out["overwrite_when_full"])
    ok(out["after_delete"])
    assert out["final"] == [1000, "new", "absent"]


def test_kv_file_persists_between_invocations(tmp_path):
    db = str(tmp_path / "state.db")
    first = guest('kv.set("runs", kv.get("runs", default=0) + 1); kv.set("obj", {"a": [1, None]})'
                  '\nemit(kv.get("runs"))', "--kv", db)
    second = guest('kv.set("runs", kv.get("runs", default=0) + 1)\nkeys = sorted(kv.keys())\n'
                   'kv.delete("obj")\nemit([kv.get("runs"), keys])', "--kv", db)
    third = guest('emit([kv.get("runs"), kv.get("obj", default="deleted"), kv.keys()])',
                  "--kv", db)
    fresh = guest('emit([kv.get("runs"), kv.keys()])')
    assert first == 1
    assert second == [2, ["obj", "runs"]]
    assert third == [2, "deleted", ["runs"]]
    assert fresh == [None, []]


def test_kv_file_concurrent_writers_lose_nothing(tmp_path):
    db = str(tmp_path / "shared.db")
    assert guest('kv.set("seed", 0)\nemit(kv.keys())', "--kv", db) == ["seed"]

    def writer(w):
        return guest('''
for i in range(25):
    kv.set("w%d-%d" % (WRITER, i), {"w": WRITER, "i": i})
emit(len([k for k in kv.keys() if k.startswith("w%d-" % WRITER)]))
'''.replace("WRITER", str(w)), "--kv", db)

    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(writer, range(8)))
    assert counts == [25] * 8
    out = guest('emit({k: kv.get(k) for k in kv.keys()})', "--kv", db)
    expected = {"w%d-%d" % (w, i): {"w": w, "i": i} for w in range(8) for i in range(25)}
    expected["seed"] = 0
    assert out == expected


def test_kv_limits_apply_to_a_durable_store(tmp_path):
    db = str(tmp_path / "lim.db")
    out = guest('emit([catch(kv.set, "k" * 300, 1), catch(kv.set, "v", "x" * 70000)])',
                "--kv", db)
    err(out[0], "ValueError")
    err(out[1], "ValueError")
    assert guest("emit(kv.keys())", "--kv", db) == []


# ===================================================================== time


def test_time_is_host_time():
    before = time.time()
    out = guest('import time as t\nemit([t.time(), time_now(), __import__("brig").time_now()])')
    after = time.time()
    for t in out:
        assert before - 2 <= t <= after + 2, (before, out, after)


# ======================================================== concurrency, isolation


def test_twenty_concurrent_runs_with_host_calls(server):
    def one(i):
        return guest('''
kv.set("me", RUN_ID)
r = http.post(BASE + "/echo", body="run-%d" % RUN_ID, headers={"X-Run": str(RUN_ID)}).json()
emit({"kv": kv.get("me"), "keys": kv.keys(), "call": call("echo", i=RUN_ID, tag="t%d" % RUN_ID),
      "wrap": call("wrap", i=RUN_ID), "body": bytes.fromhex(r["body_hex"]).decode(),
      "hdr": r["headers"]["x-run"]})
'''.replace("BASE", repr(server.url(""))).replace("RUN_ID", str(i)),
            "--allow-host", server.allow, "--host-fn", "echo=cat", "--host-fn", "wrap=" + WRAP_CMD)

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(one, range(20)))
    for i, r in enumerate(results):
        assert r == {"kv": i, "keys": ["me"], "call": {"i": i, "tag": "t%d" % i},
                     "wrap": {"got": {"i": i}, "keys": ["i"]}, "body": "run-%d" % i,
                     "hdr": str(i)}, (i, r)


def test_capabilities_do_not_outlive_their_run(server, tmp_path):
    data = _populate(tmp_path / "data")
    code = '''
emit({"http": catch(lambda: http.get(BASE + "/json").json()),
      "fs": catch(fs.read_text, "/data/a.txt"),
      "call": catch(call, "echo", x=1),
      "kv_before": kv.get("secret", default="absent"), "keys": kv.keys()})
kv.set("secret", "from this run")
'''.replace("BASE", repr(server.url("")))
    a = guest(code, "--allow-host", server.allow, "--mount", "/data:%s:ro" % data,
              "--host-fn", "echo=cat")
    assert ok(a["http"]) == JSON_BODY
    assert ok(a["fs"]) == "alpha\n"
    assert ok(a["call"]) == {"x": 1}
    assert a["kv_before"] == "absent" and a["keys"] == []

    b = guest(code)
    assert err(b["http"], "PermissionError") == "host not allowed: 127.0.0.1"
    err(b["fs"], "PermissionError", "path not mounted")
    assert err(b["call"], "RuntimeError") == "unknown host function: echo"
    assert b["kv_before"] == "absent" and b["keys"] == []

    # A run granted something else gets only that.
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    c = guest(code, "--allow-host", "example.com", "--mount", "/data:%s:ro" % other_dir,
              "--host-fn", "different=cat")
    assert err(c["http"], "PermissionError") == "host not allowed: 127.0.0.1"
    err(c["fs"], "FileNotFoundError")
    assert err(c["call"], "RuntimeError") == "unknown host function: echo"
    assert c["keys"] == []

"""`brig serve`: every endpoint, auth, policy, bounds, isolation, streaming, shutdown."""
import json
import os
import re
import signal
import socket
import threading
import time

import pytest

from serve_util import SECRET_A, SECRET_B, SECRET_C, raw_exchange, unix_request, write_private
from helpers import JSON_KEYS

A, B, C = SECRET_A, SECRET_B, SECRET_C


# ------------------------------------------------------------------ runs

def test_run_returns_the_cli_json_result(plain):
    status, r, res = plain.post("/v1/run", {"code": "import sys\nprint(6*7)\nsys.exit(3)"})
    assert status == 200 and set(res) == JSON_KEYS, res
    assert res["stdout"] == "42\n" and res["exit_code"] == 3 and res["ok"] is True
    assert r.getheader("Content-Type") == "application/json"


@pytest.mark.parametrize("lang,code,out", [
    ("javascript", "console.log([1,2].map(x => x * 2).join(','))", "2,4\n"),
    ("sh", "echo $((6 * 7))", "42\n"),
])
def test_run_other_languages(plain, lang, code, out):
    status, _, res = plain.post("/v1/run", {"lang": lang, "code": code})
    assert status == 200 and res["stdout"] == out, res


def test_run_with_stdin_and_a_lower_limit(plain):
    status, _, res = plain.post("/v1/run", {"code": "import sys; print(sys.stdin.read()[::-1])",
                                            "stdin": "abc"})
    assert status == 200 and res["stdout"] == "cba\n", res
    status, _, res = plain.post("/v1/run", {"code": "while True: pass",
                                            "limits": {"wallTimeoutMs": 300}})
    assert status == 200 and res["error"] == "ERR_CANCELLED" and res["limit"] == "wall", res


@pytest.mark.parametrize("body,needle", [
    ('{"code": "print(1)"', "invalid JSON"),
    ('[1, 2]', "must be a JSON object"),
    ('{"code": "x", "code": "y"}', "invalid JSON"),
    ('{"code": "x", "colour": "red"}', "unknown field 'colour'"),
    ('{"code": 5}', "'code' must be a string"),
    ('{"code": "x", "lang": "cobol"}', "'lang' must be"),
    ('{"code": "x", "limits": {"memoryBytes": -1}}', "positive integer"),
    ('{"code": "x", "limits": {"bogus": 1}}', "unknown limit 'bogus'"),
    ('{"code": "x", "hosts": "example.com"}', "'hosts' must be an array"),
    ('{"lang": "python"}', "missing field 'code'"),
    ('{"code": "x", "wallClockTimeoutMs": 5}', "unknown field"),
])
def test_malformed_requests_get_400_with_a_message(plain, body, needle):
    status, _, res = plain.request("POST", "/v1/run", body)
    assert status == 400 and res["error"] == "bad_request" and needle in res["message"], res


def test_unknown_endpoints_and_methods(plain):
    assert plain.request("GET", "/v1/nope")[0] == 404
    assert plain.request("GET", "/v1/run")[0] == 405
    assert plain.request("DELETE", "/v1/sessions")[0] == 405


def test_healthz_and_metrics(plain):
    status, _, res = plain.request("GET", "/healthz")
    assert status == 200 and res == {"ok": True}
    plain.post("/v1/run", {"code": "pass"})
    plain.post("/v1/run", {"code": "while True: pass", "limits": {"wallTimeoutMs": 200}})
    status, r, text = plain.request("GET", "/metrics")
    assert status == 200 and r.getheader("Content-Type").startswith("text/plain")
    runs = int(re.search(r'^brig_runs_total\{lang="python"\} (\d+)$', text, re.M).group(1))
    assert runs >= 2
    assert re.search(r'^brig_run_errors_total\{code="ERR_CANCELLED"\} [1-9]', text, re.M)
    for name in ("brig_run_duration_seconds_bucket{le=\"+Inf\"}", "brig_sessions_active",
                 "brig_queue_depth", "brig_runs_active",
                 "brig_http_request_duration_seconds_count"):
        assert name in text, name


def test_one_json_log_line_per_request(plain):
    before = len(plain.log_lines())
    plain.post("/v1/run", {"code": "pass"})
    plain.request("GET", "/v1/missing")
    time.sleep(0.2)
    lines = [json.loads(x) for x in plain.log_lines()[before:]]
    assert [(x["method"], x["path"], x["status"]) for x in lines[-2:]] == [
        ("POST", "/v1/run", 200), ("GET", "/v1/missing", 404)]
    assert {"time", "remote", "token", "ms"} <= set(lines[-1])


# ------------------------------------------------------------- streaming

def stream(server, accept, code):
    c = server.conn()
    c.request("POST", "/v1/run", body=json.dumps({"code": code}), headers={"Accept": accept})
    r = c.getresponse()
    assert r.status == 200 and r.getheader("Content-Type") == accept
    data = r.read().decode()
    c.close()
    return data


def test_streaming_ndjson_gives_output_then_the_result(plain):
    data = stream(plain, "application/x-ndjson",
                  "import sys\nprint('a', flush=True)\nprint('e', file=sys.stderr, flush=True)\n"
                  "print('b')")
    events = [json.loads(x) for x in data.splitlines() if x.strip()]
    assert events[-1]["type"] == "result" and set(events[-1]["result"]) == JSON_KEYS
    assert events[-1]["result"]["stdout"] == "a\nb\n"
    out = "".join(e["data"] for e in events[:-1] if e["type"] == "stdout")
    err = "".join(e["data"] for e in events[:-1] if e["type"] == "stderr")
    assert out == "a\nb\n" and err == "e\n"


def test_streaming_sse(plain):
    data = stream(plain, "text/event-stream", "print('hi')")
    blocks = [b for b in data.split("\n\n") if b.strip() and not b.startswith(":")]
    kinds = [b.split("\n")[0] for b in blocks]
    assert kinds == ["event: stdout", "event: result"], data
    assert json.loads(blocks[-1].split("data: ", 1)[1])["result"]["stdout"] == "hi\n"


# ------------------------------------------------------------------ auth

def test_auth_failures(authed):
    for headers in ({}, {"Authorization": "Bearer wrong-secret-0123456789"},
                    {"Authorization": "Basic " + A}, {"Authorization": "Bearer " + A[:-1]}):
        status, r, res = authed.request("POST", "/v1/run", json.dumps({"code": "pass"}),
                                        headers=headers)
        assert status == 401 and res["error"] == "unauthorized", headers
        assert r.getheader("WWW-Authenticate", "").startswith("Bearer")
    assert authed.request("GET", "/metrics")[0] == 401
    # Refused on its headers, before it sends a body.
    reply = raw_exchange(authed.port, b"POST /v1/run HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Length: 100000\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 401 "), reply[:100]
    assert authed.request("GET", "/metrics", token=A)[0] == 200
    assert authed.request("GET", "/healthz")[0] == 200  # for load balancers
    status, _, res = authed.post("/v1/run", {"code": "print(1)"}, token=A)
    assert status == 200 and res["stdout"] == "1\n"


def test_start_refuses_unsafe_configurations(serve, tmp_path):
    s = serve("--listen", "0.0.0.0:0", expect_start=False)
    assert s.proc.wait(60) == 2
    assert "only on loopback or a unix socket" in s.log_path.read_text()
    tokens = tmp_path / "tokens"
    tokens.write_text("alice %s\n" % A)
    tokens.chmod(0o644)
    s = serve("--tokens", str(tokens), expect_start=False)
    assert s.proc.wait(60) == 2 and "readable by group or others" in s.log_path.read_text()
    short = write_private(tmp_path / "short", "alice short\n")
    s = serve("--tokens", short, expect_start=False)
    assert s.proc.wait(60) == 2 and "shorter than 16" in s.log_path.read_text()
    policy = tmp_path / "policy.json"
    policy.write_text('{"tokens": {"alice": {"hosts": ["x"], "sudo": true}}}')
    s = serve("--policy", str(policy), expect_start=False)
    assert s.proc.wait(60) == 2 and "unknown member 'sudo'" in s.log_path.read_text()


def test_unix_socket(serve, tmp_path):
    path = str(tmp_path / "brig.sock")
    s = serve("--listen", "unix:" + path, expect_start=False)
    deadline = time.monotonic() + 60
    while "ready" not in s.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    status, body = unix_request(path, "POST", "/v1/run", b'{"code": "print(5)"}')
    assert status == 200 and json.loads(body)["stdout"] == "5\n"


# ---------------------------------------------------------------- policy

@pytest.mark.parametrize("ask,refused", [
    ({"hosts": ["evil.example"]}, "host 'evil.example'"),
    ({"mounts": ["/etc2"]}, "mount '/etc2'"),
    ({"mounts": [{"path": "/data", "mode": "rwc"}]}, "mount '/data' in mode rwc (at most ro)"),
    ({"kv": "other"}, "kv store 'other'"),
    ({"functions": ["rm"]}, "function 'rm'"),
    ({"limits": {"memoryBytes": 1 << 30}}, "limit memoryBytes 1073741824 (at most 536870912)"),
])
def test_policy_refusals_name_what_was_refused(authed, ask, refused):
    status, _, res = authed.post("/v1/run", dict(code="pass", **ask), token=A)
    assert status == 403 and res["error"] == "forbidden", res
    assert res["message"] == "not granted: " + refused


def test_a_grant_is_per_token(authed):
    # bob has no grant of his own: what alice may use is refused to him.
    status, _, res = authed.post("/v1/run", {"code": "pass", "mounts": ["/data"]}, token=B)
    assert status == 403 and "mount '/data'" in res["message"]
    status, _, res = authed.post("/v1/run", {"code": "pass",
                                             "limits": {"memoryBytes": 300 << 20}}, token=B)
    assert status == 403 and "at most 268435456" in res["message"]


def test_granted_capabilities_work_and_ungranted_ones_are_absent(authed):
    code = ("from brig import call, fs, kv\n"
            "kv.set('k', 7)\n"
            "print(fs.read_text('/data/in.txt'), call('echo', x=1), kv.get('k'))")
    status, _, res = authed.post("/v1/run", {"code": code, "mounts": ["/data"],
                                             "functions": ["echo"], "kv": "shared"}, token=A)
    assert status == 200 and res["stdout"] == "mounted {'x': 1} 7\n", res
    # Granted but not asked for: not there.
    status, _, res = authed.post("/v1/run", {"code": "import os; print(os.path.exists('/data'))"},
                                 token=A)
    assert status == 200 and res["stdout"] == "False\n", res


def test_per_token_rate(authed):
    codes = [authed.request("GET", "/v1/nope", token=C)[0] for _ in range(6)]
    assert codes[:3] == [404, 404, 404] and 429 in codes[3:], codes
    status, r, res = authed.request("GET", "/v1/nope", token=C)
    assert status == 429 and r.getheader("Retry-After") == "1" and res["error"] == "rate_limited"
    # alice's own budget is untouched.
    assert authed.request("GET", "/v1/nope", token=A)[0] == 404


# -------------------------------------------------------------- sessions

def test_session_endpoints(plain):
    status, _, res = plain.post("/v1/sessions", {"lang": "python"})
    assert status == 201 and re.fullmatch(r"[0-9a-f]{32}", res["id"]), res
    base = "/v1/sessions/" + res["id"]
    assert plain.post(base + "/exec", {"code": "x = 41"})[0] == 200
    status, _, res = plain.post(base + "/exec", {"code": "x += 1\nprint(x)"})
    assert status == 200 and res["stdout"] == "42\n" and set(res) == JSON_KEYS
    # Handlers: add, call (with a timeout), remove.
    status, _, res = plain.post(base + "/handlers", {
        "name": "add", "code": "def handler(event):\n    return event['a'] + event['b']"})
    assert status == 201, res
    status, _, res = plain.post(base + "/handlers/add/call", {"event": {"a": 2, "b": 3},
                                                             "wallClockTimeoutMs": 5000})
    assert status == 200 and res["ok"] and res["value"] == 5, res
    status, _, res = plain.post(base + "/handlers/nope/call", {"event": 1})
    assert status == 404 and res["error"] == "ERR_NOT_FOUND", res
    assert plain.post(base + "/handlers", {
        "name": "spin", "code": "def handler(event):\n    while True: pass"})[0] == 201
    status, _, res = plain.post(base + "/handlers/spin/call", {"event": None,
                                                              "cpuTimeoutMs": 300})
    assert res["error"] == "ERR_CANCELLED", res
    # Snapshot and restore (which also clears the poisoning).
    assert plain.post(base + "/exec", {"code": "print(1)"})[2]["error"] == "ERR_POISONED"
    status, _, snap = plain.post(base + "/snapshot")
    assert status == 409, snap  # a poisoned session cannot be copied
    status, _, snap = plain.post(base + "/restore", {"snapshot": "0" * 16})
    assert status == 404
    assert plain.request("DELETE", base + "/handlers/spin")[0] == 200
    assert plain.request("DELETE", base + "/handlers/spin")[0] == 404
    assert plain.request("DELETE", base)[0] == 200
    assert plain.post(base + "/exec", {"code": "pass"})[0] == 404
    assert plain.request("DELETE", base)[0] == 404


def test_session_snapshot_restore_and_interrupt(plain):
    sid = plain.post("/v1/sessions", {})[2]["id"]
    base = "/v1/sessions/" + sid
    plain.post(base + "/exec", {"code": "x = 1"})
    status, _, snap = plain.post(base + "/snapshot")
    assert status == 201 and re.fullmatch(r"[0-9a-f]{16}", snap["snapshot"]), snap
    plain.post(base + "/exec", {"code": "x = 2"})
    assert plain.post(base + "/restore", snap)[0] == 200
    assert plain.post(base + "/exec", {"code": "print(x)"})[2]["stdout"] == "1\n"
    got = {}
    t = threading.Thread(target=lambda: got.update(
        res=plain.post(base + "/exec", {"code": "import time\nwhile True: time.sleep(0.01)"})))
    t.start()
    time.sleep(0.5)
    assert plain.post(base + "/interrupt")[0] == 202
    t.join(30)
    assert got["res"][2]["error"] == "ERR_CANCELLED", got
    assert plain.request("DELETE", base)[0] == 200


def test_sessions_are_invisible_to_other_tokens(authed):
    status, _, res = authed.post("/v1/sessions", {}, token=A)
    assert status == 201
    base = "/v1/sessions/" + res["id"]
    authed.post(base + "/exec", {"code": "secret = 'alice'"}, token=A)
    for method, path, body in [("POST", base + "/exec", {"code": "print(secret)"}),
                               ("POST", base + "/snapshot", {}),
                               ("POST", base + "/interrupt", {}),
                               ("DELETE", base, None)]:
        status, _, res = authed.request(method, path, body, token=B)
        assert status == 404 and res["message"] == "no such session", (path, res)
    status, _, res = authed.post(base + "/exec", {"code": "print(secret)"}, token=A)
    assert status == 200 and res["stdout"] == "alice\n"
    assert authed.request("DELETE", base, token=A)[0] == 200


def test_too_many_sessions(authed):
    ids = [authed.post("/v1/sessions", {}, token=A) for _ in range(3)]
    assert [x[0] for x in ids] == [201, 201, 429], ids
    assert ids[2][1].getheader("Retry-After") == "1"
    for status, _, res in ids[:2]:
        authed.request("DELETE", "/v1/sessions/" + res["id"], token=A)
    assert authed.post("/v1/sessions", {}, token=A)[0] == 201


def test_idle_sessions_expire_and_ids_name_the_instance(serve):
    s = serve("--session-ttl", "1s", "--instance", "node-1")
    sid = s.post("/v1/sessions", {})[2]["id"]
    assert re.fullmatch(r"node-1\.[0-9a-f]{32}", sid), sid
    assert s.post("/v1/sessions/%s/exec" % sid, {"code": "pass"})[0] == 200
    time.sleep(3)
    assert s.post("/v1/sessions/%s/exec" % sid, {"code": "pass"})[0] == 404
    assert "brig_sessions_active 0" in s.request("GET", "/metrics")[2]


# ---------------------------------------------------------------- bounds

def test_oversized_body_and_headers(serve):
    s = serve("--max-body", "1k", "--max-header", "2k")
    status, _, res = s.post("/v1/run", {"code": "#" * 2000})
    assert status == 413 and res["error"] == "too_large", res
    reply = raw_exchange(s.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8192 +
                         b"\r\n\r\n")
    assert reply == b"" or re.match(rb"HTTP/1\.1 4(13|31) ", reply), reply[:100]
    # A chunked body past the bound: the connection is dropped, nothing runs.
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (3000, b'{"code":"' + b"#" * 2988 + b'"}')
    reply = raw_exchange(s.port, b"POST /v1/run HTTP/1.1\r\nHost: x\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n" + body)
    assert b"200 OK" not in reply
    assert s.request("GET", "/healthz")[0] == 200


def test_a_slow_client_is_cut_off(serve):
    s = serve("--request-timeout", "1s")
    c = socket.create_connection(("127.0.0.1", s.port), timeout=20)
    c.sendall(b"POST /v1/run HTTP/1.1\r\nHost: x\r\n")
    t0 = time.monotonic()
    assert c.recv(100) == b""  # closed by the server, not answered
    assert time.monotonic() - t0 < 15
    c.close()
    # A run longer than the timeout still gets its answer.
    status, _, res = s.post("/v1/run", {"code": "import time; time.sleep(2.5); print('done')"})
    assert status == 200 and res["stdout"] == "done\n", res
    # So does a streamed one that stays silent that long (keep-alive lines).
    data = stream(s, "application/x-ndjson", "import time; time.sleep(2.5); print('late')")
    events = [json.loads(x) for x in data.splitlines() if x.strip()]
    assert events[-1]["result"]["stdout"] == "late\n", data


def test_too_many_concurrent_runs_get_429(serve):
    s = serve("--max-runs", "1", "--max-queue", "1")
    results = []
    slow = {"code": "import time; time.sleep(2)"}
    threads = [threading.Thread(target=lambda: results.append(s.post("/v1/run", slow)))
               for _ in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.4)
    status, r, res = s.post("/v1/run", {"code": "pass"})
    assert status == 429 and r.getheader("Retry-After") == "1" and res["error"] == "busy"
    for t in threads:
        t.join(60)
    assert sorted(x[0] for x in results) == [200, 200]  # the queued one ran too
    assert "brig_rejected_total 1" in s.request("GET", "/metrics")[2]


# -------------------------------------------------------------- shutdown

def test_sigterm_drains_in_flight_runs(serve):
    s = serve()
    sid = s.post("/v1/sessions", {})[2]["id"]
    got = {}
    code = "import time; time.sleep(1.5); print('finished')"
    threads = [threading.Thread(target=lambda: got.update(res=s.post("/v1/run", {"code": code}))),
               threading.Thread(target=lambda: got.update(
                   streamed=stream(s, "application/x-ndjson", code)))]
    for t in threads:
        t.start()
    time.sleep(0.5)
    s.proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(60)
    assert got["res"][0] == 200 and got["res"][2]["stdout"] == "finished\n", got
    last = json.loads(got["streamed"].strip().splitlines()[-1])
    assert last["type"] == "result" and last["result"]["stdout"] == "finished\n", got
    assert s.proc.wait(60) == 0
    assert "draining" in s.log_path.read_text()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", s.port), timeout=5).recv(1)
    assert sid  # the session was closed with the server

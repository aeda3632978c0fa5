"""`brig mcp`: a scripted client conversation over stdio, as an MCP client holds it."""
import json
import select
import subprocess
import time

import pytest

from helpers import BRIG_BIN, JSON_KEYS


class Client:
    def __init__(self, *args):
        self.proc = subprocess.Popen([BRIG_BIN, "mcp", *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.next_id = 0

    def send(self, msg):
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()

    def raw(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def call(self, method, params=None):
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        reply = json.loads(self.proc.stdout.readline())
        assert reply["jsonrpc"] == "2.0" and reply["id"] == self.next_id, reply
        return reply

    def tool(self, name, **arguments):
        reply = self.call("tools/call", {"name": name, "arguments": arguments})
        assert "result" in reply, reply
        return reply["result"]

    def close(self):
        self.proc.stdin.close()
        rc = self.proc.wait(60)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return rc


@pytest.fixture
def client():
    c = Client()
    yield c
    assert c.close() == 0


def test_a_conversation(client):
    init = client.call("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                      "clientInfo": {"name": "test", "version": "1"}})
    assert init["result"]["protocolVersion"] == "2025-06-18"
    assert "tools" in init["result"]["capabilities"]
    assert init["result"]["serverInfo"]["name"] == "brig"
    client.send({"jsonrpc": "2.0", "method": "notifications/initialized"})  # no reply
    assert client.call("ping")["result"] == {}
    tools = {t["name"]: t for t in client.call("tools/list")["result"]["tools"]}
    assert set(tools) == {"run_python", "run_javascript", "run_shell", "session_create",
                          "session_exec", "session_close"}
    assert tools["run_python"]["inputSchema"]["required"] == ["code"]

    res = client.tool("run_python", code="import sys\nprint(6*7)\nprint('w', file=sys.stderr)")
    assert res["isError"] is False and set(res["structuredContent"]) == JSON_KEYS
    assert res["structuredContent"]["stdout"] == "42\n"
    assert res["structuredContent"]["stderr"] == "w\n"
    assert "exit_code: 0" in res["content"][0]["text"] and "42" in res["content"][0]["text"]
    res = client.tool("run_javascript", code="console.log(1 + 1)")
    assert res["structuredContent"]["stdout"] == "2\n"
    res = client.tool("run_shell", code="echo hi; exit 3")
    assert res["isError"] is True and res["structuredContent"]["exit_code"] == 3
    res = client.tool("run_python", code="while True: pass", limits={"wallTimeoutMs": 300})
    assert res["isError"] and res["structuredContent"]["error"] == "ERR_CANCELLED"
    assert "error: ERR_CANCELLED" in res["content"][0]["text"]

    # State kept across calls of one session.
    sid = client.tool("session_create", lang="python")["structuredContent"]["session_id"]
    assert client.tool("session_exec", session_id=sid, code="x = 20")["isError"] is False
    res = client.tool("session_exec", session_id=sid, code="print(x + 22)")
    assert res["structuredContent"]["stdout"] == "42\n"
    assert client.tool("session_close", session_id=sid)["isError"] is False
    res = client.tool("session_exec", session_id=sid, code="print(x)")
    assert res["isError"] and "no such session" in res["content"][0]["text"]


def test_protocol_errors(client):
    assert client.raw("not json")["error"]["code"] == -32700
    assert client.raw('{"jsonrpc": "1.0", "id": 1, "method": "ping"}')["error"]["code"] == -32600
    assert client.call("resources/list")["error"]["code"] == -32601
    assert client.call("tools/call", {"name": "rm_rf"})["error"]["code"] == -32602
    res = client.tool("run_python", code="pass", colour="red")
    assert res["isError"] and "unknown field 'colour'" in res["content"][0]["text"]
    res = client.tool("run_python")
    assert res["isError"] and "missing field 'code'" in res["content"][0]["text"]
    # An unknown protocol revision gets the server's own.
    init = client.call("initialize", {"protocolVersion": "1999-01-01"})
    assert init["result"]["protocolVersion"] == "2025-06-18"


def test_the_policy_file_bounds_the_tools(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "f.txt").write_text("granted")
    data.chmod(0o755)
    tmp_path.chmod(0o755)
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"tokens": {"agent": {
        "mounts": {"/data": {"host": str(data)}},
        "limits": {"wallTimeoutMs": 5000}, "maxSessions": 1}}}))
    c = Client("--policy", str(policy), "--as", "agent")
    try:
        res = c.tool("run_python", code="from brig import fs; print(fs.read_text('/data/f.txt'))",
                     mounts=["/data"])
        assert res["structuredContent"]["stdout"] == "granted\n", res
        res = c.tool("run_python", code="pass", hosts=["example.com"])
        assert res["isError"] and "not granted: host 'example.com'" in res["content"][0]["text"]
        res = c.tool("run_python", code="pass", limits={"wallTimeoutMs": 60000})
        assert res["isError"] and "wallTimeoutMs 60000 (at most 5000)" in res["content"][0]["text"]
        assert c.tool("session_create")["isError"] is False
        res = c.tool("session_create")
        assert res["isError"] and "too many sessions" in res["content"][0]["text"]
    finally:
        assert c.close() == 0


def read_reply(client, seconds=20):
    """The next line, or a failure after seconds (a call nobody stopped)."""
    ready, _, _ = select.select([client.proc.stdout], [], [], seconds)
    assert ready, "no answer within %d s" % seconds
    return json.loads(client.proc.stdout.readline())


def request(client, rid, name, **arguments):
    client.send({"jsonrpc": "2.0", "id": rid, "method": "tools/call",
                 "params": {"name": name, "arguments": arguments}})


def cancel(client, rid):
    client.send({"jsonrpc": "2.0", "method": "notifications/cancelled",
                 "params": {"requestId": rid, "reason": "test"}})


def test_cancellation_stops_the_call_and_it_gets_no_answer(client):
    # The run would take the default 30 s wall limit; the answers below must
    # come well before it, and the cancelled requests never answered.
    request(client, "long", "run_python", code="import time\ntime.sleep(60)")
    request(client, "queued", "run_shell", code="echo never")
    time.sleep(0.5)  # the first is under way
    cancel(client, "queued")
    cancel(client, "long")
    client.send({"jsonrpc": "2.0", "id": "after", "method": "ping"})
    assert read_reply(client) == {"jsonrpc": "2.0", "id": "after", "result": {}}
    # A session's call breaks as Ctrl-C would: the session goes on.
    sid = client.tool("session_create", lang="python")["structuredContent"]["session_id"]
    client.tool("session_exec", session_id=sid, code="n = 41")
    request(client, 7, "session_exec", session_id=sid,
            code="import time\nwhile True:\n    time.sleep(0.05)")
    time.sleep(0.5)
    cancel(client, 7)
    client.send({"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {
        "name": "session_exec", "arguments": {"session_id": sid, "code": "print(n + 1)"}}})
    reply = read_reply(client)
    assert reply["id"] == 8 and reply["result"]["structuredContent"]["stdout"] == "42\n", reply
    # A cancellation of nothing running changes nothing.
    cancel(client, 12345)
    assert client.tool("run_shell", code="echo ok")["structuredContent"]["stdout"] == "ok\n"


def test_a_client_that_hangs_up_stops_the_call():
    c = Client()
    request(c, 1, "run_python", code="import time\ntime.sleep(60)")
    time.sleep(0.5)
    c.proc.stdin.close()
    assert c.proc.wait(20) == 0  # the 60 s sleep was stopped
    assert c.proc.stdout.read() == ""  # and nobody was answered
    c.proc.stdout.close()
    c.proc.stderr.close()

"""The guest agents' control channel against a scripted host on a socketpair.

Each test plays the host's side of docs/PROTOCOL.md byte for byte, to force
orderings that a real host produces only by chance.
"""
import json
import socket
import subprocess

from helpers import GUEST_DIR

CALL, REPLY = 2, 3


def frames(sock, want):
    """Read want protocol frames (type, body) from sock."""
    buf, out = b"", []
    while len(out) < want:
        while len(buf) < 4 or len(buf) < 4 + int.from_bytes(buf[:4], "little"):
            chunk = sock.recv(65536)
            assert chunk, "the agent closed the channel"
            buf += chunk
        n = int.from_bytes(buf[:4], "little")
        out.append((buf[4], buf[5:4 + n]))
        buf = buf[4 + n:]
    return out


def reply(call_body, value):
    data = json.dumps({"ok": value}).encode()
    body = call_body[:4] + len(data).to_bytes(4, "little") + data
    return (1 + len(body)).to_bytes(4, "little") + bytes([REPLY]) + body


def answer_backwards(argv):
    """Run argv with the channel on fd 3; it sends a pipelined call, then a
    blocking one.  Answer both in one write, the blocking one first: the
    agent's blocking read takes both, and the socket never signals the
    pipelined reply again.  Returns the program's stdout lines."""
    host, guest = socket.socketpair()
    with guest:
        proc = subprocess.Popen(["bash", "-c", 'exec "$@" 3<&%d' % guest.fileno(), "bash", *argv],
                                pass_fds=(guest.fileno(),), stdout=subprocess.PIPE, text=True)
    with host, proc:
        calls = frames(host, 2)
        assert [t for t, _ in calls] == [CALL, CALL]
        host.sendall(reply(calls[1][1], "now") + reply(calls[0][1], "later"))
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("the pipelined reply was never dispatched") from None
    assert proc.returncode == 0
    return out.splitlines()


def test_js_dispatches_a_pipelined_reply_read_along_with_a_blocking_one():
    # Before, the run waited for its timeout with the promise pending.
    script = """
const { Channel } = require(process.argv[1]);
const ch = new Channel();
ch.post("later", "{}", null, (json) => console.log("async " + json));
console.log("sync " + ch.call("now", "{}", null)[0]);
"""
    out = answer_backwards(["node", "-e", script, str(GUEST_DIR / "js" / "agent.js")])
    assert out == ['sync {"ok": "now"}', 'async {"ok": "later"}']


def test_python_dispatches_a_pipelined_reply_read_along_with_a_blocking_one():
    script = """
import asyncio, sys
sys.path.insert(0, sys.argv[1])
from brig import _proto

async def main():
    later = asyncio.ensure_future(_proto.channel.acall("later", {}))
    await asyncio.sleep(0)
    print("sync", _proto.channel.call("now", {})[0])
    print("async", (await asyncio.wait_for(later, 10))[0])

asyncio.run(main())
"""
    out = answer_backwards(["/usr/bin/python3", "-I", "-c", script, str(GUEST_DIR / "python")])
    assert out == ["sync now", "async later"]

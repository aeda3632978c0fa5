"""Host calls cannot take the host down.

- What a guest's calls make the host hold is bounded in bytes, parsed JSON
  counted at its real cost: the review's attack (stalled workers, then CALL
  frames of `[[],[],...]`) took brig to 5.6 GB; the bound is about twice
  --max-frame.
- The run's deadline cancels host calls in flight: HTTP transfers to a
  server that never answers, --host-fn commands that never return, and
  name lookups that hang.
- Any number of calls in flight completes (gathering ~400 used to hang).
"""
import json
import os
import re
import socket
import subprocess
import threading
import time

import pytest

from helpers import BRIG_BIN, IS_ROOT, brig, describe, parse_result, run, run_ok, wait_for

MIB = 1 << 20

# Raw frames on fd 3, and a thread that reads the replies after a delay:
# while nobody reads, the replies fill the host's budget, the host stops
# reading calls, and the guest's writes block.
ATTACK = r'''
import json, os, struct, threading, time, brig
def u32(n):
    return struct.pack("<I", n)
def send(b):
    v = memoryview(b)
    while v:
        v = v[os.write(3, v):]
def call(cid, text):
    body = u32(cid) + u32(len(text)) + text
    send(u32(len(body) + 1) + b"\x02" + body)
seen = {}
def read_replies():
    time.sleep(READ_AFTER)
    buf = b""
    while len(seen) < 404:
        while len(buf) < 4 or len(buf) < 4 + int.from_bytes(buf[:4], "little"):
            buf += os.read(3, 1 << 20)
        n = int.from_bytes(buf[:4], "little")
        body, buf = buf[5:4 + n], buf[4 + n:]
        jl = int.from_bytes(body[4:8], "little")
        seen[int.from_bytes(body[:4], "little")] = json.loads(body[8:8 + jl])
brig.kv.set("big", "x" * 60000)
os.set_blocking(3, True)  # the agent leaves it non-blocking; these raw writes wait
threading.Thread(target=read_replies, daemon=True).start()
for i in range(400):
    call(1000 + i, b'{"fn":"kv.get","args":{"key":"big"}}')
N = 7 << 20
BUILD
text = b'{"fn":"call","args":{"name":"f","args":{"x":' + big + b'}}}'
del big
for i in range(4):
    call(5000 + i, text)
del text
while len(seen) < 404:
    time.sleep(0.05)
errs = [seen[5000 + i].get("error", {}) for i in range(4)]
print(json.dumps({"types": sorted({e.get("type") for e in errs}),
                  "too_large": all(e.get("message", "").startswith("host call too large")
                                   for e in errs),
                  "kv_ok": sum(seen[1000 + i].get("ok", {}).get("found") is True
                               for i in range(400))}))
time.sleep(0.5)
'''

SHAPES = {
    "empty arrays": "big = b'[' + b'[],' * (N // 3) + b'[]]'",
    "tiny numbers": "big = b'[' + b'0,' * (N // 2) + b'0]'",
    "many keys": "big = b'{' + b','.join(b'\"%x\":0' % i for i in range(N // 10)) + b'}'",
    "long string": "big = b'\"' + b'a' * N + b'\"'",
}


def peak_rss(args, timeout=120):
    """Run brig; returns (CompletedProcess-like, brig's own peak RSS in bytes)."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0
    status = "/proc/%d/status" % proc.pid
    end = time.monotonic() + timeout
    # VmHWM only grows: the last reading before exit holds the whole peak.
    while proc.poll() is None and time.monotonic() < end:
        try:
            with open(status) as f:
                m = re.search(r"VmHWM:\s+(\d+) kB", f.read())
            if m:
                peak = max(peak, int(m.group(1)) * 1024)
        except OSError:
            pass
        time.sleep(0.02)
    out, err = proc.communicate(timeout=30)
    proc.stdout, proc.stderr = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    return proc, peak


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_parsed_json_amplification_is_bounded(shape):
    code = ATTACK.replace("READ_AFTER", "2").replace("BUILD", SHAPES[shape])
    proc, peak = peak_rss([BRIG_BIN, "--json", "--max-frame", "8m", "--memory", "512m",
                           "--timeout", "90s", "-c", code])
    res = parse_result(proc)
    assert res["ok"] and res["exit_code"] == 0, describe(res)
    out = json.loads(res["stdout"].strip().splitlines()[-1])
    # Each call over the budget failed in the guest, clearly; the rest worked.
    assert out["types"] == ["ValueError"], out
    assert out["too_large"], out
    assert out["kv_ok"] == 400, out
    # The documented bound: about 2 x max_frame_bytes, plus a reply per
    # worker (kv values here) and the process's own few MiB.
    assert 0 < peak < 2 * 8 * MIB + 16 * MIB, "brig peaked at %d MiB" % (peak // MIB)


def test_guest_that_never_reads_blocks_itself():
    """The review's exact attack: replies never read.  The host holds its
    bound; the guest, blocked writing, ends at its deadline."""
    code = ATTACK.replace("READ_AFTER", "3600").replace("BUILD", SHAPES["empty arrays"])
    proc, peak = peak_rss([BRIG_BIN, "--json", "--max-frame", "8m", "--memory", "512m",
                           "--timeout", "4s", "-c", code])
    res = parse_result(proc)
    assert res["error"] == "ERR_CANCELLED" and res["limit"] == "wall", describe(res)
    assert 0 < peak < 2 * 8 * MIB + 16 * MIB, "brig peaked at %d MiB" % (peak // MIB)


def test_oversized_call_raises_in_guest():
    res = run_ok('''
import brig
try:
    brig.call("echo", x=[[]] * (1 << 20))  # a 3 MiB frame, some 150 MiB parsed
except ValueError as e:
    print("ValueError", str(e)[:19])
print(brig.call("echo", x=[[]] * 1000)["x"] == [[]] * 1000)
''', "python", "--max-frame", "4m", "--host-fn", "echo=cat")
    assert res["stdout"] == "ValueError host call too large\nTrue\n", describe(res)


def test_oversized_call_raises_in_guest_js():
    res = run_ok('''
try {
    call("echo", {x: Array(1 << 20).fill([])});
} catch (e) {
    console.log(e.name, e.message.slice(0, 19));
}
console.log(call("echo", {x: Array(1000).fill([])}).x.length);
''', "js", "--max-frame", "4m", "--host-fn", "echo=cat")
    assert res["stdout"] == "ValueError host call too large\n1000\n", describe(res)


# ------------------------------------------------------------ deadlines

class SilentServer:
    """Accepts connections and never answers; counts them."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        self.sock.settimeout(0.1)
        while not self.stop:
            try:
                self.conns.append(self.sock.accept()[0])
            except OSError:
                continue

    def close(self):
        self.stop = True
        self.thread.join()
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.fixture
def silent():
    s = SilentServer()
    yield s
    s.close()


HTTP_THREADS_PY = '''
import threading, brig
def get():
    try:
        brig.http.get("http://127.0.0.1:PORT/")
    except Exception as e:
        print(type(e).__name__)
threads = [threading.Thread(target=get) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
'''

HTTP_ALL_JS = '''
await Promise.all(Array.from({length: 8}, () => http.asyncGet("http://127.0.0.1:PORT/")));
'''


@pytest.mark.parametrize("lang,code", [("python", HTTP_THREADS_PY), ("js", HTTP_ALL_JS)],
                         ids=["python", "js"])
def test_deadline_cancels_http_in_flight(silent, lang, code):
    t0 = time.monotonic()
    res, rc = run(code.replace("PORT", str(silent.port)), lang, "--timeout", "1s",
                  "--allow-host", "127.0.0.1:%d" % silent.port)
    took = time.monotonic() - t0
    assert res["error"] == "ERR_CANCELLED" and res["limit"] == "wall", describe(res)
    assert rc == 124
    # The deadline plus a small constant, not the 30 s HTTP timeout.
    assert res["wall_ms"] < 4000 and took < 8, (res["wall_ms"], took)
    assert len(silent.conns) >= 1


def group_alive(pgids):
    """Processes still in any of these process groups."""
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in pgids and fields[0] != "Z":
            alive.append(int(entry))
    return alive


@pytest.mark.parametrize("lang", ["python", "js"])
def test_deadline_kills_host_fn_commands(tmp_path, lang):
    pids = tmp_path / "pids"
    # The command's shell records its pid (its process group) and starts a child.
    command = "echo $$ >> %s; sleep 60; echo done" % pids
    code = {
        "python": "import asyncio, brig\nasync def main():\n"
                  "    await asyncio.gather(*[brig.async_call('slow') for _ in range(8)])\n"
                  "asyncio.run(main())\n",
        "js": "await Promise.all(Array.from({length: 8}, () => asyncCall('slow')));\n",
    }[lang]
    t0 = time.monotonic()
    res, rc = run(code, lang, "--timeout", "1s", "--host-fn", "slow=" + command)
    took = time.monotonic() - t0
    assert res["error"] == "ERR_CANCELLED" and res["limit"] == "wall", describe(res)
    assert res["wall_ms"] < 4000 and took < 8, (res["wall_ms"], took)
    groups = {int(x) for x in pids.read_text().split()}
    assert len(groups) == 8, groups
    # The commands and what they started are gone with the run.
    assert wait_for(lambda: not group_alive(groups), timeout=5), group_alive(groups)


@pytest.mark.skipif(not IS_ROOT, reason="needs root: a DNS server on port 53 and a private "
                    "/etc/resolv.conf (the resolver hook is tested as any user in test_http)")
def test_deadline_stops_a_hanging_name_lookup(tmp_path):
    """A DNS server that never answers: the lookup ends with the run, not
    after the resolver's timeouts."""
    dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        dns.bind(("127.83.0.1", 53))
    except OSError as e:
        dns.close()
        pytest.skip("cannot bind a DNS port: %s" % e)
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.83.0.1\noptions timeout:30 attempts:1\n")
    code = '''
import brig
try:
    brig.http.get("http://hang.example/")
except Exception as e:
    print(type(e).__name__, e)
'''
    script = 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"'
    try:
        t0 = time.monotonic()
        proc = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
             str(resolv), BRIG_BIN, "--json", "--timeout", "2s", "--allow-host",
             "hang.example", "-c", code], capture_output=True, timeout=60)
        took = time.monotonic() - t0
    finally:
        dns.close()
    if proc.returncode not in (0, 124) and b"mount" in proc.stderr:
        pytest.skip("cannot mount here: %r" % proc.stderr)
    proc.stdout = proc.stdout.decode()
    res = parse_result(proc)
    assert res["error"] == "ERR_CANCELLED" and res["limit"] == "wall", describe(res)
    assert took < 10, took


# ------------------------------------------------------------ many calls

# 5000 at once runs through a C function in tests/capi/test_hostcall.c: a
# command per call costs milliseconds, and the path is the same.
@pytest.mark.parametrize("n", [400, 1000])
@pytest.mark.parametrize("lang", ["python", "js"])
def test_many_async_calls_complete(lang, n):
    code = {
        "python": "import asyncio, brig\nasync def main():\n"
                  "    rs = await asyncio.gather(*[brig.async_call('echo', i=i) "
                  "for i in range(%d)])\n"
                  "    print(sum(r['i'] for r in rs))\nasyncio.run(main())\n" % n,
        "js": "const rs = await Promise.all(Array.from({length: %d}, (_, i) => "
              "asyncCall('echo', {i})));\n"
              "console.log(rs.reduce((a, r) => a + r.i, 0));\n" % n,
    }[lang]
    res = run_ok(code, lang, "--timeout", "120s", "--host-fn", "echo=cat", timeout=180)
    assert res["stdout"] == "%d\n" % (n * (n - 1) // 2), describe(res)


@pytest.mark.parametrize("lang", ["python", "js"])
def test_unread_replies_over_the_budget_do_not_deadlock(lang):
    """More reply bytes in flight than the host's budget: the host stops
    reading calls until the guest reads, so the guest must read replies
    even while its own writes are blocked."""
    code = {
        "python": "import asyncio, brig\nbrig.kv.set('big', 'x' * 60000)\n"
                  "async def main():\n"
                  "    rs = await asyncio.gather(*[brig.kv.async_get('big') for _ in range(2000)])\n"
                  "    print(sum(len(r) for r in rs))\nasyncio.run(main())\n",
        "js": "kv.set('big', 'x'.repeat(60000));\n"
              "const rs = await Promise.all(Array.from({length: 2000}, () => kv.asyncGet('big')));\n"
              "console.log(rs.reduce((a, r) => a + r.length, 0));\n",
    }[lang]
    res = run_ok(code, lang, "--timeout", "60s", "--max-frame", "1m", "--memory", "1g",
                 timeout=120)
    assert res["stdout"] == "%d\n" % (2000 * 60000), describe(res)


def test_max_frame_flag():
    proc = brig("--max-frame", "lots", "-c", "pass")
    assert proc.returncode == 2 and "invalid --max-frame 'lots'" in proc.stderr, proc.stderr
    # Frames over the limit still end the run as a protocol violation.
    res, _ = run("import os, struct\nos.write(3, struct.pack('<I', 8193) + b'\\x04')",
                 "python", "--max-frame", "8k")
    assert res["error"] == "ERR_PROTOCOL", describe(res)

"""Protocol abuse: the guest owns fd 3 and may write anything to it.

Each attack must end in ERR_PROTOCOL (the host killed the guest) or in a clean
exit, and brig itself must survive: it returns normally with a JSON result and
the next run works.
"""
import json
import os
import socket
import subprocess
import threading
import time

import pytest

from helpers import BRIG_BIN, GUEST_PRELUDE, assert_host_survives, describe, parse_result, run

FRAMES = r'''
import os, struct, time
def u32(n):
    return struct.pack("<I", n)
def frame(ftype, body, length=None):
    return u32(len(body) + 1 if length is None else length) + bytes([ftype]) + body
def call_body(cid, text, blob=b"", jlen=None):
    return u32(cid) + u32(len(text) if jlen is None else jlen) + text + blob
def send(data):
    view = memoryview(data)
    while view:
        view = view[os.write(3, view):]
'''


def attack(code, *flags, timeout=60):
    proc = subprocess.run([BRIG_BIN, "--json", *flags, "-c", FRAMES + code],
                          capture_output=True, timeout=timeout)
    # brig itself was not killed by a signal and printed a whole result.
    assert proc.returncode >= 0, proc.returncode
    proc.stdout = proc.stdout.decode("utf-8", "replace")
    res = parse_result(proc)
    return res, proc.returncode


def assert_protocol_error(res, rc, words=""):
    assert res["error"] == "ERR_PROTOCOL", describe(res)
    assert res["ok"] is False and rc == 137
    assert "protocol violation" in res["message"]
    assert words in res["message"], res["message"]
    # The guest was stopped: whatever it meant to do after the attack never ran.
    assert "after" not in res["stdout"]
    assert_host_survives()


AFTER = "\ntime.sleep(5)\nprint('after')\n"


def test_garbage_on_fd3():
    res, rc = attack("send(b'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' * 10)" + AFTER)
    assert_protocol_error(res, rc, "frame length")


def test_random_bytes_on_fd3():
    res, rc = attack("send(os.urandom(4096))" + AFTER)
    assert_protocol_error(res, rc)


def test_oversized_length_prefix():
    res, rc = attack("send(u32(0xffffffff) + b'\\x02')" + AFTER)
    assert_protocol_error(res, rc, "4294967295")


def test_length_just_over_the_frame_limit():
    res, rc = attack("send(u32((32 << 20) + 1) + b'\\x02' + b'\\0' * 1024)" + AFTER)
    assert_protocol_error(res, rc, str((32 << 20) + 1))


def test_zero_length_frame():
    res, rc = attack("send(u32(0))" + AFTER)
    assert_protocol_error(res, rc, "frame length 0")


def test_truncated_frame_then_exit():
    res, rc = attack("send(u32(1000) + b'\\x02' + b'{' * 10)\nprint('bye')\n")
    if res["error"] is None:
        assert res["ok"] and res["exit_code"] == 0 and rc == 0
        assert res["stdout"] == "bye\n"
    else:
        assert res["error"] == "ERR_PROTOCOL", describe(res)
    assert_host_survives()


def test_truncated_frame_does_not_stall_the_host():
    # Half a frame, then the guest carries on and finishes its work.
    res, rc = attack("send(u32(100) + b'\\x02abc')\ntime.sleep(0.3)\nprint('finished')\n",
                     "--timeout", "20s")
    assert res["limit"] != "wall", describe(res)
    assert res["stdout"] == "finished\n"
    assert_host_survives()


def test_lone_length_bytes_then_exit():
    res, rc = attack("send(b'\\x05\\x00')\n")
    assert res["error"] in (None, "ERR_PROTOCOL"), describe(res)
    assert_host_survives()


@pytest.mark.parametrize("ftype", [0x00, 0x05, 0x10, 0x7f, 0x80, 0xff])
def test_unknown_frame_type(ftype):
    res, rc = attack("send(frame(%d, b'{}'))" % ftype + AFTER)
    assert_protocol_error(res, rc, "frame type")


@pytest.mark.parametrize("ftype,name", [(0x01, "RUN"), (0x03, "REPLY")])
def test_host_only_frame_types_from_the_guest(ftype, name):
    body = "u32(0) + b'code'" if name == "RUN" else "call_body(1, b'{\"ok\": 1}')"
    res, rc = attack("send(frame(%d, %s))" % (ftype, body) + AFTER)
    assert_protocol_error(res, rc, "frame type")


def test_call_with_malformed_json():
    res, rc = attack("send(frame(2, call_body(1, b'{\"fn\": \"kv.get\", \"args\": {')))" + AFTER)
    assert_protocol_error(res, rc, "JSON")


def test_call_with_invalid_utf8_json():
    res, rc = attack("send(frame(2, call_body(1, b'{\"fn\": \"\\xff\\xfe\", \"args\": {}}')))"
                     + AFTER)
    assert_protocol_error(res, rc)


def test_call_with_json_length_beyond_the_frame():
    res, rc = attack("send(frame(2, call_body(1, b'{}', jlen=5000)))" + AFTER)
    assert_protocol_error(res, rc, "JSON length")


def test_call_with_a_truncated_header():
    res, rc = attack("send(frame(2, b'\\x01\\x00'))" + AFTER)
    assert_protocol_error(res, rc)


def test_event_with_malformed_json():
    res, rc = attack("send(frame(4, b'{not json'))" + AFTER)
    assert_protocol_error(res, rc, "event")


WRONG_SHAPES = [b"[]", b"42", b"null", b'{"args": {}}', b'{"fn": 5, "args": {}}',
                b'{"fn": "kv.get", "args": []}', b'{"fn": "kv.get", "args": {"key": 7}}']


@pytest.mark.parametrize("text", WRONG_SHAPES, ids=[t.decode() for t in WRONG_SHAPES])
def test_call_with_well_formed_json_of_the_wrong_shape(text):
    # Either the host kills the guest, or it answers with an error REPLY.
    code = ("send(frame(2, call_body(9, %r)))\n"
            "hdr = os.read(3, 5)\n"
            "n = struct.unpack('<I', hdr[:4])[0]\n"
            "body = b''\n"
            "while len(body) < n - 1:\n"
            "    body += os.read(3, n - 1 - len(body))\n"
            "cid, jlen = struct.unpack('<II', body[:8])\n"
            "print(hdr[4], cid, body[8:8 + jlen].decode())\n" % text)
    res, rc = attack(code)
    if res["error"] == "ERR_PROTOCOL":
        assert rc == 137
    else:
        assert res["ok"] and res["exit_code"] == 0, describe(res)
        ftype, cid, reply = res["stdout"].split(" ", 2)
        assert (ftype, cid) == ("3", "9")
        assert "error" in json.loads(reply)
    assert_host_survives()


def test_unknown_host_function_is_an_error_reply():
    res, rc = run("try:\n    call('no_such_function', x=1)\nexcept RuntimeError as e:\n"
                  "    print('refused:', e)\n")
    assert res["ok"] and rc == 0, describe(res)
    assert res["stdout"] == "refused: unknown host function: no_such_function\n"


def test_shell_guest_writing_to_fd3():
    proc = subprocess.run([BRIG_BIN, "--json", "--lang", "sh", "-c",
                           "printf '\\377\\377\\377\\377junk' >&3; sleep 5; echo after"],
                          capture_output=True, text=True, timeout=60)
    res = parse_result(proc)
    assert_protocol_error(res, proc.returncode, "frame length")


def test_closing_fd3_early_is_harmless():
    res, rc = run("import os\nos.close(3)\nprint('still here')\n")
    assert res["ok"] and rc == 0, describe(res)
    assert res["stdout"] == "still here\n"


def test_frames_printed_on_stdout_are_just_output():
    # stdout is not the control channel: a forged frame there is plain bytes.
    forged = b"\x05\x00\x00\x00\x04{}{}"
    proc = subprocess.run([BRIG_BIN, "-c", "import sys\nsys.stdout.buffer.write(%r)\n"
                           "sys.stderr.buffer.write(b'\\xff\\xff\\xff\\xff\\x02')\n"
                           % forged], capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == forged
    assert proc.stderr == b"\xff\xff\xff\xff\x02"


def test_call_flood_is_bounded():
    code = ("one = frame(2, call_body(1, b'{\"fn\": \"nope\", \"args\": {}}'))\n"
            "for _ in range(200):\n"
            "    send(one * 500)\n"
            "print('after')\n")
    res, rc = attack(code, "--timeout", "20s")
    if res["error"] is None:
        assert res["ok"] and res["stdout"] == "after\n"
    else:
        assert res["error"] in ("ERR_LIMIT", "ERR_PROTOCOL"), describe(res)
        assert "in flight" in res["message"] or "protocol" in res["message"]
    assert_host_survives()


def test_many_large_frames_keep_the_host_alive():
    code = ("blob = b'\\0' * (16 << 20)\n"
            "t = b'{\"fn\": \"nope\", \"args\": {}}'\n"
            "for i in range(20):\n"
            "    send(u32(9 + len(t) + len(blob)) + b'\\x02' + call_body(i, t))\n"
            "    send(blob)\n"
            "print('sent')\n")
    res, rc = attack(code, "--timeout", "30s")
    assert res["error"] in (None, "ERR_LIMIT", "ERR_PROTOCOL"), describe(res)
    assert_host_survives()


def test_unread_replies_do_not_grow_the_host_without_bound():
    # Calls in flight are bounded; the answers a guest never reads must be too.
    code = FRAMES + r'''
kv.set("k", "x" * 60000)
t = b'{"fn": "kv.get", "args": {"key": "k"}}'
batch = frame(2, call_body(7, t)) * 50
for _ in range(50):
    send(batch)  # 2500 calls whose 60 KB answers the guest never reads
    time.sleep(0.03)
print("sent")
'''
    proc = subprocess.Popen([BRIG_BIN, "--json", "--timeout", "10s", "-c", code],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    # brig's own peak (VmHWM), read until it exits: wait4's ru_maxrss would
    # also count its descendants (the jail, a zygote), which are not the host.
    peak_kb = 0
    reader = threading.Thread(target=lambda: setattr(proc, "out", proc.stdout.read()))
    reader.start()
    while proc.poll() is None:
        peak_kb = max(peak_kb, vm_hwm_kb(proc.pid))
        time.sleep(0.02)
    reader.join()
    res = json.loads(proc.out)
    assert res["error"] in (None, "ERR_LIMIT", "ERR_PROTOCOL", "ERR_CANCELLED"), describe(res)
    # 2500 x 60 KB = 150 MB of answers; the host must not hold them all.
    assert 0 < peak_kb < 100 * 1024, "brig peaked at %d MB" % (peak_kb // 1024)


def vm_hwm_kb(pid):
    """A live process's peak resident set in KiB; 0 once it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


# ------------------------------------------------ capabilities through the channel

@pytest.fixture
def tcp_port_listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    yield s, s.getsockname()[1]
    s.close()


def test_host_calls_without_capabilities_are_refused(tcp_port_listener):
    sock, port = tcp_port_listener
    res, rc = run(GUEST_PRELUDE + r'''
print(json.dumps([outcome(lambda: fs.read_bytes("/etc/shadow")),
                  outcome(lambda: fs.listdir("/")),
                  outcome(lambda: fs.write_text("/tmp/x", "x")),
                  outcome(lambda: http.get("http://127.0.0.1:%d/")),
                  outcome(lambda: http.get("http://example.com/"))]))
''' % port)
    assert res["ok"] and rc == 0, describe(res)
    out = json.loads(res["stdout"])
    assert [kind for kind, _ in out] == ["PermissionError"] * 5, out
    assert "not mounted" in out[0][1] and "not allowed" in out[3][1]
    sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        sock.accept()


def test_kv_state_does_not_leak_between_runs():
    secret = os.urandom(8).hex()
    res, rc = run("kv.set('leak', %r)\nprint(kv.keys())\n" % secret)
    assert res["stdout"] == "['leak']\n", describe(res)
    res, rc = run("print(kv.keys(), kv.get('leak'))\n")
    assert res["ok"] and rc == 0, describe(res)
    assert res["stdout"] == "[] None\n"

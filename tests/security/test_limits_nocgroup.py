"""Every way a guest can pin host memory or burn CPU is bounded, with or without a cgroup.

As root brig has a memory cgroup and the kernel enforces the limits.  As an
unprivileged user on a host that delegates none (tests/run-unprivileged.sh
here), brig measures the sandbox itself: these tests attack both ways and
assert the same outcome, plus host-side measurements with generous margins
(other processes share the machine).
"""
import json
import subprocess
import time

import pytest

from helpers import BRIG_BIN, brig, describe, guest_json, run

MiB = 1 << 20


def meminfo():
    with open("/proc/meminfo") as f:
        return {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f}


def run_watching(code, *flags, lang="python", fields=("Shmem", "SUnreclaim"), timeout=60):
    """Run code while sampling /proc/meminfo; returns (result, exit status, peak growth)."""
    before = meminfo()
    peak = dict.fromkeys(fields, 0)
    proc = subprocess.Popen([BRIG_BIN, "--json", "--lang", lang, *flags, "-c", code],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    end = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < end:
        now = meminfo()
        for f in fields:
            peak[f] = max(peak[f], now[f] - before[f])
        time.sleep(0.005)
    out, err = proc.communicate(timeout=10)
    lines = out.decode().strip().splitlines()
    assert lines, "brig printed nothing (rc=%s): %r" % (proc.returncode, err)
    return json.loads(lines[-1]), proc.returncode, peak


def memory_cgroup(cgroups):
    return "memory" in cgroups


# ------------------------------------------------------------- memory no process owns

MEMFD_FLOOD = r'''
import errno, json, os, time
held, failure = 0, None
fds = []
try:
    for i in range(32):
        fd = os.memfd_create("hog%d" % i)
        os.ftruncate(fd, 16 << 20)
        os.pwrite(fd, b"m" * (16 << 20), 0)
        os.lseek(fd, 0, 0)
        fds.append(fd)
        held += 16 << 20
except OSError as e:
    failure = errno.errorcode[e.errno]
print(json.dumps([held, failure]), flush=True)
time.sleep(0.5)
'''


def test_memfd_flood_is_refused_or_charged(cgroups):
    # 32 memfds of 16 MiB: 512 MiB that belong to no process.
    res, rc, peak = run_watching(MEMFD_FLOOD, "--memory", "64m")
    if memory_cgroup(cgroups):
        # The memory cgroup charges memfd pages: the OOM killer ends it.
        assert rc == 137 and res["limit"] == "memory", describe(res)
    else:
        assert res["ok"] and res["exit_code"] == 0, describe(res)
        assert json.loads(res["stdout"]) == [0, "EPERM"]
    assert peak["Shmem"] < 200 * MiB, peak


SYSV = r'''
import ctypes, errno, json
libc = ctypes.CDLL(None, use_errno=True)
IPC_PRIVATE, IPC_CREAT = 0, 0o1000
out = {}
for name, args in (("shmget", (IPC_PRIVATE, 64 << 20, IPC_CREAT | 0o600)),
                   ("semget", (IPC_PRIVATE, 32000, IPC_CREAT | 0o600)),
                   ("msgget", (IPC_PRIVATE, IPC_CREAT | 0o600))):
    ctypes.set_errno(0)
    r = getattr(libc, name)(*args)
    out[name] = errno.errorcode.get(ctypes.get_errno()) if r < 0 else "ok"
print(json.dumps(out))
'''


def test_system_v_ipc_is_refused_without_a_memory_cgroup(cgroups):
    # Segments, semaphore arrays and queues outlive every process of the
    # jail, and the namespace's own limits (shmall, semmns...) are huge.
    got = guest_json(SYSV, "--memory", "64m")
    want = "ok" if memory_cgroup(cgroups) else "EPERM"
    assert got == {"shmget": want, "semget": want, "msgget": want}


# ------------------------------------------------------------------------ tmpfs inodes

INODE_FLOOD = r'''
import errno, json, os
d, made, failure = DIR, 0, None
try:
    for i in range(LIMIT):
        os.close(os.open("%s/f%d" % (d, i), os.O_CREAT | os.O_WRONLY, 0o600))
        made += 1
except OSError as e:
    failure = errno.errorcode[e.errno]
print(json.dumps([made, failure]))
'''


@pytest.mark.parametrize("directory", ["/tmp", "/home/user", "/dev/shm"])
def test_empty_files_are_bounded_by_tmp_inodes(directory):
    code = INODE_FLOOD.replace("DIR", repr(directory)).replace("LIMIT", "20000")
    res, rc, peak = run_watching(code, "--tmp-inodes", "2000")
    assert res["ok"] and res["exit_code"] == 0, describe(res)
    made, failure = json.loads(res["stdout"])
    assert failure == "ENOSPC"
    assert 1900 <= made <= 2000
    assert peak["SUnreclaim"] < 100 * MiB, peak


def test_empty_files_have_a_default_bound():
    # Three million empty files once pinned 2.5 GB of unreclaimable slab.
    code = INODE_FLOOD.replace("DIR", repr("/tmp")).replace("LIMIT", "60000")
    res, rc, peak = run_watching(code)
    made, failure = json.loads(res["stdout"])
    assert failure == "ENOSPC" and made <= 16384, (made, failure)
    assert peak["SUnreclaim"] < 100 * MiB, peak


def test_tmp_inodes_option_is_checked():
    proc = brig("--tmp-inodes", "lots", "-c", "pass")
    assert proc.returncode == 2 and "--tmp-inodes" in proc.stderr
    res, rc = run("pass", "python", "--tmp-inodes", "3")
    assert res["error"] == "ERR_INVALID_ARG" and "tmp inodes" in res["message"]


# ------------------------------------------------------- anonymous memory, many processes

SPREAD = r'''
import os, select, signal, sys, time
r, w = os.pipe()
kids = []
for i in range(20):
    pid = os.fork()
    if pid == 0:
        os.close(r)
        hog = bytearray(30 << 20)
        hog[::4096] = b"x" * len(hog[::4096])
        os.write(w, b"r")
        time.sleep(30)
        os._exit(0)
    kids.append(pid)
    # A child the OOM killer took never answers.
    if select.select([r], [], [], 3)[0]:
        os.read(r, 1)
        print("ready", i + 1, flush=True)
for pid in kids:
    os.kill(pid, signal.SIGTERM)
killed = sum(os.WIFSIGNALED(st) and os.WTERMSIG(st) == signal.SIGKILL
             for st in (os.waitpid(pid, 0)[1] for pid in kids))
print("oom-killed", killed, flush=True)
sys.exit(3 if killed else 0)
'''


def test_memory_spread_over_many_processes_is_bounded_in_total(cgroups):
    # 20 processes x 30 MiB, each under its own RLIMIT_AS of 64m: the
    # sandbox's total is what --memory bounds.
    res, rc = run(SPREAD, "python", "--memory", "64m", "--pids", "64", "--timeout", "30s")
    assert rc == 137 and res["error"] == "ERR_LIMIT" and res["limit"] == "memory", describe(res)
    if memory_cgroup(cgroups):
        # The cgroup's OOM killer made room by killing children (or, rarely,
        # the parent, which then reports nothing).
        assert "oom-killed" in res["stdout"] or res["signal"] == 9, describe(res)
    else:
        # brig killed the sandbox: 64 MiB holds two such children, and
        # sampling lets at most a few more through.
        assert res["stdout"].count("ready") <= 8, res["stdout"]
        assert "oom-killed" not in res["stdout"]


SHARED = r'''
import os, time
big = bytearray(24 << 20)
big[::4096] = b"x" * len(big[::4096])
kids = []
for i in range(6):
    pid = os.fork()
    if pid == 0:
        time.sleep(0.5)  # sharing the parent's 24 MiB, copy-on-write
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)
print("ok")
'''


def test_pages_forked_processes_share_are_counted_once():
    # Seven processes each map the same 24 MiB: resident 170 MiB, but the
    # sandbox pins about 35 MiB, under --memory.
    res, rc = run(SHARED, "python", "--memory", "64m")
    assert rc == 0 and res["stdout"] == "ok\n", describe(res)


def test_javascript_starts_under_a_small_memory_limit():
    # node hangs at start-up when its data segment is capped below ~48 MiB.
    res, rc = run("console.log(6 * 7)", "js", "--memory", "32m", "--timeout", "15s")
    assert rc == 0 and res["ok"] and res["stdout"] == "42\n", describe(res)


# -------------------------------------------------------------------- socket buffers

SOCKET_FLOOD = r'''
import socket
held, socks = 0, []
for i in range(120):
    a, b = socket.socketpair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    a.setblocking(False)
    try:
        while True:
            held += a.send(b"s" * 65536)
    except BlockingIOError:
        pass
    socks.append((a, b))
    if held > (512 << 20):
        break
print("held", held >> 20, "MiB", flush=True)
'''


def test_socket_buffers_count_against_the_memory_limit():
    res, rc = run(SOCKET_FLOOD, "python", "--memory", "64m", "--timeout", "30s")
    assert rc == 137 and res["limit"] == "memory", describe(res)
    assert "held" not in res["stdout"]


# ---------------------------------------------------------------------------- pipes

PIPE_FLOOD = r'''
import errno, fcntl, json, os
F_SETPIPE_SZ = 1031
pipes, held, failure = [], 0, None
try:
    while True:
        r, w = os.pipe()
        pipes.append((r, w))
        try:
            fcntl.fcntl(w, F_SETPIPE_SZ, 1 << 20)
        except OSError:
            pass  # past this user's pipe budget: pipes stay small
        os.set_blocking(w, False)
        try:
            while True:
                held += os.write(w, b"p" * 65536)
        except BlockingIOError:
            pass
except OSError as e:
    failure = errno.errorcode[e.errno]
print(json.dumps([len(pipes), held, failure]))
'''


def test_pipes_are_bounded_by_open_files():
    got = guest_json(PIPE_FLOOD, "--max-open-files", "64")
    count, held, failure = got
    assert failure == "EMFILE"
    # 64 fds: stdio, the protocol socket and the agent's few, then pipe pairs.
    assert 20 <= count <= 30
    # At most 1 MiB each (pipe-max-size), the kernel's per-user budget aside.
    assert held <= count * MiB


def test_open_files_default_and_option():
    code = "import resource\nprint(list(resource.getrlimit(resource.RLIMIT_NOFILE)))"
    assert guest_json(code) == [256, 256]
    assert guest_json(code, "--max-open-files", "1000") == [1000, 1000]
    res, rc = run("pass", "python", "--max-open-files", "8")
    assert res["error"] == "ERR_INVALID_ARG" and "open files" in res["message"]


def test_queued_signals_and_message_queues_are_bounded_per_sandbox():
    code = ("import resource as r, json\nprint(json.dumps([r.getrlimit(r.RLIMIT_SIGPENDING),"
            " r.getrlimit(r.RLIMIT_MSGQUEUE)]))")
    assert guest_json(code) == [[1024, 1024], [819200, 819200]]


# ------------------------------------------------------------------------------- CPU

# Burners count CPU time, not wall time: the machine may be busy.
BURN = "def burn(s):\n    import time\n    while time.process_time() < s:\n        pass\n"

THREAD_FORKS = BURN + r'''
import os, threading, time
def spawn():
    for _ in range(3):
        if os.fork() == 0:
            burn(1.0)
            os._exit(0)
    time.sleep(30)  # the forking thread lives on: its children are not the main thread's
threads = [threading.Thread(target=spawn) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
'''

ZOMBIES = BURN + r'''
import os, threading, time
def spawn():
    for _ in range(6):
        if os.fork() == 0:
            burn(0.4)
            os._exit(0)
        time.sleep(0.5)  # never waited for: each ends a zombie of this thread
    time.sleep(30)
threading.Thread(target=spawn).start()
time.sleep(30)
'''

ORPHANS = BURN + r'''
import os, time
for _ in range(6):
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:
            burn(0.4)  # reparented to the jail's init, which reaps it
            os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)
    time.sleep(0.5)
time.sleep(30)
'''

RELEASED = BURN + r'''
import os, signal, time
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children vanish unwaited
for _ in range(8):
    pid = os.fork()
    if pid == 0:
        burn(0.3)
        os._exit(0)
    while True:
        try:
            os.kill(pid, 0)
            time.sleep(0.01)
        except ProcessLookupError:
            break
time.sleep(30)
'''


@pytest.mark.parametrize("attack", [THREAD_FORKS, ZOMBIES, ORPHANS, RELEASED],
                         ids=["children-of-threads", "zombies", "double-fork-orphans",
                              "released-unwaited"])
def test_cpu_timeout_counts_every_process(attack):
    res, rc = run(attack, "python", "--cpu-timeout", "1s", "--timeout", "50s", timeout=80)
    assert rc == 124 and res["error"] == "ERR_CANCELLED" and res["limit"] == "cpu", describe(res)
    assert 1000 <= res["cpu_ms"] < 2500, res["cpu_ms"]
    # Killed once the budget is spent, not when the attack's processes end
    # (after 30 s of sleep); generous for a busy machine.
    assert res["wall_ms"] < 20000, res["wall_ms"]


# ---------------------------------------------------------------------------- doctor


def test_doctor_says_what_enforces_each_limit(cgroups):
    out = brig("doctor").stdout
    assert "limits (defaults:" in out
    if memory_cgroup(cgroups):
        assert "kernel-enforced by the memory cgroup" in out
    else:
        # Never a silent claim: the sampling, its overshoot and the refusals.
        assert "measured by brig every 20 ms" in out
        assert "overshoot" in out and "memfd_create" in out
        assert "systemd-run --user --scope -p Delegate=yes" in out
        assert "sock_diag" in out

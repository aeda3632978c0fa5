"""Seeing and signalling processes, and gaining privilege through setuid."""
import json
import os
import subprocess
import sys
import time

import pytest

from helpers import (GUEST_HOST_GID, GUEST_HOST_UID, GUEST_PRELUDE, GUEST_SHELL, IS_ROOT,
                     BRIG_BIN, brig, describe, guest_json, host_pids_with, parse_result, run,
                     run_ok, token, wait_for)

LIST_PROCS = r'''
import json, os
procs = {}
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            procs[p] = open("/proc/%s/cmdline" % p, "rb").read().decode(errors="replace")
        except OSError:
            procs[p] = None
'''


@pytest.fixture
def host_process():
    """A host process carrying a unique marker, running as the uid guests map to."""
    mark = token()
    kw = {"user": GUEST_HOST_UID, "group": GUEST_HOST_GID, "extra_groups": []} if IS_ROOT else {}
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", mark],
                            stdin=subprocess.DEVNULL, **kw)
    assert wait_for(lambda: host_pids_with(mark)), "helper did not start"
    yield proc, mark
    proc.kill()
    proc.wait()


# -------------------------------------------------------------- seeing processes


def test_guest_sees_only_its_own_processes(host_process):
    proc, mark = host_process
    out = guest_json(LIST_PROCS + "print(json.dumps([os.getpid(), procs]))")
    own, procs = out
    pids = sorted(int(p) for p in procs)
    # A fresh pid namespace: init (1), the interpreter, nothing else.
    assert len(pids) <= 3, procs
    assert max(pids) < 50 and own in pids and 1 in pids
    assert not any(cmd and mark in cmd for cmd in procs.values())
    if proc.pid > 50 and os.getpid() > 50:
        assert str(proc.pid) not in procs and str(os.getpid()) not in procs


def test_ps_lists_a_handful_of_processes():
    res = run_ok("ps -e -o pid= -o comm=", "sh")
    rows = [line.split() for line in res["stdout"].splitlines()]
    assert 2 <= len(rows) <= 4, rows
    assert all(int(pid) < 50 for pid, _ in rows)
    assert "ps" in [comm for _, comm in rows]


def test_host_pids_cannot_be_signalled(host_process):
    proc, _ = host_process
    if min(proc.pid, os.getpid()) <= 64:
        pytest.skip("host pids this small could collide with pids inside the jail")
    # The helper gets SIGKILL; this test process only harmless signals.
    out = guest_json(GUEST_PRELUDE + r'''
import signal
r = [attempt(os.kill, HELPER, sig) for sig in (0, signal.SIGCONT, signal.SIGKILL)]
r += [attempt(os.pidfd_open, HELPER)]
r += [attempt(os.kill, SELF, sig) for sig in (0, signal.SIGCONT)]
r += [attempt(os.killpg, SELF, 0)]
print(json.dumps(r))
'''.replace("HELPER", str(proc.pid)).replace("SELF", str(os.getpid())))
    assert out == ["ESRCH"] * 7
    assert proc.poll() is None


def test_kill_everything_reaches_only_the_jail(host_process):
    proc, _ = host_process
    res, _ = run(r'''
import os, signal, time
child = os.fork()
if child == 0:
    time.sleep(30)
    os._exit(0)
os.kill(-1, signal.SIGKILL)
_, st = os.waitpid(child, 0)
print("child", os.WTERMSIG(st) if os.WIFSIGNALED(st) else "survived")
''')
    assert res["ok"] and res["exit_code"] == 0, describe(res)
    assert res["stdout"] == "child 9\n"
    # The helper runs as the very host uid the guest maps to, yet survives.
    time.sleep(0.1)
    assert proc.poll() is None


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM", "SIGSTOP", "SIGINT", "SIGHUP",
                                 "SIGSEGV"])
def test_signalling_init_has_no_effect(sig):
    out = guest_json(GUEST_PRELUDE + r'''
import signal, time
try:
    os.kill(1, signal.SIG)
    sent = "sent"
except OSError as e:
    sent = errname(e)
time.sleep(0.1)
state = [l for l in open("/proc/1/status") if l.startswith("State:")][0].split()[1]
print(json.dumps([sent, state]))
'''.replace("SIG", sig))
    sent, state = out
    assert sent in ("sent", "EPERM")
    # Still sleeping in wait(): not stopped (T), not a zombie (Z), not gone.
    assert state in ("S", "R"), out


def test_guest_processes_never_run_as_host_root():
    mark = token()
    proc = subprocess.Popen([BRIG_BIN, "--lang", "sh", "--timeout", "20s", "-c",
                             "sleep 10; : " + mark],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        shells = wait_for(lambda: host_pids_with(mark, GUEST_SHELL))
        assert shells, "the guest shell never appeared"
        # The guest shell, and the jail's init (its parent) once the guest runs.
        with open("/proc/%d/status" % shells[0]) as f:
            init = int(dict(line.split(":", 1) for line in f if ":" in line)["PPid"])
        for pid in (shells[0], init):
            with open("/proc/%d/status" % pid) as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
            uids = status["Uid"].split()
            gids = status["Gid"].split()
            assert uids == [str(GUEST_HOST_UID)] * 4, (pid, uids)
            assert gids == [str(GUEST_HOST_GID)] * 4, (pid, gids)
            assert "0" not in status["Groups"].split()
    finally:
        proc.kill()
        proc.wait()
        # Killing brig must take the jail with it (see test_resources); in case
        # it did not, end what this test started rather than leave it running.
        for pid in host_pids_with(mark):
            try:
                os.kill(pid, 9)
            except OSError:
                pass


# --------------------------------------------------------------------- setuid

SETUID_BLOCKED = r'''
import errno, fcntl, json, os, subprocess, time
# A pipe that is already full: the setuid program's first write blocks, so its
# credentials can be read from /proc while it is alive.
r, w = os.pipe()
fcntl.fcntl(w, fcntl.F_SETFL, os.O_NONBLOCK)
try:
    while True:
        os.write(w, b"x" * 4096)
except BlockingIOError:
    pass
fcntl.fcntl(w, fcntl.F_SETFL, 0)
p = subprocess.Popen(ARGV, stdout=w, stderr=w, stdin=subprocess.DEVNULL)
name = os.path.basename(ARGV[0])[:15]
comm = ""
for _ in range(500):
    try:
        comm = open("/proc/%d/comm" % p.pid).read().strip()
    except OSError:
        pass
    if comm == name:
        break
    time.sleep(0.01)
status = dict(l.split(":", 1) for l in open("/proc/%d/status" % p.pid) if ":" in l)
alive = p.poll() is None
p.kill(); p.wait()
st = os.stat(ARGV[0])
print(json.dumps([comm, status["Uid"].split(), status["Gid"].split(), alive,
                  bool(st.st_mode & 0o4000)]))
'''


def _setuid_binary():
    for path in ("/usr/bin/passwd", "/usr/bin/chfn", "/usr/bin/su", "/usr/bin/mount",
                 "/usr/bin/newgrp"):
        try:
            if os.stat(path).st_mode & 0o4000:
                return path
        except OSError:
            pass
    return None


def test_setuid_binary_gains_nothing():
    path = _setuid_binary()
    if not path:
        pytest.skip("no setuid-root binary on this host")
    out = guest_json(SETUID_BLOCKED.replace("ARGV", repr([path, "--help"])))
    comm, uids, gids, alive, has_bit = out
    assert has_bit is True, "the probe needs a binary with the setuid bit"
    assert comm == os.path.basename(path)[:15] and alive, out
    assert uids == ["1000"] * 4, out
    assert gids == ["1000"] * 4, out


def test_su_and_sudo_fail():
    res, _ = run("su -c 'id -u' root </dev/null 2>&1; echo su=$?; "
                 "sudo -n id -u 2>&1; echo sudo=$?; "
                 "su - user -c 'id -u' </dev/null 2>&1; echo su_user=$?", "sh")
    assert res["ok"], describe(res)
    out = res["stdout"]
    assert "su=0" not in out and "sudo=0" not in out
    assert "\n0\n" not in "\n" + out
    assert "su=1" in out
    assert "sudo=1" in out or "sudo=127" in out


def test_setuid_mount_command_refuses():
    res, _ = run("mount -t tmpfs none /tmp 2>&1; echo rc=$?; "
                 "mount --bind /tmp /usr 2>&1; echo rc=$?", "sh")
    assert res["ok"], describe(res)
    assert "rc=0" not in res["stdout"]
    # util-linux sees a real uid that is not root: the setuid bit gave nothing.
    assert res["stdout"].count("must be superuser") == 2, res["stdout"]


def test_no_new_privs_survives_exec():
    res = run_ok("grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status | sort -r; "
                 "sh -c \"grep CapEff /proc/self/status\"", "sh")
    lines = [line.split() for line in res["stdout"].splitlines()]
    assert lines == [["Seccomp:", "2"], ["NoNewPrivs:", "1"], ["CapEff:", "0000000000000000"]]


# ------------------------------------------------------------- host information


def test_host_command_line_is_not_visible():
    # The jail's init starts as a clone of brig: its /proc/1/cmdline would show
    # brig's host arguments, such as --host-fn commands that carry credentials.
    secret = token()
    # The code never mentions the secret: the guest dumps every command line
    # it can read, and the test looks for the secret in that dump.
    proc = brig("--json", "--host-fn", "probe=echo %s >/dev/null; cat" % secret, "-c",
                LIST_PROCS + "print(json.dumps(procs))")
    res = parse_result(proc)
    assert res["ok"] and res["exit_code"] == 0, describe(res)
    procs = json.loads(res["stdout"])
    assert len(procs) >= 2
    leaked = {pid: cmd for pid, cmd in procs.items() if cmd and secret in cmd}
    assert leaked == {}


def test_guest_cannot_see_host_pid_of_init():
    out = guest_json(r'''
import json
st = dict(l.split(":\t", 1) for l in open("/proc/1/status") if ":\t" in l)
print(json.dumps([st["NSpid"].split(), st["PPid"].strip(), st["Tgid"].strip()]))
''')
    nspid, ppid, tgid = out
    # Only the namespace-local pid shows; the host pid of the jail stays hidden.
    assert nspid == ["1"] and ppid == "0" and tgid == "1"


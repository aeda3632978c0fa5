"""Sessions between calls: an idle session runs nothing of the guest's.

Driven through `brig repl` on a pipe, the way the review found it: a cell
leaves CPU burners behind (one of them a chain that forks its successor and
exits), and the session sits idle.  The burners name themselves, so the host
can find them and read their state and CPU time.
"""
import os
import subprocess
import time

from helpers import BRIG_BIN, wait_for

BURNERS = r'''
import os, time
def _named(fn):
    r, w = os.pipe()
    if os.fork() == 0:
        try:
            with open("/proc/self/comm", "w") as f:
                f.write(TAG)
            os.write(w, b".")
            fn()
        finally:
            os._exit(0)
    os.read(r, 1)
    os.close(r)
    os.close(w)
def _burn():
    while True:
        pass
def _hop():
    while True:
        end = time.monotonic() + 0.005
        while time.monotonic() < end:
            pass
        if os.fork():
            os._exit(0)
for fn in (_burn, _burn, _hop):
    _named(fn)
'''


def tagged(tag):
    """(live processes named tag, how many are stopped, their CPU clock ticks)."""
    alive = stopped = ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        if name != tag or fields[0] in "ZX":
            continue
        alive += 1
        stopped += fields[0] == "T"
        ticks += int(fields[11]) + int(fields[12])
    return alive, stopped, ticks


def read_line(proc, want):
    line = proc.stdout.readline().decode()
    assert line == want + "\n", (line, proc.stderr.read1(4096) if line == "" else "")


def test_repl_burners_do_not_run_while_the_session_is_idle():
    tag = "brq%d" % (os.getpid() % 100000)
    proc = subprocess.Popen([BRIG_BIN, "repl"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        code = "TAG = %r\n%s" % (tag, BURNERS)
        proc.stdin.write(b"exec(%r)\nprint('started')\n" % code.encode())
        proc.stdin.flush()
        read_line(proc, "started")
        # Within a generous bound after the call, every burner is stopped...
        seen = wait_for(lambda: (lambda a, s, _: a >= 3 and a == s)(*tagged(tag)), timeout=10)
        assert seen, "burners still running between calls: %r" % (tagged(tag),)
        before = tagged(tag)
        time.sleep(1)
        # ...and stays so, using no CPU at all while the session is idle.
        assert tagged(tag) == before
        # The next cell runs normally, and the burners with it.
        proc.stdin.write(b"import time; time.sleep(0.3); print('alive')\n")
        proc.stdin.flush()
        read_line(proc, "alive")
        assert tagged(tag)[2] > before[2]
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        proc.wait()
    # The session's end takes them all.
    assert wait_for(lambda: tagged(tag)[0] == 0, timeout=10)

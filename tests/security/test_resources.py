"""Resource exhaustion: every resource has a bound, and nothing outlives a run."""
import glob
import json
import os
import signal
import subprocess
import tempfile

import pytest

from helpers import (BRIG_BIN, GUEST_PRELUDE, GUEST_SHELL, describe, guest_json,
                     host_pids_with, run, run_ok, token, wait_for)

CGROUP_V1_CONTROLLERS = ("memory", "pids", "cpuacct")


# ------------------------------------------------------------------ fork bombs

PY_FORK_BOMB = GUEST_PRELUDE + r'''
import time
kids, failure = [], None
while len(kids) < 1000:
    try:
        pid = os.fork()
    except OSError as e:
        failure = errname(e)
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    kids.append(pid)
print(json.dumps([len(kids), failure]))
'''


def test_fork_bomb_is_contained_by_pids():
    count, failure = guest_json(PY_FORK_BOMB, "--pids", "16")
    assert failure == "EAGAIN"
    assert count < 16


def test_recursive_shell_fork_bomb_is_contained_and_leaves_nothing():
    mark = token()
    limit = 24
    # A file, not a pipe: brig must never block on output nobody reads yet.
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(
            [BRIG_BIN, "--json", "--lang", "sh", "--pids", str(limit), "--timeout", "3s",
             "-c", "bomb() { bomb | bomb & }; bomb; sleep 10; : " + mark],
            stdout=out, stderr=subprocess.DEVNULL)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, len(host_pids_with(mark, GUEST_SHELL)))
        out.seek(0)
        res = json.loads(out.read())
    assert res["ok"] is False and res["error"] in ("ERR_CANCELLED", "ERR_LIMIT"), describe(res)
    assert peak <= limit
    # The bomb ran into the limit: the host saw it spread, or (when this
    # loaded machine sampled too slowly) the shell said it could not fork.
    assert peak >= 2 or "Cannot fork" in res["stderr"], describe(res)
    assert wait_for(lambda: not host_pids_with(mark), timeout=5)


def test_endless_forking_ends_at_the_wall_timeout():
    res, rc = run("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n"
                  "        pass\n", "python", "--pids", "10", "--timeout", "1s")
    assert rc == 124 and res["limit"] == "wall"
    assert res["error"] == "ERR_CANCELLED"


# ---------------------------------------------------------------------- memory

MEMORY_BOMB = r'''
hog = []
while True:
    chunk = bytearray(4 << 20)
    chunk[::4096] = b"x" * len(chunk[::4096])
    hog.append(chunk)
'''


def test_memory_bomb_hits_the_memory_limit():
    res, rc = run(MEMORY_BOMB, "python", "--memory", "64m")
    assert rc == 137
    assert res["error"] == "ERR_LIMIT" and res["limit"] == "memory", describe(res)
    assert "memory" in res["message"]


def test_memory_bomb_in_a_forked_child_hits_the_memory_limit():
    code = "import os\nif os.fork() == 0:\n" + "\n".join(
        "    " + line for line in MEMORY_BOMB.strip().splitlines()) + \
        "\nelse:\n    os.wait()\n    raise SystemExit(3)\n"
    res, rc = run(code, "python", "--memory", "64m")
    assert rc == 137, describe(res)
    assert res["error"] == "ERR_LIMIT" and res["limit"] == "memory"


def test_numpy_memory_bomb_hits_the_memory_limit():
    res, rc = run("import numpy as np\na = np.ones(200 * 1024 * 1024 // 8)\nprint(a.sum())",
                  "python", "--memory", "64m")
    if "No module named 'numpy'" in res["stderr"]:
        pytest.skip("numpy is not installed")
    assert rc == 137 and res["limit"] == "memory", describe(res)
    assert res["stdout"] == ""


# ------------------------------------------------------------------------ disk

FILL_DIR = GUEST_PRELUDE + r'''
d = DIR
written, failure = 0, None
try:
    for i in range(1000):
        with open("%s/fill-%d" % (d, i), "wb") as f:
            f.write(b"z" * (256 << 10))
        written += 256 << 10
except OSError as e:
    failure = errname(e)
print(json.dumps([written, failure]))
'''


@pytest.mark.parametrize("directory", ["/tmp", "/home/user", "/dev/shm"])
def test_filling_a_tmpfs_stops_at_tmp_size(directory):
    written, failure = guest_json(FILL_DIR.replace("DIR", repr(directory)), "--tmp-size", "1m")
    assert failure == "ENOSPC"
    assert written <= 1 << 20


def test_one_large_file_is_refused():
    res, rc = run("open('/tmp/big', 'wb').write(b'a' * (4 << 20))", "python", "--tmp-size", "1m")
    assert rc == 137
    assert res["limit"] == "disk" and res["error"] == "ERR_LIMIT", describe(res)
    # A full disk, as for many files: RLIMIT_FSIZE sits past the tmpfs's end.
    assert "No space left" in res["stderr"], describe(res)


SPREAD = GUEST_PRELUDE + r'''
import os
total, failure = 0, None
try:
    for i in range(100):
        for d in ("/tmp", "/home/user", "/dev/shm"):
            with open("%s/part-%d" % (d, i), "wb") as f:
                f.write(b"z" * (128 << 10))
            total += 128 << 10
except OSError as e:
    failure = errname(e)
print(json.dumps([total, failure]))
'''


def test_tmp_size_bounds_all_scratch_directories_together():
    written, failure = guest_json(SPREAD, "--tmp-size", "2m")
    assert failure == "ENOSPC"
    # One limit for all three: each alone would have taken 2 MiB.
    assert 1 << 20 < written <= 2 << 20


def test_disk_fill_does_not_touch_the_host():
    name = token()
    written, failure = guest_json(FILL_DIR.replace("DIR", repr("/tmp/" + name)).replace(
        "d = ", "os.makedirs(%r)\nd = " % ("/tmp/" + name)), "--tmp-size", "2m")
    assert failure == "ENOSPC" and written > 0
    # The guest's files went to its own tmpfs, never to the host's /tmp.
    assert not os.path.exists("/tmp/" + name)


# ---------------------------------------------------------------------- output


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_endless_output_is_truncated(stream):
    redirect = "" if stream == "stdout" else " >&2"
    res, rc = run("yes" + redirect, "sh", "--max-output", "1000")
    assert rc == 137
    assert res["error"] == "ERR_LIMIT" and res["limit"] == "output"
    assert res[stream + "_truncated"] is True
    assert len(res[stream]) == 1000
    assert res[stream] == "y\n" * 500
    other = "stderr" if stream == "stdout" else "stdout"
    assert res[other + "_truncated"] is False and res[other] == ""


def test_endless_python_output_without_newlines_is_truncated():
    res, rc = run("import sys\nwhile True:\n    sys.stdout.write('z' * 65536)\n", "python",
                  "--max-output", "100k")
    assert rc == 137 and res["limit"] == "output"
    assert res["stdout"] == "z" * (100 << 10)
    assert res["stdout_truncated"] is True


def test_default_output_limit_is_one_mebibyte():
    res, rc = run("yes abcdefg", "sh")
    assert rc == 137 and res["limit"] == "output"
    assert len(res["stdout"]) == 1 << 20


def test_output_limit_in_plain_mode_stops_the_stream():
    proc = subprocess.run([BRIG_BIN, "--lang", "sh", "--max-output", "4k", "-c", "yes"],
                          capture_output=True, timeout=60)
    assert proc.returncode == 137
    assert len(proc.stdout) == 4096
    assert b"ERR_LIMIT" in proc.stderr


# ------------------------------------------------------------------------ time


def test_sleep_forever_is_killed_by_the_wall_timeout():
    res, rc = run("sleep 1000", "sh", "--timeout", "300ms")
    assert rc == 124
    assert res["error"] == "ERR_CANCELLED" and res["limit"] == "wall"
    assert res["signal"] == 9


def test_guest_ignoring_sigterm_is_still_killed():
    res, rc = run("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                  "signal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(1000)\n",
                  "python", "--timeout", "300ms")
    assert rc == 124 and res["limit"] == "wall"


def test_busy_loop_is_killed_by_the_cpu_timeout():
    res, rc = run("while True:\n    pass\n", "python", "--cpu-timeout", "300ms",
                  "--timeout", "30s")
    assert rc == 124
    assert res["error"] == "ERR_CANCELLED" and res["limit"] == "cpu", describe(res)


def test_cpu_timeout_counts_the_whole_process_tree():
    # Each process alone stays far below the limit; together they exceed it.
    code = ("import os\nfor _ in range(3):\n    if os.fork() == 0:\n        break\n"
            "while True:\n    pass\n")
    res, rc = run(code, "python", "--cpu-timeout", "600ms", "--timeout", "30s")
    assert rc == 124
    assert res["limit"] == "cpu", describe(res)


def test_cpu_time_is_reported_when_the_cpu_limit_fires():
    # Without cgroup CPU accounting the figure must still include the killed guest.
    res, rc = run("while True:\n    pass\n", "python", "--cpu-timeout", "300ms",
                  "--timeout", "30s")
    assert rc == 124 and res["limit"] == "cpu"
    # brig stopped the run because the guest used 300 ms; it must say so.
    assert res["cpu_ms"] >= 300, res["cpu_ms"]


# -------------------------------------------------------------- nothing leaks


def _mount_count():
    with open("/proc/self/mountinfo") as f:
        return len(f.readlines())


def test_no_mounts_leak_into_the_host():
    before = _mount_count()
    for lang, code in (("python", "print(1)"), ("sh", "sleep 1000")):
        run(code, lang, "--timeout", "300ms")
    run(MEMORY_BOMB, "python", "--memory", "32m")
    assert _mount_count() == before


def test_daemonised_children_die_with_the_run():
    mark = token()
    res = run_ok("setsid sh -c 'sleep 1000; : %s' </dev/null >/dev/null 2>&1 &\n"
                 "nohup sh -c 'sleep 1000; : %s' </dev/null >/dev/null 2>&1 &\necho started"
                 % (mark, mark), "sh")
    assert res["stdout"] == "started\n"
    assert wait_for(lambda: not host_pids_with(mark), timeout=5)


def test_killing_brig_kills_the_whole_jail():
    # As root the jail's init changes its host uid (0 -> 65534), which clears a
    # parent-death signal set earlier; the jail must still die with brig.
    mark = token()
    proc = subprocess.Popen([BRIG_BIN, "--lang", "sh", "-c",
                             "sleep 1000 & sleep 1000; : " + mark],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: host_pids_with(mark, GUEST_SHELL)), "the guest never started"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert wait_for(lambda: not host_pids_with(mark), timeout=3), host_pids_with(mark)
    finally:
        # Whatever this run left behind was started by this test: end it.
        for pid in host_pids_with(mark):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _cgroup_roots():
    roots = ["/sys/fs/cgroup/%s/brig" % c for c in CGROUP_V1_CONTROLLERS]
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                if line.startswith("0::"):
                    roots.append("/sys/fs/cgroup%s/brig" % line[3:].strip().rstrip("/"))
    except OSError:
        pass
    return roots


def _brig_cgroups(pid):
    """The cgroups a brig process with this pid created (named "<pid>-<seq>")."""
    found = []
    for root in _cgroup_roots():
        found += glob.glob("%s/%d-*" % (root, pid))
    return sorted(found)


def test_cgroups_are_removed_after_a_run(cgroups):
    proc = subprocess.Popen([BRIG_BIN, "--json", "--lang", "sh", "-c", "sleep 1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    during = wait_for(lambda: _brig_cgroups(proc.pid),
                      timeout=3 if cgroups else 0.5) or []
    out, _ = proc.communicate()
    res = json.loads(out)
    assert res["ok"] and res["exit_code"] == 0, describe(res)
    if cgroups:
        assert during, "brig reported cgroup controllers but created no cgroup"
    else:
        # Without root or a delegated subtree brig cannot create cgroups at all.
        assert during == []
    assert _brig_cgroups(proc.pid) == []


def test_cgroup_dirs_are_removed_after_a_killed_run():
    proc = subprocess.Popen([BRIG_BIN, "--json", "--memory", "32m", "-c", MEMORY_BOMB],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, _ = proc.communicate()
    assert json.loads(out)["limit"] == "memory"
    assert _brig_cgroups(proc.pid) == []


def _limit_values(during):
    values = {}
    for path in during:
        for name in ("memory.limit_in_bytes", "memory.max", "pids.max"):
            try:
                with open(os.path.join(path, name)) as f:
                    values[name] = f.read().strip()
            except OSError:
                pass
    return values


def test_limits_are_applied_by_cgroup_or_rlimit(cgroups):
    code = ("import json, resource, time\n"
            "print(json.dumps([resource.getrlimit(resource.RLIMIT_AS),"
            " resource.getrlimit(resource.RLIMIT_NPROC)]), flush=True)\n"
            "time.sleep(1)\n")
    proc = subprocess.Popen([BRIG_BIN, "--json", "--memory", "48m", "--pids", "20", "-c", code],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # brig makes the cgroup, then writes its limits: wait for both.
    def limited():
        values = _limit_values(_brig_cgroups(proc.pid))
        memory = values.get("memory.limit_in_bytes", values.get("memory.max"))
        if "memory" in cgroups and memory != str(48 << 20):
            return None
        if "pids" in cgroups and values.get("pids.max") != "20":
            return None
        return values
    values = (wait_for(limited, timeout=3) or {}) if cgroups else {}
    out, _ = proc.communicate()
    res = json.loads(out)
    assert res["ok"] and res["exit_code"] == 0, describe(res)
    as_limit, nproc = json.loads(res["stdout"])
    if "memory" in cgroups:
        assert values.get("memory.limit_in_bytes", values.get("memory.max")) == str(48 << 20)
    else:
        assert as_limit == [48 << 20, 48 << 20]
    if "pids" in cgroups:
        assert values.get("pids.max") == "20"
    else:
        assert nproc == [20, 20]

"""brig daemon: start, stop, status, idle exit, who may use it, and runs that
behave the same with and without it, also when it or its zygote is killed.

Each test has a daemon directory of its own (BRIG_DAEMON_DIR) and stops
what it started."""
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

import pytest

from helpers import BRIG_BIN, GUEST_DIR, IS_ROOT, brig, describe, parse_result, wait_for

NOBODY = 65534


def env_for(d):
    return dict(os.environ, BRIG_DAEMON_DIR=str(d))


def daemon(d, *args):
    return brig("daemon", *args, env=env_for(d))


def run_in(d, code, *flags, **kw):
    """Run Python code with --json, using the daemon in d if one serves."""
    proc = brig("--json", *flags, "-c", code, env=env_for(d), **kw)
    return parse_result(proc), proc.returncode


def status_pid(d):
    m = re.search(r"^pid\s+(\d+)", daemon(d, "status").stdout, re.M)
    return int(m.group(1)) if m else None


def requests_served(d):
    m = re.search(r"^requests\s+(\d+)", daemon(d, "status").stdout, re.M)
    return int(m.group(1)) if m else None


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def children(pid):
    kids = []
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return kids


def zygotes(pid):
    """The daemon's live Python zygotes."""
    found = []
    for kid in children(pid):
        try:
            with open("/proc/%d/cmdline" % kid, "rb") as f:
                if b"zygote.py" in f.read() and alive(kid):
                    found.append(kid)
        except OSError:
            pass
    return found


@pytest.fixture
def ddir(tmp_path):
    """A fresh daemon directory; whatever daemon ran there is stopped afterwards."""
    d = tmp_path / "d"
    d.mkdir(mode=0o700)
    d.chmod(0o700)
    yield d
    pid = status_pid(d)
    daemon(d, "stop")
    if pid and alive(pid):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def running(ddir):
    proc = daemon(ddir, "start")
    assert proc.returncode == 0, proc.stderr
    pid = status_pid(ddir)
    assert pid and alive(pid)
    return ddir, pid


# ------------------------------------------------------------ start, status, stop


def test_start_status_stop(ddir):
    assert daemon(ddir, "status").returncode == 3
    proc = daemon(ddir, "start")
    assert proc.returncode == 0, proc.stderr
    assert "started" in proc.stdout
    pid = status_pid(ddir)
    assert pid and alive(pid)
    st = daemon(ddir, "status")
    assert st.returncode == 0, st.stdout
    assert "running" in st.stdout and str(ddir / "daemon.sock") in st.stdout
    assert re.search(r"^uptime\s+\d+s$", st.stdout, re.M), st.stdout
    assert re.search(r"^warm\s+python", st.stdout, re.M), st.stdout
    # The daemon is nobody's child here, in a session of its own, without a terminal.
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    assert int(fields[1]) != os.getpid() and int(fields[3]) != os.getsid(0)
    assert int(fields[4]) == 0
    # Starting again says so and succeeds, with the same daemon.
    again = daemon(ddir, "start")
    assert again.returncode == 0 and "already running" in again.stdout, again.stdout
    assert status_pid(ddir) == pid

    res, rc = run_in(ddir, "print('through the daemon')")
    assert rc == 0 and res["stdout"] == "through the daemon\n", describe(res)
    assert res["warm"] is True
    assert requests_served(ddir) >= 1

    kids = zygotes(pid)
    assert kids
    stop = daemon(ddir, "stop")
    assert stop.returncode == 0 and "stopped" in stop.stdout, stop.stdout + stop.stderr
    assert wait_for(lambda: not alive(pid), timeout=5)
    # Its zygotes went with it.
    assert wait_for(lambda: not any(alive(k) for k in kids), timeout=5)
    st = daemon(ddir, "status")
    assert st.returncode == 3 and "not running" in st.stdout
    assert not (ddir / "daemon.sock").exists()
    res, rc = run_in(ddir, "print('cold')")
    assert rc == 0 and res["stdout"] == "cold\n" and res["warm"] is False, describe(res)
    assert daemon(ddir, "stop").returncode == 0


def test_start_creates_a_private_directory(tmp_path):
    d = tmp_path / "new"
    try:
        proc = daemon(d, "start")
        assert proc.returncode == 0, proc.stderr
        st = os.lstat(d)
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700
        assert st.st_uid == os.geteuid()
        for name in ("daemon.sock", "control.sock"):
            mode = stat.S_IMODE(os.lstat(d / name).st_mode)
            assert mode & 0o077 == 0, (name, oct(mode))
    finally:
        daemon(d, "stop")


def test_concurrent_starts_give_one_daemon(ddir):
    procs = [subprocess.Popen([BRIG_BIN, "daemon", "start"], env=env_for(ddir),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert sum("started" in out for out, _ in outs) == 1, outs
    pid = status_pid(ddir)
    assert pid and alive(pid)


def test_bad_usage_exits_2(ddir):
    for args in (["daemon"], ["daemon", "restart"], ["daemon", "start", "--idle"],
                 ["daemon", "start", "--idle", "soon"], ["daemon", "stop", "now"]):
        proc = brig(*args, env=env_for(ddir))
        assert proc.returncode == 2, (args, proc.stderr)
        assert "brig daemon" in proc.stderr or "--idle" in proc.stderr, proc.stderr


# --------------------------------------------------------------------- idle exit


def test_idle_daemon_exits(ddir):
    proc = daemon(ddir, "start", "--idle", "1")
    assert proc.returncode == 0, proc.stderr
    pid = status_pid(ddir)
    assert pid
    assert wait_for(lambda: not alive(pid), timeout=20), "the idle daemon did not exit"
    assert daemon(ddir, "status").returncode == 3
    res, rc = run_in(ddir, "print(1)")
    assert rc == 0 and res["warm"] is False, describe(res)


def test_a_connected_client_keeps_the_daemon(ddir):
    assert daemon(ddir, "start", "--idle", "1").returncode == 0
    pid = status_pid(ddir)
    proc = subprocess.Popen([BRIG_BIN, "--json", "-c",
                             "import time; print('up', flush=True); time.sleep(3)"],
                            env=env_for(ddir), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=60)
    res = json.loads(out)
    assert proc.returncode == 0 and res["warm"] is True, (res, err)
    # It outlived its idle period while the run was connected, then went.
    assert wait_for(lambda: not alive(pid), timeout=20)


# ------------------------------------------------------------ who may use it


def _bad_dir_refused(d, mention):
    for args in (["start"], ["status"], ["stop"]):
        proc = daemon(d, *args)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        assert "refusing" in proc.stderr and mention in proc.stderr, proc.stderr


def test_a_directory_with_another_mode_is_refused(running):
    d, pid = running
    d.chmod(0o755)
    try:
        _bad_dir_refused(d, "mode 0755")
        # Runs do not use the daemon there either, and still work.
        res, rc = run_in(d, "print('ok')")
        assert rc == 0 and res["stdout"] == "ok\n" and res["warm"] is False, describe(res)
    finally:
        d.chmod(0o700)
    assert requests_served(d) == 0


def test_a_symlink_is_refused(tmp_path, running):
    d, pid = running
    link = tmp_path / "link"
    link.symlink_to(d)
    _bad_dir_refused(link, "symbolic link")
    res, rc = run_in(link, "print('ok')")
    assert rc == 0 and res["warm"] is False, describe(res)
    # Nor through a trailing slash, which would follow it.
    res, rc = run_in(str(link) + "/", "print('ok')")
    assert rc == 0 and res["warm"] is False, describe(res)
    assert requests_served(d) == 0


def test_a_directory_of_another_user_is_refused(tmp_path):
    if IS_ROOT:
        d = tmp_path / "theirs"
        d.mkdir(mode=0o700)
        os.chown(d, NOBODY, NOBODY)
    else:
        d = "/tmp"  # root's
    _bad_dir_refused(d, "belongs to uid")
    res, rc = run_in(d, "print('ok')")
    assert rc == 0 and res["warm"] is False, describe(res)


def test_a_file_is_refused(tmp_path):
    f = tmp_path / "file"
    f.write_text("")
    _bad_dir_refused(f, "not a directory")


def _as_nobody(args, **kw):
    return subprocess.run(["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY,
                           "--clear-groups", *args], capture_output=True, text=True,
                          timeout=60, **kw)


RAW_CLIENT = r'''
import json, socket, sys
out = []
for name, msg in (("daemon.sock", b"x" * 16), ("control.sock", b"status"),
                  ("control.sock", b"stop")):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    s.connect(sys.argv[1] + "/" + name)
    try:
        s.send(msg)
    except OSError:
        pass
    try:
        out.append(s.recv(4096).decode("latin-1"))
    except OSError as e:
        out.append(type(e).__name__)
print(json.dumps(out))
'''


def refused(d):
    m = re.search(r"^refused\s+(\d+)", daemon(d, "status").stdout, re.M)
    return int(m.group(1)) if m else None


@pytest.mark.skipif(not IS_ROOT, reason="needs root to act as another uid")
def test_another_uid_is_refused_and_runs_cold(running):
    d, pid = running
    if _as_nobody(["test", "-x", BRIG_BIN]).returncode or \
            _as_nobody(["test", "-r", str(GUEST_DIR / "python" / "agent.py")]).returncode:
        pytest.skip("uid %d cannot reach %s" % (NOBODY, BRIG_BIN))
    # Suppose the directory did not keep nobody out: a directory of
    # nobody's own holding the daemon's sockets (hard links) and a copy of
    # its pid file, and the sockets' modes opened up.  The peer check alone
    # must then refuse nobody.
    top = tempfile.mkdtemp(prefix="brigd-", dir="/tmp")
    try:
        os.chmod(top, 0o755)
        theirs = os.path.join(top, "d")
        os.mkdir(theirs, 0o700)
        for name in ("daemon.sock", "control.sock"):
            os.link(d / name, os.path.join(theirs, name))
            os.chmod(d / name, 0o777)
        shutil.copy(d / "daemon.pid", os.path.join(theirs, "daemon.pid"))
        for p in (theirs, os.path.join(theirs, "daemon.pid")):
            os.chown(p, NOBODY, NOBODY)

        raw = _as_nobody([sys.executable, "-c", RAW_CLIENT, theirs])
        assert raw.returncode == 0, raw.stderr
        # Closed without a word: no greeting, no status, no stopping.
        for answer in json.loads(raw.stdout):
            assert answer in ("", "ConnectionResetError"), raw.stdout
        assert alive(pid)
        assert refused(d) == 3

        proc = _as_nobody([BRIG_BIN, "--json", "-c", "print('cold but fine')"],
                          env=dict(os.environ, BRIG_DAEMON_DIR=theirs))
        res = parse_result(proc)
        assert proc.returncode == 0 and res["stdout"] == "cold but fine\n", describe(res)
        assert res["warm"] is False
        # The CLI did try (and was refused), as a run of the daemon's user would.
        assert refused(d) == 4 and requests_served(d) == 0
    finally:
        shutil.rmtree(top)


@pytest.mark.parametrize("wrapper", ["no_new_privs", "mount namespace"])
def test_a_peer_confined_otherwise_is_refused(running, wrapper):
    # Same uid, but more tightly confined than the daemon (or resolving
    # paths elsewhere): it would get jails with the daemon's reach.
    d, pid = running
    if wrapper == "mount namespace" and not IS_ROOT:
        pytest.skip("needs root for a mount namespace of the same uid")
    prefix = {"no_new_privs": ["setpriv", "--no-new-privs"],
              "mount namespace": ["unshare", "--mount", "--propagation", "unchanged"]}[wrapper]
    raw = subprocess.run([*prefix, sys.executable, "-c", RAW_CLIENT, str(d)],
                         capture_output=True, text=True, timeout=60)
    assert raw.returncode == 0, raw.stderr
    for answer in json.loads(raw.stdout):
        assert answer in ("", "ConnectionResetError"), raw.stdout
    assert alive(pid) and refused(d) == 3
    # The CLI so confined starts cold (it does not even ask).
    proc = subprocess.run([*prefix, BRIG_BIN, "--json", "-c", "print('fine')"], env=env_for(d),
                          capture_output=True, text=True, timeout=60)
    res = parse_result(proc)
    assert proc.returncode == 0 and res["stdout"] == "fine\n" and res["warm"] is False, \
        describe(res)
    assert requests_served(d) == 0


def test_garbage_from_a_client_does_not_hurt_the_daemon(running):
    d, pid = running
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    s.connect(str(d / "daemon.sock"))
    hello = s.recv(4096)
    assert len(hello) == 12
    s.send(b"\xff" * 100)
    try:
        s.recv(4096)
    except OSError:
        pass
    s.close()
    c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    c.settimeout(10)
    c.connect(str(d / "control.sock"))
    c.send(b"nonsense")
    assert c.recv(4096) == b"unknown command\n"
    c.close()
    assert alive(pid)
    res, rc = run_in(d, "print('still')")
    assert rc == 0 and res["warm"] is True, describe(res)


def test_another_mount_namespace_runs_cold(running):
    d, pid = running
    if not IS_ROOT or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) for a mount namespace of its own")
    proc = subprocess.run(["unshare", "--mount", "--propagation", "unchanged", BRIG_BIN,
                           "--json", "-c", "print('here')"], env=env_for(d),
                          capture_output=True, text=True, timeout=60)
    res = parse_result(proc)
    assert proc.returncode == 0 and res["stdout"] == "here\n", describe(res)
    assert res["warm"] is False
    assert requests_served(d) == 0


@pytest.mark.parametrize("change", ["umask", "nice"])
def test_a_process_its_jail_would_differ_from_runs_cold(running, change):
    # What a jail's init inherits (umask, nice value...) comes from the CLI
    # when cold and from the daemon when warm: a difference means cold.
    d, pid = running
    preexec = {"umask": lambda: os.umask(0o077), "nice": lambda: os.nice(3)}[change]
    code = "import os; print(oct(os.umask(0)), os.nice(0))"
    proc = subprocess.run([BRIG_BIN, "--json", "-c", code], env=env_for(d), capture_output=True,
                          text=True, timeout=60, preexec_fn=preexec)
    res = parse_result(proc)
    assert proc.returncode == 0 and res["warm"] is False, describe(res)
    assert res["stdout"] == {"umask": "0o77 0\n", "nice": "0o%o 3\n" % _umask()}[change]


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_repl_does_not_use_the_daemon(running):
    d, pid = running
    proc = brig("repl", input="x = 20\nprint(x + 1)\n", env=env_for(d))
    assert proc.returncode == 0 and "21" in proc.stdout, proc.stderr
    assert requests_served(d) == 0


# ------------------------------------------------- the same with and without it

SAME_CASES = [
    (["-c", "print('out'); import sys; print('err', file=sys.stderr)"], None),
    (["-c", "import sys; sys.exit(3)"], None),
    (["-c", "raise ValueError('boom')"], None),
    (["-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"], None),
    (["-c", "import time; time.sleep(10)", "--timeout", "300ms"], None),
    (["-c", "print('x' * 5000)", "--max-output", "1k"], None),
    (["-c", "import sys; print(repr(sys.stdin.read()))"], None),
    ([], "import sys\nprint('from stdin', 6 * 7)\nsys.exit(5)\n"),
    (["--lang", "sh", "-c", "echo sh; exit 4"], None),
    (["--lang", "js", "-c", "console.log('js'); process.exit(6)"], None),
]


@pytest.mark.parametrize("args,stdin", SAME_CASES)
def test_runs_are_the_same_with_and_without_the_daemon(running, args, stdin):
    d, pid = running
    if "js" in args and not (GUEST_DIR / "js" / "agent.js").exists():
        pytest.skip("no JS guest")
    warm = brig(*args, input=stdin, env=env_for(d))
    cold = brig("--no-daemon", *args, input=stdin, env=env_for(d))
    assert (warm.returncode, warm.stdout, warm.stderr) == \
        (cold.returncode, cold.stdout, cold.stderr)


def test_python_runs_go_through_the_daemon(running):
    d, pid = running
    before = requests_served(d)
    for i in range(3):
        res, rc = run_in(d, "print(%d)" % i)
        assert rc == 0 and res["stdout"] == "%d\n" % i and res["warm"] is True, describe(res)
    assert requests_served(d) == before + 3


def test_host_functions_and_mounts_are_served_by_the_cli(running, tmp_path):
    d, pid = running
    (tmp_path / "in.txt").write_text("mounted")
    tmp_path.chmod(0o755)  # the guest's own open() needs it when root maps it to nobody
    code = ("from brig import call, fs\n"
            "print(call('echo', x=1), fs.read_text('/data/in.txt'), open('/data/in.txt').read())")
    res, rc = run_in(d, code, "--host-fn", "echo=cat", "--mount", "/data:%s" % tmp_path)
    assert rc == 0 and res["warm"] is True, describe(res)
    assert res["stdout"] == "{'x': 1} mounted mounted\n", describe(res)


def test_many_clients_at_once(running):
    d, pid = running
    procs = [subprocess.Popen([BRIG_BIN, "--json", "-c", "print(%d)" % i], env=env_for(d),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(12)]
    for i, p in enumerate(procs):
        out, err = p.communicate(timeout=60)
        res = json.loads(out)
        assert p.returncode == 0 and res["stdout"] == "%d\n" % i, (res, err)
    assert alive(pid)


# ------------------------------------------------------------------ failures


def _slow_run(d):
    return subprocess.Popen(
        [BRIG_BIN, "--json", "-c",
         "import time; print('ready', flush=True); time.sleep(1); print('done')"],
        env=env_for(d), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_killed_daemon_never_fails_a_run(running):
    d, pid = running
    proc = _slow_run(d)
    # The run is under way when its daemon dies: it finishes all the same.
    assert wait_for(lambda: requests_served(d), timeout=10), "the run never reached the daemon"
    os.kill(pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    res = json.loads(out)
    assert proc.returncode == 0 and res["stdout"] == "ready\ndone\n", (res, err)
    assert res["warm"] is True
    assert wait_for(lambda: not alive(pid), timeout=5)
    # Later runs find its leftovers (sockets, pid file) and start cold.
    assert (d / "daemon.sock").exists()
    for _ in range(3):
        res, rc = run_in(d, "print('cold')")
        assert rc == 0 and res["stdout"] == "cold\n" and res["warm"] is False, describe(res)
    assert daemon(d, "status").returncode == 3
    # A new daemon takes over the leftovers.
    assert daemon(d, "start").returncode == 0
    res, rc = run_in(d, "print('warm again')")
    assert rc == 0 and res["warm"] is True, describe(res)


def test_stopping_the_daemon_does_not_end_runs_in_flight(running):
    d, pid = running
    proc = _slow_run(d)
    assert wait_for(lambda: requests_served(d), timeout=10), "the run never reached the daemon"
    assert daemon(d, "stop").returncode == 0
    assert not alive(pid)
    out, err = proc.communicate(timeout=60)
    res = json.loads(out)
    assert proc.returncode == 0 and res["stdout"] == "ready\ndone\n", (res, err)


def test_a_killed_zygote_is_replaced_and_runs_never_fail(running):
    d, pid = running
    old = zygotes(pid)
    assert len(old) == 1, old
    os.kill(old[0], signal.SIGKILL)
    warm = False
    for i in range(40):
        res, rc = run_in(d, "print(%d)" % i)
        assert rc == 0 and res["stdout"] == "%d\n" % i, describe(res)
        if res["warm"]:
            warm = True
            break
        time.sleep(0.05)
    assert warm, "no run was warm again after the zygote died"
    new = zygotes(pid)
    assert new and old[0] not in new
    assert not alive(old[0])

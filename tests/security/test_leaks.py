"""What a guest can learn about the host and other sandboxes, and core dumps.

Each test attacks the way an outside review did: watching the shared
read-only binds, reading host-wide /proc files and the cgroup layout, a
flock covert channel between two concurrent sandboxes, and a crash that
would start the host's core-dump helper.
"""
import ctypes
import errno
import fcntl
import json
import mmap
import os
import re
import shlex
import subprocess
import time

import pytest

import helpers
from helpers import (BRIG_BIN, GUEST_DIR, GUEST_SHELL, describe, guest_json, host_pids_with,
                     run, run_ok, token, wait_for)

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _popen(*args):
    return subprocess.Popen([BRIG_BIN, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _stop(proc):
    """End a brig still running (its sandbox dies with it) and collect it."""
    if proc.poll() is None:
        proc.kill()
    return proc.communicate(timeout=30)


# ------------------------------------------------------ 1.8: watching shared binds

WATCHED = ["/usr/bin", "/usr/lib/python3.11", "/opt/brig", "/opt/brig/python"]

# Tries every file-watching interface on the shared binds.  Prints "ready" when
# one of them works and collects what it sees; always ends with one JSON line.
WATCHER = r'''
import ctypes, errno, fcntl, json, os, select, signal, struct, time
libc = ctypes.CDLL(None, use_errno=True)
WATCHED = %r
def err():
    e = ctypes.get_errno()
    return errno.errorcode.get(e, str(e))
out, events = {}, []
fd = libc.inotify_init1(os.O_NONBLOCK)
out["inotify_init1"] = "ok" if fd >= 0 else err()
old = libc.inotify_init()
out["inotify_init"] = "ok" if old >= 0 else err()
fan = libc.fanotify_init(0, os.O_RDONLY)
out["fanotify_init"] = "ok" if fan >= 0 else err()
signal.signal(signal.SIGIO, lambda *a: events.append("dnotify"))
dirs = []
for d in WATCHED:
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.fcntl(dfd, fcntl.F_NOTIFY, fcntl.DN_ACCESS | fcntl.DN_MODIFY | fcntl.DN_MULTISHOT)
        out["dnotify"] = "ok"
    except OSError as e:
        out["dnotify"] = errno.errorcode[e.errno]
    dirs.append(dfd)
    if fd >= 0:
        libc.inotify_add_watch(fd, d.encode(), 0x1 | 0x20)  # IN_ACCESS | IN_OPEN
if "ok" in out.values():
    print("ready", flush=True)
    end = time.time() + 8
    while time.time() < end and len(events) < 20:
        r = select.select([fd] if fd >= 0 else [], [], [], 0.1)[0]
        if r:
            buf = os.read(fd, 65536)
            while buf:
                wd, mask, cookie, n = struct.unpack_from("iIII", buf)
                events.append(buf[16:16 + n].rstrip(b"\0").decode())
                buf = buf[16 + n:]
out["events"] = sorted(set(events))
print(json.dumps(out), flush=True)
''' % WATCHED


def test_guest_cannot_watch_other_sandboxes_or_the_host_run_binaries():
    watcher = _popen("--timeout", "30s", "-c", WATCHER)
    try:
        first = watcher.stdout.readline()
        if first.strip() == "ready":
            # Another sandbox runs dash, base64 and Python; the host runs gpgv.
            other = run_ok("/usr/bin/dash -c true; echo x | /usr/bin/base64; "
                           "/usr/bin/python3 -c pass", "sh")
            assert other["ok"]
            for host_cmd in (["/usr/bin/gpgv", "--version"], ["/usr/bin/base64", "--version"]):
                if os.path.exists(host_cmd[0]):
                    subprocess.run(host_cmd, capture_output=True)
            first = watcher.stdout.readline()
        result = json.loads(first)
    finally:
        _stop(watcher)
    # inotify and fanotify are not offered (ENOSYS, as on a kernel built
    # without them); dnotify's F_NOTIFY is refused; nothing was seen.
    assert result == {"inotify_init1": "ENOSYS", "inotify_init": "ENOSYS",
                      "fanotify_init": "ENOSYS", "dnotify": "EPERM", "events": []}, result


def test_page_cache_probes_of_shared_files_are_refused():
    out = guest_json(r'''
import ctypes, errno, json, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sys_err(*args):
    ctypes.set_errno(0)
    r = libc.syscall(*[ctypes.c_long(a) for a in args])
    return "ok" if r >= 0 else errno.errorcode[ctypes.get_errno()]
out = {}
fd = os.open("/usr/bin/python3", os.O_RDONLY)
# cachestat(fd, range, cstat, flags): the page cache state of any file.
out["cachestat"] = sys_err(451, fd, 0, 0, 0)
# Linux AIO can read with RWF_NOWAIT too.
ctx = ctypes.c_ulong(0)
out["io_setup"] = sys_err(206, 1, ctypes.addressof(ctx))
try:
    os.preadv(fd, [bytearray(16)], 0, os.RWF_NOWAIT)
    out["preadv2_nowait"] = "ok"
except OSError as e:  # EOPNOTSUPP is also ENOTSUP on Linux
    out["preadv2_nowait"] = "EOPNOTSUPP" if e.errno == errno.EOPNOTSUPP else e.errno
out["preadv2"] = os.preadv(fd, [bytearray(4)], 0, 0)
print(json.dumps(out))
''')
    assert out == {"cachestat": "ENOSYS", "io_setup": "ENOSYS",
                   "preadv2_nowait": "EOPNOTSUPP", "preadv2": 4}, out


def _resident_pages(path):
    """How many of path's pages are in the page cache, as the host sees it (mincore)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    size = os.path.getsize(path)
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    fd = os.open(path, os.O_RDONLY)
    try:
        # Mapped but never touched: the mapping pins no page.
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        assert addr not in (None, ctypes.c_void_p(-1).value)
        vec = (ctypes.c_ubyte * pages)()
        rc = libc.mincore(addr, size, vec)
        libc.munmap(addr, size)
        assert rc == 0, os.strerror(ctypes.get_errno())
        return sum(v & 1 for v in vec)
    finally:
        os.close(fd)


def test_guest_cannot_evict_shared_pages_from_the_page_cache(tmp_path):
    # Evicting a file's pages and watching them come back tells when another
    # sandbox or the host used it: POSIX_FADV_DONTNEED is accepted and ignored.
    data = tmp_path / "shared"
    data.mkdir()
    data.chmod(0o755)
    target = data / "blob"
    with open(target, "wb") as f:
        f.write(os.urandom(64 * mmap.PAGESIZE))
        os.fsync(f.fileno())  # dirty pages cannot be evicted; clean ones can
    target.chmod(0o644)
    with open(target, "rb") as f:  # read, not mapped: nothing pins the pages
        f.read()
    pages = _resident_pages(target)
    if pages == 0:
        pytest.skip("this filesystem keeps no page cache for the test file")
    out = guest_json(r'''
import json, os
fd = os.open("/data/blob", os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
print(json.dumps("advised"))
''', "--mount", "/data:%s:ro" % data)
    assert out == "advised"
    assert _resident_pages(target) == pages


# ---------------------------------------------------------- 1.9: host-wide /proc

def test_kernel_command_line_is_hidden():
    res = run_ok("import sys; sys.stdout.write(repr(open('/proc/cmdline').read()))")
    assert res["stdout"] == "''", res["stdout"]


def test_boot_id_is_private_to_each_sandbox_and_stable_within_it():
    code = ("import json; p = '/proc/sys/kernel/random/boot_id'\n"
            "print(json.dumps([open(p).read(), open(p).read()]))")
    a1, a2 = guest_json(code)
    b1, _ = guest_json(code)
    with open("/proc/sys/kernel/random/boot_id") as f:
        host = f.read()
    assert a1 == a2, "boot_id changed within one sandbox"
    assert UUID_RE.match(a1.strip()) and UUID_RE.match(b1.strip()), (a1, b1)
    assert a1 != b1 and host not in (a1, b1)


def test_meminfo_reports_the_sandbox_memory_limit():
    out = guest_json(r'''
import json
info = {}
for line in open("/proc/meminfo"):
    k, v = line.split(":", 1)
    info[k] = v.split()
print(json.dumps(info))
''', "--memory", "96m")
    assert out["MemTotal"] == [str(96 * 1024), "kB"]
    assert out["MemAvailable"] == [str(96 * 1024), "kB"]
    for key in ("MemFree", "Cached", "SwapTotal", "Shmem", "SReclaimable"):
        assert key in out, key
    with open("/proc/meminfo") as f:
        host_total = f.readline().split()[1]
    assert host_total != str(96 * 1024)


def test_proc_stat_shows_the_cpus_but_no_host_counters():
    out = guest_json(r'''
import json, os
lines = [l.split() for l in open("/proc/stat")]
print(json.dumps({"lines": lines, "cpu_count": os.cpu_count(),
                  "affinity": len(os.sched_getaffinity(0))}))
''')
    lines = {l[0]: l[1:] for l in out["lines"]}
    cpus = [k for k in lines if re.match(r"cpu\d+$", k)]
    assert len(cpus) == out["affinity"] == out["cpu_count"], out
    for name in ["cpu"] + cpus:
        assert lines[name] == ["0"] * 10, (name, lines[name])
    for counter in ("ctxt", "processes", "procs_blocked"):
        assert lines[counter] == ["0"], (counter, lines[counter])
    # The boot time is the host's (uptime shows it anyway): ps needs it.
    with open("/proc/stat") as f:
        host_btime = [l.split()[1] for l in f if l.startswith("btime ")][0]
    assert abs(int(lines["btime"][0]) - int(host_btime)) <= 2


def test_loadavg_and_pressure_show_nothing_of_the_host():
    # (glibc's getloadavg asks sysinfo(2), which SECURITY.md lists as remaining.)
    out = guest_json(r'''
import json, os
print(json.dumps([open("/proc/loadavg").read(),
                  sorted(os.listdir("/proc/pressure")) if os.path.isdir("/proc/pressure") else None]))
''')
    assert out[0] == "0.00 0.00 0.00 1/1 1\n"
    assert out[1] in (None, [])


HOST_ACTIVITY = ["/proc/diskstats", "/proc/interrupts", "/proc/softirqs", "/proc/vmstat",
                 "/proc/zoneinfo", "/proc/buddyinfo", "/proc/partitions", "/proc/swaps",
                 "/proc/cgroups", "/proc/key-users", "/proc/schedstat", "/proc/cmdline"]


@pytest.mark.parametrize("path", HOST_ACTIVITY)
def test_host_activity_files_read_empty(path):
    out = guest_json(r'''
import errno, json
try:
    r = open(%r, "rb").read().decode(errors="replace")
except OSError as e:
    r = errno.errorcode[e.errno]
print(json.dumps(r))
''' % path)
    assert out in ("", "ENOENT"), out[:300]


# What the guest sees of /proc besides its own processes, and why (procfs.c).
KEPT_PROC = {
    "self", "thread-self", "mounts", "net",  # links into the guest's own pid dirs
    "sys",  # read-only; the boot id in it is the sandbox's own
    "sysvipc",  # the jail's own ipc namespace
    "locks",  # only locks of processes in the jail's pid namespace
    "meminfo", "stat", "loadavg",  # synthetic
    # static descriptions of the machine and kernel
    "cpuinfo", "uptime", "version", "filesystems", "crypto", "execdomains", "devices", "misc",
    "dma", "consoles", "mtrr", "tty", "bus", "iomem", "ioports",
}


def test_every_other_top_level_proc_entry_is_covered():
    out = guest_json(r'''
import errno, json, os
seen = {}
for name in os.listdir("/proc"):
    p = "/proc/" + name
    if name.isdigit():
        continue
    try:
        if os.path.islink(p):
            seen[name] = "link"
        elif os.path.isdir(p):
            seen[name] = "dir:" + ",".join(sorted(os.listdir(p)))
        else:
            seen[name] = "file:%d" % len(open(p, "rb").read())
    except OSError as e:
        seen[name] = errno.errorcode[e.errno]
print(json.dumps(seen))
''')
    leaks = {name: what for name, what in out.items()
             if name not in KEPT_PROC and what not in ("file:0", "dir:", "EACCES", "EPERM")}
    assert leaks == {}, leaks
    assert {"self", "meminfo", "stat", "cpuinfo", "sys"} <= set(out)


NODE_OS = ("const os = require('os'); console.log(JSON.stringify([os.totalmem(), os.freemem(), "
           "os.cpus().length, os.availableParallelism(), os.loadavg(), os.uptime() > 0]))")


def test_node_and_python_system_queries_work_on_the_synthetic_files():
    # node itself, in the jail: its os module reads /proc/meminfo, stat and
    # loadavg.  (1g: without a cgroup the shell's RLIMIT_AS must fit V8.)
    res = run_ok("node -e %s" % shlex.quote(NODE_OS), "sh", "--memory", "1g")
    total, free, cpus, parallel, load, up = json.loads(res["stdout"])
    assert total == 1 << 30 and 0 < free <= total
    assert cpus == parallel >= 1
    assert load == [0, 0, 0] and up
    out = guest_json(r'''
import json, multiprocessing, os, subprocess
ps = subprocess.run(["ps", "-e", "-o", "pid,etimes,comm"], capture_output=True, text=True)
free = subprocess.run(["free", "-k"], capture_output=True, text=True)
print(json.dumps([os.cpu_count(), multiprocessing.cpu_count(), ps.returncode, ps.stderr,
                  free.returncode, free.stdout.splitlines()[1].split()[:2]]))
''', "--memory", "64m")
    assert out[0] == out[1] >= 1
    assert out[2] == 0 and out[3] == "", out
    assert out[4] == 0 and out[5] == ["Mem:", str(64 * 1024)], out


def _guest_of(cli_pid):
    """The host pid of the guest under a brig CLI process (its init's child).
    Through a daemon, the jail's init is the daemon's child: the newest one
    that is not a zygote (this test's run is the only one running)."""
    def children(pid):
        kids = []
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                kids += [int(x) for x in f.read().split()]
        return kids

    def started(pid):
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])

    try:
        inits = children(cli_pid)
        if not inits and helpers.THROUGH_DAEMON:
            inits = [i for i in children(helpers.daemon_pid())
                     if started(i) >= started(cli_pid) and children(i)]
            inits = sorted(inits, key=started)[-1:]
        return next((g for i in inits for g in children(i)), None)
    except OSError:
        return None


@pytest.mark.parametrize("lang", ["python", "sh"])
def test_cgroup_namespace_is_rooted_at_the_sandbox_cgroup(lang, cgroups):
    code = {"python": "import time; print(open('/proc/self/cgroup').read(), flush=True); "
                      "print(open('/proc/1/cgroup').read(), flush=True); time.sleep(2)",
            "sh": "cat /proc/$$/cgroup /proc/1/cgroup; sleep 2"}[lang]
    proc = _popen("--lang", lang, "-c", code)
    try:
        guest = wait_for(lambda: _guest_of(proc.pid), timeout=10)
        assert guest, "guest process not found"
        host_view = wait_for(lambda: open("/proc/%d/cgroup" % guest).read()
                             if "/brig/" in open("/proc/%d/cgroup" % guest).read()
                             or not cgroups else None, timeout=10)
        out, err = proc.communicate(timeout=30)
    finally:
        _stop(proc)
    assert proc.returncode == 0, err
    lines = [l for l in out.splitlines() if l.strip()]
    assert lines, out
    # Every hierarchy is rooted at the sandbox: no host layout, no brig pid.
    for line in lines:
        assert line.split(":", 2)[2] == "/", lines
    assert "%d-" % proc.pid not in out
    if cgroups:
        # ...and the sandbox cgroup is where the guest really is.
        assert "/brig/%d-" % proc.pid in host_view, host_view


def test_no_sysfs_and_no_cgroupfs_in_the_jail():
    out = guest_json("import json, os; print(json.dumps([os.path.exists(p) for p in "
                     "('/sys', '/sys/fs/cgroup')]))")
    assert out == [False, False]


# ------------------------------------------------------- 1.9: the flock channel

HOLDER = r'''
import fcntl, os, sys, time
for p in sys.argv[1:] or %r:
    fd = os.open(p, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(30)
'''

PROBER = r'''
import errno, fcntl, json, os
out = {}
for p in %r:
    fd = os.open(p, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        out[p] = "free"
    except OSError as e:
        out[p] = errno.errorcode[e.errno]
print(json.dumps(out))
'''


def test_flock_on_shared_files_is_no_channel_between_sandboxes():
    shared = ["/usr/bin/python3", "/dev/null", "/opt/brig/python/agent.py"]
    holder = _popen("--timeout", "40s", "-c", HOLDER % shared)
    try:
        assert holder.stdout.readline().strip() == "locked"
        # A second sandbox probes the same files while the first holds them.
        seen = guest_json(PROBER % shared)
        # So does the host: the first sandbox's flock took no lock at all.
        host = {}
        for p, real in zip(shared, [os.path.realpath("/usr/bin/python3"), "/dev/null",
                                    str(GUEST_DIR / "python" / "agent.py")]):
            with open(real, "rb") as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    host[p] = "free"
                except OSError as e:
                    host[p] = errno.errorcode[e.errno]
    finally:
        _stop(holder)
    assert seen == {p: "free" for p in shared}, seen
    assert host == {p: "free" for p in shared}, host


def test_flock_still_succeeds_for_the_guest():
    # Single-process users (filelock and friends) keep working.
    res = run_ok("import fcntl; f = open('/tmp/x', 'w'); fcntl.flock(f, fcntl.LOCK_EX); "
                 "fcntl.flock(f, fcntl.LOCK_UN); print('ok')")
    assert res["stdout"] == "ok\n"
    res = run_ok("flock /tmp/lock echo locked", "sh")
    assert res["stdout"] == "locked\n"


def test_fcntl_record_locks_still_work_for_sqlite():
    out = guest_json(r'''
import json, sqlite3
db = sqlite3.connect("/tmp/t.db")
db.execute("pragma journal_mode=wal")
db.execute("create table t (x)")
db.executemany("insert into t values (?)", [(i,) for i in range(100)])
db.commit()
other = sqlite3.connect("/tmp/t.db")
print(json.dumps(other.execute("select count(*) from t").fetchone()[0]))
''')
    assert out == 100


# --------------------------------------------------------------- 1.10: core dumps

CRASH = r'''
import ctypes, errno, json, os, resource
libc = ctypes.CDLL(None, use_errno=True)
class Rlimit(ctypes.Structure):
    _fields_ = [("cur", ctypes.c_ulong), ("max", ctypes.c_ulong)]
INF, CORE, NOFILE = resource.RLIM_INFINITY, resource.RLIMIT_CORE, resource.RLIMIT_NOFILE
def result(r):
    return "ok" if r == 0 else errno.errorcode[ctypes.get_errno()]
def set_limit(res, cur, max_):  # glibc's setrlimit is prlimit64(0, res, new, NULL)
    return result(libc.setrlimit(res, ctypes.byref(Rlimit(cur, max_))))
def raw_setrlimit(res, cur, max_):  # the setrlimit system call itself
    return result(libc.syscall(160, res, ctypes.byref(Rlimit(cur, max_))))
def prlimit(res, cur, max_):
    return result(libc.prlimit(0, res, ctypes.byref(Rlimit(cur, max_)), None))
out = {"core": list(resource.getrlimit(CORE))}
out["lower"] = set_limit(CORE, 0, 0)
out["lower_soft"] = set_limit(CORE, 0, 1)
out["raise"] = set_limit(CORE, INF, INF)
out["same"] = set_limit(CORE, 1, 1)
out["raw_lower"] = raw_setrlimit(CORE, 0, 0)
out["prlimit_set"] = prlimit(CORE, 0, 0)
out["prlimit_get"] = list(resource.prlimit(0, CORE))
out["other_limit"] = set_limit(NOFILE, 256, 256)
pid = os.fork()
if pid == 0:
    ctypes.string_at(0)  # SIGSEGV
    os._exit(0)
_, st = os.waitpid(pid, 0)
out["child"] = [os.WIFSIGNALED(st), os.WTERMSIG(st), os.WCOREDUMP(st)]
out["cores"] = sorted(n for n in os.listdir(".") if n.startswith("core"))
print(json.dumps(out))
'''


def test_core_limit_is_one_and_cannot_be_changed():
    out = guest_json(CRASH)
    # RLIMIT_CORE of exactly 1: the kernel aborts a pipe core_pattern helper
    # for it and writes no core file (below the ELF minimum of one page).
    assert out["core"] == [1, 1]
    assert out["prlimit_get"] == [1, 1]
    for attempt in ("lower", "lower_soft", "raise", "same", "raw_lower", "prlimit_set"):
        assert out[attempt] == "EPERM", (attempt, out)
    assert out["other_limit"] == "ok"
    # The crashed child dumped no core, wherever the host's core_pattern points.
    assert out["child"] == [True, 11, False]
    assert out["cores"] == []


def test_crashing_guest_is_reported_as_sigsegv_without_a_core():
    res, rc = run("import ctypes; ctypes.string_at(0)")
    assert res["signal"] == 11 and rc == 128 + 11, describe(res)
    res, rc = run("kill -SEGV $$", "sh")
    assert res["signal"] == 11, describe(res)
    out = run_ok("ulimit -c; (ulimit -c 0) 2>&1; echo rc=$?", "sh")["stdout"].splitlines()
    assert out[-1] != "rc=0", out

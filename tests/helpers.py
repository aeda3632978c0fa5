"""Shared helpers for the integration and security suites.

Everything goes through the `brig` CLI, the way a user or CI would run it.
The binary is $BRIG_BIN when set, else build/brig in the repository.
"""
import functools
import json
import os
import platform
import re
import subprocess
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BRIG_BIN = os.environ.get("BRIG_BIN") or str(REPO_ROOT / "build" / "brig")

# The documented shape of `brig --json`.
JSON_KEYS = {
    "ok", "error", "error_code", "message", "exit_code", "signal", "limit", "stdout",
    "stderr", "stdout_truncated", "stderr_truncated", "wall_ms", "cpu_ms", "warm",
    "proxy_connections", "proxy_refused",
    "artifacts", "artifacts_truncated",
}
LIMITS = {"none", "wall", "cpu", "memory", "pids", "output", "disk"}

# Where the guest agents live on the host, as the CLI resolves it.
GUEST_DIR = Path(os.environ.get("BRIG_GUEST_DIR") or REPO_ROOT / "guest")

IS_ROOT = os.geteuid() == 0

# `pytest --brig-daemon` (conftest.py): a brig daemon in $BRIG_DAEMON_DIR
# serves this pass.
THROUGH_DAEMON = False
# The host uid that guest processes run as: root maps the guest to nobody.
GUEST_HOST_UID = 65534 if IS_ROOT else os.geteuid()
GUEST_HOST_GID = 65534 if IS_ROOT else os.getegid()


def token():
    """A marker no other process on the machine carries."""
    return "brigtest" + uuid.uuid4().hex


def brig(*args, input=None, timeout=60, env=None, pass_fds=(), cwd=None):
    """Run the CLI; returns a CompletedProcess with text stdout/stderr."""
    if isinstance(input, str):
        input = input.encode()
    proc = subprocess.run(
        [BRIG_BIN, *args],
        input=input if input is not None else b"",
        capture_output=True,
        timeout=timeout,
        env=env,
        pass_fds=pass_fds,
        close_fds=True,
        cwd=cwd,
    )
    proc.stdout = proc.stdout.decode("utf-8", "replace")
    proc.stderr = proc.stderr.decode("utf-8", "replace")
    return proc


def parse_result(proc):
    """The JSON object `brig --json` printed, checked for the documented shape."""
    lines = proc.stdout.strip().splitlines()
    assert lines, "brig --json printed nothing (rc=%d, stderr=%r)" % (proc.returncode, proc.stderr)
    res = json.loads(lines[-1])
    assert set(res) == JSON_KEYS, "unexpected --json keys: %r" % sorted(res)
    assert res["limit"] in LIMITS
    return res


def run(code, lang="python", *flags, timeout=60, env=None, pass_fds=(), input=None):
    """Run code with --json; returns (result dict, brig's exit status)."""
    proc = brig("--json", "--lang", lang, *flags, "-c", code, timeout=timeout, env=env,
                pass_fds=pass_fds, input=input)
    res = parse_result(proc)
    if THROUGH_DAEMON and lang in ("python", "py") and env is None and "--no-daemon" not in flags:
        # The daemon's Python zygote is warm: a run that started cold did
        # not go through it, and this pass would test nothing new.
        assert res["warm"] or res["error"] == "ERR_INVALID_ARG", describe(res)
    return res, proc.returncode


def daemon_requests():
    """How many spawn requests the daemon of $BRIG_DAEMON_DIR served, or None."""
    out = subprocess.run([BRIG_BIN, "daemon", "status"], capture_output=True, text=True,
                         timeout=60).stdout
    m = re.search(r"^requests\s+(\d+)", out, re.M)
    return int(m.group(1)) if m else None


def daemon_pid(status_text=None):
    """The pid `brig daemon status` reports (or that in status_text), or None."""
    if status_text is None:
        status_text = subprocess.run([BRIG_BIN, "daemon", "status"], capture_output=True,
                                     text=True, timeout=60).stdout
    m = re.search(r"^pid\s+(\d+)", status_text, re.M)
    return int(m.group(1)) if m else None


def describe(res):
    return "error=%s message=%r exit=%s\nstdout=%s\nstderr=%s" % (
        res["error"], res["message"], res["exit_code"], res["stdout"][-2000:],
        res["stderr"][-2000:])


def run_ok(code, lang="python", *flags, **kw):
    """Run code that must complete with exit status 0; returns the result."""
    res, rc = run(code, lang, *flags, **kw)
    assert res["ok"] and res["exit_code"] == 0 and rc == 0, describe(res)
    return res


def guest_json(code, *flags, **kw):
    """Run Python code whose last stdout line is JSON; returns that value."""
    res = run_ok(code, "python", *flags, **kw)
    lines = res["stdout"].strip().splitlines()
    assert lines, describe(res)
    return json.loads(lines[-1])


def assert_host_survives():
    """brig still works after whatever the previous run did."""
    res, rc = run("print(6 * 7)")
    assert rc == 0 and res["ok"] and res["stdout"] == "42\n", describe(res)


def host_pids_with(marker, prefix=""):
    """Host processes whose command line contains marker (and starts with prefix)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if marker.encode() in cmdline and cmdline.startswith(prefix.encode()):
            found.append(int(entry))
    return found


GUEST_SHELL = "/bin/sh\0-c\0"  # how a --lang sh guest shows in /proc/PID/cmdline


def wait_for(pred, timeout=10.0, interval=0.01):
    """Poll pred until it returns something truthy; returns that value or None."""
    end = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() > end:
            return value
        time.sleep(interval)


@functools.lru_cache(maxsize=None)
def cgroup_controllers():
    """The cgroup controllers brig uses here, as `brig doctor` reports them."""
    try:
        out = subprocess.run([BRIG_BIN, "doctor"], capture_output=True, text=True,
                             timeout=60).stdout
    except OSError:
        return frozenset()
    m = re.search(r"^cgroup\s+\S+\s+(.*)$", out, re.M)
    if not m or "none usable" in m.group(1):
        return frozenset()
    return frozenset(m.group(1).split(":", 1)[-1].split())


# ------------------------------------------------------- guest-side helpers

# Python to put before guest code that attempts something and reports how it
# failed.  It defines:
#   errname(e)      the errno name of an OSError ("ENOENT"), "gaierror" for a
#                   failed name lookup, the number as text for an errno Python
#                   has no name for;
#   attempt(fn, *a) fn(*a) -> "worked", or errname() of the OSError it raised;
#   outcome(fn)     fn() -> ["worked", repr(result)[:80]], or [exception type
#                   name, message] for any exception (host calls raise
#                   PermissionError, ValueError, ... with a message to check).
GUEST_PRELUDE = r'''
import errno, json, os
def errname(e):
    if type(e).__name__ == "gaierror":
        return "gaierror"
    return errno.errorcode.get(e.errno, str(e.errno))
def attempt(fn, *args):
    try:
        fn(*args)
        return "worked"
    except OSError as e:
        return errname(e)
def outcome(fn):
    try:
        return ["worked", repr(fn())[:80]]
    except Exception as e:
        return [type(e).__name__, str(e)]
'''


# ------------------------------------------------------- raw syscalls in the guest

# The try-syscall technique: call with bogus arguments.  Blocked by the policy
# means EPERM or ENOSYS; a call that reached the kernel fails with EFAULT,
# EBADF or EINVAL instead.
SYSCALL_PRELUDE = r'''
import ctypes, errno, json, os
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
def sys_call(nr, *args):
    ctypes.set_errno(0)
    r = _libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    e = ctypes.get_errno()
    if r == 0 and nr in CLONE_NRS:
        os._exit(0)  # a forked child must never run the rest of the test
    return {"ret": r, "errno": errno.errorcode.get(e, str(e)) if r == -1 else None}
'''

MACHINE = platform.machine()

# name: (x86_64, aarch64)
_SYSCALLS = {
    "read": (0, 63),
    "close": (3, 57),
    "ioctl": (16, 29),
    "uname": (63, 160),
    "getpid": (39, 172),
    "kill": (62, 129),
    "clone": (56, 220),
    "clone3": (435, 435),
    "ptrace": (101, 117),
    "mount": (165, 40),
    "umount2": (166, 39),
    "pivot_root": (155, 41),
    "chroot": (161, 51),
    "unshare": (272, 97),
    "setns": (308, 268),
    "keyctl": (250, 219),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "kexec_load": (246, 104),
    "kexec_file_load": (320, 294),
    "init_module": (175, 105),
    "finit_module": (313, 273),
    "delete_module": (176, 106),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "pidfd_getfd": (438, 438),
    "pidfd_open": (434, 434),
    "kcmp": (312, 272),
    "name_to_handle_at": (303, 264),
    "open_by_handle_at": (304, 265),
    "open_tree": (428, 428),
    "move_mount": (429, 429),
    "fsopen": (430, 430),
    "fsmount": (432, 432),
    "fspick": (433, 433),
    "mount_setattr": (442, 442),
    "reboot": (169, 142),
    "swapon": (167, 224),
    "sethostname": (170, 161),
    "setdomainname": (171, 162),
    "settimeofday": (164, 170),
    "clock_settime": (227, 112),
    "adjtimex": (159, 171),
    "acct": (163, 89),
    "syslog": (103, 116),
    "personality": (135, 92),
    "quotactl": (179, 60),
    "vhangup": (153, 58),
    "modify_ldt": (154, None),
    "iopl": (172, None),
    "ioperm": (173, None),
    "setuid": (105, 146),
    "setresuid": (117, 147),
}


def nr(name):
    """The syscall number of name on this machine, or None."""
    col = {"x86_64": 0, "aarch64": 1}.get(MACHINE)
    return None if col is None else _SYSCALLS[name][col]


def syscall_prelude():
    """Guest code defining sys_call(nr, *args) -> {"ret", "errno"}, after GUEST_PRELUDE."""
    clones = {n for n in (nr("clone"), nr("clone3")) if n is not None}
    return GUEST_PRELUDE + SYSCALL_PRELUDE.replace("CLONE_NRS", repr(clones or set()))

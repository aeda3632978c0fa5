# The Python half of tests/capi/test_warm.c: looks for what earlier runs
# left behind, leaves as much behind as it can, and checks that it can see
# its own traces (so that a search that finds nothing is not a blind one).
#
# stdin: {"token": "tk...", "mode": "...", "round": N or null}.  Every trace
# carries the token (or a number made from it), so a trace is told apart as
# this run's own or another run's.  Output, one line each:
#   FP name value    state at start that must be the same in every run
#   RAND kind value  values that must differ in every run
#   NS kind target   the namespaces this run is in
#   LEAK kind what   a trace of another run (before planting: any trace)
#   SEEN kind        this run found its own trace of kind
#   MISSED kind why  it did not (or could not plant it)
#   NA kind why      the jail does not allow planting it (allowed kinds only)
#   BAD what         a check inside the guest failed
#   KINDS n          how many kinds there are; then DONE
# then ends the way "mode" says, after planting an atexit handler and
# unflushed output that carry the token.
import atexit
import builtins
import codecs
import ctypes
import errno
import gc
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import types

ARGS = json.loads(sys.stdin.read())
TOK = ARGS["token"]
MODE = ARGS["mode"]
ROUND = ARGS.get("round")
TOKRE = re.compile(r"tk[0-9a-f]{10}")
NUM = int(TOK[2:], 16)
PORT = 20000 + NUM % 40000
IPC_KEY = (NUM >> 12) | 1
LIBC = ctypes.CDLL(None, use_errno=True)
KEEP = []  # what must stay open (sockets, fds, threads) until the run ends


def out(*words):
    print(*words, flush=True)


def tokens(text):
    return set(TOKRE.findall(text))


def read(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return "" if mode == "r" else b""


# ---------------------------------------------------------------- files

CANDIDATES = ["/tmp", "/home/user", "/dev/shm", "/", "/home", "/dev", "/var/tmp", "/run",
              "/opt", "/etc", "/usr/local", "/run/user", "/dev/mqueue", "/tmp/.X11-unix"]


def writable_dirs():
    found = []
    for d in CANDIDATES + [os.getcwd()]:
        if os.path.isdir(d) and os.access(d, os.W_OK) and d not in found:
            found.append(d)
    return found


def plant_files():
    for d in writable_dirs():
        with open(os.path.join(d, "carry-f-" + TOK), "w") as f:
            f.write(TOK)
        with open(os.path.join(d, ".carry-h-" + TOK), "w") as f:
            f.write(TOK)
        sub = os.path.join(d, "carry-d-" + TOK)
        os.mkdir(sub)
        with open(os.path.join(sub, "inner-" + TOK), "w") as f:
            f.write(TOK)
        os.symlink("/tmp", os.path.join(d, "carry-l-" + TOK))
        os.mkfifo(os.path.join(d, "carry-p-" + TOK))
        s = socket.socket(socket.AF_UNIX)
        s.bind(os.path.join(d, "carry-s-" + TOK))
        KEEP.append(s)
    with open("carry-cwd-" + TOK, "w") as f:  # relative: the working directory
        f.write(TOK)


def find_files():
    found = set()
    for d in writable_dirs():
        for root, dirs, files in os.walk(d):
            if root != d and not root.startswith(("/tmp", "/home/user", "/dev/shm", "/var/tmp")):
                dirs[:] = []  # the rest is read-only: one level is enough
            for name in dirs + files:
                if "carry" in name or TOKRE.search(name):
                    found |= tokens(name) or {"?" + os.path.join(root, name)}
    return found


def listing():
    """Every name under the writable directories, for the fingerprint."""
    names = []
    for d in ("/tmp", "/home/user", "/dev/shm"):
        for root, dirs, files in os.walk(d):
            names += [os.path.join(root, n) for n in dirs + files]
    return ",".join(sorted(names)) or "-"


def plant_shm():
    import _posixshmem  # shm_open; multiprocessing's wrapper would start a tracker process

    KEEP.append(_posixshmem.shm_open("/carry-shm-" + TOK, os.O_CREAT | os.O_RDWR, 0o600))


def find_shm():
    return tokens(" ".join(n for n in os.listdir("/dev/shm") if n.startswith("carry-shm-")))


# ---------------------------------------------------------- environment


def plant_env():
    os.environ["CARRY_ENV"] = TOK
    os.environ["TZ"] = "CARRY" + TOK


def find_env():
    return tokens(" ".join(k + "=" + v for k, v in os.environ.items()))


def plant_putenv():
    os.putenv("CARRY_PUTENV", TOK)  # the C environment only, not os.environ


def find_putenv():
    env = subprocess.run(["/usr/bin/env"], capture_output=True, text=True).stdout
    return tokens(env) | tokens(read("/proc/self/environ", "rb").decode(errors="replace"))


# --------------------------------------------------------- module state


def marked(obj):
    v = getattr(obj, "__carry__", None)
    return {v} if isinstance(v, str) else set()


def mark(fn):
    def wrapper(*a, **k):
        return fn(*a, **k)

    wrapper.__carry__ = TOK
    return wrapper


def plant_sys_modules():
    sys.modules["carry_mod_" + TOK] = types.ModuleType("carry_mod_" + TOK)


def find_sys_modules():
    return tokens(" ".join(k for k in list(sys.modules) if "carry" in k))


def plant_module_attrs():
    import warnings

    with warnings.catch_warnings():  # typing.io and typing.re warn on any access
        warnings.simplefilter("ignore")
        for m in list(sys.modules.values()):
            try:
                m.__carry__ = TOK
            except (AttributeError, TypeError):
                pass


def find_module_attrs():
    import warnings

    found = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for m in list(sys.modules.values()):
            try:
                found |= marked(m)
            except Exception:  # lazy modules may raise on any attribute
                pass
    return found


def plant_builtins():
    builtins.carry_builtin = TOK
    builtins.len = mark(builtins.len)
    builtins.print = mark(builtins.print)


def find_builtins():
    return ({getattr(builtins, "carry_builtin", None)} - {None}) | marked(builtins.len) | \
        marked(builtins.print)


def plant_stdlib_patch():
    json.dumps = mark(json.dumps)
    os.path.join = mark(os.path.join)
    time.sleep = mark(time.sleep)
    socket.socket.carry_attr = TOK  # a class attribute of a C-level type's subclass


def find_stdlib_patch():
    found = marked(json.dumps) | marked(os.path.join) | marked(time.sleep)
    return found | ({getattr(socket.socket, "carry_attr", None)} - {None})


def plant_sys_path():
    sys.path.append("/carry/" + TOK)
    sys.path_importer_cache["/carry/" + TOK] = None


def find_sys_path():
    return tokens(" ".join(sys.path) + " ".join(map(str, sys.path_importer_cache)))


class CarryFinder:
    carry = TOK

    @staticmethod
    def find_spec(name, path=None, target=None):
        return None


def plant_import_hooks():
    sys.meta_path.insert(0, CarryFinder)
    sys.path_hooks.append(mark(lambda p: (_ for _ in ()).throw(ImportError())))


def find_import_hooks():
    found = set()
    for f in sys.meta_path:
        found |= tokens(str(getattr(f, "carry", "")))
    for h in sys.path_hooks:
        found |= marked(h)
    return found


def plant_sys_hooks():
    sys.excepthook = mark(sys.excepthook)
    sys.displayhook = mark(sys.displayhook)
    sys.breakpointhook = mark(sys.breakpointhook)
    sys.unraisablehook = mark(sys.unraisablehook)


def find_sys_hooks():
    return marked(sys.excepthook) | marked(sys.displayhook) | marked(sys.breakpointhook) | \
        marked(sys.unraisablehook)


def audit(event, args):
    if event == "carry.probe":
        args[0].append(TOK)


def plant_audit_hook():
    sys.addaudithook(audit)  # cannot be removed: it lives as long as the interpreter


def find_audit_hook():
    seen = []
    sys.audit("carry.probe", seen)
    return set(seen)


def carry_codec(name):
    if name == "carry":
        info = codecs.lookup("utf-8")
        return codecs.CodecInfo(info.encode, info.decode, name="carry-" + TOK)
    return None


def plant_codec():
    codecs.register(carry_codec)


def find_codec():
    try:
        return tokens(codecs.lookup("carry").name)
    except LookupError:
        return set()


def plant_at_fork():
    os.register_at_fork(after_in_child=lambda: open("/tmp/atfork-" + TOK, "w").close())


def find_at_fork():
    """Fork a child that exits at once: the handlers of this interpreter run in it."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    found = set()
    for name in os.listdir("/tmp"):
        if name.startswith("atfork-"):
            found |= tokens(name)
            os.unlink("/tmp/" + name)
    return found


def plant_warnings():
    import warnings

    warnings.filterwarnings("ignore", message="carry-" + TOK)


def find_warnings():
    import warnings

    return tokens(str(warnings.filters))


def plant_logging():
    import logging

    logging.getLogger("carry-" + TOK).addHandler(logging.NullHandler())


def find_logging():
    import logging

    return tokens(" ".join(logging.Logger.manager.loggerDict))


def plant_linecache():
    import linecache

    linecache.cache["<carry-%s>" % TOK] = (1, None, ["x\n"], "<carry>")


def find_linecache():
    import linecache

    return tokens(" ".join(map(str, linecache.cache)))


def plant_asyncio():
    import asyncio

    class CarryPolicy(asyncio.DefaultEventLoopPolicy):
        carry = TOK

    asyncio.set_event_loop_policy(CarryPolicy())


def find_asyncio():
    import asyncio

    return tokens(str(getattr(asyncio.get_event_loop_policy(), "carry", "")))


def plant_signal_handler():
    handler = mark(lambda *a: None)
    for s in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGALRM):
        signal.signal(s, handler)


def find_signal_handler():
    found = set()
    for s in signal.valid_signals():
        try:
            found |= marked(signal.getsignal(s))
        except (ValueError, OSError):
            pass
    return found


def plant_thread():
    t = threading.Thread(target=time.sleep, args=(3600,), name="carry-thread-" + TOK, daemon=True)
    t.start()
    KEEP.append(t)


def find_thread():
    return tokens(" ".join(t.name for t in threading.enumerate()))


# ------------------------------------------------------------ processes


def cmdlines(prefix):
    found = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            cmd = read("/proc/%s/cmdline" % pid, "rb").decode(errors="replace")
            if prefix in cmd:
                found |= tokens(cmd)
    return found


def sleeper(name, **kw):
    subprocess.Popen([name + TOK, "3600"], executable="/bin/sleep", stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def plant_proc_bg():
    sleeper("carry-bg-")


def plant_proc_setsid():
    sleeper("carry-setsid-", start_new_session=True)


def plant_proc_stopped():
    p = subprocess.Popen(["carry-stopped-" + TOK, "3600"], executable="/bin/sleep")
    os.kill(p.pid, signal.SIGSTOP)


def plant_proc_dfork():
    """A daemon: fork, setsid, fork again; the grandchild keeps stdout open."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                os.execv("/bin/sleep", ["carry-dfork-" + TOK, "3600"])
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def plant_zombie():
    """A child that exits and is never waited for."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    with open("/tmp/carry-zombie-pid-" + TOK, "w") as f:
        f.write(str(pid))


def find_zombie():
    found = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit() and read("/proc/%s/stat" % pid).split(") ")[-1][:1] == "Z":
            found.add("zombie:" + pid)
    return found


def zombie_marker():
    return "zombie:" + read("/tmp/carry-zombie-pid-" + TOK).strip()


# ------------------------------------------------------------------ fds


def plant_fds():
    f = os.open("/tmp/carry-fd-" + TOK, os.O_CREAT | os.O_RDWR, 0o600)
    os.dup2(f, 200)  # inheritable
    os.unlink("/tmp/carry-fd-" + TOK)  # open but deleted
    os.open("/home/user", os.O_RDONLY | os.O_DIRECTORY)  # a directory fd, never closed
    try:
        fd = os.memfd_create("carry-memfd-" + TOK)
        os.dup2(fd, 201)
    except OSError:
        pass


def find_fds():
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            found |= tokens(os.readlink("/proc/self/fd/" + fd))
        except OSError:
            pass
    return found


def fd_table():
    entries = []
    for fd in sorted(os.listdir("/proc/self/fd"), key=int):
        try:
            target = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue  # the directory listing's own fd, closed by now
        entries.append(fd + "=" + re.sub(r"\[\d+\]", "", target))
    return ",".join(entries)


# ------------------------------------------------------------- network


def listening(table, state):
    ports = set()
    for line in read(table).splitlines()[1:]:
        f = line.split()
        if len(f) > 3 and (state is None or f[3] == state):
            ports.add(int(f[1].rsplit(":", 1)[1], 16))
    return ports


def plant_tcp():
    s = socket.socket()
    s.bind(("127.0.0.1", PORT))
    s.listen()
    KEEP.append(s)


def find_tcp():
    ports = listening("/proc/net/tcp", "0A") | listening("/proc/net/tcp6", "0A")
    return {"tcp:%d" % p for p in ports}


def plant_udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", PORT))
    KEEP.append(s)


def find_udp():
    return {"udp:%d" % p for p in listening("/proc/net/udp", None)}


def plant_abstract():
    s = socket.socket(socket.AF_UNIX)
    s.bind(b"\0carry-u-" + TOK.encode())
    s.listen()
    KEEP.append(s)


def find_abstract():
    return tokens(" ".join(line for line in read("/proc/net/unix").splitlines() if "@carry" in line))


def plant_hostname():
    socket.sethostname("carry-" + TOK)


def find_hostname():
    return tokens(socket.gethostname() + " " + read("/proc/sys/kernel/hostname") + " " +
                  read("/proc/sys/kernel/domainname"))


# ---------------------------------------------------------- System V IPC


def sysv(fn, *args):
    r = fn(*args)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def plant_sysv_msg():
    sysv(LIBC.msgget, IPC_KEY, 0o1600)


def plant_sysv_shm():
    sysv(LIBC.shmget, IPC_KEY, 4096, 0o1600)


def plant_sysv_sem():
    sysv(LIBC.semget, IPC_KEY, 1, 0o1600)


def ipc_keys(what):
    keys = set()
    for line in read("/proc/sysvipc/" + what).splitlines()[1:]:
        if line.split():
            keys.add("ipc:%d" % int(line.split()[0]))
    return keys


# ------------------------------------------------- process-wide settings
# Not markable with a token: the fingerprint compares them across runs, and
# the post-check proves the change took.


def fingerprint():
    import decimal
    import faulthandler
    import locale

    status = dict(line.split(":\t", 1) for line in read("/proc/self/status").splitlines()
                  if ":\t" in line)
    fp = {
        "umask": status.get("Umask"),
        "sigblk": status.get("SigBlk"),
        "sigign": status.get("SigIgn"),
        "sigcgt": status.get("SigCgt"),
        "threads": status.get("Threads"),
        "nonewprivs": status.get("NoNewPrivs"),
        "seccomp": status.get("Seccomp") + "/" + status.get("Seccomp_filters", "?"),
        "capeff": status.get("CapEff"),
        "uid": status.get("Uid"),
        "cwd": os.getcwd(),
        "limits": read("/proc/self/limits").replace("\n", "|"),
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
        "hostname": socket.gethostname(),
        "uname": " ".join(os.uname()[:2]),
        "recursionlimit": sys.getrecursionlimit(),
        "switchinterval": sys.getswitchinterval(),
        "int_max_str_digits": sys.get_int_max_str_digits(),
        "gc": "%s %s" % (gc.isenabled(), gc.get_threshold()),
        "socket_timeout": socket.getdefaulttimeout(),
        "decimal_prec": decimal.getcontext().prec,
        "locale": locale.setlocale(locale.LC_ALL),
        "faulthandler": faulthandler.is_enabled(),
        "trace": (sys.gettrace(), sys.getprofile()),
        "py_signals": ",".join("%d:%s" % (s, handler_name(s)) for s in sorted(signal.valid_signals())),
        "fds": fd_table(),
        "files": listing(),
        "procs": ",".join(sorted(read("/proc/%s/comm" % p).strip()
                                 for p in os.listdir("/proc") if p.isdigit())),
        "env": ",".join(sorted(os.environ)),
        "sys_path": ",".join(sys.path),
        "meta_path": ",".join(type(f).__name__ if not isinstance(f, type) else f.__name__
                              for f in sys.meta_path),
        "stdout": type(sys.stdout).__name__,
    }
    for k in sorted(fp):
        out("FP", k, fp[k])


def handler_name(s):
    try:
        h = signal.getsignal(s)
    except (ValueError, OSError):
        return "?"
    return {signal.SIG_DFL: "dfl", signal.SIG_IGN: "ign", None: "none"}.get(h, "py")


def plant_settings():
    import decimal
    import faulthandler
    import locale
    import resource

    os.umask(0o077)
    os.nice(3)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGWINCH])
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_NOFILE, (100, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    resource.setrlimit(resource.RLIMIT_STACK, (4 << 20, resource.getrlimit(resource.RLIMIT_STACK)[1]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
    sys.setrecursionlimit(777)
    sys.setswitchinterval(0.0123)
    sys.set_int_max_str_digits(1234)
    gc.disable()
    gc.set_threshold(7, 7, 7)
    socket.setdefaulttimeout(3.5)
    decimal.getcontext().prec = 7
    locale.setlocale(locale.LC_ALL, "C")
    faulthandler.enable()
    os.chdir("/tmp/carry-d-" + TOK)


def settings_took():
    import resource

    ok = (os.umask(0o077) == 0o077 and os.getpriority(os.PRIO_PROCESS, 0) == 3 and
          signal.SIGWINCH in signal.pthread_sigmask(signal.SIG_BLOCK, []) and
          resource.getrlimit(resource.RLIMIT_NOFILE)[0] == 100 and
          sys.getrecursionlimit() == 777 and not gc.isenabled() and
          socket.getdefaulttimeout() == 3.5 and TOK in os.getcwd())
    out("SEEN settings" if ok else "MISSED settings not all changed")


# ------------------------------------------------------------ randomness


def randomness():
    import random
    import secrets
    import tempfile
    import uuid

    out("RAND random", random.random())
    out("RAND getrandbits", random.getrandbits(64))
    out("RAND uuid4", uuid.uuid4())
    out("RAND urandom", os.urandom(16).hex())
    out("RAND secrets", secrets.token_hex(16))
    out("RAND tempfile", next(tempfile._get_candidate_names()))
    out("RAND random_instance", random.Random().random())
    random.seed(1)  # whatever runs next must not start from this


# ------------------------------------------------------------------ main

# name, plant, find, own marker (default: the token).  Kinds that the jail
# may refuse to plant are in test_warm.c's list of allowed NA kinds.
KINDS = [
    ("files", plant_files, find_files, None),
    ("posix_shm", plant_shm, find_shm, None),
    ("env", plant_env, find_env, None),
    ("putenv", plant_putenv, find_putenv, None),
    ("sys_modules", plant_sys_modules, find_sys_modules, None),
    ("module_attrs", plant_module_attrs, find_module_attrs, None),
    ("builtins", plant_builtins, find_builtins, None),
    ("stdlib_patch", plant_stdlib_patch, find_stdlib_patch, None),
    ("sys_path", plant_sys_path, find_sys_path, None),
    ("import_hooks", plant_import_hooks, find_import_hooks, None),
    ("sys_hooks", plant_sys_hooks, find_sys_hooks, None),
    ("audit_hook", plant_audit_hook, find_audit_hook, None),
    ("codec", plant_codec, find_codec, None),
    ("warnings", plant_warnings, find_warnings, None),
    ("logging", plant_logging, find_logging, None),
    ("linecache", plant_linecache, find_linecache, None),
    ("asyncio_policy", plant_asyncio, find_asyncio, None),
    ("signal_handler", plant_signal_handler, find_signal_handler, None),
    ("thread", plant_thread, find_thread, None),
    ("proc_bg", plant_proc_bg, lambda: cmdlines("carry-bg-"), None),
    ("proc_setsid", plant_proc_setsid, lambda: cmdlines("carry-setsid-"), None),
    ("proc_stopped", plant_proc_stopped, lambda: cmdlines("carry-stopped-"), None),
    ("proc_dfork", plant_proc_dfork, lambda: cmdlines("carry-dfork-"), None),
    ("zombie", plant_zombie, find_zombie, zombie_marker),
    ("fds", plant_fds, find_fds, None),
    ("tcp_listen", plant_tcp, find_tcp, lambda: "tcp:%d" % PORT),
    ("udp_bound", plant_udp, find_udp, lambda: "udp:%d" % PORT),
    ("abstract_socket", plant_abstract, find_abstract, None),
    ("hostname", plant_hostname, find_hostname, None),
    ("sysv_msg", plant_sysv_msg, lambda: ipc_keys("msg"), lambda: "ipc:%d" % IPC_KEY),
    ("sysv_shm", plant_sysv_shm, lambda: ipc_keys("shm"), lambda: "ipc:%d" % IPC_KEY),
    ("sysv_sem", plant_sysv_sem, lambda: ipc_keys("sem"), lambda: "ipc:%d" % IPC_KEY),
    ("at_fork", plant_at_fork, find_at_fork, None),  # forks: after every other plant
]


def barrier(step):
    if ROUND is not None:
        call("barrier", round=ROUND, step=step)  # noqa: F821 (the guest API)


def search(find):
    try:
        return find()
    except Exception as e:
        return {"?error:%s" % e}


def main():
    if os.getpid() != int(os.readlink("/proc/self")):
        out("BAD getpid %d != /proc/self %s" % (os.getpid(), os.readlink("/proc/self")))
    fingerprint()
    randomness()
    for ns in ("pid", "mnt", "net", "ipc", "uts", "cgroup", "user"):
        out("NS", ns, os.readlink("/proc/self/ns/" + ns))
    for name, plant, find, own in KINDS:
        left = search(find)
        if left:
            out("LEAK", name, "before planting:", " ".join(sorted(left)))
    barrier(1)
    planted = {}
    for name, plant, find, own in KINDS:
        try:
            plant()
            planted[name] = None
        except OSError as e:
            if e.errno in (errno.EPERM, errno.EACCES, errno.ENOSYS, errno.EROFS):
                planted[name] = "%s" % e
            else:
                out("MISSED", name, "plant failed: %r" % e)
                planted[name] = "failed"
    plant_settings()
    barrier(2)
    deadline = time.monotonic() + 5
    for name, plant, find, own in KINDS:
        mine = own() if own else TOK
        found = search(find)
        # A daemon's grandchild execs, and a child exits, a moment later.
        while mine not in found and name.startswith(("proc_", "zombie")) and \
                time.monotonic() < deadline:
            time.sleep(0.01)
            found = search(find)
        if found - {mine}:
            out("LEAK", name, " ".join(sorted(found - {mine})))
        if planted[name] == "failed":
            continue
        if planted[name] is not None:
            out("NA" if mine not in found else "BAD", name, planted[name])
        elif mine in found:
            out("SEEN", name)
        else:
            out("MISSED", name, "own trace not found")
    settings_took()
    out("KINDS", len(KINDS) + 1)
    out("DONE")
    atexit.register(lambda: print("carry-atexit", TOK))
    sys.stdout.write("carry-unflushed %s\n" % TOK)  # stays in the buffer: no flush
    LIBC.printf(b"carry-cbuf %s\n", TOK.encode())  # in C stdio's buffer
    sys.settrace(lambda *a: None)
    sys.setprofile(lambda *a: None)
    finish()


def finish():
    if MODE == "sys_exit":
        sys.exit(7)
    if MODE == "os_exit":
        os._exit(5)
    if MODE == "raise":
        raise ValueError("carry-raise " + TOK)
    if MODE == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if MODE in ("timeout", "cancel"):
        while True:
            time.sleep(1)  # until the host ends the run


main()

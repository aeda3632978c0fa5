"""The seccomp policy, probed with the try-syscall technique.

A syscall called with bogus arguments fails with EFAULT, EBADF or EINVAL when
it reaches the kernel.  EPERM or ENOSYS with the same arguments means the
policy stopped it first.  The control tests prove the technique on calls the
policy allows.
"""
import json

import pytest

from helpers import GUEST_PRELUDE, MACHINE, describe, guest_json, nr, run, syscall_prelude

needs_known_arch = pytest.mark.skipif(nr("getpid") is None,
                                      reason="syscall numbers known for x86_64 and aarch64 only")
x86_64_only = pytest.mark.skipif(MACHINE != "x86_64", reason="x86-specific ABI")

BLOCKED = ("EPERM", "ENOSYS")


def syscalls(calls):
    """Run [(name, args...)] in the guest; returns [{"ret", "errno"}]."""
    code = syscall_prelude() + "print(json.dumps([sys_call(*c) for c in %r]))" % (
        [(nr(c[0]),) + tuple(c[1:]) for c in calls],)
    return guest_json(code)


def one(name, *args):
    return syscalls([(name,) + args])[0]


# ------------------------------------------------------------------ controls


@needs_known_arch
def test_control_allowed_syscalls_reach_the_kernel():
    out = syscalls([("close", 99999), ("read", -1, 0, 10), ("uname", 1),
                    ("ioctl", 0, 0x5401, 0)])  # TCGETS on /dev/null
    assert [r["errno"] for r in out] == ["EBADF", "EBADF", "EFAULT", "ENOTTY"]


def test_process_is_locked_down():
    out = guest_json(r'''
import json
st = dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\t" in l)
print(json.dumps({k: st[k].strip() for k in ("Seccomp", "NoNewPrivs", "CapInh", "CapPrm",
                                             "CapEff", "CapBnd", "CapAmb", "Uid", "Gid")}))
''')
    assert out["Seccomp"] == "2"  # filter mode
    assert out["NoNewPrivs"] == "1"
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(out[cap], 16) == 0, (cap, out[cap])
    assert out["Uid"].split() == ["1000"] * 4
    assert out["Gid"].split() == ["1000"] * 4


# ------------------------------------------------- denied syscall classes

# (name, bogus args) — every one of these reaches EFAULT/EBADF/EINVAL when allowed.
DENIED = [
    ("ptrace", 16, 1, 0, 0),           # PTRACE_ATTACH to pid 1
    ("mount", 0, 0, 0, 0, 0),
    ("umount2", 0, 0),
    ("pivot_root", 0, 0),
    ("chroot", 0),
    ("unshare", 0x10000000),           # CLONE_NEWUSER
    ("setns", -1, 0),
    ("keyctl", 1, 0, 0, 0, 0),         # KEYCTL_JOIN_SESSION_KEYRING(NULL)
    ("add_key", 0, 0, 0, 0, 0),
    ("request_key", 0, 0, 0, 0),
    ("bpf", 0, 0, 0),                  # BPF_MAP_CREATE with a NULL attr
    ("perf_event_open", 0, 0, -1, -1, 0),
    ("userfaultfd", 0),
    ("io_uring_setup", 1, 0),
    ("io_uring_enter", -1, 0, 0, 0, 0, 0),
    ("io_uring_register", -1, 0, 0, 0),
    ("kexec_load", 0, 0, 0, 0),
    ("kexec_file_load", -1, -1, 0, 0, 0),
    ("init_module", 0, 0, 0),
    ("finit_module", -1, 0, 0),
    ("delete_module", 0, 0),
    ("process_vm_readv", 1, 0, 1, 0, 1, 0),
    ("process_vm_writev", 1, 0, 1, 0, 1, 0),
    ("pidfd_getfd", -1, 0, 0),
    ("kcmp", 1, 1, 0, 0, 0),
    ("name_to_handle_at", -100, 0, 0, 0, 0),
    ("open_by_handle_at", -1, 0, 0),
    ("open_tree", -1, 0, 0),
    ("move_mount", -1, 0, -1, 0, 0),
    ("fsopen", 0, 0),
    ("fsmount", -1, 0, 0),
    ("fspick", -1, 0, 0),
    ("mount_setattr", -1, 0, 0, 0, 0),
    ("reboot", 0, 0, 0, 0),
    ("swapon", 0, 0),
    ("sethostname", 0, 1),
    ("setdomainname", 0, 1),
    ("settimeofday", 1, 1),
    ("clock_settime", 0, 0),
    ("adjtimex", 0),
    ("acct", 1),
    ("syslog", 3, 0, 10),              # SYSLOG_ACTION_READ_ALL
    ("quotactl", 0, 0, 0, 0),
    ("vhangup",),
    ("personality", 0x0400000),        # READ_IMPLIES_EXEC
    ("modify_ldt", 0, 0, 0),
    ("iopl", 3),
    ("ioperm", 0, 1024, 1),
]

MANDATORY = {"ptrace", "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "keyctl",
             "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "kexec_load",
             "init_module"}


@pytest.mark.parametrize("call", DENIED, ids=[c[0] for c in DENIED])
def test_denied_syscall(call):
    if nr(call[0]) is None:
        pytest.skip("%s does not exist on %s" % (call[0], MACHINE))
    r = one(*call)
    assert r["ret"] == -1
    if call[0] in MANDATORY:
        # The design names these: they must be refused as a refusal, EPERM.
        assert r["errno"] == "EPERM", r
    else:
        assert r["errno"] in BLOCKED, r


@needs_known_arch
def test_ptrace_traceme_is_refused():
    # Without the policy PTRACE_TRACEME simply succeeds.
    r = one("ptrace", 0, 0, 0, 0)
    assert (r["ret"], r["errno"]) == (-1, "EPERM")


@needs_known_arch
def test_ptrace_attach_to_own_child_is_refused():
    out = guest_json(syscall_prelude() + r'''
import signal, time
pid = os.fork()
if pid == 0:
    time.sleep(5)
    os._exit(0)
r = sys_call(%d, 16, pid, 0, 0)  # PTRACE_ATTACH
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
print(json.dumps(r))
''' % nr("ptrace"))
    assert out == {"ret": -1, "errno": "EPERM"}


def test_process_vm_readv_on_own_child_is_refused():
    out = guest_json(r'''
import ctypes, errno, json, os, signal, time
libc = ctypes.CDLL(None, use_errno=True)
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
secret = ctypes.create_string_buffer(b"child secret", 64)
pid = os.fork()
if pid == 0:
    time.sleep(5)
    os._exit(0)
buf = ctypes.create_string_buffer(64)
local = iovec(ctypes.cast(buf, ctypes.c_void_p), 64)
remote = iovec(ctypes.cast(secret, ctypes.c_void_p), 64)
libc.process_vm_readv.restype = ctypes.c_ssize_t
n = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
e = ctypes.get_errno()
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
print(json.dumps([n, errno.errorcode.get(e), buf.value.decode()]))
''')
    assert out == [-1, "EPERM", ""]


def test_mount_attack_with_real_arguments():
    out = guest_json(r'''
import ctypes, errno, json
libc = ctypes.CDLL(None, use_errno=True)
def e(r):
    return "worked" if r == 0 else errno.errorcode[ctypes.get_errno()]
MNT_DETACH = 2
print(json.dumps([e(libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, b"size=1m")),
                  e(libc.umount2(b"/proc/sys", MNT_DETACH)),
                  e(libc.umount2(b"/proc/kallsyms", MNT_DETACH)),
                  e(libc.umount2(b"/", MNT_DETACH))]))
''')
    assert out == ["EPERM"] * 4


def test_pivot_root_attack():
    out = guest_json(syscall_prelude() + r'''
import ctypes
os.makedirs("/tmp/new/old")
libc = ctypes.CDLL(None, use_errno=True)
r = libc.syscall(%d, b"/tmp/new", b"/tmp/new/old")
print(json.dumps([r, errno.errorcode.get(ctypes.get_errno())]))
''' % (nr("pivot_root") or -1))
    assert out == [-1, "EPERM"]


def test_chroot_escape_attempt():
    out = guest_json(GUEST_PRELUDE + r'''
os.makedirs("/tmp/jail/inner", exist_ok=True)
keep = os.open("/", os.O_RDONLY)
try:
    os.chroot("/tmp/jail")
    step = "chrooted"
except OSError as e:
    step = errname(e)
# The classic escape: fchdir to a directory outside the new root, climb, chroot(".").
os.fchdir(keep)
for _ in range(64):
    os.chdir("..")
try:
    os.chroot(".")
    second = "chrooted"
except OSError as e:
    second = errname(e)
print(json.dumps([step, second, os.getcwd(), sorted(os.listdir(".")) == sorted(os.listdir("/")),
                  os.path.exists("/work") or os.path.exists("/root")]))
''')
    assert out == ["EPERM", "EPERM", "/", True, False]


def test_unshare_every_namespace_is_refused():
    out = guest_json(syscall_prelude() + r'''
flags = {"user": 0x10000000, "mnt": 0x20000, "pid": 0x20000000, "net": 0x40000000,
         "ipc": 0x8000000, "uts": 0x4000000, "cgroup": 0x2000000, "time": 0x80}
print(json.dumps({k: sys_call(NR, v)["errno"] for k, v in flags.items()}))
'''.replace("NR", str(nr("unshare") or -1)))
    assert set(out.values()) == {"EPERM"}, out


def test_unshare_command_fails():
    res, _ = run("unshare -r id -u 2>&1; echo rc=$?", "sh")
    assert res["ok"], describe(res)
    assert "rc=0" not in res["stdout"]
    assert "Operation not permitted" in res["stdout"]


def test_setns_into_own_namespaces_is_refused():
    out = guest_json(syscall_prelude() + r'''
r = {}
for ns in ("user", "mnt", "net", "pid", "uts", "ipc", "cgroup"):
    fd = os.open("/proc/self/ns/" + ns, os.O_RDONLY)
    r[ns] = sys_call(NR, fd, 0)["errno"]
    os.close(fd)
try:
    os.open("/proc/1/ns/mnt", os.O_RDONLY)
    r["init-mnt"] = "opened"
except OSError as e:
    r["init-mnt"] = errname(e)
print(json.dumps(r))
'''.replace("NR", str(nr("setns") or -1)))
    assert out.pop("init-mnt") == "EACCES"
    assert set(out.values()) == {"EPERM"}, out


@needs_known_arch
def test_clone3_is_enosys():
    # ENOSYS makes glibc fall back to clone, whose flags the filter can see.
    r = one("clone3", 0, 0)
    assert r == {"ret": -1, "errno": "ENOSYS"}
    r = one("clone3", 0, 88)
    assert r == {"ret": -1, "errno": "ENOSYS"}


CLONE_NS_FLAGS = {"NEWUSER": 0x10000000, "NEWNS": 0x20000, "NEWPID": 0x20000000,
                  "NEWNET": 0x40000000, "NEWIPC": 0x8000000, "NEWUTS": 0x4000000,
                  "NEWCGROUP": 0x2000000, "NEWTIME": 0x80}


@needs_known_arch
@pytest.mark.parametrize("flag", sorted(CLONE_NS_FLAGS))
def test_clone_with_namespace_flags_is_refused(flag):
    sigchld = 17
    r = one("clone", CLONE_NS_FLAGS[flag] | sigchld, 0, 0, 0, 0)
    assert r == {"ret": -1, "errno": "EPERM"}


def test_plain_fork_and_threads_still_work():
    out = guest_json(r'''
import json, os, threading
pid = os.fork()
if pid == 0:
    os._exit(7)
_, st = os.waitpid(pid, 0)
box = []
t = threading.Thread(target=box.append, args=(1,)); t.start(); t.join()
print(json.dumps([os.waitstatus_to_exitcode(st), box]))
''')
    assert out == [7, [1]]


@x86_64_only
def test_x32_abi_syscall_kills_the_guest():
    code = syscall_prelude() + r'''
print("before", flush=True)
r = sys_call(0x40000000 | 39)  # getpid through the x32 ABI
print(json.dumps(r), flush=True)
'''
    res, rc = run(code)
    if res["signal"]:
        assert res["signal"] == 31 and res["exit_code"] == 159 and rc == 159
        assert res["error"] == "ERR_GUEST_ABORT"
        assert res["stdout"] == "before\n"
    else:
        out = json.loads(res["stdout"].splitlines()[-1])
        assert out == {"ret": -1, "errno": "ENOSYS"}


@x86_64_only
def test_i386_int80_syscall_kills_the_guest():
    code = r'''
import ctypes, mmap
# mov eax, 20 (getpid in the i386 table); int 0x80; ret
text = bytes([0xb8, 20, 0, 0, 0, 0xcd, 0x80, 0xc3])
page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
page.write(text)
fn = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))
print("before", flush=True)
print("returned", fn(), flush=True)
'''
    res, rc = run(code)
    assert res["signal"] == 31 and rc == 159, describe(res)
    assert res["stdout"] == "before\n"


@needs_known_arch
@pytest.mark.parametrize("request_nr", [0x5412, 0x100005412, 0xFFFFFFFF00005412, 0x541C,
                                        0x10000541C],
                         ids=["TIOCSTI", "TIOCSTI-high-bit", "TIOCSTI-high-word", "TIOCLINUX",
                              "TIOCLINUX-high-bit"])
def test_terminal_injection_ioctls_are_refused(request_nr):
    r = one("ioctl", 0, request_nr, 0)
    assert r == {"ret": -1, "errno": "EPERM"}


def test_tiocsti_through_python_fcntl():
    out = guest_json(GUEST_PRELUDE + r'''
import fcntl, termios
r = []
for fd in (0, 1, 2):
    try:
        fcntl.ioctl(fd, termios.TIOCSTI, b"x")
        r.append("injected")
    except OSError as e:
        r.append(errname(e))
print(json.dumps(r))
''')
    assert out == ["EPERM"] * 3


@needs_known_arch
def test_cannot_become_root():
    out = guest_json(syscall_prelude() + r'''
r = [sys_call(%d, 0), sys_call(%d, 0, 0, 0)]
try:
    os.setgroups([0])
    r.append("setgroups worked")
except OSError as e:
    r.append(errname(e))
print(json.dumps([r, os.getuid(), os.geteuid()]))
''' % (nr("setuid"), nr("setresuid")))
    calls, uid, euid = out
    # uid 0 is not even mapped in the jail's user namespace.
    assert calls[0]["errno"] in ("EINVAL", "EPERM") and calls[1]["errno"] in ("EINVAL", "EPERM")
    assert calls[2] == "EPERM"
    assert (uid, euid) == (1000, 1000)


def test_bpf_with_a_real_program_load_is_refused():
    out = guest_json(syscall_prelude() + r'''
import ctypes
# BPF_PROG_LOAD of "r0 = 0; exit" as a socket filter.
insns = (ctypes.c_uint64 * 2)(0x00000000000000b7, 0x0000000000000095)
lic = ctypes.create_string_buffer(b"GPL")
attr = (ctypes.c_uint32 * 30)()
attr[0] = 1  # BPF_PROG_TYPE_SOCKET_FILTER
attr[1] = 2
ptr = ctypes.addressof(insns); attr[2], attr[3] = ptr & 0xffffffff, ptr >> 32
ptr = ctypes.addressof(lic); attr[4], attr[5] = ptr & 0xffffffff, ptr >> 32
print(json.dumps(sys_call(NR, 5, ctypes.addressof(attr), ctypes.sizeof(attr))))
'''.replace("NR", str(nr("bpf") or -1)))
    assert out == {"ret": -1, "errno": "EPERM"}


def test_io_uring_with_real_params_is_refused():
    out = guest_json(syscall_prelude() + r'''
import ctypes
params = (ctypes.c_uint8 * 120)()
print(json.dumps(sys_call(NR, 4, ctypes.addressof(params))))
'''.replace("NR", str(nr("io_uring_setup") or -1)))
    assert out == {"ret": -1, "errno": "EPERM"}


def test_perf_event_open_with_real_attr_is_refused():
    out = guest_json(syscall_prelude() + r'''
import ctypes
attr = (ctypes.c_uint32 * 32)()
attr[0] = 1            # PERF_TYPE_SOFTWARE
attr[1] = 128          # size
print(json.dumps(sys_call(NR, ctypes.addressof(attr), 0, -1, -1, 0)))
'''.replace("NR", str(nr("perf_event_open") or -1)))
    assert out == {"ret": -1, "errno": "EPERM"}


def test_userfaultfd_with_real_flags_is_refused():
    out = guest_json(syscall_prelude() + "print(json.dumps(sys_call(%d, os.O_CLOEXEC)))"
                     % (nr("userfaultfd") or -1))
    assert out == {"ret": -1, "errno": "EPERM"}

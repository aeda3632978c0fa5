"""Reading and writing host files from inside the jail.

Every test attacks from inside the guest and asserts the specific reason the
attack fails: the file is absent from the jail's root, the filesystem is
read-only, or the kernel refuses permission.
"""
import json
import os
import uuid

import pytest

from helpers import (GUEST_DIR, GUEST_PRELUDE, REPO_ROOT, brig, describe, guest_json,
                     parse_result, run_ok)

# Paths that exist inside the project checkout on the host, whichever copy runs.
HOST_PROJECT_PATHS = sorted({
    str(REPO_ROOT), str(REPO_ROOT / "tests"), str(REPO_ROOT / "tests" / "helpers.py"),
    str(GUEST_DIR.resolve()),
    *([os.environ["BRIG_SOURCE_ROOT"]] if os.environ.get("BRIG_SOURCE_ROOT") else []),
})

PROBE_OPEN = GUEST_PRELUDE + r'''
def probe(path, mode="rb"):
    try:
        with open(path, mode) as f:
            return "read:" + repr(f.read(64)) if "r" in mode else "opened"
    except OSError as e:
        return errname(e)
def probe_dir(path):
    try:
        return "listed:" + ",".join(sorted(os.listdir(path)))
    except OSError as e:
        return errname(e)
'''


def probe(paths, fn="probe"):
    return guest_json(PROBE_OPEN + "print(json.dumps([%s(p) for p in %r]))" % (fn, list(paths)))


# --------------------------------------------------------------- reading host files

HOST_SECRETS = ["/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/ssh/ssh_host_rsa_key",
                "/root/.bash_history", "/root/.ssh/id_rsa", "/var/log/auth.log",
                "/etc/machine-id", "/boot/vmlinuz", "/var/run/docker.sock"]


@pytest.mark.parametrize("path", HOST_SECRETS)
def test_host_secret_files_are_absent(path):
    assert probe([path]) == ["ENOENT"]


def test_shadow_exists_on_the_host_but_not_inside():
    if not os.path.exists("/etc/shadow"):
        pytest.skip("this host has no /etc/shadow to hide")
    out = guest_json("import json, os; print(json.dumps([os.path.exists('/etc/shadow'),"
                     " sorted(os.listdir('/etc'))]))")
    assert out[0] is False
    assert "shadow" not in out[1] and "sudoers" not in out[1]


@pytest.mark.parametrize("path", ["/root", "/home/root", "/var", "/run", "/srv", "/mnt",
                                  "/media", "/boot", "/sys", "/work"])
def test_host_directories_are_absent(path):
    assert probe([path], "probe_dir") == ["ENOENT"]


def test_generated_passwd_and_group_hold_no_host_accounts():
    out = guest_json(PROBE_OPEN + "print(json.dumps([open('/etc/passwd').read(),"
                     " open('/etc/group').read()]))")
    passwd, group = out
    names = [line.split(":")[0] for line in passwd.splitlines()]
    assert names == ["user", "nobody"]
    assert "user:x:1000:1000:" in passwd
    assert "root" not in passwd and "root" not in group
    with open("/etc/passwd") as f:
        assert f.read() != passwd


@pytest.mark.parametrize("path", HOST_PROJECT_PATHS)
def test_project_checkout_is_not_visible(path):
    out = guest_json("import json, os; p = %r\n"
                     "print(json.dumps([os.path.exists(p), os.path.lexists(p)]))" % path)
    assert out == [False, False], path


def test_host_environment_is_not_visible_through_proc_1():
    secret = "s3cr3t-" + uuid.uuid4().hex
    env = dict(os.environ, BRIG_TEST_SECRET=secret)
    code = PROBE_OPEN + r'''
found = []
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    for leaf in ("environ", "task/%s/environ" % pid):
        try:
            with open("/proc/%s/%s" % (pid, leaf), "rb") as f:
                if SECRET.encode() in f.read():
                    found.append(pid)
        except OSError:
            pass  # unreadable is fine: the point is that nothing shows the secret
print(json.dumps({"found": found, "proc1": probe("/proc/1/environ"),
                  "env": [k for k, v in os.environ.items()
                          if SECRET in v or k == "BRIG_TEST_SECRET"]}))
'''.replace("SECRET", repr(secret))
    res = parse_result(brig("--json", "-c", code, env=env))
    assert res["ok"] and res["exit_code"] == 0, describe(res)
    out = json.loads(res["stdout"])
    assert out["found"] == []
    assert out["env"] == []
    # pid 1 is the jail's init, a copy of the host's brig process: its
    # environment holds the secret, so the kernel must refuse to show it.
    assert out["proc1"] == "EACCES"


def test_symlink_to_host_file_resolves_inside_the_jail():
    res = run_ok("ln -s /etc/shadow /tmp/x; ln -s ../../../../../../etc/shadow /tmp/y; "
                 "ln -s %s /tmp/z; for l in x y z; do cat /tmp/$l 2>&1; done; true"
                 % REPO_ROOT, "sh")
    lines = res["stdout"].splitlines()
    assert len(lines) == 3
    assert all("No such file or directory" in line for line in lines), lines


def test_dotdot_cannot_climb_out_of_the_root():
    out = guest_json(PROBE_OPEN + r'''
os.chdir("/home/user")
for _ in range(40):
    os.chdir("..")
root, here = os.stat("/"), os.stat(".")
print(json.dumps([os.getcwd(), (root.st_dev, root.st_ino) == (here.st_dev, here.st_ino),
                  sorted(os.listdir(".")) == sorted(os.listdir("/")),
                  probe("/tmp/../../../../../../etc/shadow"),
                  probe("/home/user/../../../../root/.bashrc")]))
''')
    assert out == ["/", True, True, "ENOENT", "ENOENT"]


def test_proc_self_root_is_the_jail_root():
    out = guest_json(PROBE_OPEN + r'''
a, b = os.stat("/proc/self/root/.."), os.stat("/")
print(json.dumps([sorted(os.listdir("/proc/self/root")) == sorted(os.listdir("/")),
                  (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino),
                  os.readlink("/proc/self/root"),
                  probe("/proc/self/root/../../etc/shadow"),
                  probe("/proc/self/root/etc/shadow")]))
''')
    assert out == [True, True, "/", "ENOENT", "ENOENT"]


def test_proc_pid_cwd_and_root_never_lead_out():
    out = guest_json(PROBE_OPEN + r'''
seen = {}
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    for leaf in ("cwd", "root"):
        link = "/proc/%s/%s" % (pid, leaf)
        try:
            seen[link] = [os.readlink(link), sorted(os.listdir(link))]
        except OSError as e:
            seen[link] = errname(e)
print(json.dumps(seen))
''')
    assert out["/proc/1/cwd"] == "EACCES" and out["/proc/1/root"] == "EACCES"
    jail_root = None
    for link, what in out.items():
        if isinstance(what, str):
            assert what in ("EACCES", "ENOENT"), (link, what)
            continue
        target, listing = what
        assert target in ("/", "/home/user"), (link, target)
        if target == "/":
            jail_root = listing
        assert str(REPO_ROOT) not in target
    assert jail_root and "opt" in jail_root and "work" not in jail_root


# pid 1 inside is the jail's init: a clone of the host brig process.  Its
# links and memory would lead straight to the host, so all must be refused.
@pytest.mark.parametrize("leaf", ["exe", "root", "cwd", "environ", "mem", "maps", "auxv",
                                  "fd", "map_files", "ns/mnt", "ns/user"])
def test_init_process_entries_are_refused(leaf):
    out = guest_json(PROBE_OPEN + r'''
p = "/proc/1/%s"
r = probe_dir(p) if os.path.isdir(p) else probe(p)
try:
    link = os.readlink(p)
except OSError as e:
    link = errname(e)
print(json.dumps([r, link]))
''' % leaf)
    assert out[0] == "EACCES", out
    assert out[1] in ("EACCES", "EINVAL"), out


SENSITIVE_PROC = ["/proc/kcore", "/proc/kallsyms", "/proc/keys", "/proc/timer_list",
                  "/proc/sched_debug", "/proc/sysrq-trigger", "/proc/kmsg", "/proc/kpageflags",
                  "/proc/kpagecount", "/proc/config.gz", "/proc/acpi", "/proc/driver",
                  "/proc/scsi"]


@pytest.mark.parametrize("path", SENSITIVE_PROC)
def test_sensitive_proc_entries_are_covered(path):
    out = guest_json(PROBE_OPEN + r'''
p = %r
if os.path.isdir(p):
    r = [probe_dir(p), None]
else:
    r = [probe(p), probe(p, "ab")]
print(json.dumps(r))
''' % path)
    read, write = out
    # Absent, unreadable, or covered by /dev/null or an empty read-only tmpfs.
    assert read in ("ENOENT", "EACCES", "read:b''", "listed:"), out
    if write is not None:
        assert write in ("ENOENT", "EACCES", "EROFS", "opened"), out


def test_proc_self_exe_is_the_jails_interpreter():
    out = guest_json(PROBE_OPEN + r'''
import sys
a, b = os.stat("/proc/self/exe"), os.stat(os.path.realpath(sys.executable))
print(json.dumps([os.readlink("/proc/self/exe"), (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino),
                  probe("/proc/self/exe", "r+b"), probe("/proc/self/exe", "ab")]))
''')
    target, same, rw, append = out
    assert target.startswith("/usr/bin/python3")
    assert same is True
    # Overwriting the interpreter (the runc /proc/self/exe attack) must fail.
    assert rw in ("ETXTBSY", "EACCES", "EROFS") and append in ("ETXTBSY", "EACCES", "EROFS")


def test_shell_proc_self_exe_cannot_be_overwritten():
    res = run_ok("readlink /proc/$$/exe; (echo x >> /proc/$$/exe) 2>&1 | sed 's/.*: //'", "sh")
    lines = res["stdout"].splitlines()
    assert lines[0] in ("/usr/bin/dash", "/bin/dash", "/usr/bin/bash", "/bin/bash")
    assert lines[1] in ("Text file busy", "Permission denied", "Read-only file system")


def test_dev_is_minimal():
    out = guest_json(PROBE_OPEN + r'''
print(json.dumps([sorted(os.listdir("/dev")),
                  [probe(p) for p in ("/dev/mem", "/dev/kmem", "/dev/port", "/dev/kmsg",
                                      "/dev/sda", "/dev/vda", "/dev/tty", "/dev/console")]]))
''')
    listing, hardware = out
    assert set(listing) <= {"null", "zero", "full", "random", "urandom", "fd", "stdin",
                            "stdout", "stderr", "shm", "pts", "ptmx"}, listing
    assert {"null", "zero", "full", "random", "urandom"} <= set(listing)
    assert hardware == ["ENOENT"] * 8


# ------------------------------------------------------------ leaked descriptors

FD_SCAN = GUEST_PRELUDE + r'''
open_fds = []
for fd in range(4096):
    try:
        os.fstat(fd)
        open_fds.append(fd)
    except OSError:
        pass
try:
    os.fchdir(LEAK)
    fchdir = "worked:" + os.getcwd()
except OSError as e:
    fchdir = errname(e)
print(json.dumps([open_fds, sorted(int(x) for x in os.listdir("/proc/self/fd")), fchdir]))
'''


def test_guest_sees_only_fds_0_to_3():
    out = guest_json(FD_SCAN.replace("LEAK", "7"))
    fds, listing, _ = out
    assert fds == [0, 1, 2, 3]
    # listdir itself holds one descriptor open while it reads
    assert set(listing) - {0, 1, 2, 3} and len(listing) == 5


def test_inherited_host_fds_are_not_passed_to_the_guest():
    dfd = os.open(str(REPO_ROOT), os.O_RDONLY | os.O_DIRECTORY)
    ffd = os.open(str(REPO_ROOT / "tests" / "helpers.py"), os.O_RDONLY)
    try:
        os.set_inheritable(dfd, True)
        os.set_inheritable(ffd, True)
        code = FD_SCAN.replace("LEAK", str(dfd))
        res = parse_result(brig("--json", "-c", code, pass_fds=(dfd, ffd)))
    finally:
        os.close(dfd)
        os.close(ffd)
    assert res["ok"] and res["exit_code"] == 0, describe(res)
    fds, listing, fchdir = json.loads(res["stdout"])
    assert dfd not in fds and ffd not in fds
    assert fds == [0, 1, 2, 3]
    assert fchdir == "EBADF"


def test_shell_sees_only_fds_0_to_3():
    res = run_ok("for fd in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do "
                 "if (: <&$fd) 2>/dev/null || (: >&$fd) 2>/dev/null; then echo $fd; fi; done",
                 "sh")
    assert res["stdout"].split() == ["0", "1", "2", "3"]


# ------------------------------------------------------------- writing outside

WRITE_TARGETS = [
    ("/evil", "EROFS"), ("/etc/evil", "EROFS"), ("/etc/passwd", "EROFS"),
    ("/etc/ld.so.cache", "EROFS"), ("/usr/evil", "EROFS"), ("/usr/bin/python3", "EROFS"),
    ("/bin/evil", "EROFS"), ("/lib/evil", "EROFS"), ("/opt/brig/evil", "EROFS"),
    ("/opt/brig/python/agent.py", "EROFS"), ("/dev/evil", "EROFS"), ("/home/evil", "EROFS"),
    ("/proc/sys/kernel/hostname", "EROFS"), ("/proc/sys/vm/drop_caches", "EROFS"),
    ("/proc/sys/kernel/core_pattern", "EROFS"),
]


@pytest.mark.parametrize("path,errname", WRITE_TARGETS, ids=[p for p, _ in WRITE_TARGETS])
def test_writing_outside_tmp_and_home_fails(path, errname):
    # EACCES is the same refusal from the permission check on a read-only path.
    assert probe([path], "(lambda p: probe(p, 'ab'))")[0] in (errname, "EACCES")


def test_shell_cannot_write_system_directories():
    res = run_ok("for d in / /etc /usr /opt/brig /dev; do (echo x > $d/evil) 2>&1 "
                 "| sed 's/.*: //'; done", "sh")
    assert res["stdout"].splitlines() == ["Read-only file system"] * 5


def test_cannot_change_modes_or_owners_of_system_files():
    out = guest_json(GUEST_PRELUDE + r'''
open("/tmp/mine", "w").close()
print(json.dumps([attempt(os.chmod, "/usr/bin/python3", 0o4777),
                  attempt(os.chmod, "/etc/passwd", 0o666),
                  attempt(os.chown, "/tmp/mine", 0, 0),
                  attempt(os.utime, "/usr/bin/python3", (0, 0))]))
''')
    assert out[0] in ("EROFS", "EPERM") and out[1] in ("EROFS", "EPERM")
    assert out[2] in ("EINVAL", "EPERM")  # host root is not even mapped inside
    assert out[3] in ("EROFS", "EPERM")


def test_cannot_make_device_nodes():
    out = guest_json(GUEST_PRELUDE + r'''
import stat
r = []
for path, dev in (("/tmp/sda", os.makedev(8, 0)), ("/home/user/mem", os.makedev(1, 1)),
                  ("/dev/shm/kmsg", os.makedev(1, 11))):
    try:
        os.mknod(path, 0o666 | stat.S_IFBLK, dev)
        r.append("made")
    except OSError as e:
        r.append(errname(e))
print(json.dumps(r))
''')
    assert out == ["EPERM"] * 3


def test_hard_links_cannot_alias_system_files():
    out = guest_json(GUEST_PRELUDE + r'''
try:
    os.link("/etc/passwd", "/tmp/pw")
    r = "linked"
except OSError as e:
    r = errname(e)
print(json.dumps(r))
''')
    assert out == "EXDEV"


def test_remounting_is_impossible():
    out = guest_json(GUEST_PRELUDE + r'''
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
MS_RDONLY, MS_REMOUNT, MS_BIND = 1, 32, 4096
def mount(src, dst, fs, flags):
    ctypes.set_errno(0)
    r = libc.mount(src, dst, fs, ctypes.c_ulong(flags), None)
    return errno.errorcode.get(ctypes.get_errno()) if r else "mounted"
r = [mount(None, b"/", None, MS_REMOUNT | MS_BIND),
     mount(None, b"/usr", None, MS_REMOUNT | MS_BIND),
     mount(b"tmpfs", b"/etc", b"tmpfs", 0),
     mount(b"/tmp", b"/usr", None, MS_BIND),
     mount(b"proc", b"/tmp", b"proc", 0)]
try:
    open("/evil", "w")
    r.append("root writable")
except OSError as e:
    r.append(errname(e))
print(json.dumps(r))
''')
    assert out == ["EPERM"] * 5 + ["EROFS"]


def test_mount_command_cannot_remount_root_rw():
    res = run_ok("mount -o remount,rw / 2>&1; echo rc=$?; touch /evil 2>&1 | sed 's/.*: //'",
                 "sh")
    assert "rc=0" not in res["stdout"]
    assert res["stdout"].rstrip().endswith("Read-only file system")


def test_mount_table_is_read_only_where_it_matters():
    out = guest_json(r'''
import json
opts = {}
for line in open("/proc/self/mountinfo"):
    f = line.split()
    opts[f[4]] = f[5].split(",")
print(json.dumps(opts))
''')
    for point in ("/", "/usr", "/opt/brig", "/dev", "/proc/sys"):
        assert "ro" in out[point], (point, out[point])
    for point in ("/", "/usr", "/tmp", "/home/user", "/dev/shm", "/proc"):
        assert "nosuid" in out[point], (point, out[point])
    for point in ("/tmp", "/home/user"):
        assert "rw" in out[point]


# --------------------------------------------------------- isolation between runs


def test_jail_tmp_is_not_the_host_tmp():
    name = "brig-" + uuid.uuid4().hex
    host_file = "/tmp/%s-host" % name
    with open(host_file, "w") as f:
        f.write("host")
    try:
        out = guest_json(r'''
import json, os
for d in ("/tmp", "/dev/shm", "/home/user"):
    open("%s/%s-guest" % (d, NAME), "w").write("guest")
print(json.dumps(os.path.exists(HOST_FILE)))
'''.replace("NAME", repr(name)).replace("HOST_FILE", repr(host_file)))
        assert out is False
        for d in ("/tmp", "/dev/shm"):
            assert not os.path.exists("%s/%s-guest" % (d, name))
    finally:
        os.unlink(host_file)


def test_files_do_not_survive_into_the_next_run():
    run_ok("echo left > /tmp/leftover; echo left > ~/leftover; echo left > /dev/shm/leftover",
           "sh")
    res = run_ok("ls -A /tmp /home/user /dev/shm", "sh")
    assert "leftover" not in res["stdout"]


def test_setuid_binaries_are_owned_by_an_unmapped_user():
    out = guest_json(r'''
import json, os, stat
su = os.stat("/usr/bin/su") if os.path.exists("/usr/bin/su") else None
print(json.dumps(None if su is None else [bool(su.st_mode & stat.S_ISUID), su.st_uid]))
''')
    if out is None:
        pytest.skip("no /usr/bin/su on this host")
    is_suid, owner = out
    # Host root is not mapped into the jail, so a root-owned setuid binary
    # could at most become "nobody" (and the mount is nosuid anyway).
    assert owner == 65534, (is_suid, owner)

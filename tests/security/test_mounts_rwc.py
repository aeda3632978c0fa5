"""rwc mounts: what a guest can leave in a host directory.

The review, as unprivileged brig, planted a setuid copy of /usr/bin/id in an
rwc mount (another host user who ran it got brig's uid), chmod'ed the mount
root to 0777, left symlinks to host paths, a FIFO and a unix socket, and
wrote 361 MB past --tmp-size 1m.  Each attack is repeated here.  The guest's
changes land in a private layer and reach the host only through brig's
commit at the end of the run, which carries regular files (modes masked),
directories, deletions and links inside the mount, within
--mount-write-limit; anything else is refused and reported.
"""
import hashlib
import json
import os
import stat
import subprocess

import pytest

from helpers import BRIG_BIN, GUEST_HOST_GID, GUEST_HOST_UID, IS_ROOT, describe, run


@pytest.fixture
def out(tmp_path):
    """A host directory the guest's user may write, as an rwc mount needs."""
    d = tmp_path / "out"
    d.mkdir()
    os.chmod(d, 0o755)
    os.chown(d, GUEST_HOST_UID, GUEST_HOST_GID)
    return d


def rwc(d, *more):
    return ("--mount", "/out:%s:rwc" % d, *more)


def chown_tree(root):
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
            os.lchown(name, GUEST_HOST_UID, GUEST_HOST_GID)


def host_tree(root):
    """{relative path: ("file", bytes) | ("dir",) | ("link", target)} of a host directory."""
    tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                tree[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                tree[rel] = ("dir",)
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    tree[rel] = ("file", f.read())
            else:
                tree[rel] = ("special", stat.S_IFMT(st.st_mode))
    return tree


def host_bytes(root):
    return sum(os.lstat(os.path.join(dp, n)).st_size
               for dp, _, files in os.walk(root) for n in files)


# ------------------------------------------------------------------ set-id bits


@pytest.mark.parametrize("mode", ["4755", "2755", "6755", "7777"])
def test_a_setid_copy_of_id_loses_its_bits_on_the_host(out, mode):
    res, rc = run("cp /usr/bin/id /out/id && chmod %s /out/id && stat -c %%a /out/id" % mode,
                  "sh", *rwc(out))
    assert rc == 0 and res["ok"], describe(res)
    # Inside, the guest's private layer has the bits (on a nosuid mount) ...
    assert res["stdout"].strip() == mode.lstrip("0")
    # ... the host copy never does.
    st = os.lstat(out / "id")
    assert stat.S_ISREG(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o755
    with open("/usr/bin/id", "rb") as a, open(out / "id", "rb") as b:
        assert hashlib.sha256(a.read()).digest() == hashlib.sha256(b.read()).digest()


def test_setid_directories_and_modes_are_masked(out):
    res, rc = run("mkdir /out/d && chmod 3777 /out/d && echo x > /out/d/f && chmod 0666 /out/d/f",
                  "sh", *rwc(out))
    assert rc == 0, describe(res)
    assert stat.S_IMODE(os.lstat(out / "d").st_mode) == 0o755
    assert stat.S_IMODE(os.lstat(out / "d" / "f").st_mode) == 0o644


# ------------------------------------------------------------------ mount root mode


def test_chmod_of_the_mount_root_does_not_reach_the_host(out):
    (out / "existing").mkdir()
    os.chmod(out / "existing", 0o750)
    chown_tree(out)
    res, rc = run("chmod 0777 /out && chmod 0777 /out/existing && stat -c %a /out /out/existing",
                  "sh", *rwc(out))
    assert rc == 0 and res["stdout"].split() == ["777", "777"], describe(res)
    assert stat.S_IMODE(os.lstat(out).st_mode) == 0o755
    assert stat.S_IMODE(os.lstat(out / "existing").st_mode) == 0o750
    assert os.lstat(out).st_uid == GUEST_HOST_UID


# ------------------------------------------------------------------ symlinks

LINKS = '''
ln -s /etc/passwd /out/passwd
ln -s ../../../../../../etc/shadow /out/up
ln -s /out/data.txt /out/absolute_inside
mkdir /out/sub
ln -s .. /out/sub/parent
ln -s sub/parent/.. /out/through_a_link
ln -s data.txt /out/good
ln -s ../data.txt /out/sub/good_up
echo data > /out/data.txt
'''


def test_symlinks_to_host_paths_never_reach_the_host(out):
    res, rc = run(LINKS, "sh", *rwc(out))
    assert res["error"] == "ERR_DENIED" and rc == 125, describe(res)
    for name in ("passwd", "up", "absolute_inside", "through_a_link"):
        assert "/out/%s (a symbolic link leaving the mount)" % name in res["message"]
        assert not os.path.lexists(out / name), name
    assert res["exit_code"] == 0  # the guest itself ran to completion
    # Links that stay inside, and everything else, were committed.
    assert os.readlink(out / "good") == "data.txt"
    assert os.readlink(out / "sub" / "good_up") == "../data.txt"
    assert os.readlink(out / "sub" / "parent") == ".."
    assert (out / "data.txt").read_text() == "data\n"


def test_a_link_through_a_host_link_out_is_refused(out, tmp_path):
    (tmp_path / "secret").write_text("secret")
    os.symlink(str(tmp_path), out / "ext")
    res, _ = run("ln -s ext/secret /out/via && cat /out/via || true", "sh", *rwc(out))
    assert res["error"] == "ERR_DENIED" and "/out/via (a symbolic link" in res["message"]
    assert not os.path.lexists(out / "via")


def test_a_file_committed_over_a_host_symlink_replaces_the_link(out, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    os.symlink(str(victim), out / "report.txt")
    os.lchown(out / "report.txt", GUEST_HOST_UID, GUEST_HOST_GID)
    res, rc = run("rm /out/report.txt && echo pwned > /out/report.txt", "sh", *rwc(out))
    assert rc == 0, describe(res)
    assert victim.read_text() == "untouched"
    assert not os.path.islink(out / "report.txt")
    assert (out / "report.txt").read_text() == "pwned\n"


# ------------------------------------------------------------------ special files

SPECIALS = r'''
import errno, json, os, socket, stat
res = {}
os.mkfifo("/out/fifo")
s = socket.socket(socket.AF_UNIX)
s.bind("/out/sock")
try:
    os.mknod("/out/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    res["mknod"] = "made"
except OSError as e:
    res["mknod"] = errno.errorcode[e.errno]
res["inside"] = sorted(os.listdir("/out"))
open("/out/plain", "w").write("plain")
print(json.dumps(res))
'''


def test_fifo_socket_and_device_never_reach_the_host(out):
    res, rc = run(SPECIALS, "python", *rwc(out))
    assert res["error"] == "ERR_DENIED", describe(res)
    inside = json.loads(res["stdout"].splitlines()[-1])
    assert inside["mknod"] == "EPERM"  # no CAP_MKNOD in the jail
    assert inside["inside"] == ["fifo", "sock"]
    assert "/out/fifo (a FIFO)" in res["message"]
    assert "/out/sock (a socket)" in res["message"]
    assert sorted(os.listdir(out)) == ["plain"]


# ------------------------------------------------------------------ bytes and inodes

FILL = r'''
import errno, json, os
written, failure, i = 0, None, 0
while written < LIMIT:
    try:
        with open("/out/f%d" % i, "wb") as f:
            for _ in range(CHUNKS):
                f.write(b"x" * 65536)
                f.flush()
                written += 65536
    except OSError as e:
        failure = errno.errorcode[e.errno]
        break
    i += 1
print(json.dumps([written, failure]))
'''


@pytest.mark.parametrize("flags,limit", [
    (["--tmp-size", "1m"], 64 << 20),  # the review's run: the default write limit holds
    (["--tmp-size", "1m", "--mount-write-limit", "2m"], 2 << 20),
], ids=["default", "2m"])
def test_writing_past_the_limit_gets_enospc_and_the_host_stays_bounded(out, flags, limit):
    # Files of 512 KiB each: RLIMIT_FSIZE (the tmp size) bounds one file, not their sum.
    code = FILL.replace("LIMIT", str(8 * limit)).replace("CHUNKS", "8")
    res, rc = run(code, "python", *rwc(out, *flags), timeout=120)
    assert rc == 0 and res["ok"], describe(res)
    written, failure = json.loads(res["stdout"].splitlines()[-1])
    assert failure == "ENOSPC"
    assert written <= limit
    assert host_bytes(out) <= limit


def test_many_empty_files_run_out_of_inodes(out):
    code = r'''
import errno, json
made, failure = 0, None
while made < 100000:
    try:
        open("/out/e%d" % made, "w").close()
    except OSError as e:
        failure = errno.errorcode[e.errno]
        break
    made += 1
print(json.dumps([made, failure]))
'''
    res, rc = run(code, "python", *rwc(out, "--mount-write-limit", "1m"), timeout=120)
    assert rc == 0, describe(res)
    made, failure = json.loads(res["stdout"].splitlines()[-1])
    assert failure == "ENOSPC" and made <= 1024 + 32  # one per KiB, and a few for the overlay
    assert len(os.listdir(out)) == made


def test_sparse_files_and_hard_links_cannot_exceed_the_limit_at_commit(out):
    res, _ = run("truncate -s 900k /out/sparse && echo ok", "sh",
                 *rwc(out, "--mount-write-limit", "512k"))
    assert res["error"] == "ERR_LIMIT" and res["limit"] == "disk", describe(res)
    assert "mount write limit" in res["message"]
    assert not os.path.exists(out / "sparse")
    res, _ = run("head -c 200000 /dev/zero > /out/h0 && for i in 1 2 3; do ln /out/h0 /out/h$i; "
                 "done", "sh", *rwc(out, "--mount-write-limit", "512k"))
    assert res["error"] == "ERR_LIMIT", describe(res)
    assert host_bytes(out) <= 512 << 10


# ------------------------------------------------------------------ what is committed

CHANGES = '''
set -e
rm /out/a.txt
rm -r /out/d
mv /out/mv.txt /out/moved.txt
mv /out/mvdir /out/mvdir2
mkdir -p /out/n1/n2/n3 && echo deep > /out/n1/n2/n3/deep.txt
rm /out/file_to_dir && mkdir /out/file_to_dir && echo in > /out/file_to_dir/in
rm -r /out/dir_to_file && echo f > /out/dir_to_file
rm -r /out/opq && mkdir /out/opq && echo new > /out/opq/new
echo changed > /out/keep/changed.txt
'''


def test_deletes_renames_and_nested_directories_reach_the_host(out):
    (out / "a.txt").write_text("a")
    (out / "d" / "y").mkdir(parents=True)
    (out / "d" / "x").write_text("x")
    (out / "d" / "y" / "z").write_text("z")
    (out / "mv.txt").write_text("mv")
    (out / "mvdir").mkdir()
    (out / "mvdir" / "f").write_text("f")
    (out / "file_to_dir").write_text("was a file")
    (out / "dir_to_file").mkdir()
    (out / "dir_to_file" / "g").write_text("g")
    (out / "opq").mkdir()
    (out / "opq" / "old").write_text("old")
    (out / "keep").mkdir()
    (out / "keep" / "same.txt").write_text("same")
    (out / "keep" / "changed.txt").write_text("before")
    chown_tree(out)
    res, rc = run(CHANGES, "sh", *rwc(out))
    assert rc == 0 and res["ok"], describe(res)
    assert host_tree(out) == {
        "moved.txt": ("file", b"mv"),
        "mvdir2": ("dir",), "mvdir2/f": ("file", b"f"),
        "n1": ("dir",), "n1/n2": ("dir",), "n1/n2/n3": ("dir",),
        "n1/n2/n3/deep.txt": ("file", b"deep\n"),
        "file_to_dir": ("dir",), "file_to_dir/in": ("file", b"in\n"),
        "dir_to_file": ("file", b"f\n"),
        "opq": ("dir",), "opq/new": ("file", b"new\n"),
        "keep": ("dir",), "keep/same.txt": ("file", b"same"),
        "keep/changed.txt": ("file", b"changed\n"),
    }


WRITE_FILES = r'''
import os, random
rng = random.Random(7)
big = bytes(rng.getrandbits(8) for _ in range(3 << 20))
open("/out/big.bin", "wb").write(big)
open("/out/empty", "wb").close()
with open("/out/run.sh", "w") as f:
    f.write("#!/bin/sh\necho hi\n")
os.chmod("/out/run.sh", 0o700)
open("/out/old.txt", "w").write("old")
os.utime("/out/old.txt", (1000000000, 1000000000))
print(len(big))
'''


def test_written_files_reach_the_host_with_content_mode_and_time(out):
    res, rc = run(WRITE_FILES, "python", *rwc(out), timeout=120)
    assert rc == 0, describe(res)
    import random
    rng = random.Random(7)
    assert (out / "big.bin").read_bytes() == bytes(rng.getrandbits(8) for _ in range(3 << 20))
    assert (out / "empty").read_bytes() == b""
    assert stat.S_IMODE(os.stat(out / "run.sh").st_mode) == 0o700
    assert os.stat(out / "old.txt").st_mtime == 1000000000
    assert os.stat(out / "big.bin").st_uid == GUEST_HOST_UID
    assert not [n for n in os.listdir(out) if n.startswith(".brig-commit-")]


def test_fs_calls_and_the_guests_own_file_apis_share_one_view(out):
    (out / "old.txt").write_text("old")
    chown_tree(out)
    code = r'''
import json, os
res = {}
fs.write_text("/out/by_fs.txt", "fs")
res["open_reads_fs"] = open("/out/by_fs.txt").read()
open("/out/by_open.txt", "w").write("open")
res["fs_reads_open"] = fs.read_text("/out/by_open.txt")
os.remove("/out/old.txt")
res["fs_sees_removal"] = fs.exists("/out/old.txt")
fs.mkdir("/out/made_by_fs")
res["listing"] = sorted(os.listdir("/out"))
print(json.dumps(res))
'''
    res, rc = run(code, "python", *rwc(out))
    assert rc == 0, describe(res)
    assert json.loads(res["stdout"].splitlines()[-1]) == {
        "open_reads_fs": "fs", "fs_reads_open": "open", "fs_sees_removal": False,
        "listing": ["by_fs.txt", "by_open.txt", "made_by_fs"]}
    assert host_tree(out) == {"by_fs.txt": ("file", b"fs"), "by_open.txt": ("file", b"open"),
                              "made_by_fs": ("dir",)}


def test_nothing_touches_the_host_directory_while_the_guest_runs(out, tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    code = r'''
import os, shutil, time
shutil.copy("/usr/bin/id", "/out/id")
os.chmod("/out/id", 0o6755)
open("/out/early.txt", "w").write("early")
print("written", flush=True)
deadline = time.time() + 50
while not os.path.exists("/gate/go") and time.time() < deadline:
    time.sleep(0.02)
'''
    # Without --json the guest's stdout streams through as it is written.
    proc = subprocess.Popen([BRIG_BIN, "--timeout", "60s", *rwc(out),
                             "--mount", "/gate:%s:ro" % gate, "-c", code],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "written\n"
        # The guest has written and waits at the gate: no other host user can
        # see (let alone run) its setuid copy, because the host has nothing yet.
        assert os.listdir(out) == []
    finally:
        (gate / "go").write_text("")
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert (out / "early.txt").read_text() == "early"
    assert stat.S_IMODE(os.stat(out / "id").st_mode) == 0o755


# ------------------------------------------------------------------ ownership, failures


@pytest.mark.skipif(not IS_ROOT, reason="only root has entries the guest's user cannot own")
def test_entries_of_other_users_cannot_be_changed_in_place_through_rwc(out):
    (out / "roots.txt").write_text("root's")
    os.chmod(out / "roots.txt", 0o666)
    os.chown(out / "roots.txt", 0, 0)
    code = r'''
import errno, json, os
res = {}
try:
    open("/out/roots.txt", "a").write("x")
    res["open"] = "written"
except OSError as e:
    res["open"] = errno.errorcode[e.errno]
# Replacing the entry is a change to the directory, which is the guest's:
# the guest's own rename() may do it, and so may fs.write, which replaces.
open("/out/new", "w").write("renamed")
os.rename("/out/new", "/out/roots.txt")
fs.write_text("/out/roots.txt", "replaced")
res["read"] = fs.read_text("/out/roots.txt")
print(json.dumps(res))
'''
    res, rc = run(code, "python", *rwc(out))
    assert rc == 0, describe(res)
    got = json.loads(res["stdout"].splitlines()[-1])
    # An overlay cannot copy up what belongs to a uid the sandbox does not map.
    assert got["open"] == "EOVERFLOW"
    assert got["read"] == "replaced"
    # The replaced file keeps its owner on the host, with no set-id bits.
    st = os.stat(out / "roots.txt")
    assert (out / "roots.txt").read_text() == "replaced"
    assert st.st_uid == 0 and not st.st_mode & 0o7000


def test_a_host_failure_during_the_commit_is_reported(out):
    # The guest's mount root is its own layer, so it may create there; the
    # host directory refuses the commit (immutable for root, read-only else).
    if IS_ROOT:
        if subprocess.run(["chattr", "+i", str(out)], stderr=subprocess.DEVNULL).returncode:
            pytest.skip("this filesystem has no immutable attribute")
    else:
        os.chmod(out, 0o555)
    try:
        res, rc = run("echo y > /out/new", "sh", *rwc(out))
    finally:
        if IS_ROOT:
            subprocess.run(["chattr", "-i", str(out)])
        os.chmod(out, 0o755)
    assert res["error"] == "ERR_IO" and rc == 125, describe(res)
    assert res["exit_code"] == 0
    assert "cannot commit /out/new to the host" in res["message"]
    assert os.listdir(out) == []


def test_rw_and_ro_mounts_are_unchanged_binds(tmp_path):
    ro, rw = tmp_path / "ro", tmp_path / "rw"
    for d in (ro, rw):
        d.mkdir()
        (d / "f").write_text("orig")
        chown_tree(d)
    res, rc = run("import json; print(json.dumps([l for l in open('/proc/self/mountinfo') "
                  "if ' /ro ' in l or ' /rw ' in l]))", "python",
                  "--mount", "/ro:%s:ro" % ro, "--mount", "/rw:%s:rw" % rw)
    assert rc == 0, describe(res)
    lines = json.loads(res["stdout"].splitlines()[-1])
    assert len(lines) == 2 and all(" - overlay " not in l and " ro," in l for l in lines), lines

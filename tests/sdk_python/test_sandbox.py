"""brig.Sandbox: codepod's API, unchanged but for the import."""
import os
import threading

import pytest

from brig import (CommandResult, DirEntry, Extension, FileInfo, FileStat, MemoryFS,
                  PythonPackage, Sandbox, SandboxError, VirtualFileSystem)


@pytest.fixture(scope="module")
def sb():
    with Sandbox() as s:
        yield s


def test_codepod_quick_start(sb):
    result = sb.commands.run("ls -la /home/user")
    assert isinstance(result, CommandResult) and result.exit_code == 0
    sb.files.write("/home/user/data.csv", b"name,score\nalice,95\nbob,87\n")
    result = sb.commands.run("cat /home/user/data.csv | sort -t, -k2 -rn")
    assert result.stdout == "alice,95\nbob,87\nname,score\n"
    assert result.stderr == "" and result.execution_time_ms > 0


def test_shell_state_persists(sb):
    assert sb.commands.run("pwd").stdout == "/home/user\n"
    sb.commands.run("X=plain; export Y=exported; f() { echo fn $1; }; mkdir -p w && cd w")
    r = sb.commands.run("echo $X $Y; f 1; pwd; printenv Y; printenv X || echo no-env")
    assert r.stdout == "plain exported\nfn 1\n/home/user/w\nexported\nno-env\n"
    r = sb.commands.run("unset X; cd /tmp; exit 3")
    assert r.exit_code == 3
    r = sb.commands.run("echo \"[$X]\" $Y; pwd; echo rest > out.txt 2>&1; cat < out.txt")
    assert (r.exit_code, r.stdout) == (0, "[] exported\n/tmp\nrest\n")
    sb.commands.run("cd /home/user")


def test_timeout_kills_the_command_only():
    with Sandbox(timeout_ms=300) as s:
        s.commands.run("V=kept")
        r = s.commands.run("echo start; sleep 30 & sleep 30")
        assert (r.exit_code, r.timed_out, r.stdout) == (124, True, "start\n")
        assert "timed out" in r.stderr
        assert s.commands.run("echo $V; ps -e -o comm= | grep -c sleep").stdout == "kept\n0\n"
        r = s.run_code("while (true) {}", "js")
        assert (r.exit_code, r.timed_out) == (124, True)
        assert s.run_code("console.log('again')", "js").stdout == "again\n"


def test_files(sb):
    sb.files.write("/tmp/msg.txt", "hello world")
    sb.files.write("/tmp/data.bin", b"\x00\x01\x02")
    assert sb.files.read("/tmp/msg.txt") == b"hello world"
    assert sb.files.read("/tmp/data.bin") == b"\x00\x01\x02"
    sb.files.mkdir("/tmp/sub/deeper")
    names = {e.name: (e.type, e.size) for e in sb.files.list("/tmp")}
    assert names["msg.txt"] == ("file", 11) and names["sub"] == ("dir", 1)
    assert sb.files.stat("/tmp/msg.txt") == FileInfo("msg.txt", "file", 11)
    assert sb.files.stat("/tmp/sub").type == "dir"
    assert sb.commands.run("cat /tmp/msg.txt").stdout == "hello world"
    sb.files.write("rel.txt", "r")  # relative to the shell's directory
    assert sb.files.read("/home/user/rel.txt") == b"r"
    sb.files.rm("/tmp/msg.txt")
    sb.files.rm("/tmp/sub")
    for op, args in [("read", ("/tmp/msg.txt",)), ("stat", ("/nonexistent",)),
                     ("list", ("/nope",)), ("rm", ("/tmp/sub",))]:
        with pytest.raises(SandboxError) as e:
            getattr(sb.files, op)(*args)
        assert e.value.code == 1 and "ENOENT" in e.value.message and "ENOENT" in str(e.value)
    with pytest.raises(SandboxError) as e:
        sb.files.write("/usr/x", "y")
    assert e.value.code == 1 and e.value.message.startswith("E")


def test_planted_symlink_stays_inside(sb):
    host_passwd = open("/etc/passwd", "rb").read()
    guest_passwd = sb.commands.run("cat /etc/passwd").stdout.encode()
    assert host_passwd != guest_passwd
    sb.commands.run("ln -sf /etc/passwd /home/user/link; ln -sfn / /home/user/rootlink")
    assert sb.files.read("/home/user/link") == guest_passwd
    assert sb.files.read("/home/user/rootlink/etc/passwd") == guest_passwd
    with pytest.raises(SandboxError):
        sb.files.write("/home/user/rootlink/etc/passwd", "x")
    assert open("/etc/passwd", "rb").read() == host_passwd
    sb.files.rm("/home/user/link")
    sb.files.rm("/home/user/rootlink")


class LocalDirFS(VirtualFileSystem):
    def __init__(self, root):
        self.root = root

    def read_file(self, path):
        return open(f"{self.root}/{path}", "rb").read()

    def exists(self, path):
        return os.path.exists(f"{self.root}/{path}")

    def stat(self, path):
        p = f"{self.root}/{path}"
        return FileStat(type="dir" if os.path.isdir(p) else "file",
                        size=os.path.getsize(p) if os.path.isfile(p) else 0)

    def readdir(self, path):
        p = f"{self.root}/{path}" if path else self.root
        return [DirEntry(name=e, type="dir" if os.path.isdir(f"{p}/{e}") else "file")
                for e in os.listdir(p)]

    def write_file(self, path, data):
        raise PermissionError("read-only")


class BadNames(LocalDirFS):
    def __init__(self):
        super().__init__("/nonexistent")

    def readdir(self, path):
        return [DirEntry(name="../x", type="file")]


def test_mounts_python_path_and_state(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "local.py").write_text("V = 'local'\n")
    fs = MemoryFS({"mylib/__init__.py": b"", "mylib/utils.py": b"def greet(): return 'hello'"})
    with Sandbox(mounts=[("/mnt/pkg", fs), ("/mnt/tools", {"hello.sh": b"#!/bin/sh\necho hi"}),
                         ("/data/disk", LocalDirFS(str(tmp_path)))],
                 python_path=["/mnt/pkg", "/data/disk/pkg"]) as s:
        fs.write_file("mylib/late.py", b"")  # copied at mount time: not seen
        r = s.commands.run("ls /mnt/pkg/mylib; /mnt/tools/hello.sh; python3 -c "
                           "'from mylib.utils import greet; import local; print(greet(), local.V)'")
        assert r.stdout == "__init__.py\nutils.py\nhi\nhello local\n", r.stderr
        assert s.run_code("import mylib.utils; print(mylib.utils.greet())").stdout == "hello\n"
        s.mount("/mnt/uploads", {"data.csv": "a,b,c\n1,2,3\n"})
        assert s.commands.run("cat /mnt/uploads/data.csv").stdout == "a,b,c\n1,2,3\n"
        assert s.files.read("/data/disk/pkg/local.py") == b"V = 'local'\n"
        r = s.commands.run("echo x > /mnt/uploads/data.csv")
        assert r.exit_code != 0 and "Read-only" in r.stderr
        with pytest.raises(SandboxError):
            s.mount("/elsewhere", {"a": "b"})
        with pytest.raises(SandboxError):
            s.mount("/usr/lib", {"a": "b"})
        s.mount("/mnt/norm", {"../../inside": "b"})  # dict paths are normalised in place
        assert s.commands.run("cat /mnt/norm/inside").stdout == "b"
        with pytest.raises(SandboxError):
            s.mount("/mnt/bad", BadNames())
        s.files.write("/home/user/own.txt", "mine")
        with Sandbox() as other:
            other.import_state(s.export_state())
            assert other.files.read("/home/user/own.txt") == b"mine"
            assert other.commands.run("ls /mnt /data").exit_code != 0


def _tool(args, stdin, env, cwd):
    if args == ["fail"]:
        raise RuntimeError("tool broke")
    return {"stdout": "args=%s stdin=%s cwd=%s V=%s\n" % (",".join(args), stdin.strip(), cwd,
                                                            env.get("V")),
            "stderr": "warn\n", "exitCode": 5}


async def _atool(args, stdin, env, cwd):
    return {"stdout": "async %s\n" % args, "stderr": "", "exitCode": 0}


def test_extensions():
    exts = [Extension(name="mytool", description="Does my thing", command=_tool,
                      usage="mytool [ARGS]", examples=["mytool a b"], category="data",
                      python_package=PythonPackage(version="1.2.3", summary="My tool library",
                                                   files={"core.py": "ANSWER = 42\n"})),
            Extension(name="aio", description="Async one", async_command=_atool,
                      category="net")]
    with Sandbox(extensions=exts) as s:
        r = s.commands.run("which mytool; export V=7; mkdir -p d; cd d; echo piped | mytool a b")
        assert r.stdout == "/ext/bin/mytool\nargs=a,b stdin=piped cwd=/home/user/d V=7\n"
        assert (r.stderr, r.exit_code) == ("warn\n", 5)
        assert s.commands.run("aio x | tr a-z A-Z").stdout == "ASYNC ['X']\n"
        r = s.commands.run("mytool fail")
        assert r.exit_code == 1 and "tool broke" in r.stderr
        r = s.commands.run("mytool --help")
        assert "Does my thing" in r.stdout and "mytool a b" in r.stdout
        assert s.commands.run("extensions list").stdout.split() == \
            ["mytool", "Does", "my", "thing", "aio", "Async", "one"]
        assert '"name": "aio"' in s.commands.run("extensions list --category net --json").stdout
        assert "mytool" not in s.commands.run("extensions list --category net").stdout
        assert "category: data" in s.commands.run("extensions info mytool").stdout
        assert s.commands.run("extensions info nope").exit_code == 1
        r = s.commands.run("python3 -c 'import mytool.core as c; print(c.ANSWER)'; "
                           "pip list 2>/dev/null | grep mytool; pip show mytool")
        assert r.stdout.startswith("42\nmytool") and "1.2.3" in r.stdout.splitlines()[1]
        assert "Version: 1.2.3" in r.stdout and "Summary: My tool library" in r.stdout
    with pytest.raises(SandboxError):
        Sandbox(extensions=[Extension(name="../x", command=_tool)])


def test_snapshot_restore(sb):
    sb.commands.run("S=one; export E=1; mkdir -p /tmp/snapdir; cd /tmp/snapdir; echo a > f")
    sid = sb.snapshot()
    sb.commands.run("S=two; export E=2; rm f; cd /")
    assert sb.commands.run("echo $S $E; pwd; ls /tmp/snapdir").stdout == "two 2\n/\n"
    sb.restore(sid)
    assert sb.commands.run("echo $S $E; pwd; cat f").stdout == "one 1\n/tmp/snapdir\na\n"
    sb.restore(sid)
    with pytest.raises(SandboxError) as e:
        sb.restore("snap-999")
    assert e.value.code == 1
    sb.commands.run("cd /home/user")


def tar_corrupted(blob):
    """blob with one byte of its first tar header changed (a bad checksum)."""
    start = blob.index(b"\n", blob.index(b"\n", 20) + 1) + 1  # after version and header
    return blob[:start] + bytes([blob[start] ^ 1]) + blob[start + 1:]


def test_export_import_and_validation(sb):
    sb.commands.run("mkdir -p /home/user/st/x; echo v > /home/user/st/x/f; ln -sf x /home/user/st/l;"
                    " chmod 600 /home/user/st/x/f; K=kval")
    blob = sb.export_state()
    assert isinstance(blob, bytes)
    with Sandbox() as other:
        other.files.write("/home/user/old.txt", "old")
        other.import_state(blob)
        r = other.commands.run("cat st/l/f; stat -c %a st/x/f; echo $K; ls old.txt")
        assert r.stdout == "v\n600\nkval\n" and r.exit_code != 0
        import io
        import tarfile
        from brig import _state

        def forged(*members, version=b"1", head=b'{"shell": ""}'):
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tf:
                for name, kind, mode, data in members:
                    ti = tarfile.TarInfo(name)
                    ti.type, ti.mode = kind, mode
                    if kind == tarfile.SYMTYPE:
                        ti.linkname = data
                        tf.addfile(ti)
                    else:
                        ti.size = len(data)
                        tf.addfile(ti, io.BytesIO(data))
            return _state.MAGIC + version + b"\n" + head + b"\n" + buf.getvalue()

        REG, DIR, SYM, FIFO = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.FIFOTYPE
        good = forged(("home/user/ok", REG, 0o644, b"fine"))
        bad = [b"garbage", forged(("home/user/ok", REG, 0o644, b""), version=b"2"),
               forged(head=b"{}"), blob[:blob.index(b"\n", 25) + 1500],
               tar_corrupted(blob),
               forged(("home/user/../../etc/x", REG, 0o644, b"")),
               forged(("etc/x", REG, 0o644, b"")),
               forged(("home/user/a/b", REG, 0o644, b"")),
               forged(("home/user/l", SYM, 0o777, "/etc"), ("home/user/l/x", REG, 0o644, b"")),
               forged(("home/user/f", FIFO, 0o644, b"")),
               forged(("home/user/f", REG, 0o4755, b"")),
               forged(("home/user/f", REG, 0o644, b""), ("home/user/f", REG, 0o644, b"")),
               forged(("home/user/f", REG, 0o644, b"A" * (3 << 20)))]
        other.files.write("/home/user/keep.txt", "keep")
        with Sandbox(fs_limit_bytes=1 << 20) as small:
            for b in bad:
                with pytest.raises(SandboxError) as e:
                    small.import_state(b)
                assert "EINVAL" in str(e.value)
        for b in bad[:-1]:
            with pytest.raises(SandboxError):
                other.import_state(b)
        assert other.files.read("/home/user/keep.txt") == b"keep"
        other.import_state(good)
        assert other.commands.run("ls; cat ok").stdout == "ok\nfine"


def test_fork_is_independent():
    with Sandbox(mounts=[("/mnt/m", {"a": "A"})]) as parent:
        parent.commands.run("echo p > /home/user/p; P=1; cd /tmp")
        child = parent.fork()
        r = child.commands.run("cat /home/user/p; echo $P; pwd; cat /mnt/m/a")
        assert r.stdout == "p\n1\n/tmp\nA"
        child.commands.run("echo c > /home/user/c; P=2")
        assert parent.commands.run("ls /home/user; echo $P").stdout == "p\n1\n"
        child.destroy()
        child.destroy()
        with pytest.raises(SandboxError):
            child.commands.run("true")
        assert parent.commands.run("echo ok").stdout == "ok\n"
        parent.kill()
        with pytest.raises(SandboxError):
            parent.files.read("/home/user/p")


def test_fork_carries_the_shell_state_the_parent_has_now():
    """The host keeps the parent's shell state as commands report it; a
    restore, an import and a timed-out command must leave it true."""
    with Sandbox(timeout_ms=2000) as sb:
        sb.commands.run("X=1; cd /tmp")
        snap = sb.snapshot()
        sb.commands.run("X=2; cd /home/user")
        sb.restore(snap)
        child = sb.fork()
        assert child.commands.run("echo $X; pwd").stdout == "1\n/tmp\n"
        child.destroy()
        blob = sb.export_state()
        sb.commands.run("X=3")
        sb.import_state(blob)
        child = sb.fork()
        assert child.commands.run("echo $X").stdout == "1\n"
        child.destroy()
        assert sb.commands.run("X=4; sleep 10").timed_out
        sb.commands.run("Y=5")
        child = sb.fork()
        assert child.commands.run("echo $X$Y").stdout == "15\n"
        child.destroy()


def test_fork_copies_the_files_as_they_are():
    """fork copies the tree as it is: types, modes, hard
    links, empty directories, a large file, long and non-ASCII names."""
    with Sandbox() as parent:
        r = parent.commands.run(
            "mkdir -p d/empty ro; head -c 3000000 /dev/urandom > big; echo h > h1; ln h1 h2;"
            " ln -s big lnk; chmod 751 d; chmod 500 ro; mkfifo /tmp/fifo; touch 'ünï code';"
            " L=$(printf 'n%.0s' $(seq 120))/$(printf 'm%.0s' $(seq 120)); mkdir -p $L;"
            " echo deep > $L/f; touch -d @1000000000 h1; sha256sum big")
        assert r.exit_code == 0, r.stderr
        child = parent.fork()
        r2 = child.commands.run(
            "sha256sum big; cat h2 $L/f; readlink lnk; stat -c '%a %n' d ro; ls d;"
            " ls 'ünï code'; stat -c %Y h1; ls /tmp")
        assert r2.stdout == r.stdout + ("h\ndeep\nbig\n751 d\n500 ro\nempty\nünï code\n"
                                        "1000000000\n"), r2.stderr
        # Hard links come out as separate files: writing one leaves the other.
        child.commands.run("echo x > h2")
        assert child.files.read("h1") == b"h\n"
        child.destroy()


def test_fork_and_export_fail_cleanly_when_a_file_cannot_be_read():
    """A file the parent may not read stops the copy half way: fork and
    export_state raise, the half-made child is gone, and both work again
    once the file is readable."""
    with Sandbox() as parent:
        parent.commands.run("head -c 2000000 /dev/zero > a; echo s > b; chmod 000 b")
        for op in (parent.fork, parent.export_state):
            with pytest.raises(SandboxError) as e:
                op()
            assert "EACCES" in str(e.value)
        assert parent.commands.run("chmod 600 b; cat b").stdout == "s\n"
        child = parent.fork()
        assert child.files.read("b") == b"s\n" and len(child.files.read("a")) == 2000000
        assert len(parent._forks) == 1


CTRL_C = r"""
import os, signal, sys, threading
sys.path.insert(0, sys.argv[1])
import brig
with brig.Sandbox() as sb:
    sb.commands.run("X=kept; cd /tmp")
    sid = sb.snapshot(); sb.commands.run("X=lost"); sb.restore(sid)  # the connection stays
    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
    try:
        sb.commands.run("echo started; sleep 30; echo never")
        print("not interrupted")
    except KeyboardInterrupt:
        print("interrupted")
    r = sb.commands.run("echo $X; pwd; pgrep -c sleep || true")
    print(r.stdout, end="")
    print(sb.run_code("print('session fine')").stdout, end="")
"""


def test_ctrl_c_cancels_only_the_command():
    """Ctrl-C during commands.run kills that command (and what it started)
    and raises KeyboardInterrupt; the shell state and the sandbox stay."""
    import os
    import subprocess
    import sys

    import brig

    pydir = os.path.dirname(os.path.dirname(brig.__file__))
    p = subprocess.run([sys.executable, "-c", CTRL_C, pydir], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "interrupted\nkept\n/tmp\n0\nsession fine\n", (p.stdout, p.stderr)


RUN_CODE_CTRL_C = r"""
import os, signal, sys, threading
sys.path.insert(0, sys.argv[1])
import brig

def ctrl_c(code, lang):
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        sb.run_code(code, lang)
        print("returned")
    except KeyboardInterrupt:
        print("interrupted")
    finally:
        timer.cancel()

with brig.Sandbox() as sb:
    sb.run_code("kept = 'py'")
    sb.run_code("var kept = 'js'", "js")
    ctrl_c("n = 0\nwhile True:\n    n += 1\n", "python")
    print(sb.run_code("print(kept, n > 0)").stdout, end="")
    ctrl_c("while (true) {}", "js")
    print(sb.run_code("console.log(kept)", "js").stdout, end="")
    ctrl_c("new Promise(r => setTimeout(r, 600000))", "js")
    print(sb.run_code("console.log(kept)", "js").stdout, end="")
    # Not interruptible: node is killed, and the next call gets a new one.
    ctrl_c("(async () => { await 0; while (true) {} })()", "js")
    print(sb.run_code("console.log(typeof kept)", "js").stdout, end="")
    print(sb.commands.run("echo shell fine").stdout, end="")
"""


def test_ctrl_c_interrupts_run_code():
    """Ctrl-C during run_code, Python or JavaScript, interrupts the code
    and raises KeyboardInterrupt; the sandbox goes on with its state (a JS
    loop that does not yield to SIGINT costs only node's declarations)."""
    import os
    import subprocess
    import sys

    import brig

    pydir = os.path.dirname(os.path.dirname(brig.__file__))
    p = subprocess.run([sys.executable, "-c", RUN_CODE_CTRL_C, pydir], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout == ("interrupted\npy True\ninterrupted\njs\ninterrupted\njs\n"
                        "interrupted\nundefined\nshell fine\n"), (p.stdout, p.stderr)


def test_state_transfer_channel_is_closed_to_guest_code(sb):
    """The host's transfer socket (/.brig) exists only during a transfer,
    is read-only to the guest, and a connection that does not send the
    call's token gets nothing and spoils nothing."""
    import os

    from brig import _state, _transfer

    r = sb.commands.run("ls -A /.brig; touch /.brig/x")
    assert r.stdout == "" and "Read-only" in r.stderr
    sb.files.write("/home/user/f", "data")
    stray = []

    def call(token):
        # Guest code connecting while the transfer is open: one that sends
        # nothing and holds on, one with a wrong token.
        sb.commands.run("python3 -c 'import socket, time; c = socket.socket(socket.AF_UNIX); "
                        "c.connect(\"/.brig/xfer\"); time.sleep(5)' &")
        stray.append(sb.commands.run(
            "python3 -c 'import socket; c = socket.socket(socket.AF_UNIX); "
            "c.connect(\"/.brig/xfer\"); c.sendall(b\"0\" * 32 + b\"\\n\"); "
            "print(len(c.recv(100)))'"))
        return sb._call({"op": "export", "token": token}, 10_000)

    r, tar = _transfer.receive(os.path.join(sb._dir, "io"), 1 << 30, 10_000, call)
    assert stray[0].stdout == "0\n", stray[0].stderr
    with Sandbox() as other:
        other.import_state(_state.encode(r["shell"], tar))
        assert other.files.read("/home/user/f") == b"data"
    assert sb.commands.run("ls -A /.brig").stdout == ""
    # The host reads no more than its bound.
    sb.files.write("/tmp/big", bytes(4 << 20))
    with pytest.raises(SandboxError) as e:
        _transfer.receive(os.path.join(sb._dir, "io"), 1000, 10_000,
                          lambda token: sb._call({"op": "export", "token": token}, 10_000))
    assert "EFBIG" in str(e.value)
    assert sb.files.read("/home/user/f") == b"data"


def test_child_sandboxes_are_isolated(sb):
    a = sb.sandboxes.create(label="a")
    b = sb.sandboxes.create()
    a.files.write("/home/user/only-a", "1")
    a.commands.run("export A=1")
    assert b.commands.run("ls /home/user; echo [$A]").stdout == "[]\n"
    assert [(i.id, i.label) for i in sb.sandboxes.list()] == [(a.id, "a"), (b.id, None)]
    sb.sandboxes.remove(a.id)
    assert [i.id for i in sb.sandboxes.list()] == [b.id]
    with pytest.raises(SandboxError):
        sb.sandboxes.remove(a.id)
    with pytest.raises(SandboxError):
        a.commands.run("true")
    sb.sandboxes.remove(b.id)


def test_fs_limit_gives_enospc():
    with Sandbox(fs_limit_bytes=1 << 20) as s:
        s.files.write("/home/user/a", b"x" * (600 << 10))
        with pytest.raises(SandboxError) as e:
            s.files.write("/home/user/b", b"x" * (600 << 10))
        assert "ENOSPC" in str(e.value)
        # The limit is a total: /tmp holds what /home/user left, no more.
        r = s.commands.run("head -c 600000 /dev/zero > /tmp/f; echo $?; stat -c %s /tmp/f")
        assert r.stdout.split()[0] == "1" and "No space left" in r.stderr, r
        assert int(r.stdout.split()[1]) < (1 << 20) - (600 << 10)
        assert s.commands.run("echo fine").stdout == "fine\n"


def test_one_file_past_fs_limit_gets_enospc_not_efbig():
    with Sandbox(fs_limit_bytes=1 << 20) as s:
        r = s.commands.run("head -c 3000000 /dev/zero > /home/user/big; echo rc=$?")
        assert "rc=1" in r.stdout and "No space left" in r.stderr, r
        with pytest.raises(SandboxError) as e:
            s.files.write("/dev/shm/big", bytes(2 << 20))
        assert "ENOSPC" in str(e.value)


def test_run_code_session(sb):
    assert sb.run_code("acc = [1]").exit_code == 0
    assert sb.run_code("acc.append(2); print(acc)").stdout == "[1, 2]\n"
    r = sb.run_code("raise ValueError('bad')")
    assert r.exit_code == 1 and "ValueError: bad" in r.stderr
    with pytest.raises(SandboxError):
        sb.run_code("1", language="cobol")
    assert sb.run_code("let n = 40; console.log(n + 2)", "js").stdout == "42\n"
    r = sb.run_code("n += 1; console.log(n, process.cwd()); throw new Error('js bad')", "js")
    assert r.exit_code == 1 and r.stdout == "41 /home/user\n" and "js bad" in r.stderr
    code = "(async () => { await new Promise(r => setTimeout(r, 5)); console.log(n) })()"
    assert sb.run_code(code, "js").stdout == "41\n"


def test_threads_drive_sandboxes_in_parallel():
    out = {}

    def worker(i):
        with Sandbox() as s:
            s.commands.run("N=%d" % i)
            s.files.write("/tmp/n", str(i))
            out[i] = s.commands.run("echo $N $(cat /tmp/n)").stdout

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {i: "%d %d\n" % (i, i) for i in range(3)}

"""brig.run, brig.Executor, brig.Result, brig.KV."""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading

import pytest

import brig


def test_run_python_result():
    r = brig.run("import sys; print('out'); print('err', file=sys.stderr)")
    assert (r.ok, r.exit_code, r.stdout, r.stderr, r.error, r.limit) == \
        (True, 0, "out\n", "err\n", None, None)
    assert r.wall_ms > 0 and not r.stdout_truncated and not r.stderr_truncated


def test_run_shell_and_js():
    r = brig.run("echo hi | tr a-z A-Z; exit 3", "sh")
    assert (r.ok, r.exit_code, r.stdout, r.error) == (False, 3, "HI\n", None)
    assert brig.run("console.log(6 * 7)", lang="js").stdout == "42\n"


def test_functions_sync_async_and_errors():
    seen = []

    def add(a, b):
        seen.append((a, b))
        return {"sum": a + b}

    async def double(x):
        return x * 2

    def fail():
        raise ValueError("nope")

    code = ("print(call('add', a=1, b=2)['sum'], call('double', x=21))\n"
            "try:\n    call('fail')\nexcept RuntimeError as e:\n    print('caught', e)\n")
    r = brig.run(code, functions={"add": add, "double": double, "fail": fail})
    assert r.ok, r.stderr
    assert r.stdout == "3 42\ncaught ValueError: nope\n"
    assert seen == [(1, 2)]


def test_function_result_must_be_json():
    r = brig.run("try:\n    call('f')\nexcept RuntimeError as e:\n    print('err', e)",
                 functions={"f": lambda: object()})
    assert r.stdout.startswith("err TypeError"), r.stdout


def test_kv_memory_shared_by_executor_and_sqlite(tmp_path):
    ex = brig.Executor()
    bump = "kv.set('n', kv.get('n', default=0) + 1); print(kv.get('n'))"
    assert [ex.run(bump).stdout for _ in range(2)] == ["1\n", "2\n"]
    # brig.run without kv: a fresh store each time.
    assert brig.run(bump).stdout == "1\n" and brig.run(bump).stdout == "1\n"
    db = tmp_path / "kv.db"
    assert brig.run(bump, kv=str(db)).stdout == "1\n"
    assert brig.run(bump, kv=db).stdout == "2\n"
    store = brig.KV(db)
    assert store.get("n") == 2 and store.keys() == ["n"]
    store.set("m", {"a": [1]})
    assert brig.run("print(kv.get('m'))", kv=store).stdout == "{'a': [1]}\n"
    store.delete("m")
    assert store.get("m", "gone") == "gone"
    with pytest.raises(brig.NotFoundError) as e:
        store.delete("m")
    assert e.value.code == "ERR_NOT_FOUND"


def test_limits_and_output():
    r = brig.run("while True: pass", timeout=0.3)
    assert (r.ok, r.error, r.limit) == (False, "ERR_CANCELLED", "wall")
    r = brig.run("x = bytearray(400 << 20); x[::4096] = b'1' * len(x[::4096])",
                 memory=64 << 20)
    assert (r.error, r.limit) == ("ERR_LIMIT", "memory")
    r = brig.run("print('x' * 5000)", max_output=1000)
    assert r.stdout_truncated and len(r.stdout) <= 1000


def test_stdin_and_streaming():
    chunks = []
    r = brig.run("import sys; print(sys.stdin.read().upper())", stdin="abc",
                 on_stdout=chunks.append)
    assert r.stdout == "ABC\n" and "".join(chunks) == "ABC\n"


@pytest.fixture
def open_dir():
    """A host directory the guest's user may read (pytest's own are 0700)."""
    d = tempfile.mkdtemp()
    os.chmod(d, 0o755)
    yield pathlib.Path(d)
    shutil.rmtree(d)


def test_executor_defaults_and_bad_settings(open_dir):
    tmp_path = open_dir
    (tmp_path / "in.txt").write_text("mounted")
    os.chmod(tmp_path / "in.txt", 0o644)
    ex = brig.Executor(timeout=5, mounts=[("/data", str(tmp_path), "ro")])
    assert ex.run("print(open('/data/in.txt').read())").stdout == "mounted\n"
    assert ex.run("while True: pass", timeout=0.2).limit == "wall"
    with pytest.raises(TypeError):
        brig.Executor(bogus=1)
    with pytest.raises(brig.InvalidError):
        brig.run("pass", mounts=[("/d", str(tmp_path), "rwx")])
    with pytest.raises(brig.InvalidError):
        brig.run("pass", lang="cobol")
    with pytest.raises(brig.InvalidError):
        brig.run("pass", allow_hosts=[""])


def test_threads_run_in_parallel():
    out = {}

    def worker(i):
        out[i] = brig.run("import time; time.sleep(0.2); print(%d)" % i).stdout

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {i: "%d\n" % i for i in range(4)}


CTRL_C = r"""
import os, signal, sys, threading
sys.path.insert(0, sys.argv[1])
import brig
threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
try:
    %s
except KeyboardInterrupt:
    print("interrupted")
%s
"""


@pytest.mark.parametrize("call,after", [
    ("brig.run('while True: pass', timeout=600)", "print(brig.run('print(1)').stdout, end='')"),
    ("s = brig.Session(); s.exec('while True: pass')",
     "print(s.poisoned); s.close(); print(1)"),
])
def test_ctrl_c_cancels_the_call(call, after):
    pydir = os.path.dirname(os.path.dirname(brig.__file__))
    p = subprocess.run([sys.executable, "-c", CTRL_C % (call, after), pydir],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("interrupted\n") and p.stdout.endswith("1\n"), p.stdout

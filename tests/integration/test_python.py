"""The Python guest: tracebacks, exit status, libraries, the filesystem it sees."""
import subprocess

import pytest

from helpers import brig, describe, guest_json, run, run_ok

# ------------------------------------------------------------------ tracebacks

RAISES_ON_LINE_3 = "x = 1\ny = 2\nraise ValueError('boom on three')\nprint('never')\n"


def test_traceback_points_at_the_users_line():
    res, rc = run(RAISES_ON_LINE_3)
    assert rc == 1 and res["exit_code"] == 1
    assert 'File "<string>", line 3, in <module>' in res["stderr"]
    assert "raise ValueError('boom on three')" in res["stderr"]
    assert res["stderr"].rstrip().endswith("ValueError: boom on three")
    assert "never" not in res["stdout"]


def test_traceback_has_no_agent_frames():
    res, _ = run(RAISES_ON_LINE_3)
    tb = res["stderr"]
    assert tb.startswith("Traceback (most recent call last):\n")
    assert tb.count('  File "') == 1, tb
    for leak in ("/opt/brig", "agent.py", "_agent", "exec(", "compile("):
        assert leak not in tb, tb


def test_traceback_through_functions_keeps_line_numbers():
    code = "def inner():\n    return 1 / 0\n\ndef outer():\n    return inner()\n\nouter()\n"
    res, rc = run(code)
    assert rc == 1
    tb = res["stderr"]
    assert 'File "<string>", line 7, in <module>' in tb
    assert 'File "<string>", line 5, in outer' in tb
    assert 'File "<string>", line 2, in inner' in tb
    assert "ZeroDivisionError: division by zero" in tb
    assert tb.count('  File "') == 3, tb


def test_traceback_names_the_file_that_ran(tmp_path):
    prog = tmp_path / "job.py"
    prog.write_text(RAISES_ON_LINE_3)
    proc = brig(str(prog))
    assert proc.returncode == 1
    assert 'File "%s", line 3, in <module>' % prog in proc.stderr


def test_syntax_error_reports_the_line():
    res, rc = run("a = 1\nb = (\nif = 3\n")
    assert rc == 1
    assert "SyntaxError" in res["stderr"]
    assert 'File "<string>", line ' in res["stderr"]
    assert "agent" not in res["stderr"]


# ---------------------------------------------------------------- exit status


@pytest.mark.parametrize("code,status", [
    ("import sys; sys.exit(0)", 0),
    ("import sys; sys.exit()", 0),
    ("import sys; sys.exit(None)", 0),
    ("import sys; sys.exit(5)", 5),
    ("raise SystemExit(9)", 9),
    ("import os; os._exit(4)", 4),
])
def test_sys_exit_propagates(code, status):
    res, rc = run(code)
    assert res["ok"] is True
    assert res["exit_code"] == status and rc == status


def test_sys_exit_with_a_message_exits_1_and_prints_it():
    res, rc = run("import sys; sys.exit('fatal: nope')")
    assert rc == 1
    assert res["stderr"] == "fatal: nope\n"


@pytest.mark.parametrize("exc", ["KeyError('k')", "RuntimeError('r')", "KeyboardInterrupt()"])
def test_uncaught_exception_exits_1(exc):
    res, rc = run("raise " + exc)
    assert rc == 1 and res["exit_code"] == 1
    assert res["ok"] is True and res["error"] is None
    assert exc.split("(")[0] in res["stderr"]


# ------------------------------------------------------------------- libraries


def _host_has_numpy():
    return subprocess.run(["/usr/bin/python3", "-c", "import numpy"],
                          capture_output=True).returncode == 0


@pytest.mark.skipif(not _host_has_numpy(), reason="python3-numpy is not installed on this host")
def test_numpy_imports_and_computes():
    out = guest_json(
        "import json, numpy as np\n"
        "a = np.arange(12).reshape(3, 4)\n"
        "m = np.array([[2.0, 1.0], [1.0, 3.0]])\n"
        "print(json.dumps([int(a.sum()), a.shape, round(float(np.linalg.det(m)), 6),"
        " np.linalg.solve(m, [3.0, 5.0]).round(6).tolist()]))\n")
    assert out == [66, [3, 4], 5.0, [0.8, 1.4]]


def test_stdlib_c_extensions_work():
    out = guest_json(
        "import json, sqlite3, hashlib, zlib, decimal\n"
        "db = sqlite3.connect(':memory:')\n"
        "db.execute('create table t(x)')\n"
        "db.executemany('insert into t values (?)', [(1,), (2,)])\n"
        "print(json.dumps([db.execute('select sum(x) from t').fetchone()[0],\n"
        "  hashlib.sha256(b'abc').hexdigest()[:8], len(zlib.compress(b'a' * 1000)) < 100,\n"
        "  str(decimal.Decimal('0.1') + decimal.Decimal('0.2'))]))\n")
    assert out == [3, "ba7816bf", True, "0.3"]


def test_threads_and_subprocesses_work():
    out = guest_json(
        "import json, subprocess, threading\n"
        "acc = []\n"
        "ts = [threading.Thread(target=acc.append, args=(i,)) for i in range(8)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\n"
        "echo = subprocess.run(['echo', 'child'], capture_output=True, text=True).stdout\n"
        "print(json.dumps([sorted(acc), echo]))\n")
    assert out == [list(range(8)), "child\n"]


# --------------------------------------------------------------- environment


def test_stdin_is_empty():
    # The CLI streams its own stdin, here empty, through a pipe.
    out = guest_json(
        "import json, os, stat, sys\n"
        "st = os.fstat(0)\n"
        "print(json.dumps([sys.stdin.read(), os.read(0, 10).decode(),\n"
        "                  stat.S_ISFIFO(st.st_mode)]))\n", input=b"")
    assert out == ["", "", True]


def test_cwd_is_home_user():
    out = guest_json("import json, os; print(json.dumps([os.getcwd(), os.environ['HOME'],"
                     " os.path.expanduser('~')]))")
    assert out == ["/home/user", "/home/user", "/home/user"]


def test_name_is_main():
    res = run_ok("if __name__ == '__main__':\n    print('main', __name__)\n")
    assert res["stdout"] == "main __main__\n"


def test_main_module_is_the_users_code():
    res = run_ok("import sys\nvalue = 41\nprint(sys.modules['__main__'].value + 1)\n")
    assert res["stdout"] == "42\n"


@pytest.mark.parametrize("path", ["/home/user/data.txt", "data.txt", "/tmp/data.txt",
                                  "/tmp/sub/dir/data.txt", "/dev/shm/data.txt"])
def test_writable_places(path):
    out = guest_json(
        "import json, os\n"
        "p = %r\n"
        "d = os.path.dirname(p)\n"
        "if d: os.makedirs(d, exist_ok=True)\n"
        "with open(p, 'w') as f: f.write('payload ' * 1000)\n"
        "with open(p) as f: data = f.read()\n"
        "os.rename(p, p + '.2'); os.unlink(p + '.2')\n"
        "print(json.dumps([len(data), os.path.exists(p)]))\n" % path)
    assert out == [8000, False]


READ_ONLY = ("EROFS", "EACCES")


@pytest.mark.parametrize("path,refusals", [
    ("/x.txt", READ_ONLY), ("/etc/x.txt", READ_ONLY), ("/usr/x.txt", READ_ONLY),
    ("/usr/lib/x.txt", READ_ONLY), ("/opt/brig/x.txt", READ_ONLY), ("/dev/x.txt", READ_ONLY),
    ("/home/x.txt", READ_ONLY),
    # procfs has no regular files to create
    ("/proc/x.txt", ("ENOENT", "EACCES")),
])
def test_writing_elsewhere_fails(path, refusals):
    out = guest_json(
        "import errno, json\n"
        "try:\n"
        "    open(%r, 'w').write('x')\n"
        "    r = 'written'\n"
        "except OSError as e:\n"
        "    r = errno.errorcode[e.errno]\n"
        "print(json.dumps(r))\n" % path)
    assert out in refusals, out


def test_unicode_output():
    res = run_ok("print('h\\u00e9llo \\u2713 \\U0001F600')")
    assert res["stdout"] == "h\u00e9llo \u2713 \U0001F600\n"


def test_large_output_below_the_limit_is_intact():
    res = run_ok("import sys\nfor i in range(20000):\n    sys.stdout.write('%06d\\n' % i)\n")
    lines = res["stdout"].splitlines()
    assert len(lines) == 20000 and lines[0] == "000000" and lines[-1] == "019999"
    assert res["stdout_truncated"] is False


def test_guest_api_names_are_predefined():
    res = run_ok("print(all(callable(x) for x in (call, time_now)), kv is not None, "
                 "fs is not None, http is not None)")
    assert res["stdout"] == "True True True True\n", describe(res)

"""brig.Session: state, handlers, snapshots, interrupts, errors."""
import threading
import time

import pytest

import brig


@pytest.fixture(scope="module")
def session():
    with brig.Session() as s:
        yield s


def test_exec_keeps_state(session):
    session.exec("import math\nx = 41")
    assert session.exec("print(x + 1, math.pi > 3)").stdout == "42 True\n"
    r = session.exec("1 / 0")
    assert r.exit_code == 1 and "ZeroDivisionError" in r.stderr
    assert session.exec("print(x)").stdout == "41\n"
    assert session.exec("x * 2", interactive=True).stdout == "82\n"


def test_handlers(session):
    session.add_handler("double", "def handler(e):\n    return e['n'] * 2\n")
    session.add_handler("boom", "def handler(e):\n    raise KeyError('k')\n")
    session.add_handler("aio", "async def handler(e):\n    return [e, None]\n")
    assert session.call_handler("double", {"n": 21}) == 42
    assert session.call_handler("aio", "s") == ["s", None]
    with pytest.raises(brig.GuestAbortError) as e:
        session.call_handler("boom", {})
    assert e.value.code == "ERR_GUEST_ABORT" and "KeyError" in str(e.value)
    session.remove_handler("boom")
    with pytest.raises(brig.NotFoundError):
        session.call_handler("boom", {})
    with pytest.raises(brig.NotFoundError):
        session.remove_handler("boom")
    session.clear_handlers()
    with pytest.raises(brig.NotFoundError):
        session.call_handler("double", {"n": 1})


def test_timeout_poisons_and_restore_heals():
    with brig.Session() as s:
        s.exec("v = 'before'")
        s.add_handler("spin", "def handler(e):\n    while True: pass\n")
        s.call_handler  # handlers load on first call
        snap = s.snapshot()
        s.exec("v = 'after'")
        with pytest.raises(brig.CancelledError) as e:
            s.call_handler("spin", None, wall_clock_timeout_ms=200)
        assert e.value.code == "ERR_CANCELLED"
        assert s.poisoned
        with pytest.raises(brig.PoisonedError) as e:
            s.exec("pass")
        assert e.value.code == "ERR_POISONED"
        s.restore(snap)
        assert not s.poisoned
        assert s.exec("print(v)").stdout == "before\n"
        s.restore(snap)
        with pytest.raises(brig.InvalidError):
            s.restore("not a snapshot")


def test_interrupt_from_another_thread():
    with brig.Session(timeout=60) as s:
        threading.Timer(0.3, s.interrupt).start()
        with pytest.raises(brig.CancelledError):
            s.exec("while True: pass")
        assert s.poisoned


def test_snapshot_of_other_session_refused():
    with brig.Session() as a, brig.Session() as b:
        snap = a.snapshot()
        with pytest.raises(brig.InvalidError):
            b.restore(snap)
        snap.release()
        with pytest.raises(brig.InvalidError):
            a.restore(snap)


def test_callback_exception_is_a_guest_error_and_closed_session():
    def f(**kw):
        raise RuntimeError("host side broke")

    s = brig.Session(functions={"f": f})
    r = s.exec("try:\n    call('f')\nexcept RuntimeError as e:\n    print(e)")
    assert r.stdout == "RuntimeError: host side broke\n"
    s.close()
    s.close()
    with pytest.raises(ValueError):
        s.exec("pass")


def test_sessions_are_isolated_and_parallel():
    results = {}

    def worker(i):
        with brig.Session() as s:
            s.exec("import time; v = %d; open('/tmp/f', 'w').write(str(v))" % i)
            time.sleep(0.05)
            results[i] = s.exec("print(v, open('/tmp/f').read())").stdout

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: "%d %d\n" % (i, i) for i in range(3)}


def test_bad_settings():
    with pytest.raises(brig.InvalidError):
        brig.Session("cobol")
    with pytest.raises(brig.InvalidError):
        brig.Session(memory=-1)


def test_cpu_timeout_gc_and_streaming():
    chunks = []
    with brig.Session(on_stdout=chunks.append) as s:
        s.add_handler("spin", "def handler(e):\n    while True: pass\n")
        s.add_handler("echo", "def handler(e):\n    print('seen', e)\n    return e\n")
        assert s.call_handler("echo", [1], gc=False) == [1]
        assert "".join(chunks) == "seen [1]\n"
        with pytest.raises(brig.CancelledError):
            s.call_handler("spin", None, cpu_timeout_ms=100, wall_clock_timeout_ms=60_000)


# Ctrl-C runs in a child process: a SIGINT that came late must not hit
# pytest.  ctrl_c(call, *args) sends one during the call and tells whether
# the call raised KeyboardInterrupt.
CTRL_C = r"""
import os, signal, sys, threading
sys.path.insert(0, sys.argv[1])
import brig

def ctrl_c(call, *args):
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        call(*args)
        return "returned"
    except KeyboardInterrupt:
        return "interrupted"
    finally:
        timer.cancel()

%s
"""


def run_ctrl_c(body):
    import os
    import subprocess
    import sys

    pydir = os.path.dirname(os.path.dirname(brig.__file__))
    p = subprocess.run([sys.executable, "-c", CTRL_C % body, pydir], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_ctrl_c_breaks_the_call_and_keeps_the_session():
    """Ctrl-C interrupts the guest as Python does (KeyboardInterrupt there)
    and raises KeyboardInterrupt; the session is not poisoned and keeps its
    globals, including what the interrupted code did."""
    out = run_ctrl_c(r"""
with brig.Session(timeout=60) as s:
    s.exec("kept = 'yes'")
    print(ctrl_c(s.exec, "n = 0\nwhile True:\n    n += 1\n"))
    print(s.poisoned)
    print(s.exec("print(kept, n > 0)").stdout, end="")
    s.add_handler("spin", "def handler(e):\n    while True:\n        pass\n")
    print(ctrl_c(s.call_handler, "spin", None))
    print(s.poisoned)
    print(s.exec("print(kept)").stdout, end="")
""")
    assert out == "interrupted\nFalse\nyes True\ninterrupted\nFalse\nyes\n", out


def test_ctrl_c_kills_code_that_will_not_stop():
    """Guest code that catches KeyboardInterrupt and goes on is killed after
    the grace: KeyboardInterrupt all the same, and the session poisoned."""
    out = run_ctrl_c(r"""
with brig.Session(timeout=600) as s:
    print(ctrl_c(s.exec, "while True:\n    try:\n        while True:\n            pass\n"
                         "    except KeyboardInterrupt:\n        pass\n"))
    print(s.poisoned)
    try:
        s.exec("pass")
    except brig.PoisonedError:
        print("poisoned")
""")
    assert out == "interrupted\nTrue\npoisoned\n", out


def test_ctrl_c_interrupts_a_js_session():
    out = run_ctrl_c(r"""
with brig.Session("js", timeout=60) as s:
    s.exec("var kept = 'yes'")
    print(ctrl_c(s.exec, "while (true) {}"))
    print(s.poisoned)
    print(s.exec("console.log(kept)").stdout, end="")
""")
    assert out == "interrupted\nFalse\nyes\n", out


def test_copy_files_from_another_session():
    with brig.Session() as src, brig.Session() as dst, brig.Session(tmp_size=1 << 20) as small:
        src.exec("import os\nos.makedirs('/home/user/d')\n"
                 "open('/home/user/d/f', 'w').write('hi')\nos.symlink('/home/user/d/f', '/tmp/l')")
        dst.exec("open('/home/user/old', 'w').write('x')")
        dst.copy_files_from(src)
        r = dst.exec("import os\nprint(sorted(os.listdir('/home/user')), open('/tmp/l').read())")
        assert r.stdout == "['d'] hi\n"
        src.exec("open('/tmp/big', 'wb').write(bytes(3 << 20))")
        with pytest.raises(brig.LimitError) as e:
            small.copy_files_from(src)
        assert "No space left" in str(e.value)
        with pytest.raises(brig.InvalidError):
            src.copy_files_from(src)
        with pytest.raises(brig.InvalidError):
            src.copy_files_from("not a session")

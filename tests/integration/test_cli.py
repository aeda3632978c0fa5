"""The brig command line: code sources, languages, flags, exit status, --json."""
import os
import re
import signal
import subprocess

import pytest

import helpers
from helpers import (BRIG_BIN, GUEST_DIR, JSON_KEYS, brig, describe, host_pids_with, parse_result,
                     run, run_ok, token, wait_for)

# ------------------------------------------------------------------ code sources


def test_code_flag_runs_python():
    proc = brig("-c", "print('hello from brig')")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hello from brig\n"
    assert proc.stderr == ""


def test_long_code_flag():
    proc = brig("--code", "print(2 + 3)")
    assert (proc.returncode, proc.stdout) == (0, "5\n"), proc.stderr


def test_demo_prints_285():
    proc = brig("-c", "print(sum(x**2 for x in range(10)))")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "285\n"


def test_file_with_py_extension_runs_as_python(tmp_path):
    prog = tmp_path / "prog.py"
    prog.write_text("import sys\nprint('py', sys.version_info[0])\n")
    proc = brig(str(prog))
    assert (proc.returncode, proc.stdout) == (0, "py 3\n"), proc.stderr


def test_file_with_sh_extension_runs_as_shell(tmp_path):
    prog = tmp_path / "prog.sh"
    # Not valid Python: it only works if the extension selected the shell.
    prog.write_text("x=$((6 * 7))\necho \"sh $x\"\n")
    proc = brig(str(prog))
    assert (proc.returncode, proc.stdout) == (0, "sh 42\n"), proc.stderr


def test_file_without_known_extension_defaults_to_python(tmp_path):
    prog = tmp_path / "prog.txt"
    prog.write_text("print('default', 'python')\n")
    proc = brig(str(prog))
    assert (proc.returncode, proc.stdout) == (0, "default python\n"), proc.stderr


def test_lang_flag_overrides_the_extension(tmp_path):
    prog = tmp_path / "prog.py"
    prog.write_text("echo shell wins\n")
    proc = brig("--lang", "sh", str(prog))
    assert (proc.returncode, proc.stdout) == (0, "shell wins\n"), proc.stderr


def test_missing_file_is_a_usage_error(tmp_path):
    proc = brig(str(tmp_path / "absent.py"))
    assert proc.returncode == 2
    assert "absent.py" in proc.stderr and "No such file" in proc.stderr
    assert proc.stdout == ""


def test_code_from_stdin():
    proc = brig(input="import sys\nprint('stdin', 40 + 2)\n")
    assert (proc.returncode, proc.stdout) == (0, "stdin 42\n"), proc.stderr


def test_shell_code_from_stdin():
    proc = brig("--lang", "sh", input="echo one | tr o O\n")
    assert (proc.returncode, proc.stdout) == (0, "One\n"), proc.stderr


def test_stdin_code_is_not_also_fed_to_the_guest():
    proc = brig(input="import sys\nprint(repr(sys.stdin.read()))\n")
    assert (proc.returncode, proc.stdout) == (0, "''\n"), proc.stderr


def test_code_and_file_together_is_a_usage_error(tmp_path):
    prog = tmp_path / "p.py"
    prog.write_text("print(1)\n")
    proc = brig("-c", "print(2)", str(prog))
    assert proc.returncode == 2
    assert "either -c CODE or FILE" in proc.stderr


# -------------------------------------------------------------------- languages

PY_PROBE = "import sys; print('python', sys.version_info[0])"


@pytest.mark.parametrize("alias", ["python", "py"])
def test_python_aliases(alias):
    proc = brig("--lang", alias, "-c", PY_PROBE)
    assert (proc.returncode, proc.stdout) == (0, "python 3\n"), proc.stderr


def test_short_lang_flag():
    proc = brig("-l", "sh", "-c", "echo short")
    assert (proc.returncode, proc.stdout) == (0, "short\n"), proc.stderr


def test_sh_lang():
    proc = brig("--lang", "sh", "-c", "echo \"$0\" | sed 's,.*/,,'")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "sh\n"


def test_default_language_is_python():
    proc = brig("-c", PY_PROBE)
    assert (proc.returncode, proc.stdout) == (0, "python 3\n"), proc.stderr


JS_READY = (GUEST_DIR / "js" / "agent.js").exists()


@pytest.mark.parametrize("alias", ["js", "javascript"])
def test_js_lang(alias):
    proc = brig("--lang", alias, "-c", "console.log(6 * 7)")
    if JS_READY:
        assert (proc.returncode, proc.stdout) == (0, "42\n"), proc.stderr
    else:
        assert proc.returncode == 125
        assert "not yet supported" in proc.stderr
        assert "JavaScript" in proc.stderr


def test_js_extension_is_detected(tmp_path):
    prog = tmp_path / "prog.js"
    prog.write_text("console.log('from js')\n")
    proc = brig("--json", str(prog))
    res = parse_result(proc)
    if JS_READY:
        assert res["ok"] and res["stdout"] == "from js\n", describe(res)
    else:
        assert res["error"] == "ERR_UNSUPPORTED"
        assert "not yet supported" in res["message"]


# ---------------------------------------------------------------- help, version


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help(flag):
    proc = brig(flag)
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: brig")
    for opt in ("-c", "--lang", "--timeout", "--cpu-timeout", "--memory", "--pids",
                "--max-output", "--tmp-size", "--mount-write-limit", "--json"):
        assert opt in proc.stdout, opt


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag):
    proc = brig(flag)
    assert proc.returncode == 0
    assert re.fullmatch(r"brig \d+\.\d+\.\d+\S*\n", proc.stdout), proc.stdout


# ------------------------------------------------------------------ bad usage

BAD_USAGE = [
    (["--lang", "ruby"], "--lang"),
    (["--timeout", "5x"], "--timeout"),
    (["--timeout", "soon"], "--timeout"),
    (["--timeout", "0"], "--timeout"),
    (["--cpu-timeout", "-1s"], "--cpu-timeout"),
    (["--memory", "lots"], "--memory"),
    (["--memory", "12q"], "--memory"),
    (["--max-output", "0"], "--max-output"),
    (["--tmp-size", "big"], "--tmp-size"),
    (["--mount-write-limit", "lots"], "--mount-write-limit"),
    (["--mount-write-limit", "1k"], "mount write limit"),
    (["--pids", "0"], "--pids"),
    (["--pids", "many"], "--pids"),
    (["--no-such-flag"], "unknown"),
    (["--timeout"], "incomplete"),
]


@pytest.mark.parametrize("args,mention", BAD_USAGE, ids=[" ".join(a) for a, _ in BAD_USAGE])
def test_bad_flags_exit_2_with_a_message(args, mention):
    proc = brig(*args, "-c", "print('ran')") if args != ["--timeout"] else brig(*args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr.startswith("brig: ")
    assert mention in proc.stderr
    assert "ran" not in proc.stdout


def test_limits_below_the_floor_are_rejected():
    proc = brig("--memory", "1m", "-c", "print('ran')")
    assert proc.returncode == 2
    assert "limits too small" in proc.stderr
    assert proc.stdout == ""


def test_limits_below_the_floor_in_json():
    res = parse_result(brig("--json", "--pids", "1", "-c", "print('ran')"))
    assert res["error"] == "ERR_INVALID_ARG" and res["ok"] is False
    assert res["stdout"] == ""


# ------------------------------------------------------------------------ --json


def test_json_shape_on_success():
    res, rc = run("print('hi')")
    assert rc == 0
    assert set(res) == JSON_KEYS
    assert res["ok"] is True
    assert res["error"] is None
    assert res["error_code"] == 0
    assert res["message"] == ""
    assert res["exit_code"] == 0 and res["signal"] == 0
    assert res["limit"] == "none"
    assert res["stdout"] == "hi\n" and res["stderr"] == ""
    assert res["stdout_truncated"] is False and res["stderr_truncated"] is False
    assert isinstance(res["wall_ms"], (int, float)) and res["wall_ms"] > 0
    assert isinstance(res["cpu_ms"], (int, float)) and res["cpu_ms"] >= 0
    assert isinstance(res["warm"], bool)


def test_json_shape_on_failure():
    res, rc = run("import time; time.sleep(30)", "python", "--timeout", "200ms")
    assert rc == 124
    assert res["ok"] is False
    assert res["error"] == "ERR_CANCELLED" and res["error_code"] < 0
    assert res["limit"] == "wall"
    assert "timeout" in res["message"]


def test_json_prints_exactly_one_object():
    proc = brig("--json", "-c", "print('a'); import sys; print('b', file=sys.stderr)")
    assert proc.returncode == 0
    assert len(proc.stdout.strip().splitlines()) == 1
    assert proc.stderr == ""
    res = parse_result(proc)
    assert (res["stdout"], res["stderr"]) == ("a\n", "b\n")


def test_json_output_with_invalid_utf8_stays_valid_json():
    res = run_ok("import sys; sys.stdout.buffer.write(b'ok\\xff\\xfe\\n')")
    assert res["stdout"].startswith("ok") and "\ufffd" in res["stdout"]


# ------------------------------------------------------------- exit status


@pytest.mark.parametrize("code", [0, 1, 3, 42, 255])
def test_python_exit_status_passes_through(code):
    proc = brig("-c", "import sys; sys.exit(%d)" % code)
    assert proc.returncode == code
    res = parse_result(brig("--json", "-c", "import sys; sys.exit(%d)" % code))
    assert res["ok"] is True and res["exit_code"] == code


@pytest.mark.parametrize("code", [0, 1, 7, 200])
def test_shell_exit_status_passes_through(code):
    proc = brig("--lang", "sh", "-c", "exit %d" % code)
    assert proc.returncode == code


def test_guest_signal_gives_128_plus_n():
    proc = brig("--lang", "sh", "-c", "kill -USR1 $$")
    assert proc.returncode == 128 + 10
    assert "ERR_GUEST_ABORT" in proc.stderr
    res, rc = run("kill -TERM $$", "sh")
    assert rc == 128 + 15
    assert res["signal"] == 15 and res["error"] == "ERR_GUEST_ABORT"


# ------------------------------------------------------- stdout and stderr


def test_stdout_and_stderr_are_separate_streams():
    code = "import sys\nprint('to-out')\nprint('to-err', file=sys.stderr)\nprint('out-2')\n"
    proc = brig("-c", code)
    assert proc.returncode == 0
    assert proc.stdout == "to-out\nout-2\n"
    assert proc.stderr == "to-err\n"


def test_shell_stdout_and_stderr_are_separate_streams():
    res = run_ok("echo out; echo err >&2; echo out2", "sh")
    assert res["stdout"] == "out\nout2\n"
    assert res["stderr"] == "err\n"


def test_errors_are_reported_on_stderr_without_json():
    proc = brig("--timeout", "200ms", "-c", "import time; time.sleep(30)")
    assert proc.returncode == 124
    assert "ERR_CANCELLED" in proc.stderr
    assert proc.stdout == ""


# ----------------------------------------------- every limit flag takes effect


def test_max_output_truncates():
    code = "print('x' * 100)"
    assert run_ok(code)["stdout"] == "x" * 100 + "\n"
    res, rc = run(code, "python", "--max-output", "10")
    assert rc == 137
    assert res["stdout"] == "x" * 10
    assert res["stdout_truncated"] is True
    assert res["limit"] == "output" and res["error"] == "ERR_LIMIT"


def test_timeout_kills_sleep():
    res, rc = run("sleep 30", "sh", "--timeout", "200ms")
    assert rc == 124
    assert res["error"] == "ERR_CANCELLED" and res["limit"] == "wall"
    assert run_ok("sleep 0.1", "sh", "--timeout", "20s")["exit_code"] == 0


def test_cpu_timeout_kills_busy_loop():
    res, rc = run("while True: pass", "python", "--cpu-timeout", "300ms", "--timeout", "30s")
    assert rc == 124
    assert res["error"] == "ERR_CANCELLED"
    assert res["limit"] == "cpu"


def test_cpu_timeout_does_not_count_sleep():
    res = run_ok("import time; time.sleep(0.6); print('slept')", "python",
                 "--cpu-timeout", "300ms")
    assert res["stdout"] == "slept\n"


ALLOC_100MB = "x = bytearray(100 * 1024 * 1024)\nx[::4096] = b'y' * len(x[::4096])\nprint('got it')"


def test_memory_limit_kills_large_allocation():
    assert run_ok(ALLOC_100MB)["stdout"] == "got it\n"
    res, rc = run(ALLOC_100MB, "python", "--memory", "32m")
    assert rc == 137
    assert res["error"] == "ERR_LIMIT"
    assert res["limit"] == "memory"
    assert "got it" not in res["stdout"]


FORK_LOOP = """
import os, time, errno
kids, err = 0, None
for i in range(40):
    try:
        pid = os.fork()
    except OSError as e:
        err = errno.errorcode[e.errno]
        break
    if pid == 0:
        time.sleep(5)
        os._exit(0)
    kids += 1
print(kids, err)
"""


def test_pids_limit_contains_fork_loop():
    assert run_ok(FORK_LOOP)["stdout"] == "40 None\n"
    res = run_ok(FORK_LOOP, "python", "--pids", "8")
    kids, err = res["stdout"].split()
    assert int(kids) < 8
    assert err == "EAGAIN"


WRITE_2MB = """
import errno
try:
    with open('/tmp/big', 'wb') as f:
        f.write(b'a' * (2 << 20))
    print('wrote')
except OSError as e:
    print(errno.errorcode[e.errno])
"""


def test_tmp_size_limits_tmp():
    assert run_ok(WRITE_2MB)["stdout"] == "wrote\n"
    res = run_ok(WRITE_2MB, "python", "--tmp-size", "1m")
    assert res["stdout"].strip() in ("ENOSPC", "EFBIG")


def test_limit_flags_accept_unit_spellings():
    res = run_ok("print('fine')", "python", "--timeout", "1m", "--cpu-timeout", "10s",
                 "--memory", "256mb", "--max-output", "1m", "--tmp-size", "8m", "--pids", "64")
    assert res["stdout"] == "fine\n"


def test_too_many_repeated_flags_is_a_usage_error():
    for flag, value in (("--allow-host", "a.example"), ("--mount", "/d{}:/tmp"),
                        ("--host-fn", "f{}=cat")):
        args = []
        for i in range(65):
            args += [flag, value.format(i)]
        proc = subprocess.run([BRIG_BIN, *args, "-c", "pass"], capture_output=True, text=True)
        assert proc.returncode == 2, (flag, proc.stderr)
        assert "too many repetitions (at most 64)" in proc.stderr


def test_no_daemon_starts_cold():
    res, rc = run("print('cold')", "python", "--no-daemon")
    assert rc == 0 and res["stdout"] == "cold\n", describe(res)
    assert res["warm"] is False


def test_relative_mount_path_is_taken_from_the_current_directory(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f.txt").write_text("relative\n")
    proc = brig("--mount", "/data:data", "-c", "print(open('/data/f.txt').read(), end='')",
                cwd=str(tmp_path))
    assert (proc.returncode, proc.stdout) == (0, "relative\n"), proc.stderr
    proc = brig("--mount", "/data:./data/../data:rwc", "-c",
                "open('/data/new.txt', 'w').write('made')", cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "data" / "new.txt").read_text() == "made"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_ctrl_c_ends_brig_and_the_whole_jail(sig):
    # A terminal sends Ctrl-C to its foreground process group: brig dies of
    # it, as any command does, and takes every process of the jail along
    # (also a warm jail, whose init is a brig daemon's child).
    mark = token()
    code = ("import subprocess, time\n"
            "subprocess.Popen(['sh', '-c', 'sleep 1000; : %s'])\n"
            "print('ready', flush=True)\n"
            "time.sleep(1000)\n" % mark)
    before = helpers.daemon_requests() if helpers.THROUGH_DAEMON else None
    proc = subprocess.Popen([BRIG_BIN, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert proc.stdout.readline() == b"ready\n", proc.stderr.read()
        if helpers.THROUGH_DAEMON:
            assert helpers.daemon_requests() == before + 1
        assert wait_for(lambda: host_pids_with(mark), timeout=10), "the guest's child never started"
        os.killpg(proc.pid, sig)
        assert proc.wait(timeout=10) == -sig
        assert wait_for(lambda: not host_pids_with(mark), timeout=5), host_pids_with(mark)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pid in host_pids_with(mark):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

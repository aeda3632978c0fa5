"""What code written for goru expects of the guest API and the CLI."""
import time

from helpers import brig, describe, run_ok


def test_host_call_failures_are_runtime_errors_of_their_precise_type():
    res = run_ok(r'''
import brig
for call in (lambda: brig.fs.read_text("/nope"),
             lambda: brig.http.get("http://not-allowed.example/"),
             lambda: brig.call("no_such_function")):
    try:
        call()
    except RuntimeError as e:
        print(type(e).__name__, isinstance(e, PermissionError), isinstance(e, OSError))
''', "python", "--allow-host", "allowed.example")
    assert res["stdout"].splitlines() == [
        "PermissionError True True", "PermissionError True True", "RuntimeError False False"], \
        describe(res)


def test_precise_types_still_catch_and_print_as_before():
    res = run_ok(r'''
import brig, traceback
try:
    brig.fs.read_text("/nope")
except PermissionError as e:
    print(traceback.format_exception_only(e)[-1].strip())
''')
    assert res["stdout"] == "PermissionError: path not mounted: '/nope'\n", describe(res)


def test_file_extension_detection_ignores_case(tmp_path):
    # Each is a syntax error in the other languages.
    for name, code, want in (("SCRIPT.JS", "console.log([1, 2].map(x => x * 2).join())", "2,4\n"),
                             ("Main.Py", "print(*[i * 2 for i in (1, 2)], sep=',')", "2,4\n"),
                             ("RUN.SH", "echo 2,4 | cat", "2,4\n")):
        f = tmp_path / name
        f.write_text(code)
        f.chmod(0o644)
        tmp_path.chmod(0o755)
        proc = brig(str(f))
        assert proc.returncode == 0 and proc.stdout == want, \
            (name, proc.stdout, proc.stderr)


def test_repl_timeout_says_timeout():
    proc = brig("repl", "--timeout", "1s", input="while True: pass\n\nprint(6 * 7)\n",
                timeout=120)
    assert "timeout" in proc.stderr and "42" in proc.stdout, (proc.stdout, proc.stderr)


def test_guest_time_is_the_hosts():
    before = time.time()
    res = run_ok("import time; print(repr(time.time()))")
    after = time.time()
    # The same clock: what the guest read lies between the host's readings.
    assert before <= float(res["stdout"]) <= after, (before, res["stdout"], after)

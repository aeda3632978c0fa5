"""The CLI streams its stdin to the guest when the code comes from -c or a file."""
import subprocess

from helpers import BRIG_BIN as BRIG


def run(args, stdin):
    return subprocess.run([BRIG, *args], input=stdin, capture_output=True, timeout=60)


def test_stdin_reaches_the_guest():
    r = run(["-c", "import sys; print(input()); print(sys.stdin.read().upper(), end='')"],
            b"first\nrest of it\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"first\nREST OF IT\n"


def test_stdin_streams_as_it_arrives():
    # The guest answers the first line before the second is written.
    p = subprocess.Popen([BRIG, "-c", "import sys\nfor l in sys.stdin: print(l.strip()[::-1], flush=True)"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    p.stdin.write(b"abc\n")
    p.stdin.flush()
    assert p.stdout.readline() == b"cba\n"
    p.stdin.write(b"xyz\n")
    p.stdin.close()
    assert p.stdout.read() == b"zyx\n"
    assert p.wait(timeout=60) == 0


def test_no_stdin_is_end_of_file(tmp_path):
    r = run(["-c", "import sys; print(repr(sys.stdin.read()))"], b"")
    assert r.stdout == b"''\n"


def test_guest_never_holds_the_terminal_fd():
    # What the guest reads is a pipe the host fills, whatever the CLI's stdin is.
    r = run(["-c", "import os, stat; print(stat.S_ISFIFO(os.fstat(0).st_mode))"], b"x")
    assert r.stdout == b"True\n"


def test_code_from_stdin_leaves_no_stdin(tmp_path):
    r = run([], b"import sys; print(repr(sys.stdin.read()))")
    assert r.stdout == b"''\n"

"""`brig repl`: driven through a pseudo-terminal, and through a pipe."""
import fcntl
import os
import pty
import select
import subprocess
import termios
import time

import pytest

from helpers import BRIG_BIN, GUEST_DIR


def _own_terminal():
    # A new session whose controlling terminal is the pty, so that a typed
    # Ctrl-C becomes SIGINT as it would for a person.
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """brig repl on a pty: type lines, read the screen."""

    def __init__(self, *args, env=None):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([BRIG_BIN, "repl", *args], stdin=slave, stdout=slave,
                                     stderr=slave, close_fds=True, env=env,
                                     preexec_fn=_own_terminal)
        os.close(slave)
        self.seen = ""

    def read_until(self, text, timeout=20):
        deadline = time.time() + timeout
        while text not in self.seen:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("did not see %r in %r" % (text, self.seen))
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError("repl closed before %r: %r" % (text, self.seen))
                self.seen += chunk.decode(errors="replace")
        at = self.seen.index(text) + len(text)
        out, self.seen = self.seen[:at], self.seen[at:]
        return out

    def send(self, data):
        os.write(self.master, data.encode())

    def close(self):
        # As a person would: the line editor discards keys typed before it
        # has switched the terminal to raw mode after drawing the prompt.
        time.sleep(0.3)
        self.send("\x04")  # Ctrl-D
        try:
            return self.proc.wait(timeout=20)
        finally:
            os.close(self.master)


@pytest.fixture
def home(tmp_path):
    env = dict(os.environ, HOME=str(tmp_path), TERM="dumb")
    return tmp_path, env


def test_python_repl_on_a_terminal(home):
    tmp, env = home
    t = Terminal(env=env)
    t.read_until(">>> ")
    t.send("def f(n):\n")
    t.read_until("... ")
    t.send("    return n * 2\n")
    t.read_until("... ")
    t.send("\n")
    t.read_until(">>> ")
    t.send("f(21)\n")
    assert "42" in t.read_until(">>> ")
    t.send("_ + 1\n")
    assert "43" in t.read_until(">>> ")
    t.send("1/0\n")
    assert "ZeroDivisionError" in t.read_until(">>> ")
    # Ctrl-C during a busy loop: the code stops, the session keeps its state.
    t.send("while True: pass\n\n")  # a compound statement ends with a blank line
    time.sleep(0.5)
    t.send("\x03")
    assert "KeyboardInterrupt" in t.read_until(">>> ")
    t.send("f(5)\n")
    assert "10" in t.read_until(">>> ")
    assert t.close() == 0
    history = (tmp / ".brig_history").read_text()
    assert "f(21)" in history


def test_pipe_reads_statements_line_by_line():
    script = 'x = 2\nif x:\n    print("multi", x)\n\nx * 21\nprint(_ + 1)\n1/0\nprint("after")\n'
    proc = subprocess.run([BRIG_BIN, "repl"], input=script, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "multi 2\n42\n43\nafter\n"
    assert "ZeroDivisionError" in proc.stderr


def test_exit_ends_the_repl_with_its_status():
    proc = subprocess.run([BRIG_BIN, "repl"], input="import sys\nsys.exit(3)\nprint('no')\n",
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3 and proc.stdout == ""


def test_repl_takes_capability_flags():
    proc = subprocess.run([BRIG_BIN, "repl", "--host-fn", "echo=cat"],
                          input="call('echo', a=1)\n", capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "{'a': 1}\n"


def test_repl_rejects_code_and_sh():
    assert subprocess.run([BRIG_BIN, "repl", "-c", "1"], capture_output=True).returncode == 2
    proc = subprocess.run([BRIG_BIN, "repl", "--lang", "sh"], input="", capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "python or js" in proc.stderr


@pytest.mark.skipif(not (GUEST_DIR / "js" / "agent.js").exists(), reason="no JS guest")
def test_js_repl_through_a_pipe():
    script = "let n = 20\nfunction g(x) {\n  return x + n\n}\ng(22)\nconsole.log(_ + 1)\n"
    proc = subprocess.run([BRIG_BIN, "repl", "--lang", "js"], input=script,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["42", "43"]


@pytest.mark.skipif(not (GUEST_DIR / "js" / "agent.js").exists(), reason="no JS guest")
def test_js_repl_ctrl_c(home):
    _, env = home
    t = Terminal("--lang", "js", env=env)
    t.read_until("> ")
    t.send("globalThis.kept = 1\n")
    t.read_until("> ")
    # A synchronous loop is interrupted and the session keeps its state.
    t.send("for (;;) {}\n")
    time.sleep(0.5)
    t.send("\x03")
    assert "ERR_SCRIPT_EXECUTION_INTERRUPTED" in t.read_until("> ")
    t.send("console.log(typeof kept)\n")
    assert "number" in t.read_until("> ")
    # After an await, node cannot interrupt it: the REPL says so and goes
    # back to the session's start (a snapshot taken when it began).
    t.send("await null; for (;;) {}\n")
    time.sleep(0.5)
    t.send("\x03")
    assert "restored to its start" in t.read_until("> ", timeout=30)
    t.send("console.log(typeof kept)\n")
    assert "undefined" in t.read_until("> ")
    assert t.close() == 0

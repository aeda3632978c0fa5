"""The guest half of brig.Sandbox: handler code that runs INSIDE the sandbox.

This file is never imported on the host.  Sandbox reads it as text and loads
it into the sandbox's Python session as the handler "sandbox"; every
commands.run / files.* call is one call of handler(event).  The shell's
state (variables, functions, exported environment, working directory) lives
in this handler's globals, so session snapshots carry it with the heap.

One bash lives across commands (variables, functions, the environment and
the working directory simply stay in it).  For each command the driver
writes a token and the command to bash's command pipe; bash evals it, writes
the token to stdout and stderr (where the command's output ends) and a
status line with its whole state (declare -p, declare -f, the directory) to
the control pipe.  When bash ends (`exit 3`, a timeout kills it) the next
command starts a new bash that replays the last state.  Extension commands
reach the host through an abstract unix socket (private to the sandbox's
network namespace) that this driver serves while a command runs.
"""
import base64
import errno
import json
import os
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import time

HOME = "/home/user"
ROOTS = ("/home/user", "/tmp")
XFER = "/.brig/xfer"  # brig/_transfer.py's socket
# Variables bash manages itself (readonly, dynamic, or its own bookkeeping)
# and the loop's own: saved with the rest, never replayed.
_SKIP = frozenset((
    "BASH", "BASHOPTS", "BASHPID", "BASH_ALIASES", "BASH_ARGC", "BASH_ARGV", "BASH_ARGV0",
    "BASH_CMDS", "BASH_COMMAND", "BASH_EXECUTION_STRING", "BASH_LINENO",
    "BASH_LOADABLES_PATH", "BASH_REMATCH", "BASH_SOURCE", "BASH_SUBSHELL", "BASH_VERSINFO",
    "BASH_VERSION", "COMP_WORDBREAKS", "DIRSTACK", "EPOCHREALTIME", "EPOCHSECONDS", "EUID",
    "FUNCNAME", "GROUPS", "HISTCMD", "HOSTNAME", "HOSTTYPE", "LINENO", "MACHTYPE", "OLDPWD",
    "OSTYPE", "PIPESTATUS", "PPID", "PWD", "RANDOM", "SECONDS", "SHELLOPTS", "SHLVL",
    "SRANDOM", "UID", "_"))
_DECL = re.compile(r"declare -[-a-zA-Z]* ([A-Za-z_][A-Za-z0-9_]*)(=|$)")

# The loop bash runs (__CMD__ and __CTL__ become the pipes' fds).  After each
# command it writes the end token to both streams, then the status and the
# whole state (builtins only: no subshell) to the control pipe.
_LOOP = r"""
__brig_end() {
  printf '%s' "$__brig_tok"; printf '%s' "$__brig_tok" >&2
  { printf '%s%d\n' "$1" "$2"; declare -p; declare -f
    printf '#CWD %s\ncd -- %q 2>/dev/null\n' "$PWD" "$PWD"; printf '\0'; } >&__CTL__
}
trap '__brig_end X $?' EXIT
while IFS= read -r __brig_tok <&__CMD__ && IFS= read -r -d '' __brig_cmd <&__CMD__; do
  eval "$__brig_cmd" </dev/null
  __brig_end D $?
done
__brig_tok=
"""


def _replayable(state):
    """The saved state without what bash must not be given back."""
    keep = []
    for line in state.split("\n"):
        m = _DECL.match(line)
        if m and (m.group(1) in _SKIP or m.group(1).startswith("__brig_")):
            continue
        keep.append(line)
    return "\n".join(keep)


STATE = {"script": "#CWD %s\ncd -- %s\n" % (HOME, HOME)}
# The state the host was last told of: results carry it only when it changed
# (the host keeps it, so a fork needs no call to its parent to learn it).
TOLD = {"script": None}


def _news(result):
    """result, with the shell state when the host has not seen it yet."""
    if STATE["script"] != TOLD["script"]:
        result["shell"] = TOLD["script"] = STATE["script"]
    return result
EXT = {"sock": None}
MAX_OUT = 1 << 20


def _sq(s):
    return "'" + s.replace("'", "'\\''") + "'"


def setup(ev):
    """Set the initial environment, the output cap and the extension socket."""
    global MAX_OUT
    lines = ["declare -x %s=%s" % (k, _sq(v)) for k, v in ev["env"].items()]
    cwd = ev.get("cwd") or HOME
    lines.append("#CWD %s\ncd -- %s 2>/dev/null" % (cwd, _sq(cwd)))
    STATE["script"] = ev.get("shell") or "\n".join(lines) + "\n"
    MAX_OUT = int(ev.get("max_output") or MAX_OUT)
    if ev.get("ext_sock") and EXT["sock"] is None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind("\0" + ev["ext_sock"])
        s.listen(16)
        s.setblocking(False)
        EXT["sock"] = s
    return _news({"ok": True})


def _recv_all(conn):
    chunks = []
    while True:
        b = conn.recv(65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def _serve_ext(listener):
    """Answer one extension command: its request goes to the host as is."""
    conn, _ = listener.accept()
    try:
        conn.setblocking(True)
        conn.settimeout(10)
        req = json.loads(_recv_all(conn))
        try:
            reply = call("__brig_ext", **req)  # noqa: F821 (the session's host-call API)
        except Exception as exc:  # a host-side failure is the command's error
            reply = {"stdout": "", "stderr": "%s: %s\n" % (req.get("name"), exc), "exitCode": 1}
        conn.sendall(json.dumps(reply).encode())
    except (OSError, ValueError):
        pass
    finally:
        conn.close()


class _Capture:
    def __init__(self):
        self.parts = []
        self.size = 0
        self.truncated = False

    def add(self, b):
        room = MAX_OUT - self.size
        if len(b) > room:
            b = b[:max(room, 0)]
            self.truncated = True
        self.parts.append(b)
        self.size += len(b)

    def text(self):
        return b"".join(self.parts).decode("utf-8", "replace")


SH = {"proc": None, "cmd": -1, "ctl": -1, "ctlbuf": b""}
# A lasting connection to the host (brig/_transfer.py's socket, made once):
# a line "<seq>" on it cancels command seq, as Ctrl-C on the host (a late
# one, for a command that already ended, is ignored).
HOST = {"conn": None, "buf": b"", "seq": None}


def attach(ev):
    """Keep a connection to the host for cancellations."""
    if HOST["conn"] is None:
        HOST["conn"] = _connect(ev["token"])
        HOST["conn"].setblocking(False)
    return True


def _host_cancels():
    """Whether the host cancelled the running command; None when the host
    closed the connection."""
    try:
        b = HOST["conn"].recv(256)
    except (BlockingIOError, InterruptedError):
        return False
    if not b:
        return None
    HOST["buf"] += b
    *lines, HOST["buf"] = HOST["buf"].split(b"\n")
    return str(HOST["seq"]).encode() in lines


def _start_bash():
    cmd_r, cmd_w = os.pipe()
    ctl_r, ctl_w = os.pipe()
    script = ('eval "$__BRIG_STATE" 2>/dev/null; unset __BRIG_STATE\n' +
              _LOOP.replace("__CMD__", str(cmd_r)).replace("__CTL__", str(ctl_w)))
    try:
        proc = subprocess.Popen(["/bin/bash", "--norc", "--noprofile", "-c", script],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, pass_fds=(cmd_r, ctl_w),
                                env={"__BRIG_STATE": _replayable(STATE["script"])}, start_new_session=True)
    finally:
        os.close(cmd_r)
        os.close(ctl_w)
    SH.update(proc=proc, cmd=cmd_w, ctl=ctl_r, ctlbuf=b"")


def stop(_ev=None):
    """End the shell and the node session and what they started (the
    shell's state is the last one saved); the next command starts a new
    one.  Snapshots are taken without them."""
    _end(SH)
    _end(JS)
    return True


def _end(rec):
    proc = rec["proc"]
    if proc is None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()
    for f in (proc.stdout, proc.stderr):
        f.close()
    os.close(rec["cmd"])
    os.close(rec["ctl"])
    rec.update(proc=None, cmd=-1, ctl=-1, ctlbuf=b"")


class _Stream:
    """One output stream of the shell, up to the command's end token."""

    def __init__(self, token):
        self.token = token
        self.pending = b""
        self.out = _Capture()
        self.done = False

    def feed(self, b):
        if self.done:
            return  # a background process's output after the command ended
        self.pending += b
        i = self.pending.find(self.token)
        if i >= 0:
            self.out.add(self.pending[:i])
            self.pending = b""
            self.done = True
        elif len(self.pending) >= len(self.token):
            keep = len(self.token) - 1
            self.out.add(self.pending[:-keep])
            self.pending = self.pending[-keep:]

    def finish(self):
        if not self.done:
            self.out.add(self.pending)
        return self.out


def _exchange(rec, token, deadline, on_cancel=None):
    """Collect the command's output and its status message, serving
    extensions meanwhile.  The message is b"D<code>\\n<state>" (b"X..." when
    bash exited), b"" when bash died without one, None at the deadline or
    when the host cancels (rec["cancelled"]).  on_cancel(rec), when given,
    lets the command stop by itself first: the wait goes on until the
    deadline it returns."""
    proc = rec["proc"]
    host = HOST["conn"]
    rec["cancelled"] = False
    out, err = _Stream(token), _Stream(token)
    streams = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
    ctl, msg, listener = rec["ctl"], None, EXT["sock"]
    watch = set(streams) | {ctl}
    while msg is None or not (out.done and err.done):
        wait = None if deadline is None else deadline - time.monotonic()
        if msg is None and wait is not None and wait <= 0:
            break
        if msg is not None:
            wait = 0  # the tokens were written before the message
        ready, _, _ = select.select(list(watch) + ([listener] if listener else []) +
                                    ([host] if host is not None and msg is None else []),
                                    [], [], wait)
        if not ready and msg is not None:
            break
        if host is not None and host in ready:
            cancel = _host_cancels()
            if cancel:
                rec["cancelled"] = True
                if on_cancel is None:
                    break
                deadline, host = on_cancel(rec), None
                continue
            if cancel is None:
                host = None
            continue
        for r in ready:
            if r is listener:
                _serve_ext(listener)
                continue
            b = os.read(r, 65536)
            if not b:
                watch.discard(r)
                if r == ctl and msg is None:
                    msg = b""
            elif r == ctl:
                rec["ctlbuf"] += b
                if b"\0" in rec["ctlbuf"]:
                    msg, _, rec["ctlbuf"] = rec["ctlbuf"].partition(b"\0")
            else:
                streams[r].feed(b)
    return msg, out.finish(), err.finish()


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def sh(ev):
    """Run one command in the sandbox's shell."""
    cmd = ev["cmd"]
    timeout = ev.get("timeout_ms") or 0
    t0 = time.monotonic()
    if "\0" in cmd:
        return {"stdout": "", "stderr": "bash: a command cannot contain NUL\n", "exit_code": 2,
                "execution_time_ms": 0.0, "timed_out": False, "cancelled": False}
    HOST["seq"] = ev.get("seq")
    if SH["proc"] is None or SH["proc"].poll() is not None:
        _end(SH)
        _start_bash()
    token = "__brig_end_%s__" % os.urandom(12).hex()
    try:
        _write_all(SH["cmd"], (token + "\n" + cmd + "\0").encode("utf-8", "surrogateescape"))
    except BrokenPipeError:
        pass  # bash is gone: _exchange tells how it ended
    deadline = t0 + timeout / 1000.0 if timeout else None
    msg, out, err = _exchange(SH, token.encode(), deadline)
    cancelled = SH["cancelled"]
    timed_out = msg is None and not cancelled
    if msg:
        head, _, state = msg.partition(b"\n")
        code = int(head[1:] or b"1")
        STATE["script"] = state.decode("utf-8", "surrogateescape")
        if head[:1] == b"X":
            _end(SH)
    else:
        proc = SH["proc"]
        _end(SH)
        rc = proc.returncode
        code = 130 if cancelled else 124 if timed_out else (128 - rc if rc < 0 else rc)
    errtext = err.text()
    if timed_out:
        errtext += "command timed out after %d ms\n" % timeout
    return _news({"stdout": out.text(), "stderr": errtext, "exit_code": code,
                  "execution_time_ms": (time.monotonic() - t0) * 1000.0,
                  "timed_out": timed_out, "cancelled": cancelled})


# ---------------------------------------------------------------- JavaScript

# run_code(language="js"): one node process lives across calls, as bash
# does; each call is a token and the code, length-prefixed on its pipe, run
# as a script of one global context (so declarations persist).
_NODE = r"""
const fs = require('fs'), vm = require('vm');
const CMD = +process.argv[1], CTL = +process.argv[2];
function readFull(b) {
  for (let o = 0; o < b.length;) {
    const n = fs.readSync(CMD, b, o, b.length - o, null);
    if (n === 0) process.exit(0);
    o += n;
  }
  return b;
}
function readMsg() {
  const n = readFull(Buffer.alloc(4)).readUInt32LE(0);
  return readFull(Buffer.alloc(n)).toString();
}
// SIGINT (Ctrl-C on the host) interrupts a script (breakOnSigint) or the
// await of its promise; code running from the event loop ignores it.
let onSigint = null;
process.on('SIGINT', () => onSigint && onSigint());
function interrupted() {
  return new Promise((_, reject) => {
    onSigint = () => reject(new Error('Script execution interrupted.'));
  });
}
(async () => {
  for (;;) {
    const tok = readMsg(), code = readMsg();
    let rc = 0;
    try {
      const r = vm.runInThisContext(code, {filename: '<run_code>', breakOnSigint: true});
      if (r && typeof r.then === 'function') await Promise.race([r, interrupted()]);
    } catch (e) {
      rc = 1;
      process.stderr.write(String(e && e.stack || e) + '\n');
    }
    onSigint = null;
    process.stdout.write(tok);
    process.stderr.write(tok);
    fs.writeSync(CTL, 'D' + rc + '\n\0');
  }
})();
"""
JS = {"proc": None, "cmd": -1, "ctl": -1, "ctlbuf": b""}
# How long node has to stop by itself after a cancel before it is killed.
JS_GRACE = 2.0


def _start_node():
    cmd_r, cmd_w = os.pipe()
    ctl_r, ctl_w = os.pipe()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    try:
        proc = subprocess.Popen(["node", "-e", _NODE, str(cmd_r), str(ctl_w)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, pass_fds=(cmd_r, ctl_w), env=env,
                                cwd=_cwd(), start_new_session=True)
    finally:
        os.close(cmd_r)
        os.close(ctl_w)
    JS.update(proc=proc, cmd=cmd_w, ctl=ctl_r, ctlbuf=b"")


def _interrupt_node(rec):
    """Ctrl-C for node: SIGINT ends the script (or the await) and keeps the
    context, if it comes back in time."""
    try:
        os.kill(rec["proc"].pid, signal.SIGINT)
    except OSError:
        pass
    return time.monotonic() + JS_GRACE


def js(ev):
    """Run JavaScript in the sandbox's node session."""
    import struct

    t0 = time.monotonic()
    HOST["seq"] = ev.get("seq")
    if JS["proc"] is None or JS["proc"].poll() is not None:
        _end(JS)
        _start_node()
    token = "__brig_end_%s__" % os.urandom(12).hex()
    code = ev["code"].encode("utf-8", "surrogateescape")
    try:
        _write_all(JS["cmd"], struct.pack("<I", len(token)) + token.encode() +
                   struct.pack("<I", len(code)) + code)
    except BrokenPipeError:
        pass
    timeout = ev.get("timeout_ms") or 0
    msg, out, err = _exchange(JS, token.encode(), t0 + timeout / 1000.0 if timeout else None,
                              _interrupt_node)
    # Timed out, or cancelled by the host (Ctrl-C) and still running after
    # the grace: node is killed with its context's declarations, and the
    # next call starts a new one.
    cancelled = JS["cancelled"]
    timed_out = msg is None and not cancelled
    if msg:
        code = int(msg.partition(b"\n")[0][1:] or b"1")
    else:
        proc = JS["proc"]
        _end(JS)
        rc = proc.returncode
        code = 130 if cancelled else 124 if timed_out else (128 - rc if rc < 0 else rc)
    errtext = err.text() + ("timed out after %d ms\n" % timeout if timed_out else "")
    return {"stdout": out.text(), "stderr": errtext, "exit_code": code,
            "execution_time_ms": (time.monotonic() - t0) * 1000.0, "timed_out": timed_out,
            "cancelled": cancelled}


# ---------------------------------------------------------------- files

def _cwd():
    for line in STATE["script"].splitlines()[::-1]:
        if line.startswith("#CWD "):
            return line[5:]
    return HOME


def _abs(path):
    if not isinstance(path, str) or not path or "\0" in path:
        raise OSError(errno.EINVAL, "invalid path")
    return os.path.normpath(os.path.join(_cwd(), path))


def _oserror(exc, op, path):
    name = errno.errorcode.get(exc.errno, "EIO") if exc.errno else "EIO"
    return {"error": {"code": 1, "message": "%s: %s, %s '%s'" % (
        name, (exc.strerror or str(exc)).lower(), op, path)}}


def _info(path, st):
    kind = "dir" if stat.S_ISDIR(st.st_mode) else (
        "symlink" if stat.S_ISLNK(st.st_mode) else "file")
    size = st.st_size
    if kind == "dir":
        try:
            size = len(os.listdir(path))
        except OSError:
            size = 0
    return {"name": os.path.basename(path) or path, "type": kind, "size": size,
            "mode": stat.S_IMODE(st.st_mode), "mtime": st.st_mtime}


def files(ev):
    op, path = ev["op"], ev.get("path")
    try:
        p = _abs(path)
        if op == "read":
            with open(p, "rb") as f:
                return {"data": base64.b64encode(f.read()).decode()}
        if op == "write":
            data = base64.b64decode(ev["data"])
            with open(p, "wb") as f:
                f.write(data)
            return {"ok": True}
        if op == "list":
            names = sorted(os.listdir(p))
            return {"entries": [_info(os.path.join(p, n), os.lstat(os.path.join(p, n)))
                                for n in names]}
        if op == "stat":
            return {"info": _info(p, os.stat(p))}
        if op == "mkdir":
            os.makedirs(p, exist_ok=True)
            return {"ok": True}
        if op == "rm":
            st = os.lstat(p)
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(p)
            else:
                os.unlink(p)
            return {"ok": True}
    except OSError as exc:
        return _oserror(exc, op, path)
    return {"error": {"code": 2, "message": "unknown file operation %r" % op}}


# ---------------------------------------------------------------- state

def _tar_entries(root):
    """(path, lstat) of everything below root, depth first, sorted: the
    regular files, directories and symlinks (FIFOs, sockets and devices
    are not state)."""
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode):
            yield path, st
            yield from _tar_entries(path)
        elif stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
            yield path, st


def _write_tar(sock):
    """A POSIX (pax) tar of ROOTS' contents on sock, file data by sendfile
    (no copy through Python).  Hard links are stored as separate files."""
    import tarfile

    for root in ROOTS:
        for path, st in _tar_entries(root):
            info = tarfile.TarInfo(path[1:])
            info.mode = stat.S_IMODE(st.st_mode)
            info.mtime = int(st.st_mtime)
            if stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
            elif stat.S_ISLNK(st.st_mode):
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
            else:
                info.size = st.st_size
            sock.sendall(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
            if info.isreg():
                _send_file(sock, path, info.size)
    sock.sendall(bytes(2 * 512))


def _send_file(sock, path, size):
    """size bytes of path then the padding to a 512-byte block (a file that
    changed size meanwhile is cut or padded with zeros to size)."""
    sent = 0
    with open(path, "rb") as f:
        while sent < size:
            n = os.sendfile(sock.fileno(), f.fileno(), sent, min(size - sent, 1 << 30))
            if n == 0:
                break
            sent += n
    sock.sendall(bytes(size - sent + (-size) % 512))


def _connect(token):
    """The host's transfer socket (see brig/_transfer.py), proven ours."""
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        c.connect(XFER)
        c.sendall(token.encode() + b"\n")
    except OSError:
        c.close()
        raise
    return c


def export(ev):
    """Stream the files of /home/user and /tmp as a tar to the host's
    transfer socket; returns the shell state."""
    try:
        with _connect(ev["token"]) as c:
            _write_tar(c)
    except OSError as exc:
        return _oserror(exc, "export", exc.filename or XFER)
    return {"shell": STATE["script"]}


def _clear(root):
    for n in os.listdir(root):
        p = os.path.join(root, n)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)


def import_(ev):
    """Replace the files and shell state with a tar read from the host's
    transfer socket (the host validated it, or it is a fork's own export)."""
    for root in ROOTS:
        _clear(root)
    try:
        with _connect(ev["token"]) as c:
            p = subprocess.run(["tar", "-x", "-C", "/", "-f", "-", "--no-same-owner",
                                "--delay-directory-restore"], stdin=c.fileno(),
                               capture_output=True)
    except OSError as exc:
        return _oserror(exc, "import", exc.filename or XFER)
    if p.returncode != 0:
        return {"error": {"code": 1, "message": "EIO: import failed, %s" %
                          p.stderr.decode("utf-8", "replace").strip()}}
    STATE["script"] = ev["shell"]
    stop()
    return _news({"ok": True})


def shell(_ev):
    """The shell state, which the host keeps from now on."""
    TOLD["script"] = STATE["script"]
    return {"shell": STATE["script"]}


OPS = {"sh": sh, "stop": stop, "js": js, "setup": setup, "export": export, "attach": attach,
       "shell": shell, "import": import_}


def handler(event):
    return OPS.get(event.get("op"), files)(event)

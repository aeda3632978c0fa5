"""The guest half of brig.Sandbox: handler code that runs INSIDE the sandbox.

This file is never imported on the host.  Sandbox reads it as text and loads
it into the sandbox's Python session as the handler "sandbox"; every
commands.run / files.* call is one call of handler(event).  The shell's
state (variables, functions, exported environment, working directory) lives
in this handler's globals, so session snapshots carry it with the heap.

Each command runs in a fresh `bash` that first replays that state and, on
exit (also through `exit N`), writes its new state to fd 9.  Extension
commands reach the host through an abstract unix socket (private to the
sandbox's network namespace) that this driver serves while a command runs.
"""
import base64
import errno
import json
import os
import select
import shutil
import signal
import socket
import stat
import subprocess
import time

HOME = "/home/user"
ROOTS = ("/home/user", "/tmp")
# Variables bash manages itself: never saved, never replayed.
_SKIP = ("BASH", "BASHOPTS", "BASHPID", "BASH_ALIASES", "BASH_ARGC", "BASH_ARGV",
         "BASH_ARGV0", "BASH_CMDS", "BASH_COMMAND", "BASH_EXECUTION_STRING",
         "BASH_LINENO", "BASH_LOADABLES_PATH", "BASH_REMATCH", "BASH_SOURCE",
         "BASH_SUBSHELL", "BASH_VERSINFO", "BASH_VERSION", "COLUMNS", "COMP_WORDBREAKS",
         "DIRSTACK", "EPOCHREALTIME", "EPOCHSECONDS", "EUID", "FUNCNAME", "GROUPS",
         "HISTCMD", "HISTFILE", "HOSTNAME", "HOSTTYPE", "IFS", "LINENO", "LINES",
         "MACHTYPE", "OLDPWD", "OPTERR", "OPTIND", "OSTYPE", "PIPESTATUS", "PPID", "PS4",
         "PWD", "RANDOM", "SECONDS", "SHELLOPTS", "SHLVL", "SRANDOM", "UID", "_")

_SAVE = r"""
__brig_save() {
  __brig_rc=$?
  {
    local __n __names=()
    for __n in $(compgen -v); do
      case " %s " in *" $__n "*) continue;; esac
      case $__n in __brig_*) continue;; esac
      __names+=("$__n")
    done
    declare -p "${__names[@]}" 2>/dev/null
    declare -f
    printf '#CWD %%s\ncd -- %%q 2>/dev/null\n' "$PWD" "$PWD"
  } >&__BRIG_FD__
  exit $__brig_rc
}
trap __brig_save EXIT
""" % " ".join(_SKIP)

STATE = {"script": "#CWD %s\ncd -- %s\n" % (HOME, HOME)}
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
    STATE["script"] = "\n".join(lines) + "\n"
    MAX_OUT = int(ev.get("max_output") or MAX_OUT)
    if ev.get("ext_sock") and EXT["sock"] is None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind("\0" + ev["ext_sock"])
        s.listen(16)
        s.setblocking(False)
        EXT["sock"] = s
    return True


def _read_state(fd):
    chunks = []
    while True:
        b = os.read(fd, 65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


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


def _pump(proc, outs, deadline):
    """Collect output and serve extensions until bash exits or the deadline.

    Once bash has exited, what is already written is drained and streams a
    background process kept open are not waited for."""
    fds = {proc.stdout.fileno(): outs[0], proc.stderr.fileno(): outs[1]}
    listener = EXT["sock"]
    while True:
        done = proc.poll() is not None
        if done and not fds:
            return True
        wait = None if deadline is None else deadline - time.monotonic()
        if wait is not None and wait <= 0:
            return False
        if done:
            wait = 0
        elif not fds:
            # Streams closed: bash is exiting.  Wait for it, still serving
            # extensions when there are any.
            if listener is None:
                try:
                    proc.wait(wait)
                except subprocess.TimeoutExpired:
                    pass
                continue
            wait = 0.001 if wait is None else min(wait, 0.001)
        watch = list(fds) + ([listener] if listener is not None else [])
        ready, _, _ = select.select(watch, [], [], wait)
        if done and not ready:
            return True
        for r in ready:
            if r is listener:
                _serve_ext(listener)
                continue
            b = os.read(r, 65536)
            if b:
                fds[r].add(b)
            else:
                del fds[r]


def sh(ev):
    """Run one command in bash with the saved state; save the state it leaves."""
    cmd = ev["cmd"]
    timeout = ev.get("timeout_ms") or 0
    r, w = os.pipe()
    script = STATE["script"] + _SAVE.replace("__BRIG_FD__", str(w)) + cmd + "\n"
    t0 = time.monotonic()
    proc = subprocess.Popen(["/bin/bash", "--norc", "--noprofile", "-c", script],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, pass_fds=(w,), env={},
                            start_new_session=True)
    os.close(w)
    outs = (_Capture(), _Capture())
    deadline = t0 + timeout / 1000.0 if timeout else None
    finished = _pump(proc, outs, deadline)
    # Whatever the command left running in its group ends with it.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    # Streams a background process kept open are not waited for.
    for f in (proc.stdout, proc.stderr):
        os.set_blocking(f.fileno(), False)
        try:
            b = f.read()
            if b:
                outs[0 if f is proc.stdout else 1].add(b)
        except OSError:
            pass
        f.close()
    code = proc.wait()
    os.set_blocking(r, False)
    state = b""
    if finished:
        try:
            state = _read_state(r)
        except BlockingIOError:
            state = b""
    os.close(r)
    if finished and state:
        STATE["script"] = state.decode("utf-8", "surrogateescape")
    err = outs[1].text()
    if not finished:
        code = 124
        err += "command timed out after %d ms\n" % timeout
    elif code < 0:
        code = 128 - code
    return {"stdout": outs[0].text(), "stderr": err, "exit_code": code,
            "execution_time_ms": (time.monotonic() - t0) * 1000.0,
            "timed_out": not finished,
            "truncated": outs[0].truncated or outs[1].truncated}


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

def _walk(root, out):
    for dirpath, dirs, names in os.walk(root):
        dirs.sort()
        for n in sorted(dirs) + sorted(names):
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            e = {"path": p, "mode": stat.S_IMODE(st.st_mode)}
            if stat.S_ISDIR(st.st_mode):
                e["type"] = "dir"
            elif stat.S_ISLNK(st.st_mode):
                e["type"], e["target"] = "symlink", os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                e["type"] = "file"
                with open(p, "rb") as f:
                    e["data"] = base64.b64encode(f.read()).decode()
            else:
                continue  # FIFOs, sockets: not state worth carrying
            out.append(e)


def export(_ev):
    out = []
    for root in ROOTS:
        _walk(root, out)
    return {"shell": STATE["script"], "files": out}


def _clear(root):
    for n in os.listdir(root):
        p = os.path.join(root, n)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)


def import_(ev):
    """Replace the files and shell state (already validated by the host)."""
    try:
        for root in ROOTS:
            _clear(root)
        for e in ev["files"]:
            p = e["path"]
            if e["type"] == "dir":
                os.mkdir(p, 0o700)
            elif e["type"] == "symlink":
                os.symlink(e["target"], p)
                continue
            else:
                with open(p, "wb") as f:
                    f.write(base64.b64decode(e["data"]))
            os.chmod(p, e["mode"])
    except OSError as exc:
        return _oserror(exc, "import", exc.filename or "")
    STATE["script"] = ev["shell"]
    return {"ok": True}


def handler(event):
    op = event.get("op")
    if op == "sh":
        return sh(event)
    if op == "setup":
        return setup(event)
    if op == "export":
        return export(event)
    if op == "import":
        return import_(event)
    return files(event)

"""Session mode: serve REQ frames (exec, complete, load, unload, call,
snapshot, restore) with state that persists between them.

Snapshots fork: a stopped copy of this process (the holder) keeps the heap
exactly as it was, and the files of /tmp and the home directory are copied
to /run/brig.  The holder is an orphan, so the jail's init adopts it; init,
not this agent, decides that it is the holder.  The holder keeps a spare: a
copy it clones as init's own child (CLONE_PARENT, one fork), which stops
itself ready to serve; the holder names it to init (a datagram whose sender
the kernel vouches for) and stops again.  A restore has init wake the spare,
which takes over the channel, and the holder, which makes the next spare.
"""
import builtins
import gc
import json
import os
import signal
import sys
import time

from brig import _agent, _proto

_SNAP_ROOT = "/run/brig/snap"
_HOME = "/home/user"
_RESTORED = object()  # what _snapshot returns in the revived copy
_CLONE_PARENT = 0x00008000
_SYS_CLONE = {"x86_64": 56, "aarch64": 220}
# Where a holder names its spare (src/jail/jail.h): init's abstract socket.
_SPARE_SOCKET = b"\0brig-init"
_SPARE_MAGIC = 0x65726170


def _flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def _error(exc):
    return {"error": {"type": type(exc).__name__, "message": str(exc)}}


class Session:
    def __init__(self):
        self.main = _agent.main_module()
        self.handlers = {}
        self.cells = 0
        self.snapshots = 0

    # ---- exec and complete
    def exec(self, req, code):
        self.cells += 1
        filename = req.get("filename") or "<cell %d>" % self.cells
        mode = "single" if req.get("mode") == "single" else "exec"
        try:
            obj = compile(code, filename, mode, dont_inherit=True)
            exec(obj, self.main.__dict__)
        except SystemExit as exc:
            return {"exit": _agent.exit_code(exc)}
        except BaseException as exc:
            _agent.register_source(filename, code.decode("utf-8", "replace"))
            _agent.report(exc, filename)
            return _error(exc)
        return {"ok": True}

    def complete(self, req, code):
        import codeop

        text = code.decode("utf-8", "replace")
        # As the interactive console does: the last line's own newline is not
        # a blank line, so a block stays open until an empty line follows.
        if text.endswith("\n"):
            text = text[:-1]
        try:
            done = codeop.compile_command(text, "<input>", "single")
        except (SyntaxError, ValueError, OverflowError):
            done = True  # invalid input is complete: running it shows the error
        return {"complete": done is not None}

    # ---- handlers
    def load(self, req, _blob):
        loaded = {}
        for item in req.get("handlers", []):
            name = item["name"]
            ns = {"__name__": "handler", "__builtins__": builtins}
            for api in _agent.API:
                ns[api] = getattr(self.main, api)
            filename = "<handler %s>" % name
            try:
                exec(compile(item["code"], filename, "exec", dont_inherit=True), ns)
            except BaseException as exc:
                _agent.register_source(filename, item["code"])
                _agent.report(exc, filename)
                return _error(exc)
            if not callable(ns.get("handler")):
                return {"error": {"type": "ValueError",
                                  "message": "%s does not define handler(event)" % name}}
            loaded[name] = ns["handler"]
        self.handlers = loaded
        return {"ok": True}

    def unload(self, req, _blob):
        self.handlers = {}
        gc.collect()
        return {"ok": True}

    def call(self, req, blob):
        name = req.get("name")
        handler = self.handlers.get(name)
        if handler is None:
            return {"error": {"type": "NotFound", "message": "no handler %r" % req.get("name")}}, b""
        try:
            result = handler(json.loads(blob))
            if hasattr(result, "__await__"):
                import asyncio

                result = asyncio.run(_await(result))
            out = _proto.channel.encode_result(result)
        except BaseException as exc:
            _agent.report(exc, "<handler %s>" % name)
            return _error(exc), b""
        finally:
            if req.get("gc", True):
                gc.collect()
        return {"ok": True}, out

    # ---- snapshots
    def snapshot(self, req, _blob):
        token = req["token"]
        self.snapshots += 1
        folder = "%s/%d-%d" % (_SNAP_ROOT, os.getpid(), self.snapshots)
        try:
            trees = _copy_state(folder)
        except Exception as exc:  # a FIFO, an unreadable file: no snapshot
            return _error(exc)
        _flush()
        clone, teller = _cloner(), _teller()  # loaded here, so every holder has them
        # The copies' collections skip what the snapshot holds: a collection
        # that walked it would copy every page of the heap.
        frozen = gc.get_freeze_count()
        gc.freeze()
        r, w = os.pipe()
        child = os.fork()
        if child == 0:
            os.close(r)
            holder = os.fork()
            if holder == 0:
                os.close(w)
                holder = _hold(clone, teller)  # returns only in a revived copy
                return _RESTORED, (token, trees, bool(req.get("loaded")), holder)
            os.write(w, str(holder).encode())
            os._exit(0)
        os.close(w)
        if not frozen:
            gc.unfreeze()
        holder = int(os.read(r, 32) or b"0")
        os.close(r)
        os.waitpid(child, 0)
        # The host asks init about the holder once this answer arrives: it
        # must be stopped by then.
        _wait_stopped(holder)
        return {"ok": True}


async def _await(aw):
    return await aw


_TREES = ((_HOME, "home"), ("/tmp", "tmp"))


def _copy_state(folder):
    """Copy /tmp and the home directory into folder; returns what
    _restore_state needs: (live tree, its copy, whether empty, mode)."""
    import shutil

    trees = []
    for src, name in _TREES:
        dst = "%s/%s" % (folder, name)
        empty = not os.listdir(src)
        if empty:
            os.makedirs(dst)
        else:
            shutil.copytree(src, dst, symlinks=True)
        trees.append((src, dst, empty, os.stat(src).st_mode & 0o7777))
    return trees


def _restore_state(trees):
    """Put the snapshot's files back.  When the snapshot's tree was empty
    and the live one is too, nothing is copied: the usual case."""
    for dst, src, empty, mode in trees:
        os.chmod(dst, mode)  # first: the guest may have made it unreadable
        if not (empty and not os.listdir(dst)):
            _replace_tree(dst, src)
            os.chmod(dst, mode)  # copytree gave it the copy's


def _replace_tree(dst, src):
    import shutil

    for entry in os.listdir(dst):
        path = os.path.join(dst, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)


def _cloner():
    """fork(), except that the child's parent is ours: the jail's init.

    os.fork cannot do that, so this is clone(CLONE_PARENT) by hand, wrapped
    the way os.fork wraps fork() (the GIL held, the at-fork hooks run).  It
    runs only in a holder, which is single-threaded, so none of the locks
    glibc's fork() takes care of can be held by another thread.
    """
    import ctypes

    lib = ctypes.PyDLL(None, use_errno=True)  # keeps the GIL, as os.fork does
    number = _SYS_CLONE.get(os.uname().machine)
    flags = _CLONE_PARENT | signal.SIGCHLD
    zero = ctypes.c_long(0)

    def clone():
        if number is None:
            raise OSError("no clone syscall number for this machine")
        lib.PyOS_BeforeFork()
        pid = lib.syscall(ctypes.c_long(number), ctypes.c_long(flags), zero, zero, zero, zero)
        if pid == 0:
            lib.PyOS_AfterFork_Child()
            return 0
        err = ctypes.get_errno()
        lib.PyOS_AfterFork_Parent()
        if pid < 0:
            raise OSError(err, os.strerror(err))
        return pid

    return clone


def _teller():
    """A holder's word to init: the pid of the spare it made."""
    import socket
    import struct

    def tell(sock, pid):
        try:
            sock.sendto(struct.pack("<Ii", _SPARE_MAGIC, pid), _SPARE_SOCKET)
        except OSError:
            pass  # init makes do without a spare

    return lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM), tell


def _rehearse():
    """A spare's dry run of what it does once a restore wakes it (read the
    request, check the files, answer, serve a call), without its effects.
    In a fork every first write to a page copies it, several microseconds
    each: these copies are made now rather than while the restore waits."""
    import json

    text = json.dumps({"op": "restore", "max_frame": 1 << 20}).encode()
    _proto.parse_msg(_proto._u32(1) + _proto._u32(len(text)) + text)
    _proto.channel.buf.find(b"0" * 32)
    for dst, _name in _TREES:
        os.listdir(dst)
        os.stat(dst)
    _flush()
    _proto.channel.msg_frame(_proto.DONE, 1, {"ok": True, "pid": os.getpid(), "loaded": True})
    json.loads(b'{"a": [1, "b"]}')
    _proto.channel.msg_frame(_proto.DONE, 2, {"ok": True}, _proto.channel.encode_result({"a": 1}))
    gc.collect()


def _clone_retrying(clone):
    """clone(), again while at the process limit: the guest a restore just
    killed frees its pid only once it is reaped.  None if it never works."""
    import errno

    for _ in range(100):
        try:
            return clone()
        except OSError as exc:
            if exc.errno != errno.EAGAIN:
                return None
            time.sleep(0.002)
    return None


def _hold(clone, teller):
    """Stay stopped; each wake-up makes a spare: a copy, init's child, that
    stops itself ready to serve.  Returns only in a spare a restore woke."""
    me = os.getpid()
    make_socket, tell = teller
    sock = make_socket()
    while True:
        os.kill(me, signal.SIGSTOP)
        copy = _clone_retrying(clone)
        if copy is None:
            continue  # no spare this time: init notices
        if copy == 0:
            sock.close()
            _rehearse()
            os.kill(os.getpid(), signal.SIGSTOP)
            return me  # woken: the new live guest, init's child
        tell(sock, copy)  # init takes it once it sees it stop


def _state(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            return f.read().rpartition(b")")[2][1:2]
    except OSError:
        return b""


def _wait_stopped(pid, limit=5.0):
    """Until pid is stopped (a fresh holder), within limit seconds."""
    deadline = time.monotonic() + limit
    spins = 0
    while _state(pid) not in (b"T", b"") and time.monotonic() < deadline:
        # It is a few instructions from stopping: yield before sleeping.
        spins += 1
        if spins < 100:
            os.sched_yield()
        else:
            time.sleep(0.0001)


def _revived(token, trees, loaded, holder):
    """First steps of a revived guest: find the host's token, serve the restore."""
    _proto.channel.resync(token.encode())
    ftype, body = _proto.channel.read_frame()
    cid, req, _blob = _proto.parse_msg(body)
    if ftype != _proto.REQ or req.get("op") != "restore":
        raise SystemExit("brig agent: expected a restore request")
    _restore_state(trees)
    return cid, {"ok": True, "pid": os.getpid(), "loaded": loaded}


def serve(first):
    session = Session()
    ops = {"exec": session.exec, "complete": session.complete, "load": session.load,
           "unload": session.unload, "snapshot": session.snapshot}
    frame = first
    while True:
        ftype, body = frame
        if ftype != _proto.REQ:
            raise SystemExit("brig agent: expected a request")
        cid, req, blob = _proto.parse_msg(body)
        if isinstance(req.get("max_frame"), int):
            _proto.channel.max_frame = req["max_frame"]
        op = req.get("op")
        if op == "call":
            answer, out = session.call(req, blob)
        elif op in ops:
            answer, out = ops[op](req, blob), b""
        else:
            answer, out = {"error": {"type": "ValueError", "message": "unknown op %r" % op}}, b""
        if isinstance(answer, tuple) and answer[0] is _RESTORED:
            cid, answer = _revived(*answer[1])
        _flush()
        _proto.channel.send_msg(_proto.DONE, cid, answer, out)
        if "exit" in answer:
            os._exit(answer["exit"])
        frame = _proto.channel.read_frame()

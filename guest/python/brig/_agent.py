"""Run the user's code: read the RUN frame, execute it as __main__, report."""
import builtins
import sys

from brig import _proto

API = ("http", "fs", "kv", "call", "async_call", "run_async", "time_now", "install_pkg",
       "display")
_ENOSPC, _EDQUOT, _EFBIG = 28, 122, 27


def _read_run(ftype, body):
    mlen = int.from_bytes(body[:4], "little")
    meta = body[4 : 4 + mlen].decode()
    fields = dict(line.split("=", 1) for line in meta.splitlines() if "=" in line)
    if fields.get("max_frame", "").isdigit():
        _proto.channel.max_frame = int(fields["max_frame"])
    if fields.get("outputs"):
        from brig import _display

        _display.outputs = fields["outputs"]
    return fields.get("filename", "<string>"), body[4 + mlen :]


def _site_paths():
    """What site.py would add: Debian's dist-packages for this interpreter."""
    ver = "python%d.%d" % sys.version_info[:2]
    return [
        "/usr/local/lib/%s/dist-packages" % ver,
        "/usr/lib/python3/dist-packages",
        "/usr/lib/%s/dist-packages" % ver,
    ]


def _package_paths():
    """Package directories the host bound (install_pkg's, --packages): ahead of
    the system's, so that the version asked for is the one imported."""
    import posix

    value = posix.environ.get(b"BRIG_PYTHONPATH", b"").decode()
    return [p for p in value.split(":") if p]


def main_module():
    import brig

    mod = type(sys)("__main__")
    mod.__builtins__ = builtins
    for name in API:
        setattr(mod, name, getattr(brig, name))
    sys.modules["__main__"] = mod
    return mod


def exit_code(exc):
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def report(exc, filename):
    """Print the traceback from the user's first frame, and flag limits to the host."""
    if isinstance(exc, MemoryError):
        _proto.channel.event(limit="memory")
    elif isinstance(exc, OSError) and exc.errno in (_ENOSPC, _EDQUOT, _EFBIG):
        _proto.channel.event(limit="disk")
    import traceback

    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    exc.__traceback__ = tb
    _hide_own_frames(exc)
    traceback.print_exception(type(exc), exc, exc.__traceback__)


_OWN = __file__.rsplit("/", 2)[0] + "/"  # the guest directory: brig/ and agent.py


def _hide_own_frames(exc, seen=None):
    """Drop brig's own frames (_api.py, _proto.py...) from exc's traceback and
    from the exceptions chained to it, as CPython hides its frozen importlib:
    an error from a host call then points at the user's line."""
    seen = set() if seen is None else seen
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        frames, tb = [], exc.__traceback__
        while tb is not None:
            if not tb.tb_frame.f_code.co_filename.startswith(_OWN):
                frames.append(tb)
            tb = tb.tb_next
        for a, b in zip(frames, frames[1:] + [None]):
            a.tb_next = b
        if frames or exc.__traceback__ is not None:
            exc.__traceback__ = frames[0] if frames else None
        if exc.__cause__ is not None:
            _hide_own_frames(exc.__cause__, seen)
        exc = exc.__context__


def register_source(filename, text):
    # Tracebacks show source lines only for files linecache can find.
    import linecache

    lines = text.splitlines(True)
    linecache.cache[filename] = (len(text), None, lines, filename)


def main():
    ftype, body = _proto.channel.read_frame()
    sys.path[:] = [""] + _package_paths() + [p for p in sys.path if p] + _site_paths()
    if ftype == _proto.REQ:
        from brig import _session

        _session.serve((ftype, body))
    if ftype != _proto.RUN:
        raise SystemExit("brig agent: expected a RUN frame")
    filename, code = _read_run(ftype, body)
    sys.argv = [filename]
    mod = main_module()
    status = 0
    try:
        obj = compile(code, filename, "exec", dont_inherit=True)
        exec(obj, mod.__dict__)
    except SystemExit as exc:
        status = exit_code(exc)
    except BaseException as exc:
        register_source(filename, code.decode("utf-8", "replace"))
        report(exc, filename)
        status = 1
    finish(mod, status)


# Set by a zygote (zygote.py): libc's exit(), which flushes C stdio and runs
# C exit handlers but leaves the interpreter's heap alone.
leave = None


def finish(mod, status):
    """Leave as the interpreter's exit would.

    A cold guest simply exits.  A guest forked from a zygote does not tear
    down the interpreter's heap, which frees every object one by one and so
    copies every page it touches; what a program can observe of the exit
    is kept, in its order: non-daemon threads are joined, atexit handlers
    run, the main module's globals are released (so that files the program
    left open are flushed and closed), the standard streams are flushed,
    and C's exit flushes C stdio.
    """
    if leave is None:
        raise SystemExit(status)
    try:
        threading = sys.modules.get("threading")
        if threading is not None:
            threading._shutdown()
        import atexit

        atexit._run_exitfuncs()
        mod.__dict__.clear()
    except SystemExit as exc:
        status = exit_code(exc)
    except BaseException as exc:  # as the interpreter would, report and go on
        report(exc, "")
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    leave(status)

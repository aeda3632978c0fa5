"""Sessions and handlers (hyperlight's model): brig.Session."""
from __future__ import annotations

import json
from typing import Any, Optional, Union

from brig import _native
from brig._errors import BrigError, InvalidError, error_for
from brig._run import Result, native_executor, settings_dict

__all__ = ["Session", "Snapshot"]

_CONSUMED = -13  # BRIG_E_CONSUMED: handlers not loaded


class Snapshot:
    """A session's saved state (heap, globals, loaded handlers, the files of
    /tmp and /home/user), restorable any number of times with
    Session.restore.  release() frees it early."""

    def __init__(self, native: Any) -> None:
        self._native = native

    def release(self) -> None:
        """Free the frozen copy now (restoring it afterwards fails)."""
        self._native.release()


def _raise_for(rc: int, result_json: Optional[str]) -> None:
    result = Result._from_json(result_json) if result_json else None
    message = result.message if result is not None else ""
    if result is not None and not message:
        message = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
    raise error_for(rc, message, result)


class Session:
    """A sandbox that lives across calls: globals, imports and files persist.

    Session(lang="python", **settings) takes run()'s settings (timeout,
    memory, allow_hosts, mounts, kv, functions, on_stdout...), fixed for its
    life.  A call killed by its timeout, a limit or interrupt() poisons the
    session: later calls raise PoisonedError until restore() or close().
    Use it as a context manager to close it.

    Ctrl-C (SIGINT on the main thread) during a call asks the guest to stop
    the way the language stops on Ctrl-C (Python raises KeyboardInterrupt
    in the guest, Node interrupts the script) and then raises
    KeyboardInterrupt; the session stays usable, its state as the guest
    left it.  Guest code still running 2 s later (it caught
    KeyboardInterrupt, or cannot be interrupted so), or at a second Ctrl-C,
    is killed: KeyboardInterrupt all the same, and the session is
    poisoned."""

    def __init__(self, lang: str = "python", **settings: Any) -> None:
        try:
            self._s = _native.Session(native_executor(), lang, settings_dict(settings))
        except ValueError as exc:
            raise InvalidError(str(exc)) from None
        except OSError as exc:
            name, _, why = str(exc).partition(": ")
            raise BrigError(why, name if name.startswith("ERR_") else None) from None
        self.lang = lang
        self._loaded = False

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Kill the session's sandbox and free it (idempotent)."""
        self._s.close()

    def exec(self, code: Union[str, bytes], *, wall_clock_timeout_ms: int = 0,
             cpu_timeout_ms: int = 0, interactive: bool = False) -> Result:
        """Run code in the session.  An uncaught exception is not an error
        of the call (traceback on stderr, exit code 1); a timeout, limit or
        interrupt() raises CancelledError/LimitError and poisons the
        session.  Ctrl-C raises KeyboardInterrupt (see the class)."""
        data = code.encode() if isinstance(code, str) else bytes(code)
        rc, _, res = self._s.exec(data, wall_clock_timeout_ms, cpu_timeout_ms, interactive)
        if rc != 0:
            _raise_for(rc, res)
        return Result._from_json(res)

    def add_handler(self, name: str, code: str) -> None:
        """Add (or replace) handler name: code defining handler(event)."""
        self._unload()
        self._check(self._s.add_handler(name, code))

    def remove_handler(self, name: str) -> None:
        """Remove handler name; NotFoundError when absent."""
        self._unload()
        self._check(self._s.remove_handler(name))

    def clear_handlers(self) -> None:
        """Remove every handler."""
        self._unload()
        self._check(self._s.clear_handlers())

    def call_handler(self, name: str, event: Any = None, *, wall_clock_timeout_ms: int = 0,
                     cpu_timeout_ms: int = 0, gc: bool = True) -> Any:
        """Call handler name with event (JSON-able) and return its result.
        Handlers added since the last call are loaded first.  Raises
        NotFoundError (no such handler), GuestAbortError (the handler
        raised), CancelledError (timeout, interrupt(); the session is then
        poisoned), PoisonedError, and KeyboardInterrupt on Ctrl-C (see the
        class)."""
        if not self._loaded:
            rc, _, res = self._s.load()
            if rc != 0:
                _raise_for(rc, res)
            self._loaded = True
        args = (name, json.dumps(event), wall_clock_timeout_ms, cpu_timeout_ms, gc)
        rc, out, res = self._s.call_handler(*args)
        if rc == _CONSUMED:  # a restore went back to before the load
            rc, _, res = self._s.load()
            if rc == 0:
                rc, out, res = self._s.call_handler(*args)
        if rc != 0:
            _raise_for(rc, res)
        return json.loads(out) if out is not None else None

    def snapshot(self) -> Snapshot:
        """Save the session's exact state (at most 16 snapshots at once)."""
        rc, snap = self._s.snapshot()
        self._check(rc)
        return Snapshot(snap)

    def restore(self, snap: Snapshot) -> None:
        """Return to snap's state; also clears poisoning."""
        if not isinstance(snap, Snapshot):
            raise InvalidError("restore() takes a Snapshot of this session")
        try:
            rc = self._s.restore(snap._native)
        except ValueError as exc:
            raise InvalidError(str(exc)) from None
        self._check(rc)

    def copy_files_from(self, src: "Session") -> None:
        """Replace this session's files (everything in /tmp and /home/user)
        with a copy of src's, made by the host between the two sandboxes
        (no guest code runs; heaps and handlers stay).  Links are copied as
        links, never followed; FIFOs and mounted directories are left out.
        Raises LimitError when they do not fit this session's tmp_size."""
        if not isinstance(src, Session):
            raise InvalidError("copy_files_from() takes a Session")
        if src is self:
            raise InvalidError("a session cannot copy its own files")
        rc, why = self._s.copy_files_from(src._s)
        if rc != 0:
            raise error_for(rc, why or "")

    def interrupt(self) -> None:
        """Kill the running call (from any thread); the session becomes
        poisoned.  Does nothing when no call runs."""
        self._s.interrupt()

    @property
    def poisoned(self) -> bool:
        """Whether a call was killed and the session awaits restore()."""
        return bool(self._s.poisoned())

    def _unload(self) -> None:
        if self._loaded:
            self._check(self._s.unload())
            self._loaded = False

    @staticmethod
    def _check(rc: int) -> None:
        if rc != 0:
            raise error_for(rc)

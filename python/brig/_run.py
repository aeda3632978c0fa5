"""One-shot runs (goru's executor model): run, Executor, Result, KV."""
from __future__ import annotations

import asyncio
import inspect
import json
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from brig import _native
from brig._errors import InvalidError, NotFoundError, check

__all__ = ["Result", "KV", "Executor", "run", "Mount"]

Mount = Tuple[str, str, str]
"""(guest_path, host_path, mode) with mode "ro", "rw" or "rwc"."""

_MODES = {"ro": 0, "rw": 1, "rwc": 2}
_SETTINGS = ("timeout", "cpu_timeout", "memory", "pids", "max_output", "tmp_size", "max_frame",
             "allow_hosts", "mounts", "kv", "functions", "stdin", "on_stdout", "on_stderr")


@dataclass(frozen=True)
class Result:
    """What a run gave.

    ok is True when the guest ran to completion and exited 0; error is the
    brig error name ("ERR_CANCELLED", "ERR_LIMIT"...) or None when the guest
    ran to completion (whatever its exit code); limit names the limit that
    ended it ("wall", "cpu", "memory", "pids", "output", "disk") or None."""

    ok: bool
    exit_code: int
    stdout: str
    stderr: str
    error: Optional[str]
    message: str
    limit: Optional[str]
    wall_ms: float
    cpu_ms: float
    stdout_truncated: bool
    stderr_truncated: bool
    warm: bool = False

    @classmethod
    def _from_json(cls, text: str) -> "Result":
        d = json.loads(text)
        return cls(ok=bool(d["ok"]) and d["exit_code"] == 0, exit_code=d["exit_code"],
                   stdout=d["stdout"], stderr=d["stderr"], error=d["error"],
                   message=d.get("message") or "",
                   limit=None if d["limit"] == "none" else d["limit"],
                   wall_ms=float(d["wall_ms"]), cpu_ms=float(d["cpu_ms"]),
                   stdout_truncated=bool(d["stdout_truncated"]),
                   stderr_truncated=bool(d["stderr_truncated"]), warm=bool(d.get("warm")))


class KV:
    """A key-value store that guest code reaches as `kv`: in memory, or in
    the SQLite file `path` (created if missing; durable, shareable between
    processes).  Values are anything JSON can hold."""

    def __init__(self, path: Optional[Union[str, os.PathLike]] = None) -> None:
        self._native = _native.KV(os.fspath(path) if path is not None else None)

    def get(self, key: str, default: Any = None) -> Any:
        """The value of key, or default when absent."""
        rc, text = self._native.get(key)
        if rc == _native_notfound():
            return default
        check(rc, key)
        return json.loads(text)

    def set(self, key: str, value: Any) -> None:
        """Store value (JSON-able) under key."""
        check(self._native.set(key, json.dumps(value)), key)

    def delete(self, key: str) -> None:
        """Remove key; NotFoundError when absent."""
        check(self._native.delete(key), key)

    def keys(self) -> List[str]:
        """The keys, sorted."""
        rc, text = self._native.keys()
        check(rc)
        return list(json.loads(text))


def _native_notfound() -> int:
    return -11  # BRIG_E_NOTFOUND


def _call_function(fn: Callable[..., Any], args_json: str) -> str:
    """Call a host function with the guest's keyword arguments (awaiting a
    coroutine), and give its result as JSON."""
    value = fn(**json.loads(args_json))
    if inspect.isawaitable(value):
        value = asyncio.run(_await(value))
    return json.dumps(value)


async def _await(aw: Any) -> Any:
    return await aw


def _dispatcher(functions: Mapping[str, Callable[..., Any]]) -> Callable[[str, str], str]:
    table = dict(functions)

    def dispatch(name: str, args_json: str) -> str:
        fn = table.get(name)
        if fn is None:
            raise NotFoundError("no host function %r" % name)
        return _call_function(fn, args_json)
    return dispatch


_shared_lock = threading.Lock()
_shared: Optional[Any] = None


def native_executor() -> Any:
    """The process's libbrig executor (one set of warm zygotes for all runs).
    BRIG_GUEST_DIR, BRIG_ZYGOTE_DIR and BRIG_NATIVE_DIR override the paths."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = _native.Executor({
                "guest_dir": os.environ.get("BRIG_GUEST_DIR"),
                "zygote_dir": os.environ.get("BRIG_ZYGOTE_DIR"),
                "native_dir": os.environ.get("BRIG_NATIVE_DIR"),
            })
        return _shared


def _ms(v: Optional[float]) -> int:
    if v is None:
        return 0
    if v <= 0:
        raise InvalidError("timeouts must be positive (seconds)")
    return max(1, int(v * 1000))


def _mounts(mounts: Iterable[Sequence[str]]) -> List[Tuple[str, str, int]]:
    out = []
    for m in mounts:
        vpath, host = m[0], os.fspath(m[1])
        mode = m[2] if len(m) > 2 else "ro"
        if mode not in _MODES:
            raise InvalidError("mount mode must be ro, rw or rwc, not %r" % (mode,))
        out.append((vpath, host, _MODES[mode]))
    return out


def settings_dict(s: Mapping[str, Any]) -> Dict[str, Any]:
    """The native settings dict for brig's keyword settings (timeouts in
    seconds, sizes in bytes)."""
    d: Dict[str, Any] = {
        "timeout_ms": _ms(s.get("timeout")),
        "cpu_timeout_ms": _ms(s.get("cpu_timeout")),
        "memory": s.get("memory"), "pids": s.get("pids"),
        "max_output": s.get("max_output"), "tmp_bytes": s.get("tmp_size"),
        "max_frame": s.get("max_frame"),
        "allow_hosts": list(s.get("allow_hosts") or []),
        "mounts": _mounts(s.get("mounts") or []),
    }
    kv = s.get("kv")
    if isinstance(kv, (str, os.PathLike)):
        kv = KV(kv)
    if kv is not None:
        if not isinstance(kv, KV):
            raise InvalidError("kv must be a brig.KV or a SQLite file path")
        d["kv"] = kv._native
    functions = s.get("functions") or {}
    if functions:
        for name, fn in functions.items():
            if not callable(fn):
                raise InvalidError("function %r is not callable" % name)
        d["functions"] = list(functions)
        d["dispatch"] = _dispatcher(functions)
    stdin = s.get("stdin")
    if stdin is not None:
        d["stdin"] = stdin.encode() if isinstance(stdin, str) else bytes(stdin)
    on_out, on_err = s.get("on_stdout"), s.get("on_stderr")
    if on_out or on_err:
        def on_output(stream: int, data: bytes) -> None:
            cb = on_out if stream == 1 else on_err
            if cb is not None:
                cb(data.decode("utf-8", "replace"))
        d["on_output"] = on_output
    return d


class Executor:
    """Settings held for many runs (goru's Executor): every keyword of run()
    but code and lang may be given here as a default; run() may override
    each.  kv defaults to one in-memory store shared by this executor's runs."""

    def __init__(self, **defaults: Any) -> None:
        unknown = set(defaults) - set(_SETTINGS)
        if unknown:
            raise TypeError("unknown settings: %s" % ", ".join(sorted(unknown)))
        self.defaults: Dict[str, Any] = dict(defaults)
        if self.defaults.get("kv") is None:
            self.defaults["kv"] = KV()
        self._ex = native_executor()

    def run(self, code: Union[str, bytes], lang: str = "python", **settings: Any) -> Result:
        """Run code in a fresh sandbox and return its Result.  Runs never
        raise for what the guest did (see Result.error); they raise
        InvalidError for bad settings and KeyboardInterrupt on Ctrl-C."""
        unknown = set(settings) - set(_SETTINGS)
        if unknown:
            raise TypeError("unknown settings: %s" % ", ".join(sorted(unknown)))
        merged = dict(self.defaults)
        merged.update(settings)
        data = code.encode() if isinstance(code, str) else bytes(code)
        try:
            text = self._ex.run(lang, data, settings_dict(merged))
        except ValueError as exc:
            raise InvalidError(str(exc)) from None
        return Result._from_json(text)


def run(code: Union[str, bytes], lang: str = "python", *, timeout: Optional[float] = None,
        cpu_timeout: Optional[float] = None, memory: Optional[int] = None,
        pids: Optional[int] = None, max_output: Optional[int] = None,
        tmp_size: Optional[int] = None, allow_hosts: Sequence[str] = (),
        mounts: Sequence[Sequence[str]] = (), kv: Union[None, str, os.PathLike, KV] = None,
        functions: Optional[Mapping[str, Callable[..., Any]]] = None,
        stdin: Union[None, str, bytes] = None,
        on_stdout: Optional[Callable[[str], None]] = None,
        on_stderr: Optional[Callable[[str], None]] = None) -> Result:
    """Run code ("python", "js" or "sh") once in a fresh sandbox.

    timeout and cpu_timeout are seconds; memory, max_output and tmp_size
    bytes.  allow_hosts grants HTTP(S) to those hosts; mounts are
    (guest_path, host_path, "ro"|"rw"|"rwc"); kv is a brig.KV or a SQLite
    file path (default: a fresh in-memory store); functions maps names to
    callables the guest calls with call(name, **kwargs) (async ones are
    awaited; an exception becomes a RuntimeError in the guest)."""
    settings = {k: v for k, v in locals().items() if k not in ("code", "lang")}
    data = code.encode() if isinstance(code, str) else bytes(code)
    try:
        text = native_executor().run(lang, data, settings_dict(settings))
    except ValueError as exc:
        raise InvalidError(str(exc)) from None
    return Result._from_json(text)

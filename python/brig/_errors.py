"""Errors of the brig SDK: BrigError (one subclass per brig error code) and
SandboxError (codepod's error of Sandbox operations)."""
from __future__ import annotations

from typing import Dict, Optional, Type

from brig import _native

__all__ = [
    "BrigError", "InvalidError", "CancelledError", "LimitError", "GuestAbortError",
    "UnavailableError", "InternalError", "ProtocolError", "NoMemoryError",
    "UnsupportedError", "DeniedError", "NotFoundError", "PoisonedError", "ConsumedError",
    "StackOverflowError", "HostIOError", "SandboxError",
]


class BrigError(Exception):
    """A libbrig call failed.  `code` is the stable name ("ERR_CANCELLED"...),
    `message` the detail; `result` the run's Result when there was one."""

    code = "ERR_INTERNAL"

    def __init__(self, message: str = "", code: Optional[str] = None,
                 result: Optional[object] = None) -> None:
        super().__init__("%s: %s" % (code or self.code, message) if message else
                         (code or self.code))
        if code:
            self.code = code
        self.message = message
        self.result = result


class InvalidError(BrigError, ValueError):
    """An invalid argument (ERR_INVALID_ARG)."""
    code = "ERR_INVALID_ARG"


class CancelledError(BrigError):
    """A timeout, an interrupt or a cancel ended the call (ERR_CANCELLED)."""
    code = "ERR_CANCELLED"


class LimitError(BrigError):
    """A memory, process, output or disk limit was hit (ERR_LIMIT)."""
    code = "ERR_LIMIT"


class GuestAbortError(BrigError):
    """The guest crashed, died from a signal, or a handler raised (ERR_GUEST_ABORT)."""
    code = "ERR_GUEST_ABORT"


class UnavailableError(BrigError):
    """The sandbox cannot be built on this host (ERR_UNAVAILABLE)."""
    code = "ERR_UNAVAILABLE"


class InternalError(BrigError):
    """An unexpected failure inside brig (ERR_INTERNAL)."""
    code = "ERR_INTERNAL"


class ProtocolError(BrigError):
    """The guest broke the control protocol (ERR_PROTOCOL)."""
    code = "ERR_PROTOCOL"


class NoMemoryError(BrigError, MemoryError):
    """A host allocation failed (ERR_NOMEM)."""
    code = "ERR_NOMEM"


class UnsupportedError(BrigError):
    """The feature or language is not available (ERR_UNSUPPORTED)."""
    code = "ERR_UNSUPPORTED"


class DeniedError(BrigError):
    """A capability was not granted (ERR_DENIED)."""
    code = "ERR_DENIED"


class NotFoundError(BrigError, KeyError):
    """No such key, handler, snapshot or function (ERR_NOT_FOUND)."""
    code = "ERR_NOT_FOUND"

    def __str__(self) -> str:  # KeyError would quote the text
        return Exception.__str__(self)


class PoisonedError(BrigError):
    """The session's call was killed; restore or close it (ERR_POISONED)."""
    code = "ERR_POISONED"


class ConsumedError(BrigError):
    """The object was already used up, e.g. handlers not loaded (ERR_CONSUMED)."""
    code = "ERR_CONSUMED"


class StackOverflowError(BrigError, RecursionError):
    """Guest recursion exhausted its stack (ERR_STACK_OVERFLOW)."""
    code = "ERR_STACK_OVERFLOW"


class HostIOError(BrigError):
    """A host file operation failed, e.g. an rwc mount's commit (ERR_IO)."""
    code = "ERR_IO"


_BY_CODE: Dict[str, Type[BrigError]] = {
    c.code: c for c in (InvalidError, CancelledError, LimitError, GuestAbortError,
                        UnavailableError, InternalError, ProtocolError, NoMemoryError,
                        UnsupportedError, DeniedError, NotFoundError, PoisonedError,
                        ConsumedError, StackOverflowError, HostIOError)
}


def error_for(rc: int, message: str = "", result: Optional[object] = None) -> BrigError:
    """The BrigError subclass instance for a negative brig_error code."""
    name = _native.err_name(rc)
    return _BY_CODE.get(name, BrigError)(message or _native.strerror(rc), name, result)


def check(rc: int, message: str = "") -> None:
    """Raise the matching BrigError unless rc is BRIG_OK."""
    if rc != 0:
        raise error_for(rc, message)


class SandboxError(Exception):
    """A Sandbox operation failed (codepod's RpcError): `code` is an int
    (1 for a filesystem error), `message` starts with the errno name, e.g.
    "ENOENT: no such file or directory, read '/x'"."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message

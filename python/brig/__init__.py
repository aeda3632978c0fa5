"""brig: run untrusted Python, JavaScript and shell code in a Linux sandbox.

This is the host-side SDK (the program that embeds the sandbox).  Code
running inside the sandbox has its own, unrelated `brig` module (guest/).

- brig.run(code, lang="python", **settings) -> Result, brig.Executor:
  one-shot runs, each in a fresh sandbox;
- brig.Session: a sandbox that lives across calls, with handlers,
  snapshots and interrupts;
- brig.Sandbox: codepod's API (commands, files, mounts, extensions, state).
"""
from brig._errors import (BrigError, CancelledError, ConsumedError, DeniedError,
                          GuestAbortError, HostIOError, InternalError, InvalidError, LimitError,
                          NoMemoryError, NotFoundError, PoisonedError, ProtocolError, SandboxError,
                          StackOverflowError, UnavailableError, UnsupportedError)
from brig._native import VERSION as __version__
from brig._run import KV, Executor, Result, run
from brig._sandbox import (CommandResult, Extension, FileInfo, PythonPackage, Sandbox,
                           SandboxInfo, SandboxRef)
from brig._session import Session, Snapshot
from brig._vfs import DirEntry, FileStat, MemoryFS, VirtualFileSystem

__all__ = [
    "run", "Executor", "Result", "KV", "Session", "Snapshot",
    "Sandbox", "CommandResult", "FileInfo", "Extension", "PythonPackage", "SandboxInfo",
    "SandboxRef", "MemoryFS", "VirtualFileSystem", "FileStat", "DirEntry",
    "BrigError", "InvalidError", "CancelledError", "LimitError", "GuestAbortError",
    "UnavailableError", "InternalError", "ProtocolError", "NoMemoryError", "UnsupportedError",
    "DeniedError", "NotFoundError", "PoisonedError", "ConsumedError", "StackOverflowError",
    "HostIOError", "SandboxError", "__version__",
]

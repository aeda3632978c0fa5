"""codepod's Sandbox API over a brig session.

A Sandbox is one long-lived Python session in a brig jail.  The handler
"sandbox" (the guest code in _driver.py) runs each command in a fresh bash
that replays the shell state it keeps, and serves the file operations, all
inside the jail: nothing the guest plants (a symlink, a FIFO) is ever
followed on the host.  Files mounted from the host are copied into a private
host directory at mount time and bound read-only into the jail (a top-level
directory per mount, /mnt always), so every program sees them, runtime
mounts under a bound directory appear at once, and export_state (which
carries /home/user and /tmp) leaves them out.  Extensions are scripts under
/ext/bin that reach the host through the driver.
"""
from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import base64
import inspect
import itertools
import json
import os
import posixpath
import queue
import shutil
import signal
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import (Any, Awaitable, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple,
                    Union)

from brig import _state, _transfer
from brig._errors import BrigError, SandboxError
from brig._session import Session, Snapshot
from brig._vfs import VirtualFileSystem, walk_files

__all__ = ["Sandbox", "CommandResult", "FileInfo", "Extension", "PythonPackage",
           "SandboxInfo", "SandboxRef"]

DEFAULT_FS_LIMIT = 256 << 20
EXT_DIR = "/ext"
BASE_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
# Top-level directories that the jail's own root provides.
_RESERVED = {".brig", "bin", "boot", "dev", "etc", "ext", "home", "lib", "lib32", "lib64", "libx32",
             "opt", "proc", "root", "run", "sbin", "sys", "tmp", "usr", "var"}
_DRIVER = (Path(__file__).parent / "_driver.py").read_text()


@dataclass
class CommandResult:
    """What commands.run gave: stdout, stderr (str), exit_code, and
    execution_time_ms.  timed_out is True when the command ran past the
    sandbox's timeout_ms and was killed (exit_code 124)."""

    stdout: str
    stderr: str
    exit_code: int
    execution_time_ms: float
    timed_out: bool = False


@dataclass
class FileInfo:
    """An entry of files.list / files.stat: name, type ("file", "dir" or
    "symlink") and size (bytes of a file, entries of a directory)."""

    name: str
    type: str
    size: int


@dataclass
class PythonPackage:
    """A Python package an Extension ships into the sandbox: files maps
    paths relative to the package directory to their content.  It is
    importable under the extension's name (dashes become underscores) and
    pip list / pip show report it with this version and summary."""

    version: str = "0.0.0"
    summary: str = ""
    files: Mapping[str, Union[str, bytes]] = field(default_factory=dict)


@dataclass
class Extension:
    """A command on the sandbox's PATH (/ext/bin/NAME) served by the host.

    command(args=[...], stdin=str, env={...}, cwd=str) (or the coroutine
    function async_command) returns {"stdout", "stderr", "exitCode"};
    NAME --help prints description, usage and examples; `extensions list`
    and `extensions info NAME` list them."""

    name: str
    description: str = ""
    command: Optional[Callable[..., Mapping[str, Any]]] = None
    async_command: Optional[Callable[..., Awaitable[Mapping[str, Any]]]] = None
    usage: Optional[str] = None
    examples: Optional[Sequence[str]] = None
    category: Optional[str] = None
    python_package: Optional[PythonPackage] = None


@dataclass(frozen=True)
class SandboxInfo:
    """An entry of sandboxes.list(): id and label."""

    id: str
    label: Optional[str]


_CLIENT = r'''#!/usr/bin/python3 -IS
import json, os, socket, sys
META = json.loads(%r)
args = sys.argv[1:]
if args in (["--help"], ["-h"]):
    out = [META["name"] + ": " + (META["description"] or "")]
    if META["usage"]:
        out.append("Usage: " + META["usage"])
    if META["examples"]:
        out.append("Examples:")
        out.extend("  " + e for e in META["examples"])
    print("\n".join(out))
    sys.exit(0)
stdin = sys.stdin.buffer.read().decode("utf-8", "replace")
req = {"name": META["name"], "args": args, "stdin": stdin, "env": dict(os.environ),
       "cwd": os.getcwd()}
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect("\0brig-ext")
s.sendall(json.dumps(req).encode())
s.shutdown(socket.SHUT_WR)
chunks = []
while True:
    b = s.recv(65536)
    if not b:
        break
    chunks.append(b)
if not chunks:
    sys.stderr.write(META["name"] + ": no answer from the host\n")
    sys.exit(1)
r = json.loads(b"".join(chunks))
sys.stdout.write(str(r.get("stdout") or ""))
sys.stderr.write(str(r.get("stderr") or ""))
sys.exit(int(r.get("exitCode") or 0))
'''

_LISTER = r'''#!/usr/bin/python3 -IS
import json, sys
EXTS = json.loads(%r)
def usage():
    sys.stderr.write("usage: extensions list [--category C] [--json] | extensions info NAME\n")
    sys.exit(2)
a = sys.argv[1:]
if not a or a[0] not in ("list", "info"):
    usage()
if a[0] == "info":
    if len(a) != 2:
        usage()
    e = next((e for e in EXTS if e["name"] == a[1]), None)
    if e is None:
        sys.stderr.write("extensions: no extension %%r\n" %% a[1])
        sys.exit(1)
    for k in ("name", "description", "category", "usage"):
        if e.get(k):
            print("%%s: %%s" %% (k, e[k]))
    for x in e.get("examples") or []:
        print("example: " + x)
    if e.get("python_package"):
        print("python package: %%s %%s" %% (e["package_name"], e["python_package"]))
    sys.exit(0)
cat, as_json, rest = None, False, a[1:]
while rest:
    if rest[0] == "--json":
        as_json, rest = True, rest[1:]
    elif rest[0] == "--category" and len(rest) > 1:
        cat, rest = rest[1], rest[2:]
    else:
        usage()
sel = [e for e in EXTS if cat is None or e.get("category") == cat]
if as_json:
    print(json.dumps(sel))
else:
    for e in sel:
        print("%%-20s %%s" %% (e["name"], e.get("description") or ""))
'''


def _package_name(ext_name: str) -> str:
    return ext_name.replace("-", "_")


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    path.write_bytes(data)
    path.chmod(mode)


def _check_ext_name(name: str) -> None:
    if not name or name == "extensions" or not all(c.isalnum() or c in "-_." for c in name) \
            or name[0] in "-.":
        raise SandboxError(2, "EINVAL: invalid extension name %r" % (name,))


class Commands:
    """sb.commands: run shell commands."""

    def __init__(self, sb: "Sandbox") -> None:
        self._sb = sb

    def run(self, command: str, *, timeout_ms: Optional[int] = None) -> CommandResult:
        """Run command in bash.  Variables, functions, exported environment
        and the working directory persist to the next command; `exit N` ends
        only this command.  Past timeout_ms (default: the sandbox's) the
        command and everything it started are killed and the result has
        exit_code 124 and timed_out; the sandbox stays usable.  Ctrl-C
        (SIGINT on the main thread) kills the command the same way and
        raises KeyboardInterrupt; the sandbox stays usable."""
        if not isinstance(command, str):
            raise TypeError("command must be a str")
        t = self._sb._timeout_ms if timeout_ms is None else int(timeout_ms)
        r = self._sb._call_cancellable({"op": "sh", "cmd": command, "timeout_ms": t,
                                        "seq": next(self._sb._seq)}, t)
        return CommandResult(stdout=r["stdout"], stderr=r["stderr"], exit_code=r["exit_code"],
                             execution_time_ms=r["execution_time_ms"],
                             timed_out=r["timed_out"])


class Files:
    """sb.files: the sandbox's own filesystem.  Relative paths start at the
    shell's working directory.  Failures raise SandboxError (code 1, the
    errno name first in the message: "ENOENT: ...")."""

    def __init__(self, sb: "Sandbox") -> None:
        self._sb = sb

    def read(self, path: str) -> bytes:
        """The file's content."""
        return base64.b64decode(self._sb._file_op("read", path)["data"])

    def write(self, path: str, data: Union[bytes, bytearray, str]) -> None:
        """Create or replace the file with data (str is written as UTF-8).
        Past fs_limit_bytes: SandboxError with ENOSPC."""
        if isinstance(data, str):
            data = data.encode()
        self._sb._file_op("write", path, data=base64.b64encode(bytes(data)).decode())

    def list(self, path: str) -> List[FileInfo]:
        """The entries of directory path, sorted by name."""
        r = self._sb._file_op("list", path)
        return [FileInfo(e["name"], e["type"], e["size"]) for e in r["entries"]]

    def stat(self, path: str) -> FileInfo:
        """Name, type and size of path (following symlinks)."""
        e = self._sb._file_op("stat", path)["info"]
        return FileInfo(e["name"], e["type"], e["size"])

    def mkdir(self, path: str) -> None:
        """Create directory path and its missing parents."""
        self._sb._file_op("mkdir", path)

    def rm(self, path: str) -> None:
        """Remove a file, a symlink, or a directory with its contents."""
        self._sb._file_op("rm", path)


class SandboxRef:
    """A child sandbox made by sb.sandboxes.create: id, label, and its own
    commands and files."""

    def __init__(self, id: str, label: Optional[str], sandbox: "Sandbox") -> None:
        self.id = id
        self.label = label
        self.sandbox = sandbox
        self.commands = sandbox.commands
        self.files = sandbox.files


class Sandboxes:
    """sb.sandboxes: child sandboxes with the parent's settings and a fresh
    state of their own."""

    def __init__(self, sb: "Sandbox") -> None:
        self._sb = sb
        self._refs: Dict[str, SandboxRef] = {}
        self._ids = itertools.count(1)

    def create(self, label: Optional[str] = None) -> SandboxRef:
        """Start a child sandbox."""
        child = Sandbox(**self._sb._settings)
        ref = SandboxRef("sb-%d" % next(self._ids), label, child)
        self._refs[ref.id] = ref
        return ref

    def list(self) -> List[SandboxInfo]:
        """The children alive, oldest first."""
        return [SandboxInfo(r.id, r.label) for r in self._refs.values()]

    def remove(self, id: str) -> None:
        """End child id; SandboxError when there is none."""
        ref = self._refs.pop(id, None)
        if ref is None:
            raise SandboxError(1, "ENOENT: no sandbox %r" % (id,))
        ref.sandbox.destroy()

    def _close_all(self) -> None:
        for ref in list(self._refs.values()):
            ref.sandbox.destroy()
        self._refs.clear()


def _cleanup(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _close_session(s: Session) -> None:
    ctl = getattr(s, "ctl", None)
    if ctl is not None:
        ctl.close()
    s.close()


def _mounted_anything(d: str) -> bool:
    """Whether sandbox directory d holds mounted files (its empty /mnt
    does not count)."""
    mnt = os.path.join(d, "mnt")
    return os.listdir(mnt) != ["mnt"] or bool(os.listdir(os.path.join(mnt, "mnt")))


def _new_dir() -> str:
    d = tempfile.mkdtemp(prefix="brig-sandbox-")
    os.chmod(d, 0o755)
    Path(d, "mnt", "mnt").mkdir(parents=True, mode=0o755)
    Path(d, "io").mkdir(mode=0o755)
    return d


def _start_session(d: str, tops: Sequence[str], with_ext: bool, timeout_ms: int,
                   fs_limit: int, memory: Optional[int], allow_hosts: Sequence[str],
                   host_mounts: Sequence[Sequence[str]], max_output: int,
                   serve_ext: Optional[Callable[..., Any]]) -> Session:
    """A session for a sandbox whose host directory is d, with the shell
    driver loaded."""
    binds = [("/" + t, os.path.join(d, "mnt", t), "ro") for t in sorted(tops)]
    binds.append((_transfer.GUEST_DIR, os.path.join(d, "io"), "ro"))
    if with_ext:
        binds.append((EXT_DIR, os.path.join(d, "ext"), "ro"))
    # tmpfs pages count against memory: leave room for full disks.
    mem = memory or max(512 << 20, 2 * fs_limit + (256 << 20))
    s = Session("python", timeout=(timeout_ms + 10_000) / 1000.0, memory=mem,
                tmp_size=fs_limit, allow_hosts=list(allow_hosts),
                mounts=binds + [tuple(m) for m in host_mounts],
                functions={"__brig_ext": serve_ext} if serve_ext else None,
                max_output=max(max_output, 1 << 16),
                # files.read/write carry a file in one frame.
                max_frame=min(max(32 << 20, 3 * fs_limit), 1 << 30))
    try:
        s.add_handler("sandbox", _DRIVER)
        # The first call loads the driver (and its imports) now.
        s.call_handler("sandbox", {"op": "setup", "env": {}}, wall_clock_timeout_ms=30_000)
        # Ctrl-C during commands.run reaches the driver through this.
        s.ctl = _transfer.attach(  # type: ignore[attr-defined]
            os.path.join(d, "io"), 30_000,
            lambda token: s.call_handler("sandbox", {"op": "attach", "token": token},
                                         wall_clock_timeout_ms=30_000))
    except BaseException:
        s.close()
        raise
    return s


SpareKey = Tuple[Any, ...]


class _Spares:
    """Sandboxes started ahead, so that Sandbox() takes one ready.

    Only plain sandboxes have spares (no extensions, no host mounts, mounts
    only under /mnt): their settings are fixed when the session starts.
    BRIG_SANDBOX_SPARES sets how many are kept per set of settings (default
    1; 0 turns them off).  A spare is an idle session and a private host
    directory; they are closed at exit."""

    def __init__(self) -> None:
        self.size = int(os.environ.get("BRIG_SANDBOX_SPARES", "1"))
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._busy = 0
        self._ready: Dict[SpareKey, List[Tuple[Session, str]]] = {}
        self._wanted: "queue.Queue[SpareKey]" = queue.Queue()
        self._worker: Optional[threading.Thread] = None

    def take(self, key: SpareKey) -> Optional[Tuple[Session, str]]:
        """A spare for these settings, or None; asks for the next."""
        if self.size <= 0:
            return None
        with self._lock:
            ready = self._ready.get(key)
            item = ready.pop() if ready else None
            if self._worker is None:
                # One thread that lives as long as the process: a jail's
                # parent-death signal follows the thread that started it.
                self._worker = threading.Thread(target=self._work, name="brig-spares",
                                                daemon=True)
                self._worker.start()
        self._wanted.put(key)
        return item

    def _work(self) -> None:
        while True:
            key = self._wanted.get()
            with self._lock:
                while self._busy:
                    self._idle.wait()
                if len(self._ready.get(key, ())) >= self.size:
                    continue
            d = _new_dir()
            try:
                timeout_ms, fs_limit, memory, hosts, max_output = key
                s = _start_session(d, ["mnt"], False, timeout_ms, fs_limit, memory, hosts,
                                   (), max_output, None)
            except Exception:
                _cleanup(d)  # Sandbox() starts its own and reports why
                continue
            with self._lock:
                self._ready.setdefault(key, []).append((s, d))

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No new spare starts meanwhile: a fork's copy does not share the
        CPU with a jail and an interpreter starting."""
        with self._lock:
            self._busy += 1
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1
                self._idle.notify_all()

    def close(self) -> None:
        """Close every spare (at exit)."""
        with self._lock:
            items = [i for v in self._ready.values() for i in v]
            self._ready.clear()
        for s, d in items:
            _close_session(s)
            _cleanup(d)


_SPARES = _Spares()
atexit.register(_SPARES.close)


class Sandbox:
    """A sandbox with a real shell, coreutils and CPython (codepod's API).

    Sandbox(*, timeout_ms=30_000, fs_limit_bytes=256 MiB, mounts=None,
    python_path=None, extensions=None, memory=None, allow_hosts=(),
    host_mounts=(), env=None, max_output=1 MiB)

    - timeout_ms bounds each command;
    - fs_limit_bytes bounds everything written in the sandbox (/home/user,
      /tmp and /dev/shm share it; past it writes fail with ENOSPC);
    - mounts: [(path, dict | MemoryFS | VirtualFileSystem)], copied in now,
      read-only, under a top-level directory of their own (/mnt/...);
    - python_path: directories put on every python3's module path;
    - extensions: [Extension], commands on PATH served by the host;
    - memory (bytes), allow_hosts (HTTP(S) hosts), host_mounts
      ([(guest_path, host_path, "ro"|"rw"|"rwc")]) and env ({name: value})
      are brig's own settings.
    Use it as a context manager; kill() ends it."""

    def __init__(self, *, timeout_ms: int = 30_000, fs_limit_bytes: int = DEFAULT_FS_LIMIT,
                 mounts: Optional[Sequence[Tuple[str, Any]]] = None,
                 python_path: Optional[Sequence[str]] = None,
                 extensions: Optional[Sequence[Extension]] = None,
                 memory: Optional[int] = None, allow_hosts: Sequence[str] = (),
                 host_mounts: Sequence[Sequence[str]] = (),
                 env: Optional[Mapping[str, str]] = None, max_output: int = 1 << 20,
                 _parent: Optional["Sandbox"] = None) -> None:
        if int(timeout_ms) <= 0 or int(fs_limit_bytes) <= 0:
            raise SandboxError(2, "EINVAL: timeout_ms and fs_limit_bytes must be positive")
        self._settings: Dict[str, Any] = dict(
            timeout_ms=timeout_ms, fs_limit_bytes=fs_limit_bytes, python_path=python_path,
            extensions=extensions, memory=memory, allow_hosts=allow_hosts,
            host_mounts=host_mounts, env=env, max_output=max_output)
        self._timeout_ms = int(timeout_ms)
        self._fs_limit = int(fs_limit_bytes)
        self._ext = {e.name: e for e in (extensions or [])}
        self._snapshots: Dict[str, Snapshot] = {}
        # The shell state as the driver last reported it (None: unknown,
        # ask): what a fork starts from, and what a snapshot restores.
        self._shell: Optional[str] = None
        self._snapshot_shells: Dict[str, Optional[str]] = {}
        self._snap_ids = itertools.count(1)
        self._seq = itertools.count(1)
        self._forks: "weakref.WeakSet[Sandbox]" = weakref.WeakSet()
        self._lock = threading.Lock()
        self._closed = False
        # A fork (of _parent) gets its mounts, shell state and files.
        parent_dir = _parent._dir if _parent else None
        shell = _parent._shell_state() if _parent else None
        spare = None
        if not self._ext and not host_mounts and all(
                posixpath.normpath(p).startswith("/mnt/") for p, _ in mounts or ()) and (
                not parent_dir or os.listdir(os.path.join(parent_dir, "mnt")) == ["mnt"]):
            spare = _SPARES.take((self._timeout_ms, self._fs_limit, memory,
                                  tuple(allow_hosts), max_output))
        self._session: Optional[Session] = spare[0] if spare else None
        self._dir = spare[1] if spare else _new_dir()
        self._finalizer = weakref.finalize(self, _cleanup, self._dir)
        self._tops = {"mnt"}
        try:
            if parent_dir and _mounted_anything(parent_dir):
                shutil.copytree(os.path.join(parent_dir, "mnt"),
                                os.path.join(self._dir, "mnt"), dirs_exist_ok=True)
                self._tops |= {p.name for p in Path(self._dir, "mnt").iterdir()}
            for path, src in mounts or ():
                self._copy_mount(path, src, creating=True)
            self._write_extensions()
            if self._session is None:
                self._session = _start_session(
                    self._dir, sorted(self._tops), bool(self._ext), self._timeout_ms,
                    self._fs_limit, memory, allow_hosts, host_mounts, max_output,
                    _weak_call(self._serve_extension) if self._ext else None)
            self._setup(env or {}, python_path or [], max_output, shell)
            if _parent is not None:
                # libbrig copies the files between the two jails' tmpfs.
                try:
                    self._session.copy_files_from(_parent._session)
                except BrigError as exc:
                    raise SandboxError(2, "%s: %s" % (exc.code, exc.message)) from None
        except BaseException:
            self._finalizer()
            if self._session is not None:
                _close_session(self._session)
            raise
        self.commands = Commands(self)
        self.files = Files(self)
        self.sandboxes = Sandboxes(self)

    # ------------------------------------------------------------ set-up

    def _setup(self, env: Mapping[str, str], python_path: Sequence[str],
               max_output: int, shell: Optional[str]) -> None:
        pypath = [str(p) for p in python_path]
        if any(e.python_package for e in self._ext.values()):
            pypath.append(EXT_DIR + "/python")
        full = {"PATH": (EXT_DIR + "/bin:" if self._ext else "") + BASE_PATH,
                "HOME": "/home/user", "USER": "user", "LOGNAME": "user", "SHELL": "/bin/bash",
                "LANG": "C.UTF-8", "TMPDIR": "/tmp", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "PIP_NO_INPUT": "1"}
        if pypath:
            full["PYTHONPATH"] = ":".join(pypath)
        for k, v in env.items():
            if not k or "=" in k or "\0" in k or "\0" in str(v):
                raise SandboxError(2, "EINVAL: invalid environment variable %r" % (k,))
            full[k] = str(v)
        # A fork takes its parent's shell state instead of a fresh one.
        self._call({"op": "setup", "env": full, "max_output": max_output, "shell": shell,
                    "ext_sock": "brig-ext" if self._ext else None}, 10_000)
        if pypath:
            # The interpreter session run_code uses reads PYTHONPATH only
            # at start: give it the same path.
            self._session.exec("import sys\nsys.path[:0] = %r\n" % (pypath,))

    def _mount_dir(self, path: str) -> Path:
        if not isinstance(path, str) or not path.startswith("/") or "\0" in path:
            raise SandboxError(2, "EINVAL: mount path must be absolute: %r" % (path,))
        norm = posixpath.normpath(path)
        top = norm.strip("/").split("/")[0]
        if not top or top in _RESERVED - {"mnt"}:
            raise SandboxError(2, "EINVAL: cannot mount over %s" % norm)
        return Path(self._dir, "mnt", top, *norm.strip("/").split("/")[1:])

    def _copy_mount(self, path: str, src: Union[Mapping[str, Any], VirtualFileSystem],
                    creating: bool) -> None:
        dest = self._mount_dir(path)
        top = posixpath.normpath(path).strip("/").split("/")[0]
        if not creating and top not in self._tops:
            raise SandboxError(2, "EINVAL: runtime mounts go under /mnt or under a directory "
                                  "mounted at creation, not %s" % path)
        try:
            files = list(walk_files(src))
        except (OSError, ValueError, NotImplementedError) as exc:
            raise SandboxError(1, "EIO: cannot read the tree to mount at %s: %s"
                               % (path, exc)) from None
        dest.mkdir(parents=True, exist_ok=True, mode=0o755)
        for rel, data in files:
            p = dest.joinpath(*rel.split("/"))
            if data is None:
                p.mkdir(parents=True, exist_ok=True, mode=0o755)
            else:
                mode = 0o755 if data.startswith(b"#!") else 0o644
                _write(p, data, mode)
        self._tops.add(top)

    def _write_extensions(self) -> None:
        if not self._ext:
            return
        base = Path(self._dir, "ext")
        meta = []
        for e in self._ext.values():
            _check_ext_name(e.name)
            if e.command is None and e.async_command is None:
                raise SandboxError(2, "EINVAL: extension %r has no command" % e.name)
            m = {"name": e.name, "description": e.description, "usage": e.usage,
                 "examples": list(e.examples or []), "category": e.category}
            _write(base / "bin" / e.name, (_CLIENT % json.dumps(m)).encode(), 0o755)
            if e.python_package is not None:
                self._write_package(base / "python", e)
                m["python_package"] = e.python_package.version
                m["package_name"] = _package_name(e.name)
            meta.append(m)
        _write(base / "bin" / "extensions", (_LISTER % json.dumps(meta)).encode(), 0o755)

    @staticmethod
    def _write_package(site: Path, e: Extension) -> None:
        pkg = e.python_package
        assert pkg is not None
        name = _package_name(e.name)
        for rel, data in dict(pkg.files).items():
            parts = posixpath.normpath(rel).split("/")
            if rel.startswith("/") or ".." in parts or "\0" in rel:
                raise SandboxError(2, "EINVAL: bad file %r in package %s" % (rel, name))
            _write(site.joinpath(name, *parts), data.encode() if isinstance(data, str) else
                   bytes(data))
        init = site / name / "__init__.py"
        if not init.exists():
            _write(init, b"")
        dist = site / ("%s-%s.dist-info" % (name, pkg.version))
        summary = " ".join(pkg.summary.split())
        _write(dist / "METADATA", ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n"
                                   "Summary: %s\n" % (e.name, pkg.version, summary)).encode())
        _write(dist / "INSTALLER", b"brig\n")
        _write(dist / "top_level.txt", (name + "\n").encode())

    # ------------------------------------------------------------ calls

    def _serve_extension(self, name: str, args: List[str], stdin: str, env: Dict[str, str],
                         cwd: str) -> Dict[str, Any]:
        e = self._ext.get(name)
        if e is None:
            return {"stdout": "", "stderr": "%s: no such extension\n" % name, "exitCode": 127}
        kwargs = dict(args=list(args), stdin=stdin, env=dict(env), cwd=cwd)
        if e.command is not None:
            r: Any = e.command(**kwargs)
            if inspect.isawaitable(r):
                r = asyncio.run(_await(r))
        else:
            assert e.async_command is not None
            r = asyncio.run(_await(e.async_command(**kwargs)))
        if not isinstance(r, Mapping):
            raise TypeError("extension %s must return a dict with stdout, stderr, exitCode"
                            % name)
        return {"stdout": str(r.get("stdout") or ""), "stderr": str(r.get("stderr") or ""),
                "exitCode": int(r.get("exitCode") or r.get("exit_code") or 0)}

    def _call(self, event: Dict[str, Any], timeout_ms: int) -> Dict[str, Any]:
        if self._closed:
            raise SandboxError(2, "ESHUTDOWN: the sandbox was destroyed")
        try:
            r = self._session.call_handler("sandbox", event,
                                           wall_clock_timeout_ms=timeout_ms + 10_000, gc=False)
        except BrigError as exc:
            self._shell = None  # the driver may have changed it unseen
            raise SandboxError(2, "%s: %s" % (exc.code, exc.message)) from None
        except BaseException:
            self._shell = None
            raise
        if isinstance(r, dict) and "shell" in r:
            self._shell = r["shell"]
        if isinstance(r, dict) and "error" in r:
            raise SandboxError(r["error"]["code"], r["error"]["message"])
        return r

    def _call_cancellable(self, event: Dict[str, Any], timeout_ms: int) -> Dict[str, Any]:
        """_call, where Ctrl-C cancels only the shell command or JavaScript
        call: the call runs on a thread with SIGINT blocked
        (_command_thread), and on KeyboardInterrupt the main thread tells
        the driver (event["seq"] on the session's control connection),
        which stops it and answers; then KeyboardInterrupt is raised.  A
        driver that does not answer within 10 s is interrupted like any
        session call (the sandbox is then poisoned)."""
        ctl = getattr(self._session, "ctl", None)
        if ctl is None or threading.current_thread() is not threading.main_thread():
            return self._call(event, timeout_ms)
        fut = _command_thread().submit(self._call, event, timeout_ms)
        try:
            while True:
                try:
                    return fut.result(0.25)
                except concurrent.futures.TimeoutError:
                    pass
        except KeyboardInterrupt:
            try:
                ctl.send(b"%d\n" % event["seq"])
            except OSError:
                pass
            try:
                fut.exception(10)
            except concurrent.futures.TimeoutError:
                self._session.interrupt()
                fut.exception()
            raise

    def _file_op(self, op: str, path: str, **extra: Any) -> Dict[str, Any]:
        if not isinstance(path, str):
            raise TypeError("path must be a str")
        return self._call(dict(op=op, path=path, **extra), self._timeout_ms)

    # ------------------------------------------------------------ public

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.kill()

    def mount(self, path: str, files: Union[Mapping[str, Any], VirtualFileSystem]) -> None:
        """Copy files (a dict or a VirtualFileSystem) in at path, read-only
        for the sandbox, now.  path must be under /mnt or under a directory
        mounted when the sandbox was created."""
        self._copy_mount(path, files, creating=False)

    def run_code(self, code: str, language: str = "python") -> CommandResult:
        """Run code in the sandbox's interpreter session of that language
        ("python" or "js"): globals, imports and declarations persist
        between calls, the files are the sandbox's, and an uncaught error's
        traceback is on stderr with exit_code 1.  A JavaScript call past
        timeout_ms is killed with its session (timed_out, exit_code 124); a
        Python one kills the sandbox's session, after which calls raise
        SandboxError (ERR_POISONED) until restore() of a snapshot.

        Ctrl-C (SIGINT on the main thread) interrupts the code the way the
        language does (Python: KeyboardInterrupt in the sandbox; node: the
        script or the await of its promise is interrupted) and raises
        KeyboardInterrupt; the sandbox stays usable with its state.  Code
        still running 2 s later (it caught KeyboardInterrupt, or is a JS
        loop run from the event loop) is killed: a JavaScript call with its
        node session (the next call starts a new one), a Python call with
        the sandbox's session (poisoned as above); KeyboardInterrupt is
        raised all the same.

        JavaScript state is lost on snapshot(), restore(), fork() and
        import_state(): the session is one node process, which those end;
        the next JavaScript call starts a new one.  Python state survives
        snapshot() and restore() but not fork() or import_state(), which
        carry files and shell state only."""
        if not isinstance(code, str):
            raise TypeError("code must be a str")
        if language in ("js", "javascript"):
            r = self._call_cancellable({"op": "js", "code": code, "timeout_ms": self._timeout_ms,
                                        "seq": next(self._seq)}, self._timeout_ms)
            return CommandResult(r["stdout"], r["stderr"], r["exit_code"],
                                 r["execution_time_ms"], r["timed_out"])
        if language not in ("python", "py"):
            raise SandboxError(2, "EINVAL: run_code runs 'python' or 'js', not %r"
                               % (language,))
        if self._closed:
            raise SandboxError(2, "ESHUTDOWN: the sandbox was destroyed")
        t0 = time.monotonic()
        try:
            r = self._session.exec(code, wall_clock_timeout_ms=self._timeout_ms)
        except BrigError as exc:
            raise SandboxError(2, "%s: %s" % (exc.code, exc.message)) from None
        return CommandResult(r.stdout, r.stderr, r.exit_code,
                             (time.monotonic() - t0) * 1000.0)

    def snapshot(self) -> str:
        """Save files (/home/user, /tmp), shell variables, environment and
        working directory, and the interpreter session; returns its id."""
        snap = self._snapshot()
        sid = "snap-%d" % next(self._snap_ids)
        self._snapshots[sid] = snap
        self._snapshot_shells[sid] = self._shell
        return sid

    def _snapshot(self) -> Snapshot:
        # The shell's process is not part of a session snapshot: end it
        # (its state is saved after every command) and let the next
        # command start a new one.
        self._call({"op": "stop"}, self._timeout_ms)
        try:
            return self._session.snapshot()
        except BrigError as exc:
            raise SandboxError(2, "%s: %s" % (exc.code, exc.message)) from None

    def restore(self, snapshot_id: str) -> None:
        """Return to snapshot snapshot_id (any number of times)."""
        snap = self._snapshots.get(snapshot_id)
        if snap is None:
            raise SandboxError(1, "ENOENT: no snapshot %r" % (snapshot_id,))
        self._shell = None
        try:
            self._session.restore(snap)
        except BrigError as exc:
            raise SandboxError(2, "%s: %s" % (exc.code, exc.message)) from None
        self._shell = self._snapshot_shells[snapshot_id]

    def export_state(self) -> bytes:
        """The files of /home/user and /tmp and the shell state, as a
        versioned blob (mounted files are not part of it)."""
        return _state.encode(*self._export())

    def _export(self) -> Tuple[str, bytes]:
        """The shell state and a tar of the files, the tar beside the
        protocol (brig/_transfer.py)."""
        r, tar = _transfer.receive(
            os.path.join(self._dir, "io"), 2 * self._fs_limit + (16 << 20), self._timeout_ms,
            lambda token: self._call({"op": "export", "token": token}, self._timeout_ms))
        return r["shell"], tar

    def _import(self, shell: str, tar: bytes) -> None:
        _transfer.send(os.path.join(self._dir, "io"), tar, self._timeout_ms,
                       lambda token: self._call({"op": "import", "token": token,
                                                 "shell": shell}, self._timeout_ms))

    def import_state(self, blob: bytes) -> None:
        """Replace files and shell state with blob's.  The blob is validated
        fully first: a bad one raises SandboxError and changes nothing."""
        state = _state.decode(blob, self._fs_limit * 2)
        before, shell = self._snapshot(), self._shell
        try:
            self._import(state["shell"], state["tar"])
        except BaseException:
            self._session.restore(before)
            self._shell = shell
            raise
        finally:
            before.release()

    def fork(self) -> "Sandbox":
        """An independent copy: same settings, mounts, files and shell
        state.  destroy() ends it."""
        with _SPARES.paused():
            child = Sandbox(**self._settings, _parent=self)
        self._forks.add(child)
        return child

    def _shell_state(self) -> str:
        """The shell state: as the driver last reported it, else asked for."""
        if self._shell is None:
            self._call({"op": "shell"}, self._timeout_ms)  # _call keeps it
        assert self._shell is not None
        return self._shell

    def destroy(self) -> None:
        """End this sandbox (a fork or child) and free everything it holds."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.sandboxes._close_all()
        for s in self._snapshots.values():
            s.release()
        self._snapshots.clear()
        self._snapshot_shells.clear()
        _close_session(self._session)
        self._finalizer()

    def kill(self) -> None:
        """End the sandbox, its forks and its child sandboxes."""
        for f in list(self._forks):
            f.kill()
        self.destroy()


_COMMANDS: List[concurrent.futures.ThreadPoolExecutor] = []
_COMMANDS_LOCK = threading.Lock()


def _command_thread() -> concurrent.futures.ThreadPoolExecutor:
    """The thread commands.run calls from the main thread run on, with
    SIGINT blocked so that Ctrl-C reaches the main thread (one thread, made
    once: starting one per command cost about 0.4 ms)."""
    with _COMMANDS_LOCK:
        if not _COMMANDS:
            _COMMANDS.append(concurrent.futures.ThreadPoolExecutor(
                1, "brig-command",
                initializer=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})))
        return _COMMANDS[0]


def _weak_call(method: Callable[..., Any]) -> Callable[..., Any]:
    """method, held weakly: the session the sandbox owns must not keep the
    sandbox alive."""
    ref = weakref.WeakMethod(method)

    def call(**kwargs: Any) -> Any:
        m = ref()
        if m is None:
            raise RuntimeError("the sandbox is gone")
        return m(**kwargs)
    return call


async def _await(aw: Awaitable[Any]) -> Any:
    return await aw

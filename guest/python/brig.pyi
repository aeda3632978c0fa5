"""Type stubs for brig's guest API in Python.

Inside a sandbox these names are ready-made globals; they can also be
imported: ``from brig import http, fs, kv, call``.  Every function is a host
call: the host performs it only if the run was granted the capability, and
raises PermissionError otherwise.

JSON values sent to the host come back exactly, or raise before anything is
sent: ValueError for integers beyond -2**63 .. 2**63-1, NaN and infinities,
lone surrogates (UnicodeEncodeError), NUL in keys, nesting deeper than 512
levels, and calls too big for one protocol frame; TypeError for keys that
are not str and for values json cannot encode.  Tuples arrive as lists.
"""
from typing import Any, Awaitable, Coroutine, Dict, List, Optional, TypedDict, TypeVar, Union

_T = TypeVar("_T")
JSON = Any
Body = Union[str, bytes, bytearray, memoryview, None]

class Response:
    """An HTTP response.  The body is never truncated: an oversized body is an error."""
    status_code: int
    headers: Dict[str, str]  # lower-case names; repeats joined with ", "
    url: str                 # the final URL after redirects
    content: bytes
    @property
    def ok(self) -> bool: ...  # True for 2xx
    @property
    def text(self) -> str: ...  # content decoded by the charset, else UTF-8
    def json(self) -> JSON: ...

class _Http:
    """HTTP(S) to allowlisted hosts only; redirects are re-checked (at most 5).

    Raises PermissionError("host not allowed: HOST") for a denied host,
    ValueError for a malformed URL or an oversized body, TimeoutError after
    the time limit, and OSError for connection failures.
    """
    def request(self, method: str, url: str, body: Body = None,
                headers: Optional[Dict[str, str]] = None) -> Response: ...
    def get(self, url: str, body: Body = None, headers: Optional[Dict[str, str]] = None) -> Response: ...
    def post(self, url: str, body: Body = None, headers: Optional[Dict[str, str]] = None) -> Response: ...
    def put(self, url: str, body: Body = None, headers: Optional[Dict[str, str]] = None) -> Response: ...
    def patch(self, url: str, body: Body = None, headers: Optional[Dict[str, str]] = None) -> Response: ...
    def delete(self, url: str, body: Body = None, headers: Optional[Dict[str, str]] = None) -> Response: ...
    async def async_request(self, method: str, url: str, body: Body = None,
                            headers: Optional[Dict[str, str]] = None) -> Response: ...
    async def async_get(self, url: str, body: Body = None, headers: Optional[Dict[str, str]] = None) -> Response: ...
    async def async_post(self, url: str, body: Body = None, headers: Optional[Dict[str, str]] = None) -> Response: ...
    async def async_put(self, url: str, body: Body = None, headers: Optional[Dict[str, str]] = None) -> Response: ...
    async def async_patch(self, url: str, body: Body = None, headers: Optional[Dict[str, str]] = None) -> Response: ...
    async def async_delete(self, url: str, body: Body = None, headers: Optional[Dict[str, str]] = None) -> Response: ...

class DirEntry(TypedDict):
    name: str
    is_dir: bool
    size: int

class Stat(TypedDict):
    name: str
    size: int
    is_dir: bool
    mod_time: int  # seconds since the epoch

class _Fs:
    """Files under the run's mounts.  Modes: ro (read, listdir, exists, stat),
    rw (+ write existing files, remove), rwc (+ create files, mkdir).

    Raises PermissionError (not mounted, mode too weak, path escapes the
    mount), FileNotFoundError, IsADirectoryError, NotADirectoryError,
    FileExistsError, and OSError when a size limit is exceeded.
    """
    def read_text(self, path: str) -> str: ...
    def read_bytes(self, path: str) -> bytes: ...
    def read_json(self, path: str) -> JSON: ...
    def write_text(self, path: str, text: str) -> None: ...
    def write_bytes(self, path: str, data: Union[bytes, bytearray, memoryview]) -> None: ...
    def write_json(self, path: str, data: JSON, indent: Optional[int] = None) -> None: ...
    def listdir(self, path: str) -> List[DirEntry]: ...
    def exists(self, path: str) -> bool: ...
    def stat(self, path: str) -> Stat: ...
    def mkdir(self, path: str) -> None: ...
    def remove(self, path: str) -> None: ...
    async def async_read_text(self, path: str) -> str: ...
    async def async_read_bytes(self, path: str) -> bytes: ...
    async def async_read_json(self, path: str) -> JSON: ...
    async def async_write_text(self, path: str, text: str) -> None: ...
    async def async_write_bytes(self, path: str, data: Union[bytes, bytearray, memoryview]) -> None: ...
    async def async_write_json(self, path: str, data: JSON, indent: Optional[int] = None) -> None: ...
    async def async_listdir(self, path: str) -> List[DirEntry]: ...
    async def async_exists(self, path: str) -> bool: ...
    async def async_stat(self, path: str) -> Stat: ...
    async def async_mkdir(self, path: str) -> None: ...
    async def async_remove(self, path: str) -> None: ...

class _Kv:
    """A key-value store of JSON values: one per run unless the host shares one.

    Limits (defaults): key 256 bytes, value 64 KiB, 1000 entries, 10 MiB in
    total; exceeding one raises ValueError naming it.  A key over the limit
    raises on every method, get and delete included.
    """
    def get(self, key: str, default: JSON = None) -> JSON: ...
    def set(self, key: str, value: JSON) -> None: ...
    def delete(self, key: str) -> bool: ...  # whether the key existed
    def keys(self) -> List[str]: ...
    async def async_get(self, key: str, default: JSON = None) -> JSON: ...
    async def async_set(self, key: str, value: JSON) -> None: ...
    async def async_delete(self, key: str) -> bool: ...
    async def async_keys(self) -> List[str]: ...

http: _Http
fs: _Fs
kv: _Kv

def call(name: str, /, **kwargs: JSON) -> JSON:
    """Call a host function the run was granted.  Raises RuntimeError with the
    host's message when it fails, or "unknown host function: NAME"."""

async def async_call(name: str, /, **kwargs: JSON) -> JSON: ...

def run_async(*aws: Awaitable[_T]) -> Any:
    """Run one awaitable to completion (or several, gathered, returning a list)."""

class PackageInfo(TypedDict):
    name: str  # normalised as PEP 503 does
    version: str
    cached: bool  # True when the cache had it
    path: str  # the directory on sys.path that holds it

def install_pkg(name: str, spec: Optional[str] = None) -> PackageInfo:
    """Install a package the run was allowed (--allow-package NAME, or
    --allow-packages), and its dependencies, from wheels only; spec is a
    version specifier (">=2.0", "==1.4", "~=1.2", "!=1.5", "<=3").  pip runs
    in a sandbox of its own whose only egress is the package index; the
    package is importable as soon as this returns.  Raises PermissionError
    when the package is not allowed, ValueError for a bad name or specifier,
    RuntimeError when pip fails."""

def time_now() -> float:
    """Seconds since the epoch; the sandbox shares the host's clock."""

def display(*objs: Any) -> Optional[str]:
    """Show objects as Jupyter does, as artifacts of the run.

    A matplotlib figure (or axes) is written as display-NNN.png in the
    run's outputs directory (/home/user/outputs by default), an object with
    _repr_png_, _repr_svg_ or _repr_html_ (a pandas DataFrame) as that file;
    anything else is printed.  Returns the last artifact's name, or None.
    Raises RuntimeError when the run has no outputs directory (sessions),
    and OSError (ENOSPC) past the outputs directory's size or file limit.
    """

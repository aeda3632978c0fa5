"""The format of Sandbox.export_state / import_state, and its validation.

A blob is MAGIC, a version line, a JSON line {"shell": <the shell state>},
then a tar (POSIX pax) of the files of /home/user and /tmp: regular files,
directories and symbolic links only.  import_state validates all of it
here, on the host, before the sandbox is touched."""
from __future__ import annotations

import io
import json
import posixpath
import tarfile
from typing import Any, Dict

from brig._errors import SandboxError

MAGIC = b"brig-sandbox-state\n"
VERSION = 1
ROOTS = ("home/user", "tmp")
MAX_PATH = 4096
MAX_SHELL = 4 << 20


def encode(shell: str, tar: bytes) -> bytes:
    """The blob of a state the guest exported: its shell state and tar."""
    head = json.dumps({"shell": shell}).encode()
    return b"".join((MAGIC, b"%d\n" % VERSION, head, b"\n", tar))


def _bad(why: str) -> SandboxError:
    return SandboxError(2, "EINVAL: invalid sandbox state, %s" % why)


def _check_member(m: tarfile.TarInfo, dirs: set, links: set, seen: set) -> None:
    name = m.name
    if not name or len(name) > MAX_PATH or "\0" in name or posixpath.normpath(name) != name:
        raise _bad("bad path %r" % name)
    if not any(name.startswith(r + "/") for r in ROOTS):
        raise _bad("path outside /home/user and /tmp: %r" % name)
    if name in seen:
        raise _bad("duplicate path %r" % name)
    parent = posixpath.dirname(name)
    if parent not in dirs:
        raise _bad("%r comes before its directory (or its directory is a link)" % name)
    if not 0 <= m.mode <= 0o777:
        raise _bad("bad mode for %r" % name)
    if m.isdir():
        dirs.add(name)
    elif m.issym():
        t = m.linkname
        if not t or len(t) > MAX_PATH or "\0" in t:
            raise _bad("bad symlink target for %r" % name)
        links.add(name)
    elif m.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
        raise _bad("%r is neither a file, a directory nor a symlink" % name)
    seen.add(name)


def decode(blob: bytes, limit: int) -> Dict[str, Any]:
    """The state in blob as {"shell", "tar" (bytes)}, fully validated
    (layout, paths, types, modes, sizes against limit bytes);
    SandboxError(2, "EINVAL: ...") otherwise."""
    if not isinstance(blob, (bytes, bytearray)) or not blob.startswith(MAGIC):
        raise _bad("not a brig sandbox state")
    version, sep, rest = bytes(blob[len(MAGIC):]).partition(b"\n")
    if not sep or version != b"%d" % VERSION:
        raise _bad("unsupported version %r" % version[:16])
    head, sep, tar = rest.partition(b"\n")
    try:
        meta = json.loads(head)
    except ValueError:
        raise _bad("corrupt header") from None
    if not sep or not isinstance(meta, dict) or set(meta) != {"shell"} or \
            not isinstance(meta["shell"], str) or len(meta["shell"]) > MAX_SHELL:
        raise _bad("bad header")
    if len(tar) > 2 * limit + (16 << 20):
        raise _bad("files exceed the sandbox's size limit")
    dirs, links, seen, total = {"home/user", "tmp"}, set(), set(), 0
    try:
        with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as tf:
            for m in tf:
                _check_member(m, dirs, links, seen)
                total += m.size if m.isreg() else 0
                if total > limit:
                    raise _bad("files exceed the sandbox's size limit")
                if m.isreg() and len(tf.extractfile(m).read(m.size)) != m.size:
                    raise _bad("truncated file %r" % m.name)
            end = tf.offset
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise _bad("corrupt archive: %s" % exc) from None
    # The archive must end as tar ends it, so a cut one is never taken for
    # an archive of fewer files.
    if tar[end:end + 1024] != bytes(1024):
        raise _bad("truncated archive")
    return {"shell": meta["shell"], "tar": tar}

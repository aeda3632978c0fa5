"""The format of Sandbox.export_state / import_state, and its validation.

A blob is MAGIC, a version line, then zlib-compressed JSON:
{"shell": <the shell state script>, "files": [{"path", "type", "mode",
"data" (base64) | "target"}...]} with the files of /home/user and /tmp,
parents before children.  import_state validates everything here, on the
host, before the sandbox is touched."""
from __future__ import annotations

import base64
import binascii
import json
import posixpath
import zlib
from typing import Any, Dict

from brig._errors import SandboxError

MAGIC = b"brig-sandbox-state\n"
VERSION = 1
ROOTS = ("/home/user", "/tmp")
MAX_PATH = 4096
MAX_SHELL = 4 << 20


def encode(state: Dict[str, Any]) -> bytes:
    """The blob of a state the guest exported."""
    body = json.dumps({"shell": state["shell"], "files": state["files"]}).encode()
    return MAGIC + b"%d\n" % VERSION + zlib.compress(body, 1)


def _bad(why: str) -> SandboxError:
    return SandboxError(2, "EINVAL: invalid sandbox state, %s" % why)


def _decompress(data: bytes, limit: int) -> bytes:
    d = zlib.decompressobj()
    # base64 and JSON around the files: at most about 4/3 of them plus room.
    out = d.decompress(data, limit * 2 + (16 << 20))
    if d.unconsumed_tail or not d.eof:
        raise _bad("too large or truncated")
    return out


def _check_path(p: Any, dirs: set, seen: set) -> str:
    if not isinstance(p, str) or not p or len(p) > MAX_PATH or "\0" in p:
        raise _bad("bad path %r" % (p,))
    if posixpath.normpath(p) != p or not any(p.startswith(r + "/") for r in ROOTS):
        raise _bad("path outside /home/user and /tmp: %r" % p)
    if p in seen:
        raise _bad("duplicate path %r" % p)
    if posixpath.dirname(p) not in dirs:
        raise _bad("%r comes before its directory" % p)
    return p


def decode(blob: bytes, limit: int) -> Dict[str, Any]:
    """The state in blob, fully validated (paths, types, modes, sizes
    against limit bytes); SandboxError(2, "EINVAL: ...") otherwise."""
    if not isinstance(blob, (bytes, bytearray)) or not blob.startswith(MAGIC):
        raise _bad("not a brig sandbox state")
    head, sep, rest = bytes(blob[len(MAGIC):]).partition(b"\n")
    if not sep or head != b"%d" % VERSION:
        raise _bad("unsupported version %r" % head[:16])
    try:
        state = json.loads(_decompress(rest, limit))
    except (zlib.error, ValueError) as exc:
        raise _bad("corrupt: %s" % exc) from None
    if not isinstance(state, dict) or set(state) != {"shell", "files"}:
        raise _bad("unexpected layout")
    if not isinstance(state["shell"], str) or len(state["shell"]) > MAX_SHELL:
        raise _bad("bad shell state")
    if not isinstance(state["files"], list):
        raise _bad("files must be a list")
    dirs, seen, total = set(ROOTS), set(), 0
    for e in state["files"]:
        if not isinstance(e, dict):
            raise _bad("bad entry")
        p = _check_path(e.get("path"), dirs, seen)
        seen.add(p)
        mode, kind = e.get("mode"), e.get("type")
        if type(mode) is not int or not 0 <= mode <= 0o777:
            raise _bad("bad mode for %r" % p)
        if kind == "dir" and set(e) == {"path", "type", "mode"}:
            dirs.add(p)
        elif kind == "symlink" and set(e) == {"path", "type", "mode", "target"}:
            t = e["target"]
            if not isinstance(t, str) or not t or len(t) > MAX_PATH or "\0" in t:
                raise _bad("bad symlink target for %r" % p)
        elif kind == "file" and set(e) == {"path", "type", "mode", "data"}:
            if not isinstance(e["data"], str):
                raise _bad("bad data for %r" % p)
            try:
                total += len(base64.b64decode(e["data"], validate=True))
            except (binascii.Error, ValueError):
                raise _bad("bad data for %r" % p) from None
        else:
            raise _bad("bad entry for %r" % p)
        if total > limit:
            raise _bad("files exceed the sandbox's size limit")
    return state

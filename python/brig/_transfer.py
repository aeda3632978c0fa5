"""Bulk bytes between the host and a sandbox's driver, beside the protocol.

A handler call carries JSON, so files sent through it travel as base64 in a
frame, parsed on both sides.  For state (export_state, import_state, fork)
the host instead listens on a unix socket in the sandbox's private host
directory, which is bound read-only into the jail at /.brig (connecting to a
socket needs no write access to its filesystem, and the guest can create
nothing there).  The socket exists only while one transfer runs; the driver
connects, proves it is the one the host called by sending the call's random
token, and the raw bytes (a tar) stream through the kernel.
"""
from __future__ import annotations

import os
import socket
import threading
from typing import Any, Callable, Iterator, List, Optional

from brig._errors import SandboxError

GUEST_DIR = "/.brig"
SOCK_NAME = "xfer"


class _Result:
    def __init__(self) -> None:
        self.data: Optional[bytes] = None
        self.error: Optional[str] = None


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        b = conn.recv(n - len(buf))
        if not b:
            break
        buf += b
    return bytes(buf)


def _serve(host_dir: str, token: str, timeout_ms: int,
           work: Callable[[socket.socket, _Result], None],
           call: Callable[[str], Any]) -> "tuple[Any, _Result]":
    """Listen in host_dir, run call(token) (the handler call that makes the
    driver connect), and give the one connection that sends token to work
    on a thread meanwhile.  Returns call's result and work's."""
    path = os.path.join(host_dir, SOCK_NAME)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    res = _Result()
    conns: List[socket.socket] = []
    try:
        listener.bind(path)
        os.chmod(path, 0o666)  # the guest's uid is not the host's
        listener.listen(4)

        def accept() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return  # shut down: the call is over
                conns.append(conn)
                # The driver sends the token at once; a connection that
                # holds back does not hold the transfer for long.
                conn.settimeout(1.0)
                try:
                    ours = _recv_exact(conn, len(token) + 1) == token.encode() + b"\n"
                except OSError:
                    ours = False
                if not ours:
                    conn.close()
                    continue  # not the driver
                try:
                    conn.settimeout(max(timeout_ms, 1000) / 1000.0)
                    work(conn, res)
                except OSError as exc:
                    res.error = "EIO: state transfer failed, %s" % (exc.strerror or exc)
                finally:
                    conn.close()
                return

        t = threading.Thread(target=accept, name="brig-transfer", daemon=True)
        t.start()
        out: Any = None
        failed: Optional[SandboxError] = None
        try:
            out = call(token)
        except SandboxError as exc:
            failed = exc
        finally:
            # Wake accept() if the driver never connected, and a transfer
            # the driver gave up on.
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            t.join(max(timeout_ms, 1000) / 1000.0)
            for c in conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            t.join()
        if res.error:
            # The host's own reason (a bound it enforced) is why the
            # driver saw its connection break.
            raise SandboxError(2, res.error)
        if failed is not None:
            raise failed
        return out, res
    finally:
        listener.close()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _recv_chunks(conn: socket.socket, limit: int, res: _Result) -> Iterator[bytes]:
    """conn's bytes to their end; past limit bytes they stop, with
    res.error."""
    size = 0
    while True:
        b = conn.recv(1 << 20)
        if not b:
            return
        size += len(b)
        if size > limit:
            res.error = "EFBIG: the sandbox's state exceeds %d bytes" % limit
            return
        yield b


def receive(host_dir: str, limit: int, timeout_ms: int,
            call: Callable[[str], Any]) -> "tuple[Any, bytes]":
    """call(token) makes the driver send bytes; returns call's result and
    the bytes.  More than limit bytes: SandboxError (EFBIG)."""

    def work(conn: socket.socket, res: _Result) -> None:
        chunks = list(_recv_chunks(conn, limit, res))
        if res.error is None:
            res.data = b"".join(chunks)

    out, res = _serve(host_dir, os.urandom(16).hex(), timeout_ms, work, call)
    _raise_for(out, res)
    if res.data is None:
        raise SandboxError(2, "EIO: the sandbox sent no state")
    return out, res.data


def send(host_dir: str, data: bytes, timeout_ms: int, call: Callable[[str], Any]) -> Any:
    """call(token) makes the driver read data; returns call's result."""

    def work(conn: socket.socket, res: _Result) -> None:
        conn.sendall(data)
        res.data = b""

    out, res = _serve(host_dir, os.urandom(16).hex(), timeout_ms, work, call)
    _raise_for(out, res)
    return out


def attach(host_dir: str, timeout_ms: int, call: Callable[[str], Any]) -> socket.socket:
    """A lasting connection from the driver (call(token) makes it
    connect): the host writes to it to cancel a running command."""
    held: List[socket.socket] = []

    def work(conn: socket.socket, res: _Result) -> None:
        held.append(conn.dup())
        res.data = b""

    _serve(host_dir, os.urandom(16).hex(), timeout_ms, work, call)
    if not held:
        raise SandboxError(2, "EIO: the sandbox's driver did not connect")
    return held[0]


def _raise_for(out: Any, res: _Result) -> None:
    if isinstance(out, dict) and "error" in out:
        raise SandboxError(out["error"]["code"], out["error"]["message"])
    if res.error:
        raise SandboxError(2, res.error)

"""Helpers of the brig serve tests: tokens, and bare requests over a unix socket or TCP.

A module of its own (not conftest) so that test modules import it by a
name no other test folder uses.
"""
import socket

SECRET_A = "alice-secret-0123456789abcdef"
SECRET_B = "bob-secret-0123456789abcdef012"
SECRET_C = "carol-secret-0123456789abcdef0"


def write_private(path, text):
    path.write_text(text)
    path.chmod(0o600)
    return str(path)


def unix_request(path, method, url, body=b""):
    """A bare HTTP/1.1 request over a unix socket; (status, body)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(path)
    s.sendall(("%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
               % (method, url, len(body))).encode() + body)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), rest


def raw_exchange(port, data, wait=10):
    """Send raw bytes; what comes back before the server closes (or wait ends)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=wait)
    s.sendall(data)
    out = b""
    try:
        while chunk := s.recv(65536):
            out += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    return out

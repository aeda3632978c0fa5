# Refused on purpose: the sandbox has no network, and raw sockets need a
# capability no guest has.  This program documents the error brig gives.
import socket

try:
    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    print("opened")
except PermissionError as e:
    print("PermissionError", e.errno)
try:
    socket.create_connection(("192.0.2.1", 80), timeout=2)
    print("connected")
except OSError as e:
    print(type(e).__name__, e.errno)

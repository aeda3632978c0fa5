"""Network egress: the jail has an empty network namespace with only a down `lo`."""
import select
import socket
import uuid

import pytest

from helpers import GUEST_PRELUDE, guest_json

SOCKET_PRELUDE = GUEST_PRELUDE + r'''
import socket
def tcp(family, addr):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect(addr)
    finally:
        s.close()
'''


def _no_connection_arrived(listener):
    listener.setblocking(False)
    ready, _, _ = select.select([listener], [], [], 0.2)
    if not ready:
        return True
    try:
        conn, _ = listener.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


@pytest.fixture
def tcp_listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield s
    s.close()


def test_cannot_connect_to_a_host_listener_on_loopback(tcp_listener):
    port = tcp_listener.getsockname()[1]
    # The listener works from the host, so a failure inside is the jail's doing.
    probe = socket.create_connection(("127.0.0.1", port), timeout=3)
    conn, _ = tcp_listener.accept()
    conn.close()
    probe.close()
    out = guest_json(SOCKET_PRELUDE + "print(json.dumps([attempt(lambda: tcp(socket.AF_INET, "
                     "('127.0.0.1', %d))) for _ in range(3)]))" % port)
    assert set(out) <= {"ENETUNREACH", "ECONNREFUSED"}, out
    assert _no_connection_arrived(tcp_listener)


def test_cannot_reach_host_listener_through_other_local_addresses(tcp_listener):
    port = tcp_listener.getsockname()[1]
    out = guest_json(SOCKET_PRELUDE + r'''
addrs = ["127.0.0.1", "127.1", "0.0.0.0", "127.0.1.1", "localhost"]
print(json.dumps([attempt(lambda a=a: tcp(socket.AF_INET, (a, PORT))) for a in addrs]))
'''.replace("PORT", str(port)))
    assert set(out) <= {"ENETUNREACH", "ECONNREFUSED", "EADDRNOTAVAIL"}, out
    assert _no_connection_arrived(tcp_listener)


def test_cannot_reach_a_host_ipv6_listener():
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
    except OSError:
        pytest.skip("the host has no ::1 to listen on")
    s.listen(4)
    try:
        port = s.getsockname()[1]
        out = guest_json(SOCKET_PRELUDE + "print(json.dumps(attempt(lambda: tcp(socket.AF_INET6,"
                         " ('::1', %d)))))" % port)
        assert out in ("ENETUNREACH", "ECONNREFUSED", "EADDRNOTAVAIL"), out
        assert _no_connection_arrived(s)
    finally:
        s.close()


def test_udp_datagrams_do_not_reach_the_host():
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    port = rx.getsockname()[1]
    try:
        out = guest_json(SOCKET_PRELUDE + r'''
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print(json.dumps([attempt(lambda: s.sendto(b"leak", ("127.0.0.1", PORT))) for _ in range(3)]))
'''.replace("PORT", str(port)))
        assert set(out) <= {"ENETUNREACH", "ECONNREFUSED"}, out
        rx.setblocking(False)
        ready, _, _ = select.select([rx], [], [], 0.2)
        assert ready == []
    finally:
        rx.close()


@pytest.mark.parametrize("addr", [("1.1.1.1", 53), ("8.8.8.8", 443), ("169.254.169.254", 80),
                                  ("10.0.0.1", 22)])
def test_no_route_to_the_outside(addr):
    out = guest_json(SOCKET_PRELUDE + "print(json.dumps(attempt(lambda: tcp(socket.AF_INET, "
                     "%r))))" % (addr,))
    assert out == "ENETUNREACH"


def test_no_route_over_ipv6():
    out = guest_json(SOCKET_PRELUDE + "print(json.dumps(attempt(lambda: tcp(socket.AF_INET6,"
                     " ('2606:4700:4700::1111', 53)))))")
    assert out in ("ENETUNREACH", "EADDRNOTAVAIL")


def test_dns_resolution_fails():
    out = guest_json(SOCKET_PRELUDE + r'''
r = [attempt(lambda: socket.getaddrinfo("example.com", 80)),
     attempt(lambda: socket.gethostbyname("deb.debian.org")),
     open("/etc/resolv.conf").read()]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.append(attempt(lambda: s.sendto(b"\x00" * 12, ("8.8.8.8", 53))))
print(json.dumps(r))
''')
    assert out == ["gaierror", "gaierror", "", "ENETUNREACH"]


def test_shell_network_tools_fail():
    out = guest_json(r'''
import json, subprocess
r = subprocess.run(["sh", "-c", "getent hosts example.com; echo rc=$?"], capture_output=True,
                   text=True)
print(json.dumps(r.stdout))
''')
    assert out.strip() == "rc=2"


RAW_SOCKETS = [
    ("AF_INET", "SOCK_RAW", 1),        # ICMP
    ("AF_INET", "SOCK_RAW", 255),      # IPPROTO_RAW
    ("AF_INET", "SOCK_RAW", 6),        # raw TCP
    ("AF_INET6", "SOCK_RAW", 58),      # ICMPv6
    ("AF_PACKET", "SOCK_RAW", 0x0300), # ETH_P_ALL, network byte order
    ("AF_PACKET", "SOCK_DGRAM", 0x0008),
    ("AF_INET", "10", 0x0300),         # SOCK_PACKET, the obsolete packet interface
]


@pytest.mark.parametrize("family,kind,proto", RAW_SOCKETS,
                         ids=["%s-%s-%d" % r for r in RAW_SOCKETS])
def test_raw_and_packet_sockets_are_refused(family, kind, proto):
    kind = kind if kind.isdigit() else "socket." + kind
    out = guest_json(SOCKET_PRELUDE + "print(json.dumps(attempt(lambda: socket.socket("
                     "socket.%s, %s, %d))))" % (family, kind, proto))
    assert out in ("EPERM", "EACCES", "EAFNOSUPPORT"), out


def test_raw_socket_refused_with_type_flags():
    out = guest_json(SOCKET_PRELUDE + "print(json.dumps(attempt(lambda: socket.socket("
                     "socket.AF_INET, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,"
                     " 1))))")
    assert out in ("EPERM", "EACCES"), out


OTHER_FAMILIES = [
    ("AF_INET", "SOCK_DGRAM", 1),   # unprivileged ICMP "ping" socket
    ("AF_NETLINK", "SOCK_RAW", 9),  # NETLINK_AUDIT
    ("AF_NETLINK", "SOCK_RAW", 15), # NETLINK_KOBJECT_UEVENT
    ("AF_NETLINK", "SOCK_RAW", 12), # NETLINK_NETFILTER
    ("AF_VSOCK", "SOCK_STREAM", 0),
    ("AF_ALG", "SOCK_SEQPACKET", 0),
    ("AF_BLUETOOTH", "SOCK_RAW", 1),
    ("AF_CAN", "SOCK_RAW", 1),
    ("AF_RDS", "SOCK_SEQPACKET", 0),
    ("AF_TIPC", "SOCK_RDM", 0),
]


@pytest.mark.parametrize("family,kind,proto", OTHER_FAMILIES,
                         ids=["%s-%s-%d" % r for r in OTHER_FAMILIES])
def test_unneeded_socket_families_are_refused(family, kind, proto):
    out = guest_json(SOCKET_PRELUDE + r'''
fam = getattr(socket, FAMILY, None)
mk = lambda: socket.socket(fam, socket.KIND, PROTO)
print(json.dumps("absent" if fam is None else attempt(mk)))
'''.replace("FAMILY", repr(family)).replace("KIND", kind).replace("PROTO", str(proto)))
    if out == "absent":
        pytest.skip("this Python does not define socket.%s" % family)
    assert out in ("EPERM", "EACCES", "EAFNOSUPPORT", "ENOSYS", "EPROTONOSUPPORT"), out


def test_only_loopback_exists_and_it_is_down():
    out = guest_json(SOCKET_PRELUDE + r'''
import fcntl, struct
names = [n for _, n in socket.if_nameindex()]
dev = [l.split(":")[0].strip() for l in open("/proc/net/dev").read().splitlines()[2:]]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH", b"lo", 0)))[1]
up = attempt(lambda: fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", flags | 1)))
print(json.dumps([names, dev, flags & 1, up]))
''')
    names, dev, is_up, set_up = out
    assert names == ["lo"] and dev == ["lo"]
    assert is_up == 0
    # Bringing lo up (SIOCSIFFLAGS) needs CAP_NET_ADMIN, which the guest lacks.
    assert set_up == "EPERM"


def test_host_abstract_unix_socket_is_unreachable():
    name = "\0brig-test-" + uuid.uuid4().hex
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(name)
    srv.listen(4)
    try:
        out = guest_json(SOCKET_PRELUDE + r'''
def unix():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect(NAME)
print(json.dumps(attempt(unix)))
'''.replace("NAME", repr(name)))
        assert out == "ECONNREFUSED"
        assert _no_connection_arrived(srv)
    finally:
        srv.close()


def test_host_unix_sockets_are_not_in_the_jail():
    out = guest_json(r'''
import json, os
paths = ["/run", "/var/run", "/tmp/.X11-unix", "/run/dbus/system_bus_socket",
         "/run/systemd/private", "/var/run/docker.sock"]
unix = open("/proc/net/unix").read().splitlines()[1:]
print(json.dumps([[p for p in paths if os.path.lexists(p)], unix]))
''')
    present, table = out
    assert present == []
    # /proc/net/unix is per network namespace: only the jail's own sockets
    # (the protocol channel) may show up, never the host's.
    assert len(table) <= 4, table


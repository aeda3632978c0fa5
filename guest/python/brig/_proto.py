"""The guest end of the control protocol (docs/PROTOCOL.md) on fd 3.

Only builtin modules are imported up front: every run pays for what is
imported here, so json and asyncio are loaded on first use.
"""
import posix

FD = 3
RUN, CALL, REPLY, EVENT, REQ, DONE = 1, 2, 3, 4, 5, 6

def _host_error(base):
    """base, and RuntimeError too: goru raises every host-call failure as
    RuntimeError, so code written for it catches ours; tracebacks still
    name the precise builtin type."""
    cls = type(base.__name__, (base, RuntimeError), {"__module__": "builtins"})
    cls.__qualname__ = base.__qualname__
    return cls


_ERRORS = {
    cls.__name__: _host_error(cls)
    for cls in (PermissionError, FileNotFoundError, IsADirectoryError, NotADirectoryError,
                FileExistsError, ValueError, TimeoutError, OSError, MemoryError, KeyError)
}


# What every value crossing to the host must fit (docs/PROTOCOL.md, "Values"):
# the host's JSON holds 64-bit integers, and parses at most 2048 levels.
MAX_DEPTH = 512
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 63) - 1
# Room left in a frame for the header and the answer around a session's result.
_FRAME_SLACK = 64


def _u32(n):
    return n.to_bytes(4, "little")


def _too_deep():
    return ValueError("value nested more than %d levels deep" % MAX_DEPTH)


def _check_int(v):
    if not _INT_MIN <= v <= _INT_MAX:
        raise ValueError("integer out of range for the host (-2**63 .. 2**63-1): %d bits"
                         % v.bit_length())


def _check_key(k):
    if not isinstance(k, str):
        raise TypeError("keys must be str, not %s" % type(k).__name__)
    if "\0" in k:
        raise ValueError("keys must not contain NUL")


def check(value, limit=MAX_DEPTH):
    """Refuse what JSON would change or the host could not read.

    json.dumps turns int, float, bool and None keys into strings; the host
    holds neither integers beyond 64 bits nor NUL in keys; and nesting is
    bounded.  Iterative, so that no depth makes it recurse.
    """
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        t = type(v)
        if t is int:
            _check_int(v)
            continue
        if t is str or t is float or t is bool or v is None:
            continue
        if t is dict or t is list or t is tuple or isinstance(v, (dict, list, tuple)):
            if depth > limit:
                raise _too_deep()
            if isinstance(v, dict):
                for k in v:
                    _check_key(k)
                items = v.values()
            else:
                items = v
            for x in items:
                tx = type(x)
                if tx is str or tx is float or tx is bool or x is None:
                    continue
                if tx is int:
                    _check_int(x)
                else:
                    stack.append((x, depth + 1))
        elif isinstance(v, int):
            _check_int(v)
        # Anything else: json.dumps raises TypeError.


def encode(value, limit=MAX_DEPTH):
    """The UTF-8 JSON of value, exactly as the host will read it back.

    NaN and infinities raise ValueError; a lone surrogate, which UTF-8
    cannot carry, raises UnicodeEncodeError (a ValueError).
    """
    import json

    check(value, limit)
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")


def _plain(v):
    """What the agent itself sends (answers, events) is never refused: lone
    surrogates become U+FFFD, and NUL, which the host's C strings cannot
    hold, becomes the two characters \\0."""
    if isinstance(v, str):
        v = v.replace("\0", "\\0")
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            import re

            v = re.sub("[\ud800-\udfff]", "\ufffd", v)
        return v
    if isinstance(v, dict):
        return {_plain(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


class Channel:
    def __init__(self, fd=FD):
        self.fd = fd
        self.buf = bytearray()
        self.next_id = 1
        self.done = {}  # id -> (json, blob) that arrived while waiting for another
        self.futures = {}  # id -> asyncio future
        self.loop = None
        self.max_frame = None  # the host's bound on a frame, once it said
        self.nonblocking = False

    # ---- framing
    #
    # From the first write on, the fd is non-blocking and stays so: its file
    # description is shared with snapshot holders and the guests restored
    # from them, so it must never be left half-switched by a guest killed
    # mid-write.  Reads then wait with poll.  A write that would block reads
    # replies meanwhile: the host stops reading calls while our unread
    # replies fill its budget, and both sides would otherwise wait for each
    # other.  Until the first write (a run's start), reads simply block.
    def _ready(self):
        if not self.nonblocking:
            posix.set_blocking(self.fd, False)
            self.nonblocking = True

    def _poll(self, events):
        import select

        poller = select.poll()
        poller.register(self.fd, events)
        return [ev for _, ev in poller.poll()]

    def _read_some(self):
        """Append what the socket holds; False when it holds nothing yet."""
        try:
            chunk = posix.read(self.fd, 1 << 16)
        except BlockingIOError:
            return False
        if not chunk:
            raise ConnectionError("brig host closed the control channel")
        self.buf += chunk
        return True

    def _fill(self):
        import select

        while not self._read_some():
            self._poll(select.POLLIN)

    def _take_frame(self):
        if len(self.buf) < 4:
            return None
        n = int.from_bytes(self.buf[:4], "little")
        if len(self.buf) < 4 + n:
            return None
        ftype = self.buf[4]
        body = bytes(self.buf[5 : 4 + n])
        del self.buf[: 4 + n]
        return ftype, body

    def read_frame(self):
        while True:
            frame = self._take_frame()
            if frame:
                return frame
            self._fill()

    def _write(self, data):
        self._ready()
        view = memoryview(data)
        while view:
            try:
                view = view[posix.write(self.fd, view):]
            except BlockingIOError:
                self._read_while_blocked()

    def _read_while_blocked(self):
        import select

        if not any(ev & (select.POLLIN | select.POLLHUP)
                   for ev in self._poll(select.POLLIN | select.POLLOUT)):
            return
        if self._read_some():
            self._take_replies()

    def _take_replies(self):
        # Replies are taken now; anything else waits in the buffer for its reader.
        while len(self.buf) >= 5 and self.buf[4] == REPLY:
            frame = self._take_frame()
            if not frame:
                return
            self._accept(frame[1])

    def send_frame(self, ftype, *parts):
        size = 1 + sum(len(p) for p in parts)
        self._write(b"".join((_u32(size), bytes((ftype,))) + parts))

    # ---- calls
    def check_frame(self, size):
        """A frame the host would refuse as a protocol violation raises here instead."""
        if self.max_frame is not None and size > self.max_frame:
            raise ValueError("host call of %d bytes exceeds the frame limit of %d bytes"
                             % (size, self.max_frame))

    def _send_call(self, fn, args, blob):
        # The envelope and args take two levels of the host's depth budget.
        text = b'{"fn":%s,"args":%s}' % (encode(fn), encode(args, MAX_DEPTH + 1))
        blob = blob or b""
        self.check_frame(9 + len(text) + len(blob))
        cid = self.next_id
        self.next_id += 1
        self.send_frame(CALL, _u32(cid), _u32(len(text)), text, blob)
        return cid

    def _accept(self, body):
        cid, msg, blob = parse_msg(body)
        fut = self.futures.pop(cid, None)
        if fut is None:
            self.done[cid] = (msg, blob)
        elif not fut.done():
            try:
                fut.set_result(_result(msg, blob))
            except BaseException as exc:  # the host's error, raised in the awaiting task
                fut.set_exception(exc)
        self._update_reader()

    def _pump(self):
        ftype, body = self.read_frame()
        if ftype != REPLY:
            raise ConnectionError("unexpected frame type %d from brig host" % ftype)
        self._accept(body)

    def call(self, fn, args, blob=None):
        """Blocking call: returns (value, blob) or raises the host's error."""
        cid = self._send_call(fn, args, blob)
        while cid not in self.done:
            self._pump()
        msg, rblob = self.done.pop(cid)
        # The read that brought this reply may have brought replies to
        # pipelined calls too; the fd will not signal them again.
        if self.futures and self.buf and self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon(self._take_replies)
        return _result(msg, rblob)

    async def acall(self, fn, args, blob=None):
        """Pipelined call: concurrent acalls cross to the host together."""
        import asyncio

        loop = asyncio.get_running_loop()
        cid = self._send_call(fn, args, blob)
        fut = loop.create_future()
        self.futures[cid] = fut
        self.loop = loop
        self._update_reader()
        return await fut

    def _on_readable(self):
        if self._read_some():
            self._take_replies()

    def _update_reader(self):
        if self.loop is None or self.loop.is_closed():
            return
        if self.futures:
            self.loop.add_reader(self.fd, self._on_readable)
        else:
            self.loop.remove_reader(self.fd)

    def send_msg(self, ftype, cid, value, blob=b""):
        self._write(self.msg_frame(ftype, cid, value, blob))

    def msg_frame(self, ftype, cid, value, blob=b""):
        import json

        text = json.dumps(_plain(value), ensure_ascii=False, separators=(",", ":")).encode()
        parts = (_u32(cid), _u32(len(text)), text, blob or b"")
        size = 1 + sum(len(p) for p in parts)
        return b"".join((_u32(size), bytes((ftype,))) + parts)

    def encode_result(self, value):
        """A session handler's result: encoded, and small enough for its answer."""
        out = encode(value)
        self.check_frame(9 + _FRAME_SLACK + len(out))
        return out

    def resync(self, token):
        """Skip everything up to token: what a killed guest left unread."""
        while True:
            at = self.buf.find(token)
            if at >= 0:
                del self.buf[: at + len(token)]
                return
            # Keep a tail in case the token straddles two reads.
            del self.buf[: max(0, len(self.buf) - len(token))]
            self._fill()

    def event(self, **fields):
        import json

        self.send_frame(EVENT, json.dumps(_plain(fields), ensure_ascii=False).encode())


def parse_msg(body):
    """A CALL/REPLY/REQ/DONE body: (id, json value, blob)."""
    import json

    cid = int.from_bytes(body[:4], "little")
    jlen = int.from_bytes(body[4:8], "little")
    return cid, json.loads(body[8 : 8 + jlen]), body[8 + jlen :]


def _result(msg, blob):
    if "error" in msg:
        err = msg["error"]
        raise _ERRORS.get(err.get("type"), RuntimeError)(err.get("message", "host error"))
    return msg.get("ok"), blob


channel = Channel()

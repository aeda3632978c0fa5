"""Random Python values for the guest-value properties, and what to expect of them.

This file runs twice: imported by the tests on the host, and as source text
inside the sandbox, where the guest generates the same values from the same
seed (most of them cannot travel as JSON to get there).  So it imports only
the standard library.

The rules it predicts (docs/PROTOCOL.md, "Values"): a value reaches the
host and comes back exactly, or the guest raises ValueError or TypeError
before anything is sent.
  - integers within -2**63 .. 2**63-1; beyond: ValueError
  - floats that are finite; NaN and infinities: ValueError
  - any string of Unicode scalar values (NUL and noncharacters included);
    a lone surrogate: ValueError (UnicodeEncodeError)
  - dict keys that are str without NUL: others TypeError / ValueError
  - at most MAX_DEPTH levels of lists and dicts: ValueError
  - tuples come back as lists
"""
import math
import random
import struct

MAX_DEPTH = 512
INT_MIN, INT_MAX = -(1 << 63), (1 << 63) - 1

# Code points by kind: (weight, low, high).
_CODE_POINTS = [
    (30, 0x20, 0x7E),  # printable ASCII
    (6, 0x00, 0x1F),  # C0 controls, NUL, tab, newline
    (3, 0x7F, 0x9F),  # DEL and C1 controls
    (6, 0xA0, 0x2FF),  # Latin
    (8, 0x300, 0xD7FF),  # the rest of the BMP before the surrogates
    (4, 0xE000, 0xFFFD),  # private use and after
    (3, 0xFDD0, 0xFDEF),  # noncharacters
    (2, 0xFFFE, 0xFFFF),  # noncharacters
    (8, 0x10000, 0x10FFFF),  # beyond the BMP
    (2, 0x1F600, 0x1F64F),  # emoji
    (2, 0x2028, 0x2029),  # JS line separators
    (2, 0xFEFF, 0xFEFF),  # byte order mark
    (2, 0x22, 0x22),  # quote
    (2, 0x5C, 0x5C),  # backslash
]
_SPECIAL_CODE_POINTS = [0x10FFFE, 0x10FFFF, 0x1FFFE, 0xFFFF, 0x0, 0x7F]

_FLOATS = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 2.225073858507201e-308,
           1.7976931348623157e308, -1.7976931348623157e308, 0.1, 1e-300, 1e300, 1.5,
           2.0 ** 53, 2.0 ** 63, -(2.0 ** 63), 2.0 ** 64, 123456789.123456789, 1e21, 1e-7]
_BAD_FLOATS = [math.nan, math.inf, -math.inf]
_INTS = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 1,
         -(2 ** 53) - 1, INT_MAX, INT_MIN, INT_MAX - 1, INT_MIN + 1, 10 ** 18]
_BAD_INTS = [INT_MAX + 1, INT_MIN - 1, 2 ** 64, -(2 ** 64), 10 ** 30, -(10 ** 300), 2 ** 1000]


class Gen:
    """Values from one seed.  bad: how often (0..1) to put in a defect."""

    def __init__(self, seed, bad=0.08, long_lists=True):
        self.r = random.Random(seed)
        self.bad = bad
        self.long_lists = long_lists

    def chance(self, p):
        return self.r.random() < p

    # ---- scalars
    def code_point(self, surrogates=True):
        r = self.r
        if surrogates and self.chance(self.bad / 4):
            return r.randint(0xD800, 0xDFFF)
        if self.chance(0.05):
            return r.choice(_SPECIAL_CODE_POINTS)
        total = sum(w for w, _, _ in _CODE_POINTS)
        pick = r.uniform(0, total)
        for w, lo, hi in _CODE_POINTS:
            pick -= w
            if pick <= 0:
                return r.randint(lo, hi)
        return 0x41

    def string(self, n=None, surrogates=True):
        if n is None:
            n = self.r.choice([0, 1, 2, 3, 5, 8, 13, 40, 200])
        return "".join(chr(self.code_point(surrogates)) for _ in range(n))

    def integer(self):
        r = self.r
        if self.chance(self.bad):
            return r.choice(_BAD_INTS)
        if self.chance(0.5):
            return r.choice(_INTS)
        return r.randint(INT_MIN, INT_MAX) >> r.randint(0, 63)

    def floating(self):
        r = self.r
        if self.chance(self.bad):
            return r.choice(_BAD_FLOATS)
        if self.chance(0.4):
            return r.choice(_FLOATS)
        while True:  # any finite double, subnormals included
            f = struct.unpack("<d", r.getrandbits(64).to_bytes(8, "little"))[0]
            if math.isfinite(f):
                return f

    def scalar(self):
        kind = self.r.randrange(7)
        if kind == 0:
            return self.r.choice([None, True, False])
        if kind in (1, 2):
            return self.integer()
        if kind == 3:
            return self.floating()
        return self.string()

    # ---- containers
    def key(self):
        r = self.r
        if self.chance(self.bad / 2):
            return r.choice([1, 2.5, True, None, (1, 2), -0.0])
        if self.chance(self.bad / 4):
            return "k\0" + self.string(3, surrogates=False)
        return self.string(r.choice([0, 1, 4, 12]))

    def value(self, depth=0):
        r = self.r
        if depth >= 6 or self.chance(0.45):
            return self.scalar()
        kind = r.randrange(10)
        if kind == 0 and self.long_lists and depth < 2:
            return [self.scalar() for _ in range(r.randint(500, 3000))]
        if kind == 1:
            return self.deep()
        if kind in (2, 3, 4):
            return [self.value(depth + 1) for _ in range(r.randint(0, 6))]
        if kind == 5:
            return tuple(self.value(depth + 1) for _ in range(r.randint(0, 4)))
        return {self.key(): self.value(depth + 1) for _ in range(r.randint(0, 6))}

    def deep(self):
        """A chain of lists and dicts, mostly within MAX_DEPTH, sometimes beyond."""
        r = self.r
        if self.chance(self.bad * 2):
            n = r.choice([MAX_DEPTH + 1, MAX_DEPTH + 2, 600, 2000, 5000])
        else:
            n = r.choice([1, 2, 10, 100, 300, MAX_DEPTH - 2, MAX_DEPTH - 1])
        v = self.scalar()
        for _ in range(n):
            v = [v] if self.chance(0.5) else {"d": v}
        return v


# ---- what to expect
def defects(value, depth_limit=MAX_DEPTH):
    """The exception types value must raise ({} if it must round-trip)."""
    found = set()
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, int):
            if not INT_MIN <= v <= INT_MAX:
                found.add(ValueError)
        elif isinstance(v, float):
            if not math.isfinite(v):
                found.add(ValueError)
        elif isinstance(v, str):
            if any(0xD800 <= ord(c) <= 0xDFFF for c in v):
                found.add(ValueError)
        elif isinstance(v, (list, tuple, dict)):
            if depth > depth_limit:
                found.add(ValueError)
                continue
            if isinstance(v, dict):
                for k, x in v.items():
                    if not isinstance(k, str):
                        found.add(TypeError)
                    else:
                        stack.append((k, depth + 1))
                        if "\0" in k:
                            found.add(ValueError)
                    stack.append((x, depth + 1))
            else:
                stack.extend((x, depth + 1) for x in v)
    return found


def same(a, b):
    """Exact equality as JSON sees it: -0.0 is not 0.0, 1 is not 1.0 nor True,
    and a tuple becomes a list.  Iterative, for deep values."""
    stack = [(a, b)]
    while stack:
        a, b = stack.pop()
        if isinstance(a, bool) or a is None:
            if a is not b:
                return False
        elif isinstance(a, int):
            if type(b) is not int or a != b:
                return False
        elif isinstance(a, float):
            if type(b) is not float or a != b or math.copysign(1, a) != math.copysign(1, b):
                return False
        elif isinstance(a, str):
            if type(b) is not str or a != b:
                return False
        elif isinstance(a, (list, tuple)):
            if type(b) is not list or len(a) != len(b):
                return False
            stack.extend(zip(a, b))
        elif isinstance(a, dict):
            if type(b) is not dict or a.keys() != b.keys():
                return False
            stack.extend((a[k], b[k]) for k in a)
        else:
            return False
    return True


def short(v, n=160):
    """A repr for failure messages that never blows up on deep values."""
    try:
        text = repr(v)
    except RecursionError:
        text = "<%s nested too deep to show>" % type(v).__name__
    return text if len(text) <= n else text[:n] + "..."

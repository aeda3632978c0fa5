# The guest half of the Python value properties: runs inside the sandbox
# after pyvalues.py (same module), drives every host function with generated
# values and prints one JSON report as its last line.  The test on the host
# asserts on the report, and that the run itself ended cleanly.
import json
import sys

try:
    from brig import call, async_call, run_async, kv, fs, http
except ImportError:  # the agent has already put them in __main__
    pass

# Parameter names of the guest API itself: as keyword arguments of call()
# they are data, and must reach the host unchanged.
API_NAMES = ["name", "args", "kwargs", "fn", "self", "key", "value", "default", "path", "url",
             "headers", "body", "method", "data", "text", "indent", "aws", "v"]
CLEAN = (ValueError, TypeError)


class Report:
    def __init__(self):
        self.counts = {}
        self.failures = []

    def count(self, what):
        self.counts[what] = self.counts.get(what, 0) + 1

    def fail(self, api, value, why):
        if len(self.failures) < 20:
            self.failures.append("%s: %s: %s" % (api, why, short(value)))
        self.count(api + ":FAILED")

    def outcome(self, api, value, want, got=None, exc=None, compare=None):
        """Record one try: want is the set of exception types it must raise."""
        if exc is not None:
            if not want:
                self.fail(api, value, "raised %s: %s" % (type(exc).__name__, short(str(exc))))
            elif not isinstance(exc, tuple(want)):
                self.fail(api, value, "raised %s, expected %s" % (
                    type(exc).__name__, "/".join(sorted(w.__name__ for w in want))))
            else:
                self.count(api + ":raised")
            return
        if want:
            self.fail(api, value, "did not raise %s" % sorted(w.__name__ for w in want))
        elif not (compare or same)(value, got):
            self.fail(api, value, "came back as %s" % short(got))
        else:
            self.count(api + ":exact")


def try_call(fn, *args):
    try:
        return fn(*args), None
    except CLEAN as exc:
        return None, exc
    except Exception as exc:  # anything else is a failure the report shows
        return None, exc


def prop_call(rep, gen, n):
    for i in range(n):
        v = gen.value()
        kw = API_NAMES[i % len(API_NAMES)]
        got, exc = try_call(lambda: call("echo", **{kw: v}))
        rep.outcome("call", v, defects({kw: v}), got and got.get(kw), exc)


def prop_call_many_names(rep, gen, n):
    """Every API parameter name at once, each with its own value."""
    for _ in range(n):
        args = {k: gen.scalar() for k in API_NAMES}
        got, exc = try_call(lambda: call("echo", **args))
        rep.outcome("call(names)", args, defects(args), got, exc)


def prop_async_call(rep, gen, batches, size):
    async def one(v):
        try:
            return (await async_call("echo", v=v))["v"], None
        except BaseException as exc:
            return None, exc

    for _ in range(batches):
        values = [gen.value() for _ in range(size)]
        results = run_async(*[one(v) for v in values])
        for v, (got, exc) in zip(values, results):
            rep.outcome("async_call", v, defects({"v": v}), got, exc)


def prop_kv_values(rep, gen, n):
    for i in range(n):
        v = gen.value()
        key = "v%d" % (i % 40)
        want = defects(v)

        def roundtrip():
            kv.set(key, v)
            return kv.get(key, "<missing>")

        got, exc = try_call(roundtrip)
        rep.outcome("kv.set/get", v, want, got, exc)


def prop_kv_async(rep, gen, n):
    async def roundtrip(key, v):
        try:
            await kv.async_set(key, v)
            return await kv.async_get(key, "<missing>"), None
        except BaseException as exc:
            return None, exc

    values = [gen.value() for _ in range(n)]
    results = run_async(*[roundtrip("a%d" % i, v) for i, v in enumerate(values)])
    for v, (got, exc) in zip(values, results):
        rep.outcome("kv.async", v, defects(v), got, exc)
    for i in range(n):
        kv.delete("a%d" % i)


def prop_kv_keys(rep, gen, n, max_key_bytes=256):
    """Keys: valid ones work everywhere; an invalid one raises on every operation."""
    for i in range(n):
        if gen.chance(0.3):  # around the length limit, in bytes not characters
            key = gen.string(gen.r.choice([60, 64, 85, 86, 128, 255, 256, 257, 300]),
                             surrogates=False)
        else:
            key = gen.string()
        bad = set(defects(key))
        if not bad and ("\0" in key or not key or len(key.encode()) > max_key_bytes):
            bad = {ValueError}
        for op in ("set", "get", "delete"):
            fn = {"set": lambda: kv.set(key, i), "get": lambda: kv.get(key, "<missing>"),
                  "delete": lambda: kv.delete(key)}[op]
            got, exc = try_call(fn)
            expect = {"set": None, "get": i, "delete": True}[op]
            rep.outcome("kv.%s(key)" % op, key, bad, got, exc,
                        compare=lambda k, g, e=expect: g == e)
            if exc is None and op == "set" and key not in kv.keys():
                rep.fail("kv.keys", key, "stored key not listed")


def prop_fs_bytes(rep, gen, n):
    for i in range(n):
        size = gen.r.choice([0, 1, 2, 255, 4096, 65537, 1 << 20])
        data = gen.r.getrandbits(8 * size).to_bytes(size, "little") if size else b""

        def roundtrip():
            fs.write_bytes("/m/b%d" % (i % 8), data)
            return fs.read_bytes("/m/b%d" % (i % 8))

        got, exc = try_call(roundtrip)
        rep.outcome("fs.bytes", data, set(), got, exc, compare=lambda a, b: a == b)


def prop_fs_text(rep, gen, n):
    for i in range(n):
        text = gen.string(gen.r.choice([0, 1, 10, 100, 3000]))

        def roundtrip():
            fs.write_text("/m/t%d" % (i % 8), text)
            return fs.read_text("/m/t%d" % (i % 8))

        got, exc = try_call(roundtrip)
        rep.outcome("fs.text", text, defects(text), got, exc)


def plain_name(name):
    return (name not in ("", ".", "..") and "/" not in name and "\0" not in name
            and not defects(name) and len(name.encode()) <= 255)


def prop_fs_names(rep, gen, n):
    """Any file name: a plain one works; any other fails cleanly, or works."""
    for _ in range(n):
        name = gen.string(gen.r.choice([1, 3, 8, 40, 100]))
        path = "/m/names/" + name

        def roundtrip():
            fs.write_bytes(path, name.encode("utf-8", "surrogatepass"))
            return fs.read_bytes(path)

        try:
            got = roundtrip()
        except (ValueError, TypeError, OSError) as exc:
            if plain_name(name):
                rep.fail("fs.names", name, "raised %s: %s" % (type(exc).__name__, exc))
            else:
                rep.count("fs.names:raised")
            continue
        except Exception as exc:
            rep.fail("fs.names", name, "raised %s: %s" % (type(exc).__name__, exc))
            continue
        if got != name.encode("utf-8", "surrogatepass"):
            rep.fail("fs.names", name, "read back %r" % got[:40])
        else:
            rep.count("fs.names:exact")
        if plain_name(name) and name not in [e["name"] for e in fs.listdir("/m/names")]:
            rep.fail("fs.listdir", name, "not listed")


def header_value(gen):
    kind = gen.r.randrange(4)
    if kind == 0:  # control characters: refused
        return gen.string(4, surrogates=False) + gen.r.choice(["\r\n", "\n", "\0", "\x01"]), False
    if kind == 1:  # anything at all: refused or sent, never fatal
        return gen.string(6), None
    value = "".join(chr(gen.r.randint(0x21, 0x7E)) for _ in range(gen.r.randint(1, 30)))
    return value, True


def prop_http(rep, gen, base, n):
    for i in range(n):
        size = gen.r.choice([0, 1, 100, 70000])
        body = gen.r.getrandbits(8 * size).to_bytes(size, "little") if size else b""
        hv, exact = header_value(gen)
        got, exc = try_call(lambda: http.post(base + "/echo", body=body, headers={"X-Prop": hv}))
        if exc is not None:
            if exact or not isinstance(exc, CLEAN):
                rep.fail("http", hv, "raised %s: %s" % (type(exc).__name__, exc))
            else:
                rep.count("http:raised")
            continue
        if exact is False:
            rep.fail("http", hv, "sent a header with a control character")
            continue
        doc = got.json()
        if bytes.fromhex(doc["body_hex"]) != body:
            rep.fail("http", body[:20], "body changed")
        elif exact and doc["headers"].get("x-prop") != hv:
            rep.fail("http", hv, "header came back as %r" % doc["headers"].get("x-prop"))
        else:
            rep.count("http:exact")
    # Header names, and headers that are not a str -> str dict.
    for headers in ({"X A": "1"}, {"X:A": "1"}, {"": "1"}, {"X-\0": "1"}, {1: "1"},
                    {"X-A": 1}, {"X-A": None}, {"X-\ud800": "1"}, {"X-A": "\ud800"}):
        got, exc = try_call(lambda: http.get(base + "/echo", headers=headers))
        rep.outcome("http(headers)", headers, {ValueError, TypeError}, got, exc)


def prop_nesting(rep):
    """Exactly at the limit round-trips; one more level raises, whatever the shape."""
    for depth, want in ((MAX_DEPTH - 1, set()), (MAX_DEPTH, {ValueError}),
                        (MAX_DEPTH + 1, {ValueError}), (100000, {ValueError})):
        v = 0
        for k in range(depth):
            v = [v] if k % 2 else {"k": v}
        # The kwargs object is the first level.
        got, exc = try_call(lambda: call("echo", v=v))
        rep.outcome("nesting(%d)" % depth, v, want, got and got.get("v"), exc)
        got, exc = try_call(lambda: (kv.set("deep", [v]), kv.get("deep"))[1])
        rep.outcome("kv nesting(%d)" % depth, [v], want, got, exc)
    cyclic = []
    cyclic.append(cyclic)
    got, exc = try_call(lambda: call("echo", v=cyclic))
    rep.outcome("cycle", "[[...]]", {ValueError}, got, exc, compare=lambda a, b: False)


def prop_frame(rep, max_frame):
    """A call too big for one frame raises; the run goes on."""
    big = "x" * max_frame
    for api, fn in (("call", lambda: call("echo", v=big)),
                    ("fs.write", lambda: fs.write_bytes("/m/big", big.encode())),
                    ("kv.set", lambda: kv.set("big", big)),
                    ("http", lambda: http.post("http://127.0.0.1:9/", body=big))):
        got, exc = try_call(fn)
        rep.outcome("frame:" + api, "<%d bytes>" % max_frame, {ValueError}, got, exc)
    got, exc = try_call(lambda: call("echo", v="still alive"))
    rep.outcome("after frame", "still alive", set(), got and got["v"], exc)


def main(seed, apis, base=None, max_frame=None):
    rep = Report()
    gen = Gen(seed)
    small = Gen(seed + 1, long_lists=False)
    for api in apis:
        if api == "call":
            prop_call(rep, gen, 150)
            prop_call_many_names(rep, Gen(seed + 2, bad=0.01), 20)
            prop_nesting(rep)
        elif api == "async_call":
            prop_async_call(rep, gen, 6, 25)
        elif api == "kv":
            prop_kv_values(rep, small, 120)
            prop_kv_async(rep, small, 25)
            prop_kv_keys(rep, small, 80)
        elif api == "fs":
            prop_fs_bytes(rep, gen, 12)
            prop_fs_text(rep, gen, 40)
            fs.mkdir("/m/names")
            prop_fs_names(rep, gen, 60)
        elif api == "http":
            prop_http(rep, gen, base, 25)
        elif api == "frame":
            prop_frame(rep, max_frame)
    sys.stdout.write("\n" + json.dumps({"counts": rep.counts, "failures": rep.failures}) + "\n")

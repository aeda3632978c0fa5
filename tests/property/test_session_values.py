"""Session handlers' events and results, and the host calls handlers make:
a value round-trips exactly or fails that one call cleanly; the session is
never killed nor poisoned because of a value.

Driven through the C API by build/tests/session_values (tests/capi/
session_values.c): the embedder sends events as JSON text and reads results
as JSON text.
"""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import propkit
import pyvalues
from helpers import BRIG_BIN

# Events nest up to 5000 levels; json.dumps recurses on them here.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))

DRIVER = Path(BRIG_BIN).resolve().parent / "tests" / "session_values"
SMALL_FRAME = 1 << 20

PY_HANDLERS = {
    "echo": "def handler(event):\n    return event\n",
    "make": propkit.source("pyvalues.py") + """
def handler(event):
    v = Gen(event["seed"]).value()
    return {"value": v} if event.get("wrap") else v
""",
    "expect": propkit.source("pyvalues.py") + """
def handler(event):
    v = Gen(event["seed"]).value()
    return sorted(t.__name__ for t in defects(v))
""",
    "check": propkit.source("pyvalues.py") + """
def handler(event):
    return same(Gen(event["seed"]).value(), event["got"])
""",
    "calls": propkit.source("pyvalues.py", "py_battery.py") + """
def handler(event):
    rep = Report()
    gen = Gen(event["seed"])
    prop_call(rep, gen, 40)
    prop_async_call(rep, gen, 2, 20)
    prop_kv_values(rep, Gen(event["seed"] + 1, long_lists=False), 40)
    prop_nesting(rep)
    prop_frame(rep, event["max_frame"])
    return {"counts": rep.counts, "failures": rep.failures}
""",
    "big": "def handler(event):\n    return 'x' * event['n']\n",
    "raise": "def handler(event):\n    raise ValueError(event['text'] + '\\0 \\ud800 \\udcff end')\n",
}

JS_HANDLERS = {
    "echo": "function handler(event) { return event; }",
    "make": propkit.source("jsvalues.js") + """
function handler(event) { return new Gen(event.seed).value(); }""",
    "expect": propkit.source("jsvalues.js") + """
function handler(event) { return [...expect(new Gen(event.seed).value()).errors].sort(); }""",
    "check": propkit.source("jsvalues.js") + """
function handler(event) {
    const { want, errors } = expect(new Gen(event.seed).value());
    return errors.size === 0 && same(want === DROP ? null : want, event.got);
}""",
    "calls": propkit.source("jsvalues.js", "js_battery.js") + """
async function handler(event) {
    const rep = new Report();
    const gen = new Gen(event.seed);
    propCall(rep, gen, 40);
    await propAsyncCall(rep, gen, 2, 20);
    await propKv(rep, new Gen(event.seed + 1, 0.05, false), 40);
    propNesting(rep);
    await propFrame(rep, event.max_frame);
    return { counts: rep.counts, failures: rep.failures };
}""",
    "big": "function handler(event) { return 'x'.repeat(event.n); }",
    "raise": "function handler(event) { throw new TypeError(event.text + '\\0 \\ud800 \\udcff end'); }",
}


class Session:
    """One driver process: call() sends a line and reads its answer."""

    def __init__(self, lang, handlers, max_frame=None):
        if not DRIVER.exists():
            pytest.skip("%s not built" % DRIVER)
        args = [str(DRIVER), lang] + ([str(max_frame)] if max_frame else [])
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=dict(os.environ))
        self.send(json.dumps(handlers))

    def send(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def call(self, name, event_text):
        """("OK", result text) or ("ERR", error name, poisoned, message)."""
        self.send(name + "\t" + event_text)
        line = self.proc.stdout.readline()
        assert line.endswith(b"\n"), "the driver died (status %r)" % self.proc.poll()
        parts = line[:-1].decode("utf-8", "surrogateescape").split("\t", 3)
        if parts[0] == "ERR":
            parts[2] = parts[2] == "1"
        return tuple(parts)

    def close(self):
        self.proc.stdin.close()
        assert self.proc.wait(60) == 0


@pytest.fixture(params=["python", "js"])
def lang(request):
    return request.param


def handlers_for(lang):
    return PY_HANDLERS if lang == "python" else JS_HANDLERS


def as_floats(v):
    """JavaScript's view: every number a double."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, (list, tuple)):
        return [as_floats(x) for x in v]
    return {k: as_floats(x) for k, x in v.items()}


def same_js(a, b):
    return pyvalues.same(as_floats(a), as_floats(b))


def json_depth(v):
    depth, stack = 0, [(v, 1)]
    while stack:
        x, d = stack.pop()
        if isinstance(x, (list, tuple, dict)):
            depth = max(depth, d)
            stack.extend((y, d + 1) for y in (x.values() if isinstance(x, dict) else x))
    return depth


def event_outcome(v):
    """What the echo handler must do with event v: OK, or which errors."""
    bad = pyvalues.defects(v, depth_limit=10 ** 9)
    if bad or json_depth(v) > 2048:
        return {"ERR_INVALID_ARG"}  # JSON the library's own parser refuses
    if json_depth(v) > pyvalues.MAX_DEPTH:
        return {"ERR_GUEST_ABORT", "ERR_STACK_OVERFLOW"}
    return {"OK"}


@pytest.mark.parametrize("seed", propkit.SEEDS)
def test_events_echo(lang, seed):
    """Events from the embedder: the handler gets them exactly and can return them."""
    gen = pyvalues.Gen(seed, bad=0.05)
    s = Session(lang, handlers_for(lang))
    outcomes = {}
    for _ in range(150):
        v = gen.value()
        if TypeError in pyvalues.defects(v):
            continue  # non-str keys: the embedder's JSON cannot hold them
        text = json.dumps(v, allow_nan=True)
        want = event_outcome(v)
        got = s.call("echo", text)
        assert got[0] in want or (got[0] == "ERR" and got[1] in want), (pyvalues.short(v), got)
        key = got[0] if got[0] == "OK" else got[1]
        outcomes[key] = outcomes.get(key, 0) + 1
        if got[0] == "OK":
            back = json.loads(got[1])
            if lang == "python":
                assert pyvalues.same(v, back), (pyvalues.short(v), pyvalues.short(back))
            else:
                assert same_js(v, back), (pyvalues.short(v), pyvalues.short(back))
        else:
            assert not got[2], "poisoned by a value: %r" % (got,)
    assert outcomes.get("OK", 0) > 50 and len(outcomes) > 1, outcomes
    s.close()


@pytest.mark.parametrize("seed", propkit.SEEDS)
def test_results(lang, seed):
    """Handler results: exact, or an error for that call alone."""
    s = Session(lang, handlers_for(lang))
    counts = {}
    for i in range(120):
        ev = json.dumps({"seed": seed * 1000 + i})
        expected = json.loads(s.call("expect", ev)[1])
        got = s.call("make", ev)
        if got[0] == "OK":
            assert not expected, (i, expected, got[1][:200])
            check = s.call("check", json.dumps({"seed": seed * 1000 + i,
                                                "got": json.loads(got[1])}))
            assert check == ("OK", "true"), (i, got[1][:300], check)
            counts["exact"] = counts.get("exact", 0) + 1
        else:
            assert got[1] == "ERR_GUEST_ABORT" and not got[2], (i, got)
            raised = got[3].split(":")[0].replace("UnicodeEncodeError", "ValueError")
            assert expected and raised in expected, (i, expected, got)
            counts["raised"] = counts.get("raised", 0) + 1
    assert counts.get("exact", 0) > 30 and counts.get("raised", 0) > 5, counts
    s.close()


def test_host_calls_in_handlers(lang):
    """The same value properties hold for host calls made by handler code,
    frame limit included (the session's requests tell the guest the bound)."""
    s = Session(lang, handlers_for(lang), max_frame=SMALL_FRAME)
    got = s.call("calls", json.dumps({"seed": 11, "max_frame": SMALL_FRAME}))
    assert got[0] == "OK", got
    report = json.loads(got[1])
    counts = propkit.check_report(report, exact=["call", "kv.set/get", "after frame"],
                                  raised=["call", "frame:call", "frame:kv.set"])
    assert any(k.startswith("async") for k in counts), counts
    s.close()


def test_result_too_big_for_a_frame(lang):
    s = Session(lang, handlers_for(lang), max_frame=SMALL_FRAME)
    got = s.call("big", json.dumps({"n": SMALL_FRAME}))
    assert got[:3] == ("ERR", "ERR_GUEST_ABORT", False) and "frame limit" in got[3], got
    got = s.call("big", json.dumps({"n": 1000}))
    assert got == ("OK", json.dumps("x" * 1000)), got[:2]
    s.close()


def test_error_messages_with_any_text(lang):
    """An error whose message holds NUL and lone surrogates fails that call only."""
    s = Session(lang, handlers_for(lang))
    for text in ["plain", "nul\0inside", "\U0001F600 \uFFFF", "\u2028"]:
        got = s.call("raise", json.dumps({"text": text}))
        assert got[:3] == ("ERR", "ERR_GUEST_ABORT", False), got
        assert got[3].endswith("\\0 \ufffd \ufffd end"), got
    assert s.call("echo", "[1]") == ("OK", "[1]")
    s.close()


def test_event_with_nul_and_noncharacters(lang):
    """The embedder may send any JSON string the library can hold."""
    s = Session(lang, handlers_for(lang))
    for v in ["a\0b", {"k": "\0"}, ["\uFFFE\uFFFF\U0010FFFF", "\U0001F600"], -0.0, 5e-324]:
        got = s.call("echo", json.dumps(v))
        assert got[0] == "OK", (v, got)
        back = json.loads(got[1])
        assert pyvalues.same(v, back) if lang == "python" else same_js(v, back)
        if isinstance(v, float):
            assert math.copysign(1, back) == math.copysign(1, v)
    s.close()

"""One test per value that used to kill a run or change on the way; the
property suites beside this file found them.  Each runs a few lines in the
guest and asserts what it printed, and that the run ended cleanly."""
import pytest

import helpers


def guest(code, lang="python", *flags):
    res, rc = helpers.run(code, lang, "--host-fn", "echo=cat", *flags)
    assert res["error"] is None and rc == 0, helpers.describe(res)
    return res["stdout"].splitlines()


PY_TRY = """
def attempt(f):
    try:
        r = f()
        print("ok", json.dumps(r, ensure_ascii=True))
    except Exception as e:
        print(type(e).__name__)
import json
"""

JS_TRY = """
function attempt(f) {
    try {
        const r = f();
        console.log('ok', JSON.stringify(r, (k, v) => Object.is(v, -0) ? '-0' : v));
    } catch (e) {
        console.log(e.name);
    }
}
"""


def py(lines, *flags):
    return guest(PY_TRY + "\n".join("attempt(lambda: %s)" % x for x in lines), "python", *flags)


def js(lines, *flags):
    return guest(JS_TRY + "\n".join("attempt(() => %s);" % x for x in lines), "js", *flags)


def test_nul_in_strings_round_trips():
    """The host refused \\u0000 in any string, as a protocol violation."""
    assert py(['call("echo", v="a\\0b")["v"]', 'kv.set("k", ["\\0"]) or kv.get("k")']) == [
        'ok "a\\u0000b"', 'ok ["\\u0000"]']
    assert js(['call("echo", {v: "a\\0b"}).v']) == ['ok "a\\u0000b"']


def test_lone_surrogates_raise():
    """They were sent as escapes that the host refused: the run was killed."""
    assert py(['call("echo", v="\\ud800")', 'call("echo", v={"\\udfff": 1})',
               'kv.set("\\ud800", 1)', 'call("echo", v="\\ud83d\\ude00")']) == [
        "UnicodeEncodeError"] * 4
    assert js(['call("echo", {v: "\\ud800"})', 'call("echo", {v: {"\\udfff": 1}})',
               'call("echo", {v: "\\ud83d\\ude00"}).v === "\\u{1F600}"']) == [
        "TypeError", "TypeError", "ok true"]


def test_integers_beyond_64_bits():
    """Python raises; JavaScript's doubles beyond 2**63 are sent as reals."""
    assert py(['call("echo", v=2**63)', 'call("echo", v=-2**63-1)',
               'call("echo", v=[2**63-1, -2**63])["v"]']) == [
        "ValueError", "ValueError", "ok [9223372036854775807, -9223372036854775808]"]
    assert js(['[2**64, -(2**63), 2**63, 1e20].map((x) => call("echo", {v: x}).v === x)']) == [
        "ok [true,true,true,true]"]


def test_keys_that_json_would_change():
    """{1: 2} reached the host as {"1": 2}; a NUL in a key killed the run."""
    assert py(['call("echo", v={1: 2})', 'call("echo", v={None: 2})',
               'call("echo", v={"a\\0": 2})']) == ["TypeError", "TypeError", "ValueError"]
    assert js(['call("echo", {v: {"a\\0": 2}})']) == ["TypeError"]


def test_keyword_names_of_the_api_itself():
    """call("f", name="x") was a TypeError: name is call()'s own parameter."""
    assert py(['call("echo", name="x", args=1, kwargs=2)',
               'run_async(async_call("echo", name="y"))']) == [
        'ok {"name": "x", "args": 1, "kwargs": 2}', 'ok {"name": "y"}']


def test_numbers_javascript_changed():
    """NaN and Infinity became null, -0 became 0."""
    assert js(['call("echo", {v: NaN})', 'call("echo", {v: -Infinity})',
               'call("echo", {v: -0}).v', 'kv.set("z", -0) || kv.get("z")']) == [
        "RangeError", "RangeError", 'ok "-0"', 'ok "-0"']
    assert py(['call("echo", v=float("nan"))', 'call("echo", v=-0.0)["v"]']) == [
        "ValueError", "ok -0.0"]


def test_javascript_objects_json_would_empty():
    """A Map, a Set or a typed array reached the host as {}."""
    assert js(['call("echo", {v: new Map([[1, 2]])})', 'call("echo", {v: new Set([1])})',
               'call("echo", {v: new Uint8Array(2)})', 'call("echo", {v: 1n})',
               'call("echo", {v: Promise.resolve(1)})', 'call("echo", {v: new Date(0)}).v']) == [
        "TypeError"] * 5 + ['ok "1970-01-01T00:00:00.000Z"']


def test_nesting_beyond_the_host_parser():
    """JSON.stringify nests without bound; the host's parser stops at 2048: killed."""
    deep = '"[".repeat(%d) + "]".repeat(%d)'
    assert js(['call("echo", {v: JSON.parse(%s)}) && "sent"' % (deep % (3000, 3000)),
               'call("echo", {v: JSON.parse(%s)}) && "sent"' % (deep % (500, 500))]) == [
        "RangeError", 'ok "sent"']
    assert py(['call("echo", v=eval("[" * 90 + "]" * 90)) and "sent"']) == ['ok "sent"']


@pytest.mark.parametrize("lang", ["python", "js"])
def test_call_too_big_for_a_frame(lang, tmp_path):
    """A frame over max_frame_bytes killed the run as a protocol violation."""
    (tmp_path / "m").mkdir()
    mount = ("--mount", "/m:%s:rwc" % (tmp_path / "m"))
    if lang == "python":
        out = py(['fs.write_bytes("/m/x", bytes(33 << 20))', 'call("echo", v="x" * (33 << 20))',
                  'call("echo", v="small")["v"]'], *mount)
        assert out == ["ValueError", "ValueError", 'ok "small"']
    else:
        out = js(['fs.writeBytes("/m/x", new Uint8Array(33 << 20))',
                  'call("echo", {v: "x".repeat(33 << 20)})', 'call("echo", {v: "small"}).v'],
                 *mount)
        assert out == ["RangeError", "RangeError", 'ok "small"']
    assert not (tmp_path / "m" / "x").exists()


def test_text_without_utf8_form_is_not_replaced(tmp_path):
    """JavaScript wrote a lone surrogate as U+FFFD without a word."""
    (tmp_path / "m").mkdir()
    out = js(['fs.writeText("/m/t", "a\\ud800")', 'fs.writeText("/m/t", "a\\u{1F600}") || '
              'fs.readText("/m/t")'], "--mount", "/m:%s:rwc" % (tmp_path / "m"))
    assert out == ["TypeError", 'ok "a\U0001F600"']


def test_strings_with_nul_the_host_reads_as_c_strings(tmp_path):
    """A NUL cut a function name, URL or method short (echo\\0x called echo)."""
    assert py(['call("echo\\0x", v=1)', 'http.get("http://127.0.0.1:9/\\0x")',
               'http.request("GET\\0X", "http://127.0.0.1:9/")']) == [
        "ValueError", "ValueError", "ValueError"]


def test_host_function_results_with_nul():
    """A host function's result holding \\u0000 was refused as invalid JSON."""
    out = guest(PY_TRY + 'attempt(lambda: call("nul"))', "python", "--host-fn",
                'nul=printf \'"a\\\\u0000b"\'')
    assert out == ['ok "a\\u0000b"']


@pytest.mark.parametrize("lang", ["python", "js"])
def test_kv_key_over_the_limit_raises_on_every_operation(lang):
    """kv.get returned the default and kv.delete False for a key too long to store."""
    if lang == "python":
        out = py(['kv.get("k" * 257, "dflt")', 'kv.delete("k" * 257)', 'kv.set("k" * 257, 1)',
                  'run_async(kv.async_get("k" * 257))', 'run_async(kv.async_delete("é" * 129))',
                  'kv.set("k" * 256, 1) or kv.get("k" * 256)', 'kv.delete("é" * 128)'])
        assert out == ["ValueError"] * 5 + ["ok 1", "ok false"]
    else:
        out = js(['kv.get("k".repeat(257), "dflt")', 'kv.delete("k".repeat(257))',
                  'kv.set("k".repeat(257), 1)', 'kv.set("k".repeat(256), 1) || kv.get("k".repeat(256))',
                  'kv.delete("é".repeat(128))'])
        assert out == ["ValueError"] * 3 + ["ok 1", "ok false"]
    res, rc = helpers.run(
        "kv.asyncGet('k'.repeat(257)).then(() => console.log('no'), (e) => console.log(e.name))",
        "js")
    assert rc == 0 and res["stdout"] == "ValueError\n", helpers.describe(res)


"""Any value JavaScript guest code passes to a host function comes back as
JSON.stringify would have it, exactly (-0 and integers beyond 2**63
included), or throws TypeError/RangeError in the guest; the run is never
killed for it.

The guest generates the values itself (jsvalues.js, from a fixed seed) and
checks every outcome against what jsvalues.js predicts (js_battery.js).
"""
import json

import pytest

import propkit
from hostfn_server import Server

JS_SOURCE = propkit.source("jsvalues.js", "js_battery.js")


def battery(seed, apis, *flags, **opts):
    code = JS_SOURCE + "\nawait main(%d, %s, %s);\n" % (seed, json.dumps(apis), json.dumps(opts))
    return propkit.run_battery("js", code, *flags)


@pytest.fixture(scope="module")
def server():
    srv = Server().start()
    yield srv
    srv.stop()


@pytest.mark.parametrize("seed", propkit.SEEDS)
def test_call_and_async_call(seed):
    report = battery(seed, ["call", "asyncCall"], "--host-fn", "echo=cat")
    propkit.check_report(report, exact=["call", "asyncCall", "call(names)"],
                         raised=["call", "asyncCall", "cycle"])


@pytest.mark.parametrize("seed", propkit.SEEDS)
def test_kv(seed):
    report = battery(seed, ["kv"])
    propkit.check_report(report, exact=["kv.set/get", "kv.async", "kv.get(key)"],
                         raised=["kv.set/get", "kv.set(key)", "kv.get(key)", "kv.delete(key)"])


@pytest.mark.parametrize("seed", propkit.SEEDS)
def test_fs(seed, tmp_path):
    (tmp_path / "m").mkdir()
    report = battery(seed, ["fs"], "--mount", "/m:%s:rwc" % (tmp_path / "m"))
    propkit.check_report(report, exact=["fs.bytes", "fs.text", "fs.names"],
                         raised=["fs.text", "fs.names"])


@pytest.mark.parametrize("seed", propkit.SEEDS)
def test_http(seed, server):
    report = battery(seed, ["http"], "--allow-host", server.allow, base=server.url("").rstrip("/"))
    propkit.check_report(report, exact=["http"], raised=["http", "http(headers)", "http(body)"])


def test_frame_limit(tmp_path):
    (tmp_path / "m").mkdir()
    report = battery(1, ["frame"], "--host-fn", "echo=cat", "--mount",
                     "/m:%s:rwc" % (tmp_path / "m"), maxFrame=propkit.DEFAULT_MAX_FRAME)
    propkit.check_report(report, exact=["after frame"],
                         raised=["frame:call", "frame:fs.write", "frame:kv.set", "frame:http",
                                 "frame:asyncCall"])
    assert not (tmp_path / "m" / "big").exists()

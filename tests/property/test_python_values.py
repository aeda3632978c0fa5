"""Any value Python guest code passes to a host function round-trips exactly
or raises ValueError/TypeError in the guest; the run is never killed for it.

The guest generates the values itself (pyvalues.py, from a fixed seed) and
checks every outcome against what pyvalues predicts (py_battery.py); each
test here runs one battery and asserts that its report has no failure and
that the run ended cleanly.
"""
import pytest

import propkit
from hostfn_server import Server

PY_SOURCE = propkit.source("pyvalues.py", "py_battery.py")


def battery(seed, apis, *flags, **kw):
    args = ", ".join("%s=%r" % item for item in kw.items())
    code = PY_SOURCE + "\nmain(%d, %r%s)\n" % (seed, apis, ", " + args if args else "")
    return propkit.run_battery("python", code, *flags)


@pytest.fixture(scope="module")
def server():
    srv = Server().start()
    yield srv
    srv.stop()


@pytest.mark.parametrize("seed", propkit.SEEDS)
def test_call_and_async_call(seed):
    report = battery(seed, ["call", "async_call"], "--host-fn", "echo=cat")
    propkit.check_report(report, exact=["call", "async_call", "call(names)"],
                         raised=["call", "async_call", "cycle"])


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
    propkit.check_report(report, exact=["http"], raised=["http", "http(headers)"])


def test_frame_limit(tmp_path):
    """Arguments larger than a frame raise ValueError instead of killing the run."""
    (tmp_path / "m").mkdir()
    report = battery(1, ["frame"], "--host-fn", "echo=cat", "--mount",
                     "/m:%s:rwc" % (tmp_path / "m"), max_frame=propkit.DEFAULT_MAX_FRAME)
    propkit.check_report(report, exact=["after frame"],
                         raised=["frame:call", "frame:fs.write", "frame:kv.set", "frame:http"])
    assert not (tmp_path / "m" / "big").exists()

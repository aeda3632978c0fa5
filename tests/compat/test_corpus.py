"""The compatibility corpus: programs of the kinds users run, each run
natively and in brig, whose output must be the same.

Every program in programs/ runs twice, both times from a fresh working
directory: natively (/usr/bin/python3, node, sh or bash) and with the brig
CLI at its default limits, unchanged.  stdout and the exit status must match;
DIFFERENCES lists the deliberate exceptions, each with its reason (see
README.md).  All runs start up front, in parallel, so the corpus costs the
wall time of its slowest few programs.
"""
import base64
import concurrent.futures
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from helpers import BRIG_BIN, parse_result

PROGRAMS = Path(__file__).resolve().parent / "programs"
NATIVE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}

# How each kind of program runs: natively (argv, or argv reading the program
# on stdin), and in brig (CLI arguments, the same stdin).
KINDS = {
    ".py": (["/usr/bin/python3", "{path}"], ["{path}"]),
    ".mjs": (["node", "{path}"], ["--lang", "js", "{path}"]),
    ".sh": (["sh", "-s"], ["--lang", "sh", "-c", "sh -s"]),
    ".bash": (["bash", "-s"], ["--lang", "sh", "-c", "bash -s"]),
}

# Programs whose output differs on purpose: the output brig must give.
# raw_socket.py: a guest has no network and no capability for raw sockets;
# natively the outcome depends on the host (root opens one; the TEST-NET
# address may time out), so only brig's clean errors are asserted.
BRIG_ONLY = {
    "raw_socket.py": "PermissionError 1\nOSError 101\n",
}

# Files each program must hand back as artifacts (name -> leading bytes).
ARTIFACTS = {
    "matplotlib_display.py": {"display-001.png": b"\x89PNG\r\n\x1a\n"},
}


def _argv(template, path):
    return [a.replace("{path}", str(path)) for a in template]


def _stdin(path, native_argv):
    return path.read_bytes() if native_argv[-1] == "-s" else b""


def run_native(path):
    native, _ = KINDS[path.suffix]
    with tempfile.TemporaryDirectory() as cwd:
        env = dict(NATIVE_ENV, HOME=cwd, TMPDIR=cwd)
        proc = subprocess.run(_argv(native, path), input=_stdin(path, native), cwd=cwd, env=env,
                              capture_output=True, timeout=120)
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode(
        "utf-8", "replace")


def run_brig(path):
    native, flags = KINDS[path.suffix]
    proc = subprocess.run([BRIG_BIN, "--json", "--timeout", "90s", *_argv(flags, path)],
                          input=_stdin(path, native), capture_output=True, timeout=150,
                          cwd=tempfile.gettempdir())
    proc.stdout = proc.stdout.decode("utf-8", "replace")
    proc.stderr = proc.stderr.decode("utf-8", "replace")
    return parse_result(proc)


CORPUS = sorted(p for p in PROGRAMS.iterdir() if p.suffix in KINDS)


@pytest.fixture(scope="module")
def outcomes():
    """Every program's native and brig outcome, computed in parallel."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        native = {p.name: pool.submit(run_native, p) for p in CORPUS if p.name not in BRIG_ONLY}
        brig = {p.name: pool.submit(run_brig, p) for p in CORPUS}
        return ({k: f.result() for k, f in native.items()}, {k: f.result() for k, f in brig.items()})


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 40
    kinds = {p.suffix for p in CORPUS}
    assert kinds == set(KINDS), kinds


@pytest.mark.parametrize("name", [p.name for p in CORPUS])
def test_same_output_as_native(outcomes, name):
    native, brig = outcomes
    res = brig[name]
    assert res["ok"], "%s: %s %s" % (res["error"], res["message"], res["stderr"][-2000:])
    if name in BRIG_ONLY:
        assert (res["exit_code"], res["stdout"]) == (0, BRIG_ONLY[name]), res["stderr"][-2000:]
        return
    rc, out, err = native[name]
    assert rc == 0, "the program fails natively: %s" % err[-2000:]
    assert res["stdout"] == out, "stderr in brig: %s" % res["stderr"][-2000:]
    assert res["exit_code"] == rc, res["stderr"][-2000:]


@pytest.mark.parametrize("name", sorted(ARTIFACTS))
def test_artifacts(outcomes, name):
    _, brig = outcomes
    got = {a["name"]: base64.b64decode(a["base64"]) for a in brig[name]["artifacts"]}
    for fname, head in ARTIFACTS[name].items():
        assert fname in got, sorted(got)
        assert got[fname].startswith(head)

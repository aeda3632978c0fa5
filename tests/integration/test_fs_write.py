"""fs.write is atomic: a write that fails part way leaves the old file whole
and no temporary file beside it (src/host/fs.c)."""
import os
import resource
import signal
import subprocess

import pytest

from helpers import BRIG_BIN, IS_ROOT, parse_result

OLD = b"old contents\n"

WRITE = {
    "python": """
try:
    fs.write_bytes("/m/f", b"n" * (4 << 20))
    print("written")
except OSError as e:
    print(type(e).__name__, e)
""",
    "js": """
try {
    fs.writeBytes("/m/f", new Uint8Array(4 << 20));
    console.log("written");
} catch (e) {
    console.log(e.name, e.message);
}
""",
}


def limit_file_size(limit):
    """For the brig process: writes past limit fail with EFBIG, as on a full disk."""
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    return apply


def run_write(lang, mount, preexec=None):
    proc = subprocess.run([BRIG_BIN, "--json", "--lang", lang, "--mount", mount, "-c", WRITE[lang]],
                          capture_output=True, text=True, timeout=60, preexec_fn=preexec)
    return parse_result(proc)


def prepare(folder):
    folder.mkdir(exist_ok=True)
    (folder / "f").write_bytes(OLD)
    (folder / "f").chmod(0o644)


@pytest.mark.parametrize("lang", ["python", "js"])
@pytest.mark.parametrize("mode", ["rw", "rwc"])
def test_write_failing_midway_keeps_the_old_file(tmp_path, lang, mode):
    folder = tmp_path / "m"
    prepare(folder)
    res = run_write(lang, "/m:%s:%s" % (folder, mode), limit_file_size(1 << 20))
    assert res["error"] is None and res["exit_code"] == 0, res
    assert "File too large" in res["stdout"], res["stdout"]
    assert (folder / "f").read_bytes() == OLD
    assert sorted(os.listdir(folder)) == ["f"]


def test_write_succeeds_whole(tmp_path):
    folder = tmp_path / "m"
    prepare(folder)
    res = run_write("python", "/m:%s:rw" % folder)
    assert res["stdout"] == "written\n", res
    assert (folder / "f").read_bytes() == b"n" * (4 << 20)
    assert sorted(os.listdir(folder)) == ["f"]


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 1 MiB filesystem of its own (root only): fills up for real."""
    if not IS_ROOT:
        pytest.skip("mounting a tmpfs needs root")
    where = tmp_path / "tiny"
    where.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield where
    subprocess.run(["umount", "-l", str(where)])


@pytest.mark.parametrize("mode", ["rw", "rwc"])
def test_full_disk_keeps_the_old_file(tiny_tmpfs, mode):
    prepare(tiny_tmpfs)
    res = run_write("python", "/m:%s:%s" % (tiny_tmpfs, mode))
    if mode == "rw":
        assert res["error"] is None and res["exit_code"] == 0, res
        assert "No space left on device" in res["stdout"], res["stdout"]
    else:
        # rwc writes land in the run's own layer, and the host directory
        # fills up when brig applies them after the run.
        assert res["stdout"] == "written\n", res
        assert res["error"] == "ERR_IO" and "No space left" in res["message"], res
    assert (tiny_tmpfs / "f").read_bytes() == OLD
    assert sorted(os.listdir(tiny_tmpfs)) == ["f"]
    # The space came back: a write that fits still works.
    os.chmod(tiny_tmpfs, 0o777)
    ok = subprocess.run([BRIG_BIN, "--mount", "/m:%s:%s" % (tiny_tmpfs, mode), "-c",
                         'fs.write_bytes("/m/f", b"x" * 1000)'], timeout=60)
    assert ok.returncode == 0 and (tiny_tmpfs / "f").read_bytes() == b"x" * 1000

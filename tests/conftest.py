"""pytest set-up shared by tests/integration and tests/security."""
import os
import re
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import helpers  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--brig-daemon", action="store_true",
                     help="run the CLI through a brig daemon started for this session")


def pytest_configure(config):
    # Before any test module is imported.
    if config.getoption("--brig-daemon"):
        helpers.THROUGH_DAEMON = True


def pytest_report_header(config):
    return "brig: %s (guest dir %s, running as uid %d%s)" % (
        helpers.BRIG_BIN, helpers.GUEST_DIR, os.geteuid(),
        ", through a brig daemon" if helpers.THROUGH_DAEMON else "")


@pytest.fixture(scope="session", autouse=True)
def brig_binary():
    """Every test needs a working brig; fail early and clearly without one."""
    if not os.access(helpers.BRIG_BIN, os.X_OK):
        pytest.exit("brig binary not found at %s (build it, or set BRIG_BIN)" % helpers.BRIG_BIN,
                    returncode=1)
    proc = helpers.brig("--lang", "sh", "-c", "exit 0", timeout=60)
    if proc.returncode != 0:
        pytest.exit("brig cannot run a sandbox here (rc=%d): %s" % (proc.returncode, proc.stderr),
                    returncode=1)
    return helpers.BRIG_BIN


@pytest.fixture(scope="session")
def cgroups():
    """The cgroup controllers brig uses on this host for this user (maybe none)."""
    return helpers.cgroup_controllers()


def _daemon(*args):
    return subprocess.run([helpers.BRIG_BIN, "daemon", *args], capture_output=True, text=True,
                          timeout=60)


@pytest.fixture(scope="session", autouse=True)
def brig_daemon(brig_binary, tmp_path_factory):
    """Each pass has a daemon directory of its own, so no daemon of the user's
    is ever used; with --brig-daemon a daemon serves it for the whole pass.
    Yields the daemon's pid, or None."""
    path = str(tmp_path_factory.mktemp("brigd"))
    os.chmod(path, 0o700)
    os.environ["BRIG_DAEMON_DIR"] = path
    if not helpers.THROUGH_DAEMON:
        yield None
        return
    started = _daemon("start", "--idle", "10m")
    assert started.returncode == 0, started.stderr
    pid = helpers.daemon_pid()
    assert pid, _daemon("status").stdout
    yield pid
    status = _daemon("status")
    _daemon("stop")
    # The pass went through one daemon that never died, and was served by it.
    assert status.returncode == 0 and helpers.daemon_pid(status.stdout) == pid, status.stdout
    served = re.search(r"^requests\s+(\d+)", status.stdout, re.M)
    assert served and int(served.group(1)) > 0, status.stdout

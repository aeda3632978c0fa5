"""pytest set-up shared by tests/integration and tests/security."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import helpers  # noqa: E402


def pytest_report_header(config):
    return "brig: %s (guest dir %s, running as uid %d)" % (
        helpers.BRIG_BIN, helpers.GUEST_DIR, os.geteuid())


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

"""`brig doctor`, and the error brig gives where user namespaces are off."""
import shutil
import subprocess

import pytest

from helpers import BRIG_BIN


def sh(script):
    return subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=60)


def test_doctor_reports_every_mechanism_and_succeeds():
    proc = subprocess.run([BRIG_BIN, "doctor"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for what in ("user namespaces", "seccomp", "cgroup", "landlock", "sandbox"):
        assert what in proc.stdout
    assert "verdict: sandboxing will work" in proc.stdout


def test_doctor_rejects_arguments():
    proc = subprocess.run([BRIG_BIN, "doctor", "extra"], capture_output=True, text=True)
    assert proc.returncode == 2 and "doctor takes no arguments" in proc.stderr


# A user namespace of our own where creating further ones is forbidden: the
# same situation as a host with user.max_user_namespaces = 0, without
# touching the host's setting.
NO_USERNS = "echo 0 > /proc/sys/user/max_user_namespaces && "


@pytest.fixture
def unshare():
    path = shutil.which("unshare")
    if not path or sh("unshare -U -r true").returncode != 0:
        pytest.skip("this host cannot create a user namespace for the test")
    return path


def test_run_without_user_namespaces_names_cause_and_fix(unshare):
    proc = sh("unshare -U -r sh -c '%s exec %s -c \"print(1)\"'" % (NO_USERNS, BRIG_BIN))
    assert proc.returncode == 125, proc.stderr
    assert "user namespaces are disabled" in proc.stderr
    assert "sysctl -w user.max_user_namespaces" in proc.stderr
    assert proc.stdout == ""


def test_doctor_without_user_namespaces_fails_with_the_fix(unshare):
    proc = sh("unshare -U -r sh -c '%s exec %s doctor'" % (NO_USERNS, BRIG_BIN))
    assert proc.returncode == 1
    assert "FAIL" in proc.stdout and "sysctl -w user.max_user_namespaces" in proc.stdout
    assert "sandboxing will NOT work" in proc.stdout


def test_root_inside_a_user_namespace_is_treated_as_unprivileged(unshare):
    # uid 0 there cannot map host uid 65534; brig must map the guest to itself.
    proc = sh("unshare -U -r %s -c 'import os; print(os.getuid())'" % BRIG_BIN)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "1000\n"

"""What real programs need of their surroundings, through the CLI: the host
files of the reviewed allowlist (and nothing else of the host's /etc), the
embedder's --host-path, artifacts with --outputs and --json, and tracebacks
that show the user's code rather than brig's."""
import base64
import json
import os
import re
import ssl
import subprocess
import tempfile
from pathlib import Path

import pytest

from helpers import IS_ROOT, REPO_ROOT, brig, parse_result, run

# The allowlist's /etc entries, read from its one source, and the files
# every jail generates (src/lib/sandbox.c).
ALLOWLIST = re.findall(r'^\s*\{"(/[^"]+)",', (REPO_ROOT / "src/lib/host_files.c").read_text(), re.M)
GENERATED = {"passwd", "group", "hosts", "hostname", "resolv.conf", "nsswitch.conf"}


def guest(code, *flags):
    res, rc = run(code, "python", *flags)
    assert rc == 0 and res["ok"], res["stderr"] + res["message"]
    return res


def test_allowlist_is_read():
    assert "/etc/ssl/certs" in ALLOWLIST and "/etc/matplotlibrc" in ALLOWLIST


def test_etc_holds_the_allowlist_and_generated_files_only():
    res = guest("import os, json; print(json.dumps(sorted(os.listdir('/etc'))))")
    allowed = {p.split("/")[2] for p in ALLOWLIST if p.startswith("/etc/")} | GENERATED
    seen = set(json.loads(res["stdout"]))
    assert seen <= allowed, seen - allowed
    for secret in ("shadow", "gshadow", "machine-id", "ssh", "sudoers", "subuid", "environment"):
        assert secret not in seen
    # /etc/ssl: the certificates and OpenSSL's configuration, never the keys.
    res = guest("import os; print(sorted(os.listdir('/etc/ssl')))")
    assert "private" not in res["stdout"] and "certs" in res["stdout"]


def test_the_hosts_resolver_and_identity_stay_out():
    res = guest("print(repr(open('/etc/resolv.conf').read()), open('/etc/hostname').read().strip())")
    assert res["stdout"] == "'' brig\n"


def test_ca_certificates_match_the_host():
    native = ssl.create_default_context().cert_store_stats()["x509_ca"]
    assert native > 0, "this host has no CA certificates (install ca-certificates)"
    res = guest("import ssl; print(ssl.create_default_context().cert_store_stats()['x509_ca'])")
    assert int(res["stdout"]) == native


def test_openssl_verifies_through_the_hashed_links():
    cert = "/usr/share/ca-certificates/mozilla/ISRG_Root_X1.crt"
    if not os.path.exists(cert) or not os.path.exists("/usr/bin/openssl"):
        pytest.fail("ca-certificates and openssl are in scripts/install-deps.sh")
    res, rc = run("openssl verify -CApath /etc/ssl/certs %s" % cert, "sh")
    assert rc == 0 and res["stdout"].strip().endswith(": OK"), res["stderr"]


def test_matplotlib_and_fontconfig_work():
    res = guest("import matplotlib, matplotlib.font_manager as fm\n"
                "print(matplotlib.matplotlib_fname(), bool(fm.findfont('DejaVu Sans')))\n"
                "import subprocess; print(subprocess.run(['fc-match', 'sans'], capture_output=True,"
                " text=True).returncode in (0, 127))")
    assert res["stdout"] == "/etc/matplotlibrc True\nTrue\n"


@pytest.fixture
def host_dir():
    # Not below /tmp: the jail builds its own /tmp, so /tmp cannot be exposed.
    d = tempfile.mkdtemp(dir="/var/tmp", prefix="brig-compat-")
    os.chmod(d, 0o755)
    yield Path(d)
    subprocess.run(["rm", "-rf", d], check=False)


def test_host_path_exposes_a_file_read_only(host_dir):
    conf = host_dir / "tool.conf"
    conf.write_text("key=value\n")
    conf.chmod(0o644)
    res, rc = run("cat %s; echo x >> %s || echo refused" % (conf, conf), "sh",
                  "--host-path", str(host_dir))
    assert rc == 0 and res["stdout"].startswith("key=value\n") and "refused" in res["stdout"]
    assert conf.read_text() == "key=value\n"


@pytest.mark.parametrize("path", ["/etc/shadow", "/etc", "/etc/ssh", "/tmp", "etc/hosts",
                                  "/etc/../etc/shadow", "/root/.ssh"])
def test_host_path_refuses_secrets_and_jail_directories(path):
    proc = brig("--host-path", path, "-c", "print(1)")
    assert proc.returncode == 2 and "--host-path" in proc.stderr and proc.stdout == ""


def test_host_path_that_does_not_exist():
    proc = brig("--host-path", "/var/brig-no-such-path", "-c", "print(1)")
    assert proc.returncode == 2 and "not found" in proc.stderr.lower()


CHART = """
import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(3, 2), dpi=50)
ax.plot([1, 3, 2])
print(display(fig))
open('/home/user/outputs/data.csv', 'w').write('a,b\\n1,2\\n')
"""


def test_outputs_and_json_return_the_chart(host_dir):
    proc = brig("--json", "--outputs", str(host_dir), "-c", CHART, timeout=120)
    res = parse_result(proc)
    assert res["ok"] and res["stdout"] == "display-001.png\n", res["stderr"]
    arts = {a["name"]: a for a in res["artifacts"]}
    assert sorted(arts) == ["data.csv", "display-001.png"] and not res["artifacts_truncated"]
    png = base64.b64decode(arts["display-001.png"]["base64"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and arts["display-001.png"]["size"] == len(png)
    assert arts["display-001.png"]["mime"] == "image/png" and arts["data.csv"]["mime"] == "text/csv"
    assert (host_dir / "display-001.png").read_bytes() == png
    assert (host_dir / "data.csv").read_text() == "a,b\n1,2\n"


def test_outputs_directory_is_made_when_missing(host_dir):
    target = host_dir / "new" / "charts"
    proc = brig("--outputs", str(target), "-c", "open('/home/user/outputs/a.txt', 'w').write('1')")
    assert proc.returncode == 125 and "No such file" in proc.stderr  # one level only
    (host_dir / "new").mkdir()
    proc = brig("--outputs", str(target), "-c", "open('/home/user/outputs/a.txt', 'w').write('1')")
    assert proc.returncode == 0, proc.stderr
    assert (target / "a.txt").read_text() == "1"


def test_outputs_never_follow_a_planted_link(host_dir):
    victim = host_dir / "victim"
    victim.write_text("keep")
    (host_dir / "data.csv").symlink_to(victim)
    proc = brig("--outputs", str(host_dir), "-c", CHART, timeout=120)
    assert proc.returncode == 125 and "symbolic link" in proc.stderr
    assert victim.read_text() == "keep" and (host_dir / "data.csv").is_symlink()


def test_guest_links_are_left_out_and_counted(host_dir):
    code = ("import os\nos.symlink('/etc/passwd', '/home/user/outputs/p')\n"
            "for i in range(5): open('/home/user/outputs/f%d.txt' % i, 'w').write(str(i))")
    res, rc = run(code, "python", "--max-artifacts", "3", "--outputs", str(host_dir))
    assert rc == 0 and [a["name"] for a in res["artifacts"]] == ["f0.txt", "f1.txt", "f2.txt"]
    assert res["artifacts_truncated"] is True
    assert sorted(os.listdir(host_dir)) == ["f0.txt", "f1.txt", "f2.txt"]


def test_outputs_size_bound_gives_the_guest_enospc():
    res, rc = run("open('/home/user/outputs/big', 'wb').write(b'x' * 300000)", "python",
                  "--artifacts-size", "64k")
    # As for a full /tmp: the run ends with the disk limit.
    assert res["limit"] == "disk" and "No space left" in res["stderr"], res


def test_rich_objects_become_artifacts():
    code = ("class Html:\n    def _repr_html_(self): return '<b>hi</b>'\n"
            "class Svg:\n    def _repr_svg_(self): return '<svg/>'\n"
            "import pandas as pd\n"
            "print(display(Html()), display(Svg()), display(pd.DataFrame({'a': [1]})))\n"
            "display(42)\nfrom brig import display as d\nprint(d is display)")
    res = guest(code)
    assert res["stdout"] == "display-001.html display-002.svg display-003.html\n42\nTrue\n"
    arts = {a["name"]: base64.b64decode(a["base64"]) for a in res["artifacts"]}
    assert arts["display-001.html"] == b"<b>hi</b>" and arts["display-002.svg"] == b"<svg/>"
    assert b"<table" in arts["display-003.html"]


def test_python_traceback_shows_the_users_frames_only():
    code = "def load():\n    return fs.read_text('/nope')\n\nload()\n"
    res, rc = run(code)
    assert rc == 1
    err = res["stderr"]
    assert "/opt/brig" not in err and "_api.py" not in err and "_proto.py" not in err, err
    assert 'File "<string>", line 4, in <module>' in err and 'line 2, in load' in err
    assert err.rstrip().endswith("PermissionError: path not mounted: '/nope'")


def test_python_chained_traceback_hides_brig_in_every_link():
    code = ("try:\n    fs.read_text('/nope')\nexcept Exception as e:\n    raise RuntimeError('wrapped') from e\n")
    res, rc = run(code)
    assert rc == 1 and "/opt/brig" not in res["stderr"], res["stderr"]
    assert "direct cause" in res["stderr"] and "RuntimeError: wrapped" in res["stderr"]


def test_js_stack_shows_the_users_frames_only():
    res, rc = run("function load() { return fs.readText('/nope'); }\nload();\n", "js")
    assert rc == 1
    assert "/opt/brig" not in res["stderr"] and "api.js" not in res["stderr"], res["stderr"]
    assert "at load (<string>:1:" in res["stderr"]


def test_outputs_do_not_survive_into_the_next_run():
    guest("open('/home/user/outputs/leftover', 'w').write('x')")
    res = guest("import os; print(os.listdir('/home/user/outputs'))")
    assert res["stdout"] == "[]\n" and res["artifacts"] == []

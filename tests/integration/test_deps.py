"""`brig deps install|list` and `--packages DIR`, against a loopback index."""
import pytest

import pkgindex
from helpers import brig, describe, run


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    d = tmp_path_factory.mktemp("wheels")
    for v in ("1.0", "2.0"):
        pkgindex.build_wheel(d, "tinypkg", v, {"tinypkg/__init__.py": "V = %r\n" % v})
    pkgindex.build_wheel(d, "Other_Pkg", "0.5", {"other_pkg.py": "O = 5\n"})
    idx = pkgindex.Index(str(d))
    yield idx
    idx.close()


def deps(*args, cwd):
    return brig("deps", *args, cwd=cwd, timeout=180)


def test_install_list_and_use(index, tmp_path):
    tmp_path.chmod(0o755)
    proc = deps("install", "--package-index", index.url, "tinypkg==1.0", "other-pkg",
                cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "other-pkg 0.5\ntinypkg 1.0\n"
    assert (tmp_path / ".brig/python/packages/tinypkg/__init__.py").exists()
    assert deps("list", cwd=tmp_path).stdout == proc.stdout
    res, _ = run("import tinypkg, other_pkg\nprint(tinypkg.V, other_pkg.O)", "python",
                 "--packages", str(tmp_path / ".brig/python/packages"))
    assert res["ok"] and res["stdout"] == "1.0 5\n", describe(res)


def test_upgrade_replaces_the_old_version(index, tmp_path):
    tmp_path.chmod(0o755)
    target = tmp_path / "site"
    for spec in ("tinypkg==1.0", "tinypkg>1"):
        proc = deps("install", "--dir", str(target), "--package-index", index.url, spec,
                    cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "tinypkg 2.0\n"
    assert sorted(p.name for p in target.iterdir()) == ["tinypkg", "tinypkg-2.0.dist-info"]


def test_repl_takes_packages(index, tmp_path):
    tmp_path.chmod(0o755)
    assert deps("install", "--package-index", index.url, "tinypkg<2", cwd=tmp_path).returncode == 0
    proc = brig("repl", "--packages", str(tmp_path / ".brig/python/packages"),
                input="import tinypkg\nprint(tinypkg.V)\n", timeout=120)
    assert "1.0" in proc.stdout, (proc.stdout, proc.stderr)


def test_packages_dir_is_read_only_to_the_guest(index, tmp_path):
    tmp_path.chmod(0o755)
    assert deps("install", "--package-index", index.url, "tinypkg", cwd=tmp_path).returncode == 0
    res, _ = run("import tinypkg\ntry:\n    open(tinypkg.__file__, 'a')\n"
                 "except OSError as e:\n    print(e.errno)", "python",
                 "--packages", str(tmp_path / ".brig/python/packages"))
    assert res["stdout"] == "30\n", describe(res)


@pytest.mark.parametrize("args", [("install",), ("install", "bad name!"), ("frob",),
                                  ("list", "extra"), ("install", "x; rm -rf /")])
def test_bad_usage(tmp_path, args):
    proc = deps(*args, cwd=tmp_path)
    assert proc.returncode == 2 and ("usage" in proc.stderr or "invalid" in proc.stderr), \
        proc.stderr
    assert not (tmp_path / ".brig").exists()


def test_a_failed_install_says_why(index, tmp_path):
    proc = deps("install", "--package-index", index.url, "no-such-project", cwd=tmp_path)
    assert proc.returncode == 1 and "pip failed" in proc.stderr, proc.stderr

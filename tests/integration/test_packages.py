"""install_pkg in Python guests, against a PEP 503 index served on loopback.

pip runs in a sandbox of its own (never on the host), wheels only, and its
only egress is the index; what it installs is cached by interpreter, project
and version, and appears read-only on the requesting guest's sys.path.
"""
import io
import os
import tarfile
import threading

import pytest

import pkgindex
from helpers import describe, run


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    d = tmp_path_factory.mktemp("wheels")
    for v in ("1.0", "2.0", "2.5"):
        pkgindex.build_wheel(d, "tinypkg", v, {"tinypkg/__init__.py": "V = %r\n" % v})
    pkgindex.build_wheel(d, "tinydep", "0.3", {"tinydep.py": "D = 'dep'\n"})
    pkgindex.build_wheel(d, "withdep", "1.1", {"withdep/__init__.py":
                                               "import tinydep\nW = tinydep.D\n"},
                         requires=["tinydep>=0.1"])
    # A source distribution only: its setup.py must never run.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        data = b"raise SystemExit('setup.py ran')\n"
        info = tarfile.TarInfo("buildme-1.0/setup.py")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    (d / "buildme-1.0.tar.gz").write_bytes(buf.getvalue())
    idx = pkgindex.Index(str(d))
    yield idx
    idx.close()


@pytest.fixture
def cache(tmp_path):
    c = tmp_path / "cache"
    c.mkdir()
    return c


def install(index, cache, code, *flags, allow=("tinypkg",)):
    args = ["--package-index", index.url, "--package-cache", str(cache), "--timeout", "120s"]
    for name in allow:
        args += ["--allow-package", name]
    res, _ = run(code, "python", *args, *flags, timeout=180)
    return res


@pytest.mark.parametrize("spec, version", [
    (None, "2.5"), ("==1.0", "1.0"), (">=2", "2.5"), ("<=2.0", "2.0"), ("~=2.0", "2.5"),
    ("!=2.5", "2.0"), ("1.0", "1.0")])
def test_specifiers_choose_the_version_and_import_works_at_once(index, cache, spec, version):
    res = install(index, cache, "info = install_pkg('tinypkg', %r)\n"
                  "import tinypkg\nprint(info['version'], tinypkg.V, info['cached'])" % spec)
    assert res["ok"] and res["stdout"] == "%s %s False\n" % (version, version), describe(res)


def test_second_install_comes_from_the_cache(index, cache):
    code = "info = install_pkg('TinyPkg', '>=2')\nimport tinypkg\nprint(tinypkg.V, info['cached'])"
    first = install(index, cache, code)
    fetched = index.downloads("tinypkg-2.5-py3-none-any.whl")
    second = install(index, cache, code)
    assert first["stdout"] == "2.5 False\n" and second["stdout"] == "2.5 True\n", \
        describe(second)
    assert index.downloads("tinypkg-2.5-py3-none-any.whl") == fetched


def test_dependencies_come_along(index, cache):
    res = install(index, cache, "install_pkg('withdep')\nimport withdep\nprint(withdep.W)",
                  allow=("withdep",))
    assert res["ok"] and res["stdout"] == "dep\n", describe(res)


def test_not_allowed_packages_are_refused(index, cache):
    res = install(index, cache, "try:\n    install_pkg('withdep')\n"
                  "except PermissionError as e:\n    print(e)")
    assert res["stdout"] == "package not allowed: withdep\n", describe(res)
    res, _ = run("try:\n    install_pkg('tinypkg')\nexcept PermissionError as e:\n    print(e)")
    assert "install_pkg is not allowed" in res["stdout"] and "--allow-package" in res["stdout"]


def test_any_package_with_allow_packages(index, cache):
    res = install(index, cache, "install_pkg('withdep')\nimport withdep\nprint(withdep.W)",
                  "--allow-packages", allow=())
    assert res["ok"] and res["stdout"] == "dep\n", describe(res)


@pytest.mark.parametrize("name, spec", [("bad name", None), ("tinypkg", ">=1; rm -rf /"),
                                        ("tinypkg", "'$(id)'"), ("../x", None)])
def test_bad_names_and_specifiers_are_value_errors(index, cache, name, spec):
    res = install(index, cache, "try:\n    install_pkg(%r, %r)\n"
                  "except ValueError as e:\n    print('ValueError', e)" % (name, spec),
                  "--allow-packages")
    assert res["stdout"].startswith("ValueError invalid"), describe(res)


def test_wheels_only_no_build_script_runs(index, cache):
    before = index.downloads("buildme-1.0.tar.gz")
    res = install(index, cache, "try:\n    install_pkg('buildme')\n"
                  "except RuntimeError as e:\n    print('RuntimeError', e)", allow=("buildme",))
    assert res["stdout"].startswith("RuntimeError pip could not install buildme"), describe(res)
    assert index.downloads("buildme-1.0.tar.gz") == before


def test_pips_only_egress_is_the_index(index, cache, tmp_path):
    other = pkgindex.Index(str(tmp_path))
    try:
        pkgindex.build_wheel(str(tmp_path), "faraway", "1.0", {"faraway.py": "F = 1\n"})
        index.elsewhere["faraway"] = "http://127.0.0.1:%d/files/faraway-1.0-py3-none-any.whl" \
            % other.port
        res = install(index, cache, "try:\n    install_pkg('faraway')\n"
                      "except RuntimeError as e:\n    print('RuntimeError', e)",
                      allow=("faraway",))
        assert res["stdout"].startswith("RuntimeError pip could not install faraway"), \
            describe(res)
        assert other.requests == []
    finally:
        index.elsewhere.pop("faraway", None)
        other.close()


def test_the_installed_tree_is_read_only_to_the_guest(index, cache):
    res = install(index, cache, "import os\ninfo = install_pkg('tinypkg', '==1.0')\n"
                  "try:\n    open(os.path.join(info['path'], 'tinypkg', '__init__.py'), 'a')\n"
                  "except OSError as e:\n    print(type(e).__name__, e.errno)")
    assert res["stdout"] == "OSError 30\n", describe(res)
    # The cache itself is unchanged.
    assert [p.read_text() for p in cache.glob("*/tinypkg/1.0/tinypkg/__init__.py")] == \
        ["V = '1.0'\n"]


def test_concurrent_installs_happen_once(index, cache):
    code = "install_pkg('tinypkg', '==2.0')\nimport tinypkg\nprint(tinypkg.V)"
    before = index.downloads("tinypkg-2.0-py3-none-any.whl")
    results = [None] * 3

    def one(i):
        results[i] = install(index, cache, code)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r["ok"] and r["stdout"] == "2.0\n" for r in results), \
        [describe(r) for r in results]
    assert index.downloads("tinypkg-2.0-py3-none-any.whl") == before + 1
    # One version, no staging directory left behind.
    assert sorted(os.listdir(next(cache.glob("*/tinypkg")))) == [".lock", "2.0", "specs"]

# The Python zygote: a warm interpreter that never runs guest code.  It runs
# on the host (started by the executor, src/lib/warm.c), loads the agent as
# the jail will see it, and hands control to libbrig_zygote.so, which forks
# a jail's init per run (src/jail/zygote.c).  In each run's guest the call
# returns, and this interpreter goes on as the guest, as agent.py would.
import sys

_JAIL = "/opt/brig/python"  # the agent's directory inside the jail


def _loader_type():
    from importlib.machinery import SourceFileLoader

    class Loader(SourceFileLoader):
        """Reads the host's copy of a brig module, named by its path in the jail."""

        def __init__(self, fullname, path, host):
            super().__init__(fullname, path)
            self._host = host

        def _map(self, path):
            return self._host + path[len(_JAIL):] if path.startswith(_JAIL) else path

        def get_data(self, path):
            return super().get_data(self._map(path))

        def path_stats(self, path):
            return super().path_stats(self._map(path))

    return Loader


def _finder(host):
    import importlib.util
    import os

    loader_type = _loader_type()

    class Finder:
        @staticmethod
        def find_spec(fullname, path=None, target=None):
            if fullname != "brig" and not fullname.startswith("brig."):
                return None
            rel = fullname.replace(".", "/")
            if os.path.isdir(host + "/" + rel):
                rel, pkg = rel + "/__init__.py", [_JAIL + "/" + rel]
            else:
                rel, pkg = rel + ".py", None
            loader = loader_type(fullname, _JAIL + "/" + rel, host)
            return importlib.util.spec_from_file_location(
                fullname, _JAIL + "/" + rel, loader=loader, submodule_search_locations=pkg)

    return Finder


def _preload(host):
    """Import what a cold run imports, under the names the jail gives them."""
    from importlib.machinery import SourceFileLoader

    finder = _finder(host)
    sys.meta_path.insert(0, finder)
    try:
        import brig._agent  # noqa: F401
        import brig._proto  # noqa: F401
        import linecache  # noqa: F401
        import traceback  # noqa: F401
    finally:
        sys.meta_path.remove(finder)
    # Nothing the guest can reach keeps the host's path: plain loaders now.
    for name, mod in list(sys.modules.items()):
        spec = getattr(mod, "__spec__", None)
        if name.partition(".")[0] == "brig" and spec is not None:
            spec.loader = mod.__loader__ = SourceFileLoader(name, spec.origin)


def _serve(lib_path, pool):
    """Serve runs until the executor goes; returns only in a guest."""
    import ctypes

    lib = ctypes.PyDLL(lib_path)  # keeps the GIL, like os.fork
    lib.brig_zygote_serve.argtypes = [ctypes.c_int, ctypes.c_int]
    # The collector leaves the warm heap alone in every guest, so that its
    # pages stay shared with the zygote instead of being copied.
    import gc

    gc.freeze()
    if lib.brig_zygote_serve(3, pool) != 0:
        raise SystemExit(1)
    ctypes.pythonapi.PyOS_AfterFork_Child()  # at-fork hooks: random reseeds


def _become_guest():
    """Look exactly like agent.py's interpreter at its start."""
    import os

    environ = os.environ._data  # the C environment is the run's now
    environ.clear()
    for entry in _c_environ():
        key, _, value = entry.partition(b"=")
        environ[key] = value
    sys.argv[:] = [_JAIL + "/agent.py"]
    sys.orig_argv[:] = [sys.executable, "-I", "-S", "-B", _JAIL + "/agent.py"]
    sys.path[:] = [_JAIL] + [p for p in sys.path if p.startswith(sys.prefix)]
    sys.modules["__main__"] = type(sys)("__main__")


def _c_environ():
    import ctypes

    env = ctypes.POINTER(ctypes.c_char_p).in_dll(ctypes.CDLL(None), "environ")
    i = 0
    while env[i] is not None:
        yield env[i]
        i += 1


def main():
    _preload(sys.argv[0].rpartition("/")[0])
    _serve(sys.argv[1], int(sys.argv[2]))
    _become_guest()
    import ctypes

    from brig import _agent

    _agent.leave = ctypes.CDLL(None).exit
    _agent.main()


if __name__ == "__main__":
    main()

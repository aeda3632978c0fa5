"""The guest API of brig: http, fs, kv, call, async_call, run_async, time_now,
install_pkg, display.

Every function is a host call over the control channel; the host grants or
refuses it according to the run's capabilities.  See brig.pyi for types.

The implementation lives in brig._api and is imported on first use: every
run pays for what the agent imports at start, and most runs never make a
host call.
"""

__all__ = ["http", "fs", "kv", "call", "async_call", "run_async", "time_now", "install_pkg",
           "display", "Response"]


def _impl():
    from brig import _api

    return _api


class _Lazy:
    """Stands in for http, fs or kv until first use, then forwards to it."""

    __slots__ = ("_name",)

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        return getattr(getattr(_impl(), self._name), attr)

    def __dir__(self):
        return dir(getattr(_impl(), self._name))

    def __repr__(self):
        return "<brig %s>" % self._name


def call(name, /, **kwargs):
    """Call the host function `name` with keyword arguments; returns its JSON result."""
    return _impl().call(name, **kwargs)


async def async_call(name, /, **kwargs):
    return await _impl().async_call(name, **kwargs)


def run_async(*aws):
    """Run one coroutine (or several, gathered) to completion and return the result."""
    return _impl().run_async(*aws)


def display(*objs):
    """Charts (matplotlib figures) and rich objects back to the host as artifacts.

    See brig._display; returns the last artifact's name.
    """
    from brig import _display

    return _display.display(*objs)


def time_now():
    """Seconds since the epoch.  The jail shares the host's clock, so this is host time."""
    import time

    return time.time()


def install_pkg(name, spec=None):
    """Install a Python package the run may install (--allow-package), from
    wheels, in a sandbox of pip's own; importable as soon as this returns."""
    return _impl().install_pkg(name, spec)


def __getattr__(name):
    if name == "Response":
        return _impl().Response
    raise AttributeError("module 'brig' has no attribute %r" % name)


http = _Lazy("http")
fs = _Lazy("fs")
kv = _Lazy("kv")

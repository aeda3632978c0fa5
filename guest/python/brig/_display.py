"""display(obj): rich output of the run as an artifact, as Jupyter displays it.

A matplotlib figure (or axes) becomes a PNG; any object with _repr_png_,
_repr_svg_ or _repr_html_ becomes that file (in this order of preference,
as Jupyter's notebook prefers images); anything else is printed.  Artifacts
are files in the run's outputs directory, which the host reads back when
the run ends.
"""
import base64
import os
import sys

outputs = None  # the run's outputs directory (set by the agent), or None
_count = 0


def _figure(obj):
    """The matplotlib figure obj is, or holds (axes), or None."""
    if type(obj).__module__.startswith("matplotlib"):
        fig = getattr(obj, "figure", None) if not hasattr(obj, "savefig") else obj
        if fig is not None and hasattr(fig, "savefig"):
            return fig
    return None


def _create(ext):
    """A new file display-NNN.ext in the outputs directory; its path and fd."""
    global _count
    if not outputs:
        raise RuntimeError("display(): this run has no outputs directory "
                           "(sessions have none; see brig_caps_set_outputs)")
    while True:
        _count += 1
        path = os.path.join(outputs, "display-%03d.%s" % (_count, ext))
        try:
            return path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:
            continue


def _write(ext, data):
    path, fd = _create(ext)
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    return os.path.basename(path)


def _rich(obj):
    """(extension, bytes or str) of obj's richest representation, or None."""
    for method, ext in (("_repr_png_", "png"), ("_repr_svg_", "svg"), ("_repr_html_", "html")):
        fn = getattr(obj, method, None)
        if fn is None or isinstance(obj, type):
            continue
        data = fn()
        if data is None:
            continue
        if isinstance(data, tuple):  # (data, metadata), as IPython allows
            data = data[0]
        if ext == "png" and isinstance(data, str):
            data = base64.b64decode(data)
        return ext, data
    return None


def display(*objs):
    """Show each object: charts and rich objects become artifacts, the rest is printed.

    Returns the name of the last artifact written (None when only printed).
    """
    name = None
    for obj in objs:
        fig = _figure(obj)
        if fig is not None:
            path, fd = _create("png")
            with os.fdopen(fd, "wb") as f:
                fig.savefig(f, format="png")
            name = os.path.basename(path)
            continue
        rich = _rich(obj)
        if rich is not None:
            name = _write(*rich)
        else:
            print(repr(obj), file=sys.stdout)
    return name

import argparse
import array
import io
import logging
import pickle
import struct
import sys

packed = struct.pack("<IhQ?3s", 7, -2, 2 ** 40, True, b"abc")
print(packed.hex(), struct.unpack("<IhQ?3s", packed), struct.calcsize("<IhQ?3s"))
a = array.array("d", [1.5, 2.5])
a.append(3.0)
print(a.tolist(), a.itemsize, sum(a))
obj = {"t": (1, 2), "s": {3}, "b": b"x", "n": None}
print(pickle.loads(pickle.dumps(obj, protocol=5)) == obj)
parser = argparse.ArgumentParser(prog="tool")
parser.add_argument("--count", type=int, default=1)
parser.add_argument("names", nargs="+")
parser.add_argument("-v", action="store_true")
ns = parser.parse_args(["--count", "3", "a", "b", "-v"])
print(ns.count, ns.names, ns.v)
buf = io.StringIO()
log = logging.getLogger("compat")
h = logging.StreamHandler(buf)
h.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
log.addHandler(h)
log.setLevel(logging.INFO)
log.debug("hidden")
log.info("processed %d rows", 42)
log.warning("careful")
print(buf.getvalue(), end="")
print(sys.byteorder, sys.maxsize == 2 ** 63 - 1, sys.getrecursionlimit())

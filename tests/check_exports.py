#!/usr/bin/env python3
"""libbrig.so exports exactly the functions include/brig.h declares.

usage: check_exports.py NM LIBBRIG_SO BRIG_H

Fails when the shared library exports any symbol outside the public brig_*
API (internal helpers would clash with an embedder's own symbols), or when a
function the header declares is missing from it.
"""
import re
import subprocess
import sys

# Symbols the toolchain may add to any shared library.
TOOLCHAIN = {"_init", "_fini", "_edata", "_end", "__bss_start"}


def exported(nm, lib):
    out = subprocess.run([nm, "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            names.add(fields[2].split("@")[0])
    return names - TOOLCHAIN


def declared(header):
    text = open(header, encoding="utf-8").read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    # A declaration's name directly precedes its "(": "int brig_run(...)".
    # Function-pointer typedefs ("(*brig_host_fn)(") are not functions.
    return {m.group(1) for m in re.finditer(r"(?<!\(\*)(?<!\w)(brig_\w+)\s*\(", text)}


def main():
    nm, lib, header = sys.argv[1:4]
    have, want = exported(nm, lib), declared(header)
    if not want:
        sys.exit("no brig_* functions found in %s" % header)
    extra = sorted(have - want)
    missing = sorted(want - have)
    for name in extra:
        print("exported but not in brig.h: %s" % name)
    for name in missing:
        print("declared in brig.h but not exported: %s" % name)
    print("%d exports, %d declared functions" % (len(have), len(want)))
    sys.exit(1 if extra or missing else 0)


if __name__ == "__main__":
    main()

"""The host-side Python SDK's suite: imports brig from the build tree
(BRIG_PYTHON_DIR, else the python/ directory next to BRIG_BIN, else
build/python)."""
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
_bin = os.environ.get("BRIG_BIN") or os.path.join(_here, "..", "..", "build", "brig")
_pydir = os.environ.get("BRIG_PYTHON_DIR") or os.path.join(os.path.dirname(_bin), "python")
sys.path.insert(0, os.path.abspath(_pydir))

import brig  # noqa: E402

# The SDK must come from the build tree, never from the guest's brig module.
assert os.path.dirname(brig.__file__) == os.path.join(os.path.abspath(_pydir), "brig"), \
    brig.__file__

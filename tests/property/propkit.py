"""Shared by the property suites: run a generated battery in the guest and
read its report."""
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "integration"))

import helpers  # noqa: E402

# BRIG_PROPERTY_SEED=N replays one seed; the default seeds are fixed so that
# every run of the suite tries the same values.
SEEDS = [int(os.environ["BRIG_PROPERTY_SEED"])] if os.environ.get("BRIG_PROPERTY_SEED") else [
    20240501, 7]
DEFAULT_MAX_FRAME = 32 << 20


def source(*names):
    return "\n".join((HERE / n).read_text() for n in names)


def run_battery(lang, code, *flags, timeout=120):
    """Run code; assert the run ended cleanly; return the guest's report."""
    res, rc = helpers.run(code, lang, *flags, timeout=timeout)
    assert res["error"] is None and rc == 0, helpers.describe(res)
    lines = res["stdout"].strip().splitlines()
    assert lines and lines[-1].startswith("{"), "no report:\n" + helpers.describe(res)
    return json.loads(lines[-1])


def check_report(report, exact=(), raised=()):
    """No failures, and both outcomes were really exercised where asked."""
    counts = report["counts"]
    assert not report["failures"], "\n".join(report["failures"])
    assert not [k for k in counts if k.endswith(":FAILED")], counts
    for api in exact:
        assert counts.get(api + ":exact", 0) > 0, (api, counts)
    for api in raised:
        assert counts.get(api + ":raised", 0) > 0, (api, counts)
    return counts

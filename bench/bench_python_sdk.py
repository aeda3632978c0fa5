#!/usr/bin/python3
"""The Python SDK's figures (import brig from the build tree), next to the
targets and to codepod's published ones.  Run by `make bench`; BENCH_RUNS
scales the sample counts.  BENCH_MARKDOWN=1 prints Markdown rows."""
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BRIG_BUILD", os.path.join(ROOT, "build"))
sys.path.insert(0, os.path.join(BUILD, "python"))

import brig  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "40"))
ROW = "%-44s %-56s %-34s %s"
if os.environ.get("BENCH_MARKDOWN"):
    ROW = "| %s | %s | %s | %s |"


def sample(fn, n, setup=None):
    out = []
    for _ in range(n):
        arg = setup() if setup else None
        t0 = time.perf_counter()
        r = fn(arg) if setup else fn()
        out.append((time.perf_counter() - t0) * 1e3)
        if hasattr(r, "kill"):
            r.kill()
        elif hasattr(r, "destroy"):
            r.destroy()
    return out


def spare_ready():
    """Wait (untimed) until the SDK's spare for default settings is ready."""
    from brig._sandbox import _SPARES
    key = (30_000, 256 << 20, None, (), 1 << 20)
    for _ in range(3000):
        with _SPARES._lock:
            if _SPARES._ready.get(key):
                return None
        time.sleep(0.01)
    return None


def row(what, xs, target=None, codepod="", verdict_limit=None):
    p50 = statistics.median(xs)
    p90 = sorted(xs)[min(len(xs) - 1, int(len(xs) * 0.9))]
    fig = "p50 %.2f ms, p90 %.2f ms (n=%d)" % (p50, p90, len(xs))
    verdict = ""
    if verdict_limit is not None:
        verdict = "PASS" if p50 <= verdict_limit else "MISS"
    tgt = (target or "recorded") + ("; codepod " + codepod if codepod else "")
    print(ROW % (what, fig, tgt, verdict), flush=True)


def main():
    print(ROW % ("Python SDK", "figure", "target", ""))
    t0 = time.perf_counter()
    first = brig.Sandbox()
    row("first Sandbox() in a process", [(time.perf_counter() - t0) * 1e3], None,
        "140-200 ms first")
    first.kill()
    row("Sandbox() create, a spare ready", sample(lambda _: brig.Sandbox(),
                                                    max(10, RUNS // 2), spare_ready),
        "p50 <= 5 ms", "5-8 ms warm", 5.0)
    row("Sandbox() create, back to back (no spare)",
        sample(brig.Sandbox, max(10, RUNS // 2)), None, "5-8 ms warm")
    sb = brig.Sandbox()
    sb.commands.run("true")
    row('commands.run("true")', sample(lambda: sb.commands.run("true"), RUNS * 3),
        "p50 <= 2 ms", "", 2.0)
    row('files.write + read (4 KiB)',
        sample(lambda: sb.files.read("/tmp/x") if sb.files.write("/tmp/x", b"x" * 4096)
               is None else None, RUNS * 2))
    row('run_code("pass")', sample(lambda: sb.run_code("pass"), RUNS * 3))
    sb.commands.run("head -c 10485760 /dev/urandom > /home/user/data.bin")
    row("fork() of a sandbox holding 10 MB, a spare ready",
        sample(lambda _: sb.fork(), max(5, RUNS // 4), spare_ready), "<= 5 ms", "6-17 ms", 5.0)
    row("fork() of a sandbox holding 10 MB, back to back",
        sample(sb.fork, max(5, RUNS // 4)), None, "6-17 ms")
    blob = sb.export_state()
    row("export_state() of 10 MB", sample(sb.export_state, max(5, RUNS // 4)))
    other = brig.Sandbox()
    row("import_state() of 10 MB", sample(lambda: other.import_state(blob), max(5, RUNS // 4)))
    other.kill()
    sb.kill()
    brig.run("pass")
    row('brig.run("pass")', sample(lambda: brig.run("pass"), RUNS))
    native = sample(lambda: subprocess.run(["/usr/bin/python3", "-c", "pass"], check=True),
                    RUNS)
    row("native python3 -c pass (for comparison)", native)


if __name__ == "__main__":
    main()

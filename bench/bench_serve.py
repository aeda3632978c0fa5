#!/usr/bin/python3
"""`brig serve`'s load figures: POST /v1/run of Python `pass` from wrk on loopback at
concurrency 1, 8 and 32 (BENCH_SERVE_REQUESTS, default 10000, requests each), next
to the library's own runs of the same code on as many threads (`bench_lib serve`, just
before and just after each of the service's turns, averaged), from the same run.  bench.py calls serve_rows(row); run alone, it prints the rows itself.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BRIG_BUILD", os.path.join(ROOT, "build"))
BRIG = os.path.join(BUILD, "brig")
LIB = os.path.join(BUILD, "bench_lib")
REQUESTS = int(os.environ.get("BENCH_SERVE_REQUESTS", "10000"))
LIB_RUNS = int(os.environ.get("BENCH_SERVE_LIB_RUNS", "1000"))
LEVELS = (1, 8, 32)
POST_LUA = """wrk.method = "POST"
wrk.body = '{"code": "pass"}'
wrk.headers["Content-Type"] = "application/json"
"""


def lib_figures(conc):
    out = subprocess.run([LIB, "serve", str(conc), str(LIB_RUNS)], capture_output=True, text=True,
                         check=True).stdout.split()
    return {out[i]: float(out[i + 1]) for i in range(0, len(out), 2)}


def ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1, "s": 1e3, "m": 6e4}[unit]


def wrk(port, conc, seconds, script):
    out = subprocess.run(["wrk", "-t", str(min(conc, 2)), "-c", str(conc), "-d", "%ds" % seconds,
                          "--timeout", "30s", "--latency", "-s", script,
                          "http://127.0.0.1:%d/v1/run" % port],
                         capture_output=True, text=True, check=True).stdout
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(m.group(1)) if m else 0
    return {"requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": ms(re.search(r"50%\s+(\S+)", out).group(1)),
            "p99": ms(re.search(r"99%\s+(\S+)", out).group(1)),
            "errors": errors}


def start_server(tmp):
    log = open(os.path.join(tmp, "serve.log"), "w+")
    # As many run slots as the highest concurrency: the library side runs that many too.
    proc = subprocess.Popen([BRIG, "serve", "--listen", "127.0.0.1:0", "--max-runs",
                             str(max(LEVELS)), "--max-queue", "64"],
                            stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = open(log.name).read()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", text)
        if m and "ready" in text:
            return proc, int(m.group(1)), log
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("brig serve did not start: " + open(log.name).read())


def serve_rows(row):
    if not shutil.which("wrk"):
        row("brig serve, POST /v1/run", "wrk not installed (scripts/install-deps.sh)")
        return
    tmp = tempfile.mkdtemp(prefix="brig-bench-serve-")
    script = os.path.join(tmp, "post.lua")
    with open(script, "w") as f:
        f.write(POST_LUA)
    proc, port, log = start_server(tmp)
    try:
        for conc in LEVELS:
            # The library before and after the service, so that a shared
            # machine's drift hits both sides alike.
            before = lib_figures(conc)
            # Long enough for REQUESTS at the library's rate, with room to spare.
            seconds = int(REQUESTS * 1.6 / max(before["runs_per_s"], 1)) + 2
            w = wrk(port, conc, seconds, script)
            after = lib_figures(conc)
            lib = {k: (before[k] + after[k]) / 2 for k in before}
            ratio = w["rps"] / lib["runs_per_s"]
            row("brig serve, POST /v1/run Python `pass`, %d at once" % conc,
                "%.0f req/s, p50 %.1f ms, p99 %.1f ms, %d requests, %d errors; "
                "library %.0f runs/s, p50 %.1f ms, p99 %.1f ms: %.0f%%"
                % (w["rps"], w["p50"], w["p99"], w["requests"], w["errors"],
                   lib["runs_per_s"], lib["p50_ms"], lib["p99_ms"], 100 * ratio),
                ">= 80%% of the library, >= %d requests, 0 errors" % REQUESTS,
                ratio >= 0.8 and w["requests"] >= REQUESTS and w["errors"] == 0)
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    def _row(what, figure, target="recorded", ok=None):
        print("%-50s %-100s %-40s %s" % (what, figure, target,
                                          "" if ok is None else ("PASS" if ok else "MISS")),
              flush=True)
    serve_rows(_row)
    sys.exit(0)

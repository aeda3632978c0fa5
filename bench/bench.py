#!/usr/bin/python3
"""brig's figures next to native python3/node and next to their targets, from one run.

Each pair is timed alternately (A B A B ...) so that drift of a noisy machine
hits both sides alike; medians and p90 are reported.  Every row ends with its
target and PASS or MISS (or nothing, for figures recorded for comparison).
Run with `make bench`; BENCH_RUNS sets the runs per start-up figure,
BENCH_MARKDOWN=1 prints the rows as a Markdown table (for BENCHMARKS.md), and
BENCH_ONLY=workloads runs only the real-world programs (pandas, matplotlib, numpy).
"""
import contextlib
import http.server
import os
import platform
import shutil
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import egress

import bench_serve

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BRIG_BUILD", os.path.join(ROOT, "build"))
BRIG = os.path.join(BUILD, "brig")
BENCH_LIB = os.path.join(BUILD, "bench_lib")
PY = "/usr/bin/python3"
NODE = shutil.which("node") or "/usr/bin/node"
RUNS = int(os.environ.get("BENCH_RUNS", "40"))
COMPUTE_REPEATS = 5
# Both sides get the same small environment, as the guest does: variables
# such as NODE_EXTRA_CA_CERTS would otherwise slow only the native side.
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}
for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "BRIG_GUEST_DIR"):
    if var in os.environ:
        ENV[var] = os.environ[var]

counts = {"PASS": 0, "MISS": 0}
ROW = "%-56s %-60s %-24s %s"
if os.environ.get("BENCH_MARKDOWN"):
    ROW = "| %s | %s | %s | %s |"


def times(x):
    return ("%.2f" % x).rstrip("0").rstrip(".") + "x"


def row(what, figure, target="recorded", ok=None):
    verdict = "" if ok is None else ("PASS" if ok else "MISS")
    if verdict:
        counts[verdict] += 1
    print(ROW % (what, figure, target, verdict), flush=True)


def wall(cmd, env):
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    return time.perf_counter() - t0


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def pair(name, native, sandboxed, runs=RUNS, target=None, env=None, warmup=1):
    """Alternate the two commands; a row of their medians, p90s and ratio."""
    env = env or ENV
    a, b = [], []
    for _ in range(warmup):  # caches, and a daemon's zygotes
        wall(native, env), wall(sandboxed, env)
    for _ in range(runs):
        a.append(wall(native, env))
        b.append(wall(sandboxed, env))
    ma, mb = statistics.median(a), statistics.median(b)
    figure = "%.2f ms vs native %.2f ms (p90 %.2f / %.2f): %.2fx" % (
        mb * 1e3, ma * 1e3, pct(b, 0.9) * 1e3, pct(a, 0.9) * 1e3, mb / ma)
    if target is None:
        row(name, figure)
    else:
        row(name, figure, "<= " + times(target), mb / ma <= target)


# ------------------------------------------------------------ the CLI's modes

def cli_help():
    r = subprocess.run([BRIG, "--help"], capture_output=True, text=True, env=ENV)
    return r.stdout + r.stderr


HELP = cli_help()
HAS_NO_DAEMON = "--no-daemon" in HELP
HAS_DAEMON = "brig daemon" in HELP
COLD = [BRIG, "--no-daemon"] if HAS_NO_DAEMON else [BRIG]


@contextlib.contextmanager
def daemon():
    """A daemon of our own (BRIG_DAEMON_DIR), for the rows that use one; None without."""
    if not HAS_DAEMON:
        yield None
        return
    env = dict(ENV, BRIG_DAEMON_DIR=tempfile.mkdtemp(prefix="brig-bench-daemon-"))
    proc = subprocess.Popen([BRIG, "daemon", "start"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    up = False
    for _ in range(200):
        if subprocess.run([BRIG, "daemon", "status"], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0:
            up = True
            break
        time.sleep(0.05)
    try:
        yield env if up else None
    finally:
        subprocess.run([BRIG, "daemon", "stop"], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(env["BRIG_DAEMON_DIR"], ignore_errors=True)


def cli_rows():
    pair("CLI, Python pass, no daemon", [PY, "-I", "-S", "-c", "pass"], COLD + ["-c", "pass"],
         target=1.5)
    with daemon() as env:
        if env is None:
            why = "n/a (no daemon)" if not HAS_DAEMON else "n/a (the daemon did not start)"
            row("CLI, Python pass, through the daemon", why, "<= 0.8x python3 -c pass", False)
            row("CLI, JS 0, through the daemon", why, "<= 0.3x node -e 0", False)
            return
        pair("CLI, Python pass, through the daemon", [PY, "-c", "pass"], [BRIG, "-c", "pass"],
             target=0.8, env=env, warmup=3)
        pair("CLI, JS 0, through the daemon", [NODE, "-e", "0"],
             [BRIG, "--lang", "js", "-c", "0"], target=0.3, env=env, warmup=3)


# ------------------------------------------------------------------- compute

PY_INNER = (
    "import time\n"
    "def f(n): return n if n < 2 else f(n-1) + f(n-2)\n"
    "ts = []\n"
    "for i in range(9):\n"
    "    t = time.perf_counter(); f(27); ts.append(time.perf_counter() - t)\n"
    "print(sorted(ts)[4] * 1000)\n"
)
JS_INNER = (
    "function f(n){return n<2?n:f(n-1)+f(n-2)}\n"
    "const ts=[]; for (let i=0;i<9;i++){const t=performance.now(); f(30);"
    " ts.push(performance.now()-t)}\n"
    "ts.sort((a,b)=>a-b); console.log(ts[4])\n"
)
# Allocation-heavy: the collector's work shows (a single-threaded V8 does it all on
# the main thread).
JS_JSON_INNER = (
    "const ts=[]; for (let k=0;k<7;k++){const t=performance.now();"
    " let o={a:[...Array(1000).keys()].map(i=>({i,s:'x'+i}))};"
    " for(let i=0;i<100;i++)o=JSON.parse(JSON.stringify(o)); ts.push(performance.now()-t)}\n"
    "ts.sort((a,b)=>a-b); console.log(ts[3])\n"
)


def timed_inside(cmd, code=None):
    """(milliseconds the process printed, whether a library run started warm)."""
    out = subprocess.run(cmd, input=code, capture_output=True, text=True, check=True,
                         env=ENV).stdout.split()
    warm = out[-1] == "warm=1" if out[-1].startswith("warm=") else None
    return float(out[-2] if warm is not None else out[-1]), warm


def compute(sides):
    """Alternate the sides COMPUTE_REPEATS times: {name: (median ms, all warm)}."""
    ms = {name: [] for name in sides}
    warm = {name: True for name in sides}
    for _ in range(COMPUTE_REPEATS):
        for name, (cmd, code) in sides.items():
            t, w = timed_inside(cmd, code)
            ms[name].append(t)
            warm[name] = warm[name] and w is not False
    return {name: (statistics.median(ms[name]), warm[name]) for name in sides}


def ratio_row(what, fig, base, base_name, target=1.05):
    (t, warm), (b, _) = fig, base
    note = "" if warm else " (started cold)"
    row(what, "%.2f ms vs %s %.2f ms: %.2fx%s" % (t, base_name, b, t / b, note),
        "within 5%" if target == 1.05 else "<= " + times(target), t / b <= target and warm)


def compute_rows():
    lib = [BENCH_LIB, "compute"]
    r = compute({
        "native": ([PY, "-I", "-S", "-c", PY_INNER], None),
        "cli": (COLD + ["-c", PY_INNER], None),
        "warm": (lib + ["python", "warm"], PY_INNER),
    })
    ratio_row("CPU-bound Python, fib(27) timed inside, cold run", r["cli"], r["native"], "native")
    ratio_row("CPU-bound Python, fib(27) timed inside, warm run", r["warm"], r["native"], "native")
    for label, code in (("fib(30)", JS_INNER), ("JSON round trips", JS_JSON_INNER)):
        r = compute({
            "native": ([NODE, "-e", code], None),
            "single": ([NODE, "--single-threaded", "-e", code], None),
            "cli": (COLD + ["--lang", "js", "-c", code], None),
            "warm": (lib + ["js", "warm"], code),
        })
        (s, _), (n, _) = r["single"], r["native"]
        row("CPU-bound JS, %s inside: node --single-threaded" % label,
            "%.2f ms vs node %.2f ms: %.2fx (the flag's cost)" % (s, n, s / n))
        ratio_row("CPU-bound JS, %s timed inside, cold run" % label, r["cli"], r["native"], "node")
        ratio_row("CPU-bound JS, %s timed inside, warm run" % label, r["warm"], r["native"], "node")


def whole_process_rows():
    fib_py = "def f(n): return n if n < 2 else f(n-1) + f(n-2)\nf(30)"
    pair("CPU-bound Python, fib(30), whole process", [PY, "-I", "-S", "-c", fib_py],
         COLD + ["-c", fib_py], runs=10, target=1.05)
    fib_js = "function f(n){return n<2?n:f(n-1)+f(n-2)}; f(35)"
    pair("CPU-bound JS, fib(35), whole process", [NODE, "-e", fib_js],
         COLD + ["--lang", "js", "-c", fib_js], runs=10, target=1.05)
    json_js = ("let o={a:[...Array(1000).keys()].map(i=>({i,s:'x'+i}))};"
               "for(let i=0;i<300;i++)o=JSON.parse(JSON.stringify(o))")
    pair("CPU-bound JS, JSON round trips, whole process", [NODE, "-e", json_js],
         COLD + ["--lang", "js", "-c", json_js], runs=10, target=1.05)


# ------------------------------------------------------- real-world workloads

# The corpus's heavier kinds of program (tests/compat); each prints the
# milliseconds of its work, timed inside, after its imports.
WORKLOADS = {
    "pandas group-by, 1M rows": (
        "import time, numpy as np, pandas as pd\n"
        "rng = np.random.default_rng(0)\n"
        "df = pd.DataFrame({'k': rng.integers(0, 1000, 1_000_000),"
        " 'g': rng.choice(list('abcdefgh'), 1_000_000), 'v': rng.random(1_000_000)})\n"
        "t = time.perf_counter()\n"
        "r = df.groupby(['g', 'k'])['v'].agg(['sum', 'mean', 'count'])\n"
        "print((time.perf_counter() - t) * 1e3)\n"),
    "matplotlib render, 4 charts to PNG": (
        "import time, io, numpy as np, matplotlib\nmatplotlib.use('Agg')\n"
        "import matplotlib.pyplot as plt\n"
        "x = np.linspace(0, 20, 20000)\n"
        "t = time.perf_counter()\n"
        "fig, axs = plt.subplots(2, 2, figsize=(10, 8), dpi=100)\n"
        "axs[0, 0].plot(x, np.sin(x)); axs[0, 1].scatter(x[::20], np.cos(x[::20]), s=4)\n"
        "axs[1, 0].hist(np.sin(x) * np.cos(3 * x), bins=60); axs[1, 1].bar(range(30), range(30))\n"
        "for a in axs.flat: a.set_title('chart'); a.grid(True)\n"
        "fig.savefig(io.BytesIO(), format='png')\n"
        "print((time.perf_counter() - t) * 1e3)\n"),
    "numpy solve, 1500x1500": (
        "import time, numpy as np\n"
        "rng = np.random.default_rng(0)\n"
        "a = rng.standard_normal((1500, 1500)); b = rng.standard_normal(1500)\n"
        "t = time.perf_counter()\n"
        "x = np.linalg.solve(a, b)\n"
        "print((time.perf_counter() - t) * 1e3)\n"),
}


def workload_rows():
    """Native python3 and a cold brig run of the same program: the work timed
    inside (the target), and the whole process (imports and start-up too)."""
    for what, code in WORKLOADS.items():
        r = compute({"native": ([PY, "-c", code], None), "cli": (COLD + ["-c", code], None)})
        ratio_row(what + ", timed inside", r["cli"], r["native"], "native")
        pair(what + ", whole process", [PY, "-c", code], COLD + ["-c", code], runs=5)


# ------------------------------------------------------------ gathered HTTP

class SlowHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(0.3)
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def gathered_requests():
    """Three requests to a server that answers after 300 ms, issued together."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SlowHandler)
    server.daemon_threads = True
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    code = (
        "import asyncio, time\n"
        "async def main():\n"
        "    u = 'http://127.0.0.1:%d/'\n"
        "    t0 = time.perf_counter()\n"
        "    await asyncio.gather(*(http.async_get(u) for _ in range(3)))\n"
        "    return time.perf_counter() - t0\n"
        "print('%%.1f' %% (asyncio.run(main()) * 1000))\n" % port
    )
    out = subprocess.run(COLD + ["--allow-host", "127.0.0.1:%d" % port, "-c", code],
                         capture_output=True, text=True, check=True, env=ENV).stdout.strip()
    server.shutdown()
    row("3 gathered HTTP requests, 300 ms each", "%s ms" % out, "< 600 ms", float(out) < 600)


# ------------------------------------------------------------ the library

def library_figures():
    r = subprocess.run([BENCH_LIB], capture_output=True, text=True, env=dict(os.environ))
    if r.returncode:
        print(r.stderr)
    figs = {}
    for line in r.stdout.splitlines():
        key, _, value = line.partition(" ")
        figs[key] = value.split(" ")[0]  # a figure's target may follow it
    return figs


def warm_note(figs, key):
    """'' when every run counted under key started warm, else how many did."""
    done, _, total = figs.get(key, "0/0").partition("/")
    return "" if done == total and total != "0" else " (%s/%s started warm)" % (done, total)


def fresh_sandbox_rows(figs):
    for lang, p50_target, rate_target in (("python", 1, 1000),
                                          ("js", 2, 500)):
        name = "Python `pass`" if lang == "python" else "JS `0`"
        pre = "lib_warm_" + lang
        if pre + "_p50_ms" in figs:
            p50, note = float(figs[pre + "_p50_ms"]), warm_note(figs, pre + "_warm_runs")
            row("fresh sandbox per run, warm executor, %s" % name,
                "p50 %.2f ms, p90 %.2f ms%s" % (p50, float(figs[pre + "_p90_ms"]), note),
                "p50 <= %d ms" % p50_target, p50 <= p50_target and not note)
            rate, note = float(figs[pre + "_runs_per_s"]), warm_note(figs,
                                                                     pre + "_runs_per_s_warm_runs")
            row("  the same, on 2 threads", "%.0f runs/s%s" % (rate, note),
                ">= %d runs/s" % rate_target, rate >= rate_target and not note)
        pre = "lib_cold_" + lang
        if pre + "_p50_ms" in figs:
            row("  the same from a cold executor (for comparison)",
                "p50 %.2f ms, p90 %.2f ms; %.0f runs/s on 2 threads"
                % (float(figs[pre + "_p50_ms"]), float(figs[pre + "_p90_ms"]),
                   float(figs[pre + "_runs_per_s"])))
    if "lib_cold_sh_p50_ms" in figs:
        row("fresh sandbox per run, `sh -c true` (no zygote)",
            "p50 %.2f ms; %s runs/s on 2 threads"
            % (float(figs["lib_cold_sh_p50_ms"]), figs["lib_cold_sh_runs_per_s"]))


def mem_figure(figs, pre):
    mb = [int(figs.get(pre + "_idle_%s_kb" % k, 0)) / 1024 for k in ("pss", "uss", "rss")]
    return "%.1f MB (private %.1f MB, RSS %.1f MB)" % tuple(mb)


def memory_rows(figs):
    for lang, name, target_mb in (("python", "Python", 12), ("js", "JS", 50)):
        pre = "lib_warm_" + lang
        if pre + "_idle_pss_kb" in figs:
            kb = int(figs[pre + "_idle_pss_kb"])
            note = warm_note(figs, pre + "_idle_warm_runs")
            row("idle sandbox PSS, warm, %s (%s processes)" % (name, figs[pre + "_idle_procs"]),
                mem_figure(figs, pre) + note, "<= %d MB" % target_mb,
                kb <= target_mb * 1024 and not note)
        pre = "lib_cold_" + lang
        if pre + "_idle_pss_kb" in figs:
            row("  the same, cold (for comparison)", mem_figure(figs, pre))
    if "lib_warm_js_executor_pss_kb" in figs:
        row("warm executor's zygotes (its processes on the host), PSS",
            "%.1f MB" % (int(figs["lib_warm_js_executor_pss_kb"]) / 1024))
        jails = int(figs.get("lib_warm_js_pool_jails", 0))
        kb = int(figs.get("lib_warm_js_pool_pss_kb", 0))
        row("warm executor's jails prepared ahead, PSS",
            "%d jails, %.1f MB in all%s" % (jails, kb / 1024,
                                            ", %.1f MB each" % (kb / 1024 / jails) if jails else ""))


def session_rows(figs):
    def us(key):
        return float(figs[key])

    if "hostcall_p50_us" in figs:
        row("host-function round trip (median of 10,000)",
            "p50 %.1f us, p99 %.1f us" % (us("hostcall_p50_us"), us("hostcall_p99_us")),
            "<= 20 us", us("hostcall_p50_us") <= 20)
    for lang, name in (("python", "Python"), ("js", "JS")):
        pre = "session_%s_" % lang
        if pre + "handler_echo_p50_us" in figs:
            p50 = us(pre + "handler_echo_p50_us")
            row("handler call in a session, echo (%s)" % name,
                "p50 %.1f us, p99 %.1f us" % (p50, us(pre + "handler_echo_p99_us")),
                "<= 100 us", p50 <= 100)
            p50 = us(pre + "run_p50_us")
            row("run in a session, `0` (%s)" % name,
                "p50 %.1f us, p99 %.1f us" % (p50, us(pre + "run_p99_us")), "<= 200 us",
                p50 <= 200)
        target = 0.5 if lang == "python" else 1.5
        if pre + "restore_call_p50_us" in figs:
            p50 = us(pre + "restore_call_p50_us") / 1000
            row("snapshot restore + handler call (%s)" % name,
                "p50 %.2f ms, p99 %.2f ms" % (p50, us(pre + "restore_call_p99_us") / 1000),
                "<= %.1f ms" % target, p50 <= target)
        else:
            row("snapshot restore + handler call (%s)" % name, "n/a (no snapshots)",
                "<= %.1f ms" % target, False)
        if pre + "restore_call_idle_p50_us" in figs:
            p50 = us(pre + "restore_call_idle_p50_us") / 1000
            row("  the same, restores 5 ms apart (%s)" % name, "p50 %.2f ms" % p50,
                "<= %.1f ms" % target, p50 <= target)
        if pre + "restore_per_request_per_s" in figs:
            rate = us(pre + "restore_per_request_per_s")
            if lang == "python":
                row("restore per request, echo handler (%s)" % name, "%.0f requests/s" % rate,
                    ">= 3,800 requests/s", rate >= 3800)
            else:
                row("restore per request, echo handler (%s)" % name, "%.0f requests/s" % rate)


def node_sdk_rows():
    """The Node SDK (node/bench/bench.js), next to hyperlight-js's published figures."""
    addon = os.path.join(BUILD, "node", "brig_sdk.node")
    if not os.path.exists(addon):
        row("Node SDK", "n/a (brig_sdk.node not built)")
        return
    r = subprocess.run([NODE, os.path.join(ROOT, "node", "bench", "bench.js")],
                       capture_output=True, text=True,
                       env=dict(os.environ, BRIG_NODE_ADDON=addon))
    if r.returncode:
        print(r.stderr)
    figs = dict(line.split(" ", 1) for line in r.stdout.splitlines() if " " in line)

    def fig(key, scale=1.0, unit="us"):
        return "p50 %.1f %s, p99 %.1f %s" % (float(figs[key + "_p50_us"]) / scale, unit,
                                              float(figs[key + "_p99_us"]) / scale, unit)

    for lang, name in (("js", "JS"), ("python", "Python")):
        key = "node_%s_echo" % lang
        if key + "_p50_us" in figs:
            row("Node callHandler echo (%s)" % name, fig(key),
                "<= 100 us (hyperlight-js ~0.1 ms)", float(figs[key + "_p50_us"]) <= 100)
        key = "node_%s_restore_call" % lang
        if key + "_p50_us" in figs:
            row("Node restore + callHandler (%s)" % name, fig(key, 1000, "ms"),
                "recorded (hyperlight-js ~0.7 ms)")
    if "node_js_cold_p50_us" in figs:
        row("Node build + loadRuntime + first call (JS, cold)", fig("node_js_cold", 1000, "ms"),
            "recorded (hyperlight-js ~97 ms)")
    for lang, name in (("python", "Python"), ("js", "JS")):
        key = "node_run_%s" % lang
        if key + "_p50_us" in figs:
            row("Node run('0') (%s)" % name, fig(key, 1000, "ms"))


def main():
    print("machine: %s, %d cores, %s; kernel %s; euid %d; %d runs per start-up figure"
          % (platform.processor() or platform.machine(), os.cpu_count(),
             _cpu_model(), platform.release(), os.geteuid(), RUNS))
    print("CLI: %s; %s" % ("--no-daemon" if HAS_NO_DAEMON else "no --no-daemon (always cold)",
                           "brig daemon" if HAS_DAEMON else "no daemon"))
    print(ROW % ("what", "figure", "target", ""))
    if os.environ.get("BENCH_MARKDOWN"):
        print(ROW % ("---", "---", "---", "---"))
    # An empty daemon directory of our own: a user's daemon never serves the cold rows.
    ENV["BRIG_DAEMON_DIR"] = tempfile.mkdtemp(prefix="brig-bench-nodaemon-")
    try:
        # BENCH_ONLY=workloads: just the real-world programs' rows.
        if os.environ.get("BENCH_ONLY") == "workloads":
            workload_rows()
            return 0
        cli_rows()
        pair("CLI, `sh -c true`", ["/bin/sh", "-c", "true"],
             COLD + ["--lang", "sh", "-c", "true"])
        if os.path.exists(os.path.join(ROOT, "guest", "js", "agent.js")):
            pair("CLI, JS 0, no daemon", [NODE, "-e", "0"], COLD + ["--lang", "js", "-c", "0"],
                 target=1.3)
        whole_process_rows()
        compute_rows()
        gathered_requests()
        egress.rows(row, BRIG, ENV)
        figs = library_figures()
        fresh_sandbox_rows(figs)
        memory_rows(figs)
        session_rows(figs)
        node_sdk_rows()
        bench_serve.serve_rows(row)
        workload_rows()
    finally:
        shutil.rmtree(ENV["BRIG_DAEMON_DIR"], ignore_errors=True)
    print("%d PASS, %d MISS" % (counts["PASS"], counts["MISS"]))


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown cpu"


if __name__ == "__main__":
    sys.exit(main())

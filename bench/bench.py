#!/usr/bin/python3
"""brig's figures next to native python3/node, as ratios, from one run.

Each pair is timed alternately (A B A B ...) so that drift of a noisy machine
hits both sides alike; medians and p90 are reported.  Run with `make bench`.
"""
import http.server
import os
import platform
import shutil
import socketserver
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BRIG_BUILD", os.path.join(ROOT, "build"))
BRIG = os.path.join(BUILD, "brig")
PY = "/usr/bin/python3"
NODE = shutil.which("node") or "/usr/bin/node"
RUNS = int(os.environ.get("BENCH_RUNS", "40"))
# Both sides get the same small environment, as the guest does: variables
# such as NODE_EXTRA_CA_CERTS would otherwise slow only the native side.
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}
for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "BRIG_GUEST_DIR"):
    if var in os.environ:
        ENV[var] = os.environ[var]


def wall(cmd):
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                   env=ENV)
    return time.perf_counter() - t0


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def pair(name, native, sandboxed, runs=RUNS):
    """Alternate the two commands; print median/p90 of each and the ratio."""
    a, b = [], []
    wall(native), wall(sandboxed)  # warm caches
    for _ in range(runs):
        a.append(wall(native))
        b.append(wall(sandboxed))
    ma, mb = statistics.median(a), statistics.median(b)
    print(
        "%-28s native %8.2f ms (p90 %8.2f)   brig %8.2f ms (p90 %8.2f)   ratio %.2fx"
        % (name, ma * 1e3, pct(a, 0.9) * 1e3, mb * 1e3, pct(b, 0.9) * 1e3, mb / ma)
    )


def inner(name, native, sandboxed):
    """Compute time measured inside each process (median of its own repeats)."""
    a = float(subprocess.run(native, capture_output=True, text=True, check=True,
                             env=ENV).stdout.split()[-1])
    b = float(subprocess.run(sandboxed, capture_output=True, text=True, check=True,
                             env=ENV).stdout.split()[-1])
    print("%-28s native %8.2f ms                  brig %8.2f ms                  ratio %.2fx"
          % (name, a, b, b / a))


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
    out = subprocess.run(
        [BRIG, "--allow-host", "127.0.0.1:%d" % port, "-c", code],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    server.shutdown()
    print("%-28s %s ms for 3 gathered requests of 300 ms each" % ("async batching", out))


def library_figures():
    out = subprocess.run([os.path.join(BUILD, "bench_lib")], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        key, value = line.split(None, 1)  # the value, and its target if it has one
        print("%-28s %s" % (key, value))
    if out.returncode:
        print(out.stderr)


def main():
    print("machine: %s, %d cores, %s; kernel %s; euid %d; %d runs per figure"
          % (platform.processor() or platform.machine(), os.cpu_count(),
             _cpu_model(), platform.release(), os.geteuid(), RUNS))
    pair("python startup (pass)", [PY, "-I", "-S", "-c", "pass"], [BRIG, "-c", "pass"])
    pair("shell startup (true)", ["/bin/sh", "-c", "true"], [BRIG, "--lang", "sh", "-c", "true"])
    fib_py = "def f(n): return n if n < 2 else f(n-1) + f(n-2)\nf(30)"
    pair("python cpu (fib 30)", [PY, "-I", "-S", "-c", fib_py], [BRIG, "-c", fib_py], runs=10)
    inner("python compute only (fib 27)", [PY, "-I", "-S", "-c", PY_INNER], [BRIG, "-c", PY_INNER])
    if os.path.exists(os.path.join(ROOT, "guest", "js", "agent.js")):
        pair("node startup (0)", [NODE, "-e", "0"], [BRIG, "--lang", "js", "-c", "0"])
        fib_js = "function f(n){return n<2?n:f(n-1)+f(n-2)}; f(35)"
        pair("node cpu (fib 35)", [NODE, "-e", fib_js], [BRIG, "--lang", "js", "-c", fib_js],
             runs=10)
        inner("node compute only (fib 30)", [NODE, "-e", JS_INNER],
              [BRIG, "--lang", "js", "-c", JS_INNER])
        json_js = ("let o={a:[...Array(1000).keys()].map(i=>({i,s:'x'+i}))};"
                   "for(let i=0;i<300;i++)o=JSON.parse(JSON.stringify(o))")
        pair("node cpu (JSON round trip)", [NODE, "-e", json_js],
             [BRIG, "--lang", "js", "-c", json_js], runs=10)
    gathered_requests()
    library_figures()


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

#!/usr/bin/env python3
"""System calls per handshake: rdpgate and HAProxy side by side, counted by `strace -c -f`.

Starts the same fake backend, HAProxy (haproxy.cfg.in) and rdpgate (filters on) as run.py,
attaches `strace -c -f` to each proxy in turn while rdp_load makes handshakes through it
(one at a time, or --concurrency), detaches, and prints one Markdown table: calls per handshake
by system call, the proxies side by side. Counts, not times: strace slows the proxy but does not
change what it calls. Python 3 stdlib + strace; loopback only; children stopped by pid.

    benchmarks/relay/syscalls.py --rdpgate build-release/gateway/rdpgate \\
        --load build-release/benchmarks/relay/rdp_load \\
        --backend build-release/benchmarks/relay/fake_rdp_backend [--workers 1] [--seconds 5]
"""

import argparse
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _run_module():
    spec = importlib.util.spec_from_file_location("relay_run", os.path.join(HERE, "run.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


relay = _run_module()
ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\w+)\s*$")


def count_syscalls(bench, target, args):
    """{syscall: calls per handshake} and the handshakes made, for one proxy."""
    out = os.path.join(bench.workdir, f"strace-{target.name}.txt")
    strace = subprocess.Popen(["strace", "-c", "-f", "-q", "-o", out, "-p", str(target.pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached to every thread
    try:
        result = bench.run_load(target, "--scenario", "handshake", "--concurrency",
                                args.concurrency, "--duration", args.seconds,
                                "--source", relay.LEGIT_SOURCE)
    finally:
        time.sleep(0.5)
        strace.send_signal(signal.SIGINT)
        strace.wait(timeout=30)
    handshakes = result["handshakes"]
    calls = {}
    with open(out) as f:
        for line in f:
            m = ROW.match(line)
            if m and m.group(3) != "total":
                calls[m.group(3)] = int(m.group(1)) / max(handshakes, 1)
    return calls, handshakes


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rdpgate", default=relay.find_default("build/gateway/rdpgate"))
    p.add_argument("--load", default=relay.find_default("build/benchmarks/relay/rdp_load"))
    p.add_argument("--backend",
                   default=relay.find_default("build/benchmarks/relay/fake_rdp_backend"))
    p.add_argument("--haproxy", default=shutil.which("haproxy") or "/usr/sbin/haproxy")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--concurrency", type=int, default=1)
    args = p.parse_args()
    if shutil.which("strace") is None:
        sys.exit("strace not found (Debian: strace)")
    # Bench wants run.py's options; only these matter here.
    args.idle_sessions, args.duration = 100, args.seconds
    workdir = tempfile.mkdtemp(prefix="rdpgate-syscalls-")
    bench = relay.Bench(args, workdir)
    haproxy = relay.Target("haproxy", "haproxy")
    gate = relay.Target("rdpgate", "rdpgate")
    gate.workers = args.workers
    bench.targets = [haproxy, gate]
    try:
        bench.start_backend()
        counted = {}
        for t in bench.targets:
            bench.start_target(t)
            counted[t.name] = count_syscalls(bench, t, args)
    finally:
        bench.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    names = sorted(set().union(*(c for c, _ in counted.values())),
                   key=lambda n: -max(c.get(n, 0) for c, _ in counted.values()))
    print("| system call | HAProxy per handshake | rdpgate per handshake |")
    print("|---|---|---|")
    for n in names:
        if all(counted[t][0].get(n, 0) < 0.005 for t in ("haproxy", "rdpgate")):
            continue  # start-up and housekeeping calls, not per handshake
        cells = [f"{counted[t][0].get(n, 0):.2f}" for t in ("haproxy", "rdpgate")]
        print(f"| `{n}` | {cells[0]} | {cells[1]} |")
    totals = [sum(counted[t][0].values()) for t in ("haproxy", "rdpgate")]
    print(f"| **all** | **{totals[0]:.1f}** | **{totals[1]:.1f}** |")
    print(f"\n{counted['haproxy'][1]} and {counted['rdpgate'][1]} handshakes at concurrency "
          f"{args.concurrency}, rdpgate workers: {args.workers}; counted by strace -c -f.")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Which rdpgate threads pay for a flood of refused connections, and what the flood does to a
legitimate client's handshake latency; for one or more rdpgate binaries side by side (e.g. two
commits), interleaved round by round. Uses run.py's processes, pinning and scenarios.

Per round and binary and worker count, on a fresh rdpgate:
  1. `handshake` at concurrency 1 (unflooded p50, as run.py);
  2. `flood` with one legitimate client (flooded p50 and refused/s, as run.py);
  3. a pure flood, the "legitimate" client from the deny-listed range too, while the CPU time
     of each rdpgate thread (/proc/PID/task/TID/stat, named rdpgate-w0, rdpgate-accept, ...)
     is read before and after: CPU µs per refused connection, by thread.

Usage: benchmarks/relay/flood_threads.py NAME=RDPGATE [NAME=RDPGATE ...]
           [--workers 1,2] [--rounds 5] [--duration 5] [--flood-concurrency 256] [--no-pin]
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile

import run


def thread_cpu(pid):
    """{tid: (name, CPU seconds)} of every thread of `pid`."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                head, rest = f.read().rsplit(")", 1)
        except OSError:
            continue  # the thread ended
        fields = rest.split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        out[int(tid)] = (head.split("(", 1)[1], cpu)
    return out


def pure_flood(bench, target, args):
    """The flood scenario with its one client in the deny-listed range too: every connection is
    refused (rdp_load then exits 1, having had no legitimate handshake)."""
    argv = bench.load_argv(target, "--scenario", "flood", "--duration", args.duration,
                           "--flood-range", run.DENY, "--flood-concurrency",
                           args.flood_concurrency, "--source", "127.0.1.254", "--timeout", 2)
    cpus = set(bench.load_cpus) if bench.load_cpus else None
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                          preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if not results:
        raise RuntimeError(f"rdp_load flood: exit {proc.returncode}: {proc.stderr.strip()}")
    target.child.truncate_log()
    return results[-1]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("binaries", nargs="+", metavar="NAME=RDPGATE")
    p.add_argument("--load", default=run.find_default("build/benchmarks/relay/rdp_load"))
    p.add_argument("--backend", default=run.find_default("build/benchmarks/relay/fake_rdp_backend"))
    p.add_argument("--workers", default="1,2")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=float, default=5)
    p.add_argument("--flood-concurrency", type=int, default=256)
    p.add_argument("--no-pin", action="store_true",
                   help="leave rdpgate on every CPU (run.py pins it to CPU 0 with one worker)")
    args = p.parse_args()
    args.idle_sessions = 0
    targets = [b.split("=", 1) for b in args.binaries]
    workers = [int(w) for w in args.workers.split(",")]
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    workdir = tempfile.mkdtemp(prefix="rdpgate-flood-threads-")
    bench = run.Bench(args, workdir)
    if args.no_pin:
        bench.proxy_cpus = None
    rows = {}
    try:
        bench.start_backend()
        for rnd in range(args.rounds):
            for w in workers:
                for name, binary in targets:
                    args.rdpgate = binary
                    t = run.Target(f"{name}, workers: {w}", "rdpgate")
                    t.workers = w
                    bench.start_target(t)
                    try:
                        hs = bench.sc_handshake1(t)
                        flood = bench.sc_flood(t)
                        before = thread_cpu(t.pid)
                        pure = pure_flood(bench, t, args)
                        after = thread_cpu(t.pid)
                    finally:
                        t.child.stop()
                    refused = max(1.0, pure["flood_refused"])
                    cpu = {}
                    for tid, (thread, seconds) in after.items():
                        spent = seconds - before.get(tid, (thread, 0.0))[1]
                        cpu[thread] = cpu.get(thread, 0.0) + spent / refused * 1e6
                    r = rows.setdefault(t.name, {"hs": [], "flood": [], "rate": [], "cpu": []})
                    r["hs"].append(hs["hs1_p50"])
                    r["flood"].append(flood["flood_p50"])
                    r["rate"].append(flood["flood_rate"])
                    r["cpu"].append(cpu)
                    shown = ", ".join(f"{k} {v:.1f}" for k, v in sorted(cpu.items(),
                                                                         key=lambda kv: -kv[1]))
                    run.log(f"round {rnd + 1} {t.name}: unflooded p50 {hs['hs1_p50']:.0f} µs, "
                            f"flooded p50 {flood['flood_p50']:.0f} µs, refused/s "
                            f"{flood['flood_rate']:.0f}; CPU µs per refusal: {shown}")
    finally:
        bench.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"Medians of {args.rounds} round(s) of {args.duration:g} s; flood of "
          f"{args.flood_concurrency} connections at a time from {run.DENY}.\n")
    print("| rdpgate | refused/s | CPU µs per refusal, by thread | legit p50 unflooded → flooded |")
    print("|---|---|---|---|")
    for name, r in rows.items():
        threads = sorted({k for c in r["cpu"] for k in c})
        per = {k: statistics.median(c.get(k, 0.0) for c in r["cpu"]) for k in threads}
        shown = ", ".join(f"{k} {v:.1f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1])
                          if v >= 0.05) or "—"
        u, f = statistics.median(r["hs"]), statistics.median(r["flood"])
        print(f"| {name} | {statistics.median(r['rate']):,.0f} | {shown} | "
              f"{u:,.0f} → {f:,.0f} µs (× {f / u:.2f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

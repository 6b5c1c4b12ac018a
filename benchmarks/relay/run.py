#!/usr/bin/env python3
"""rdpgate vs HAProxy vs a direct connection, side by side, in one command.

Starts fake_rdp_backend, HAProxy configured to do rdpgate's job (haproxy.cfg.in) and rdpgate
with its filters on, pins each proxy to CPU 0 and the load generator plus the backend to CPU 1,
runs every scenario of rdp_load against the direct path and both proxies, interleaved, for R
rounds, and prints a Markdown table of medians with ratios. Builds nothing; Python 3 stdlib
only; loopback only; every child is stopped by pid and every wait is bounded.

    benchmarks/relay/run.py [--rdpgate BIN] [--load BIN] [--backend BIN] [--haproxy BIN]
                            [--rounds 3] [--workers 1,2] [--quick]

See docs/benchmarks.md for what each row measures.
"""

import argparse
import json
import os
import queue
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

ALLOW = "127.0.0.0/8"
DENY = "127.0.1.0/24"  # the flood's range: both proxies refuse it at admission
LEGIT_SOURCE = "127.0.0.1"
RATE_LIMIT = 1_000_000  # per-source new connections per second: never reached


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    """A port that was free a moment ago (HAProxy cannot report a port chosen by the OS)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def read_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def read_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # Fields 14 and 15 (utime, stime) of proc(5); fields[0] here is field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Child:
    """A child process with CPU affinity, stdout lines in a queue, stopped by its pid."""

    def __init__(self, name, argv, cpus, log_path):
        self.name = name
        self.log_path = log_path
        self.lines = queue.Queue()
        log_file = open(log_path, "ab")
        affinity = set(cpus) if cpus else None

        def pin():
            if affinity:
                os.sched_setaffinity(0, affinity)

        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log_file,
                                     stdin=subprocess.DEVNULL, preexec_fn=pin)
        log_file.close()
        self.pid = self.proc.pid
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for raw in self.proc.stdout:
            self.lines.put(raw.decode(errors="replace").rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            if line.startswith(prefix):
                return line
        raise RuntimeError(f"{self.name}: no '{prefix}' line within {timeout}s; "
                           f"log tail:\n{self.log_tail()}")

    def log_tail(self, n=2000):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - n))
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def truncate_log(self):
        # The child writes with O_APPEND, so truncating keeps the disk bounded safely.
        try:
            os.truncate(self.log_path, 0)
        except OSError:
            pass

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


class Target:
    """One way to reach the backend: direct, through HAProxy, or through rdpgate."""

    def __init__(self, name, kind):
        self.name = name
        self.kind = kind
        self.port = None
        self.child = None  # the proxy process; None for direct
        self.metrics = None

    @property
    def pid(self):
        return self.child.pid if self.child else None


class Bench:
    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        # --cpus N: each proxy gets the first N CPUs of this process's mask (HAProxy N threads,
        # rdpgate `workers: 0`, which follows the mask), the load generator and the backend the
        # rest; with no CPU left over they share the proxy's.
        mask = sorted(os.sched_getaffinity(0))
        cpus = getattr(args, "cpus", None)
        if cpus:
            if cpus > len(mask):
                raise SystemExit(f"--cpus {cpus}: only {len(mask)} CPUs in this process's mask")
            self.proxy_cpus = mask[:cpus]
            self.load_cpus = mask[cpus:] or mask
        elif len(mask) >= 2:
            self.proxy_cpus, self.load_cpus = [mask[0]], [mask[1]]
        else:
            self.proxy_cpus = self.load_cpus = None
        self.backend = None
        self.backend_port = None
        self.targets = []
        # TCP_DEFER_ACCEPT on both proxies' listeners (syscalls.py and flood_threads.py have no
        # such option: theirs stay off).
        self.defer_accept = getattr(args, "defer_accept", False)

    # -- processes ----------------------------------------------------------------------------

    def start_backend(self):
        self.backend = Child("backend", [self.args.backend, "--port", "0", "--threads", "1"],
                             self.load_cpus, os.path.join(self.workdir, "backend.log"))
        self.backend_port = int(self.backend.expect("listening ", 10).split()[1])

    def start_haproxy(self, target):
        port = free_port()
        with open(os.path.join(HERE, "haproxy.cfg.in")) as f:
            text = f.read()
        for key, value in {"@PORT@": port, "@BACKEND_PORT@": self.backend_port,
                           "@ALLOW@": ALLOW, "@DENY@": DENY, "@RATE@": RATE_LIMIT,
                           "@MAXCONN@": self.maxconn(),
                           "@NBTHREAD@": len(self.proxy_cpus or [0]),
                           "@BIND_OPTIONS@": " defer-accept" if self.defer_accept else ""
                           }.items():
            text = text.replace(key, str(value))
        cfg = os.path.join(self.workdir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(text)
        target.child = Child(target.name, [self.args.haproxy, "-db", "-f", cfg], self.proxy_cpus,
                             os.path.join(self.workdir, "haproxy.log"))
        if not wait_for_port(port, 10):
            raise RuntimeError(f"haproxy did not listen on {port}:\n{target.child.log_tail()}")
        target.port = port

    def start_rdpgate(self, target, workers):
        state = os.path.join(self.workdir, f"state-{workers}")
        os.makedirs(state, exist_ok=True)
        cfg = os.path.join(self.workdir, f"rdpgate-{workers}.yaml")
        # rdpgate refuses to run as root without a user to drop to; HAProxy runs as we do.
        allow_root = "allow_root: true\n" if os.geteuid() == 0 else ""
        with open(cfg, "w") as f:
            f.write(f"""# rdpgate with its filters on, doing what haproxy.cfg does.
workers: {workers}
{allow_root}listeners:
  - name: bench
    address: "127.0.0.1:0"
    route: default
    defer_accept: {"true" if self.defer_accept else "false"}
sources:
  allow: ["{ALLOW}"]
  deny: ["{DENY}"]
  max_connections: {self.maxconn()}
  per_source:
    max_connections: 0
    rate: "{RATE_LIMIT}/s"
    burst: {RATE_LIMIT}
inspection:
  timeout: 5s
routes:
  - name: default
    match: {{username: "*"}}
    backends: ["127.0.0.1:{self.backend_port}"]
    connect_timeout: 3s
session: {{idle_timeout: 2h}}
shutdown: {{drain_timeout: 1s}}
bruteforce:
  enabled: true
  exempt: ["{ALLOW}"]
metrics: {{address: "127.0.0.1:0"}}
admin: {{address: ""}}
state: {{path: "{state}"}}
logging: {{level: info, format: json}}
""")
        # With more than one worker the proxy gets as many CPUs as there are workers (and so
        # shares CPU 1 with the load generator on a 2-core machine).
        cpus = self.proxy_cpus
        if cpus and workers > 1 and not getattr(self.args, "cpus", None):
            cpus = list(range(min(workers, len(os.sched_getaffinity(0)))))
        target.child = Child(target.name, [self.args.rdpgate, "run", "--config", cfg], cpus,
                             os.path.join(self.workdir, f"rdpgate-{workers}.log"))
        line = target.child.expect("listening bench ", 15)
        target.port = int(line.rsplit(":", 1)[1])
        try:
            target.metrics = target.child.expect("metrics ", 5).split()[1]
        except RuntimeError:
            target.metrics = None

    def maxconn(self):
        return max(self.args.idle_sessions + 500, 4000)

    def start_target(self, target):
        if target.kind == "direct":
            target.port = self.backend_port
        elif target.kind == "haproxy":
            self.start_haproxy(target)
        else:
            self.start_rdpgate(target, target.workers)

    def restart_target(self, target):
        if target.child:
            target.child.stop()
            target.child = None
        self.start_target(target)

    def stop_all(self):
        for t in self.targets:
            if t.child:
                t.child.stop()
        if self.backend:
            self.backend.stop()

    # -- load ---------------------------------------------------------------------------------

    def load_argv(self, target, *extra):
        return [self.args.load, "--target", f"127.0.0.1:{target.port}", *map(str, extra)]

    def run_load(self, target, *extra, timeout=120):
        def pin():
            if self.load_cpus:
                os.sched_setaffinity(0, set(self.load_cpus))
        proc = subprocess.run(self.load_argv(target, *extra), capture_output=True, text=True,
                              timeout=timeout, preexec_fn=pin)
        results = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
        if not results:
            raise RuntimeError(f"rdp_load {' '.join(map(str, extra))} against {target.name}: "
                               f"exit {proc.returncode}: {proc.stderr.strip()}")
        if proc.returncode != 0:
            log(f"  warning: rdp_load {extra[1]} against {target.name} exited "
                f"{proc.returncode}: {results[-1]}")
        if target.child:
            if not target.child.alive():
                raise RuntimeError(f"{target.name} died:\n{target.child.log_tail()}")
            target.child.truncate_log()
        return results[-1]

    # -- scenarios: each returns {row: value} for one target ----------------------------------

    def sc_handshake16(self, t):
        cpu0 = read_cpu_seconds(t.pid) if t.pid else None
        r = self.run_load(t, "--scenario", "handshake", "--concurrency", 16,
                          "--duration", self.args.duration)
        out = {"hs16": r["rate"], "hs16_errors": r["errors"]}
        if t.pid and r["handshakes"] > 0:
            out["cpu_per_1k"] = (read_cpu_seconds(t.pid) - cpu0) / r["handshakes"] * 1000
        return out

    def sc_handshake1(self, t):
        r = self.run_load(t, "--scenario", "handshake", "--concurrency", 1,
                          "--duration", self.args.duration, "--source", LEGIT_SOURCE)
        return {"hs1_p50": r["p50_us"], "hs1_p99": r["p99_us"]}

    def sc_bulk(self, t):
        out = {}
        for direction in ("up", "down"):
            r = self.run_load(t, "--scenario", "bulk", "--direction", direction,
                              "--mib", self.args.bulk_mib, "--timeout", 60)
            out[f"bulk_{direction}"] = r["mib_per_s"] if r["ok"] else None
        return out

    def sc_pingpong(self, t):
        r = self.run_load(t, "--scenario", "pingpong", "--duration", self.args.duration)
        return {"pp_p50": r["p50_us"], "pp_p99": r["p99_us"]}

    def sc_idle(self, t):
        if not t.pid:
            return {}
        # A fresh proxy each time: memory freed by an earlier round would be reused and hide
        # the cost of new sessions.
        self.restart_target(t)
        time.sleep(0.3)
        before = read_rss_kib(t.pid)
        n = self.args.idle_sessions
        def pin():
            if self.load_cpus:
                os.sched_setaffinity(0, set(self.load_cpus))
        proc = subprocess.Popen(self.load_argv(t, "--scenario", "idle", "--sessions", n,
                                               "--concurrency", 64, "--hold", self.args.hold,
                                               "--timeout", 10),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=pin)
        try:
            ready = json.loads(proc.stdout.readline() or "{}")
            time.sleep(0.3)
            after = read_rss_kib(t.pid)
            rest, err = proc.communicate(timeout=self.args.hold + 60)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            raise RuntimeError(f"idle scenario against {t.name} did not finish")
        done = [json.loads(l) for l in rest.splitlines() if l.startswith("{")]
        opened = ready.get("open", 0)
        if opened < n or not done or done[-1]["alive_after_hold"] < n:
            log(f"  warning: idle against {t.name}: ready={ready} done={done} {err.strip()}")
        if opened == 0:
            return {}
        return {"idle_kib": (after - before) / opened, "idle_n": opened}

    def sc_flood(self, t):
        if not t.pid:
            return {}
        r = self.run_load(t, "--scenario", "flood", "--duration", self.args.duration,
                          "--flood-range", DENY, "--flood-concurrency",
                          self.args.flood_concurrency, "--source", LEGIT_SOURCE,
                          "--timeout", 2)
        return {"flood_rate": r["flood_refused_rate"], "flood_p50": r["legit_p50_us"],
                "flood_answered": r["flood_answered"] + r["flood_timeouts"]}

    # -- driver -------------------------------------------------------------------------------

    def run(self):
        chosen = set(self.args.scenarios.split(","))
        scenarios = [(title, getattr(self, f"sc_{name}"))
                     for name, title in SCENARIOS.items() if name in chosen]
        samples = {t.name: {} for t in self.targets}
        for title, fn in scenarios:
            for rnd in range(self.args.rounds):
                for t in self.targets:
                    log(f"[{title}] round {rnd + 1}/{self.args.rounds}: {t.name}")
                    for key, value in fn(t).items():
                        if value is not None:
                            samples[t.name].setdefault(key, []).append(value)
        return {name: {k: statistics.median(v) for k, v in rows.items()}
                for name, rows in samples.items()}


ROWS = [  # key, label, format, higher is better
    ("hs16", "handshakes/s, concurrency 16", "{:,.0f}", True),
    ("hs1_p50", "handshake latency p50, concurrency 1 (µs)", "{:,.0f}", False),
    ("hs1_p99", "handshake latency p99, concurrency 1 (µs)", "{:,.0f}", False),
    ("bulk_up", "bulk client→server (MiB/s)", "{:,.0f}", True),
    ("bulk_down", "bulk server→client (MiB/s)", "{:,.0f}", True),
    ("pp_p50", "64-byte ping-pong p50 (µs)", "{:,.0f}", False),
    ("pp_p99", "64-byte ping-pong p99 (µs)", "{:,.0f}", False),
    ("idle_kib", "proxy RSS per idle session (KiB)", "{:,.1f}", False),
    ("cpu_per_1k", "proxy CPU-seconds per 1,000 handshakes", "{:.3f}", False),
    ("flood_rate", "flood: refused connections/s from " + DENY, "{:,.0f}", True),
    ("flood_p50", "flood: legit handshake p50 from " + LEGIT_SOURCE + " (µs)", "{:,.0f}", False),
]


def fmt(value, pattern):
    return "—" if value is None else pattern.format(value)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}"


# --scenarios names (each runs Bench.sc_NAME), in the order they run, with their titles.
SCENARIOS = {"handshake16": "handshakes at concurrency 16",
             "handshake1": "handshake latency at concurrency 1",
             "bulk": "bulk transfer",
             "pingpong": "64-byte ping-pong",
             "idle": "idle sessions",
             "flood": "flood"}
PRIVATE_NET_MARK = "RDPGATE_BENCH_PRIVATE_NET"


def enter_private_net(args):
    """Runs this script again in a new network namespace: its own loopback, a local port range
    of 1024-65535 (the kernel's default, 32768-60999, allows about 28,000 connections between
    one address pair, and each idle session is two: client to proxy, proxy to backend) and
    RLIMIT_NOFILE raised to fit four descriptors per session (where the process may raise its
    hard limit: root with CAP_SYS_RESOURCE). The host's settings are not touched; the namespace
    ends with the script."""
    nofile = max(4 * args.idle_sessions + 10000, 65536)
    setup = ("ip link set lo up && "
             "sysctl -qw net.ipv4.ip_local_port_range='1024 65535' && "
             # Raising the hard limit needs CAP_SYS_RESOURCE; without it the limit stays and
             # the check in main() says how many sessions it allows.
             f"(ulimit -Hn {nofile}) 2>/dev/null && ulimit -Hn {nofile}; "
             'ulimit -n "$(ulimit -Hn)" && exec "$@"')
    argv = [sys.executable, os.path.abspath(__file__)] + sys.argv[1:]
    env = dict(os.environ, **{PRIVATE_NET_MARK: "1"})
    try:
        return subprocess.run(["unshare", "--net", "sh", "-c", setup, "sh", *argv],
                              env=env).returncode
    except FileNotFoundError:
        sys.exit("--private-net needs unshare(1) (util-linux) and ip(8) (iproute2)")


def table(results, targets):
    names = [t.name for t in targets]
    gates = [t.name for t in targets if t.kind == "rdpgate"]
    pairs = [(g, "haproxy") for g in gates if "haproxy" in names]
    if "direct" in names:
        pairs += [(p, "direct") for p in (["haproxy"] if "haproxy" in names else []) + gates[:1]]
    if len(gates) > 1:
        pairs += [(g, gates[0]) for g in gates[1:]]
    head = ["metric"] + names + [f"{a} / {b}" for a, b in pairs]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, label, pattern, _ in ROWS:
        vals = {n: results[n].get(key) for n in names}
        if all(v is None for v in vals.values()):
            continue
        cells = [label] + [fmt(vals[n], pattern) for n in names]
        cells += [ratio(vals[a], vals[b]) for a, b in pairs]
        lines.append("| " + " | ".join(cells) + " |")
    # The flood's effect on legitimate latency, against the same client unflooded.
    cells = ["flood: legit p50 flooded / unflooded"]
    any_value = False
    for n in names:
        f, u = results[n].get("flood_p50"), results[n].get("hs1_p50")
        cells.append(ratio(f, u))
        any_value |= f is not None
    if any_value:
        lines.append("| " + " | ".join(cells + ["—"] * len(pairs)) + " |")
    return "\n".join(lines)


def find_default(*candidates):
    for c in candidates:
        path = os.path.join(ROOT, c)
        if os.path.exists(path):
            return path
    return os.path.join(ROOT, candidates[0])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rdpgate", default=find_default("build/gateway/rdpgate"))
    p.add_argument("--load", default=find_default("build/benchmarks/relay/rdp_load"))
    p.add_argument("--backend", default=find_default("build/benchmarks/relay/fake_rdp_backend"))
    p.add_argument("--haproxy", default=shutil.which("haproxy") or "/usr/sbin/haproxy")
    p.add_argument("--rounds", type=int, default=3, help="repetitions; the table shows medians")
    p.add_argument("--workers", default="1",
                   help="rdpgate worker counts, e.g. 1,2 (0: one per CPU it is pinned to)")
    p.add_argument("--cpus", type=int, default=None,
                   help="CPUs for each proxy (HAProxy threads, rdpgate's mask); the load gets "
                        "the rest. Default: 1 CPU each for proxy and load")
    p.add_argument("--duration", type=float, default=5, help="seconds per timed scenario")
    p.add_argument("--bulk-mib", type=int, default=1024)
    p.add_argument("--idle-sessions", type=int, default=5000)
    p.add_argument("--hold", type=float, default=3, help="seconds the idle sessions stay open")
    p.add_argument("--flood-concurrency", type=int, default=256)
    p.add_argument("--scenarios", default=",".join(SCENARIOS),
                   help="comma-separated subset of " + ",".join(SCENARIOS))
    p.add_argument("--private-net", action="store_true",
                   help="run in a network namespace of its own (unshare -n, needs root) with "
                        "the local port range 1024-65535 and RLIMIT_NOFILE raised, so that "
                        "--idle-sessions can go past the ~28,000 connections one loopback "
                        "address pair allows by default")
    p.add_argument("--defer-accept", action="store_true",
                   help="TCP_DEFER_ACCEPT on both proxies: rdpgate's `defer_accept: true`, "
                        "HAProxy's `bind ... defer-accept`")
    p.add_argument("--quick", action="store_true", help="a few-second smoke run")
    p.add_argument("--json", help="also write the medians to this file")
    args = p.parse_args()
    if args.quick:
        args.rounds, args.duration, args.bulk_mib = 1, 1, 32
        args.idle_sessions, args.hold, args.flood_concurrency = 300, 0.5, 64
    if not 1 <= args.rounds <= 20 or not 0 < args.duration <= 60:
        p.error("--rounds must be 1..20 and --duration in (0, 60]")
    unknown = set(args.scenarios.split(",")) - set(SCENARIOS)
    if unknown:
        p.error(f"--scenarios: unknown {', '.join(sorted(unknown))} (choose from "
                f"{','.join(SCENARIOS)})")
    if args.private_net and os.environ.get(PRIVATE_NET_MARK) != "1":
        return enter_private_net(args)
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    if not workers or any(not 0 <= w <= 64 for w in workers):
        p.error("--workers takes counts 0..64, e.g. 1,2")

    for tool in (args.load, args.backend):
        if not os.access(tool, os.X_OK):
            p.error(f"not found: {tool} (build the rdp_load and fake_rdp_backend targets)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if 2 * args.idle_sessions + 200 > hard:
        p.error(f"--idle-sessions {args.idle_sessions} needs RLIMIT_NOFILE >= "
                f"{2 * args.idle_sessions + 200} (hard limit is {hard})")

    workdir = tempfile.mkdtemp(prefix="rdpgate-bench-")
    bench = Bench(args, workdir)
    notes = []
    targets = [Target("direct", "direct")]
    if os.access(args.haproxy, os.X_OK):
        targets.append(Target("haproxy", "haproxy"))
    else:
        notes.append(f"HAProxy not found at {args.haproxy}: its column is missing.")
    if os.access(args.rdpgate, os.X_OK):
        for w in workers:
            t = Target("rdpgate" if len(workers) == 1 else f"rdpgate w={w}", "rdpgate")
            t.workers = w
            targets.append(t)
    else:
        notes.append(f"rdpgate not found at {args.rdpgate}: its column is missing.")
    bench.targets = targets

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    try:
        bench.start_backend()
        for t in targets:
            bench.start_target(t)
        started = time.monotonic()
        results = bench.run()
        elapsed = time.monotonic() - started
        gate_metrics = []
        for t in targets:
            if t.kind == "rdpgate" and t.metrics:
                gate_metrics.append((t.name, scrape(t.metrics)))
    finally:
        bench.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"## rdpgate relay benchmark ({'quick' if args.quick else 'full'} run)\n")
    print(table(results, targets))
    print()
    pin = ("proxy pinned to CPU 0, load generator and backend to CPU 1"
           if bench.proxy_cpus else "no CPU pinning (fewer than 2 CPUs)")
    print(f"Medians of {args.rounds} round(s), {args.duration:g} s per timed scenario; {pin}; "
          f"bulk {args.bulk_mib} MiB each way; {args.idle_sessions} idle sessions; flood from "
          f"{args.flood_concurrency} connections at a time over {DENY}; rdpgate workers "
          f"{','.join(map(str, workers))}; "
          f"{'deferred accept on both proxies; ' if args.defer_accept else ''}"
          f"run took {elapsed:.0f} s.")
    for name, m in gate_metrics:
        print(f"{name} /metrics of its last process (it restarts for each idle measurement): {m}")
    for n in notes:
        print(n)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


def scrape(address):
    """A few counters from rdpgate's own /metrics, to show what it saw."""
    try:
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError as e:
        return f"unavailable ({e})"
    picked = {}
    for line in text.splitlines():
        if line.startswith("rdpgate_connections_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            picked[outcome] = picked.get(outcome, 0) + float(line.rsplit(" ", 1)[1])
    return ", ".join(f"{k}={v:.0f}" for k, v in sorted(picked.items())) or "no connection counts"


if __name__ == "__main__":
    sys.exit(main())

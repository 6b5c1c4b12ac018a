#!/usr/bin/env python3
"""Several rdpgate instances sharing one Redis (state.redis): what it costs and how fast it is.

One command, one real `redis-server` on a free loopback port, rdpgate instances started and
stopped by pid, every wait bounded; Python 3 stdlib only. Three parts:

1. Ban propagation: with 2, 3 and 4 instances, `POST /v1/bans` on the first and, in one thread
   per other instance, `GET /v1/bans` on a kept-alive connection until the ban is listed.
   p50/p99 of (listed on the other - POST sent), over every sample and every other instance.
2. Admission cost: the same handshake load (benchmarks/relay/rdp_load, concurrency 16) through
   one rdpgate with its filters on (a per-source rate that counts, bruteforce), without and with
   state.redis (and a second instance subscribed), interleaved for --rounds; medians and ratios
   of handshakes/s and of the gateway's CPU-seconds per 1,000 handshakes (the second instance
   and Redis share the load generator's CPU, so the handshakes/s ratio understates the rate).
   The gateway is pinned to CPU 0, the load, the backend and Redis to CPU 1.
3. Scale: 10,000 bans and 10,000 grants written into Redis (redis-cli --pipe), then one rdpgate
   started on it: seconds until its admin API lists them all, its RSS against an instance on an
   empty Redis prefix, and its CPU beyond an instance without state.redis over 45 s idle (the
   15 s checks find nothing changed) and over 45 s with a ban made every 15 s (each one costs a
   full resync of the 20,000 entries): CPU per full resync.

    benchmarks/fleet/run.py --rdpgate build-release/gateway/rdpgate \
        --load build-release/benchmarks/relay/rdp_load \
        --backend build-release/benchmarks/relay/fake_rdp_backend [--quick]
"""

import argparse
import http.client
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
TOKEN = "fleet-bench-admin-token-0123456789abcdef"


def _relay_helpers():
    """log(), free_port(), Child (a pinned child process, stopped by pid) and the /proc readers
    of the relay benchmark, beside this one."""
    spec = importlib.util.spec_from_file_location("relay_run",
                                                  os.path.join(HERE, "..", "relay", "run.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return (module.log, module.free_port, module.Child, module.read_rss_kib,
            module.read_cpu_seconds)


log, free_port, Child, rss_kib, cpu_seconds = _relay_helpers()


def wait_until(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError("condition not met within %.0fs" % timeout)


def pinned(cpus):
    """`cpus` when there are two CPUs to split between the gateway and the load, else None."""
    return cpus if cpus and len(os.sched_getaffinity(0)) >= 2 else None


def pin(cpus):
    def apply():
        if pinned(cpus):
            os.sched_setaffinity(0, set(cpus))
    return apply


class Redis:
    def __init__(self, workdir):
        self.port = free_port()
        self.proc = Child("redis", [shutil.which("redis-server"), "--port", str(self.port), "--bind",
                          "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
                          pinned([1]), os.path.join(workdir, "redis.log"))
        wait_until(lambda: self.ping(), 10)

    def ping(self):
        try:
            return self.cli("PING") == "PONG"
        except subprocess.CalledProcessError:
            return False

    def cli(self, *args, stdin=None):
        done = subprocess.run([shutil.which("redis-cli"), "-p", str(self.port), *args],
                              input=stdin, capture_output=True, text=True, timeout=120, check=True)
        return done.stdout.strip()


class Gateway:
    def __init__(self, args, workdir, name, backend_port, redis_port=None, prefix="rdpgate:",
                 cpus=None):
        state = os.path.join(workdir, f"state-{name}")
        os.makedirs(state, exist_ok=True)
        redis = (f', redis: {{address: "127.0.0.1:{redis_port}", key_prefix: "{prefix}"}}'
                 if redis_port else "")
        allow_root = "allow_root: true\n" if os.geteuid() == 0 else ""
        cfg = os.path.join(workdir, f"rdpgate-{name}.yaml")
        with open(cfg, "w") as f:
            f.write(f"""workers: 1
{allow_root}listeners:
  - {{name: bench, address: "127.0.0.1:0", route: default}}
sources:
  allow: ["127.0.0.0/8"]
  per_source: {{max_connections: 0, rate: "1000000/s", burst: 1000000}}
routes:
  - {{name: default, backends: ["127.0.0.1:{backend_port}"], connect_timeout: 3s}}
bruteforce: {{enabled: true, exempt: ["127.0.0.0/8"]}}
metrics: {{address: "127.0.0.1:0"}}
admin: {{address: "127.0.0.1:0", token_env: RDPGATE_ADMIN_TOKEN}}
state: {{path: "{state}"{redis}}}
logging: {{level: warn, format: json}}
""")
        # The admin token comes from RDPGATE_ADMIN_TOKEN, set for every child by main().
        self.proc = Child(name, [args.rdpgate, "run", "--config", cfg], pinned(cpus),
                          os.path.join(workdir, f"rdpgate-{name}.log"))
        # The ready lines, in the order rdpgate prints them.
        self.port = int(self.proc.expect("listening bench ", 15).rsplit(":", 1)[1])
        self.metrics = self.proc.expect("metrics ", 5).split()[1]
        self.admin_port = int(self.proc.expect("admin ", 5).rsplit(":", 1)[1])
        if redis_port:
            wait_until(lambda: self.metric("rdpgate_state_redis_up") == 1, 15)

    def connection(self):
        return http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=10)

    def api(self, method, path, body=None, conn=None):
        own = conn is None
        conn = conn or self.connection()
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None,
                         headers={"Authorization": f"Bearer {TOKEN}",
                                  "Content-Type": "application/json"})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            if own:
                conn.close()

    def metric(self, name):
        host, port = self.metrics.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        try:
            conn.request("GET", "/metrics")
            for line in conn.getresponse().read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        finally:
            conn.close()
        return None

    def stop(self):
        self.proc.stop()


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def propagation(args, workdir, redis, backend_port, instances):
    gws = [Gateway(args, workdir, f"p{instances}-{i}", backend_port, redis.port,
                   prefix=f"prop{instances}:") for i in range(instances)]
    samples = []
    try:
        for k in range(args.bans):
            cidr = f"198.18.{k // 250}.{k % 250 + 1}/32"
            found = {}
            start = threading.Event()

            def watch(gw, index, cidr=cidr, found=found, start=start):
                conn = gw.connection()
                start.wait(5)
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    status, body = gw.api("GET", "/v1/bans", conn=conn)
                    if status == 200 and cidr.encode() in body:
                        found[index] = time.perf_counter()
                        break
                conn.close()
            threads = [threading.Thread(target=watch, args=(gw, i)) for i, gw in
                       enumerate(gws[1:])]
            for t in threads:
                t.start()
            sent = time.perf_counter()
            start.set()
            status, body = gws[0].api("POST", "/v1/bans",
                                      {"cidr": cidr, "duration": "1h", "reason": "bench"})
            if status != 201:
                raise RuntimeError(f"POST /v1/bans: {status} {body!r}")
            for t in threads:
                t.join(10)
            if len(found) != instances - 1:
                raise RuntimeError(f"ban {cidr} did not reach every instance within 5 s")
            samples += [(t - sent) * 1000 for t in found.values()]
    finally:
        for gw in gws:
            gw.stop()
    return {"instances": instances, "samples": len(samples),
            "p50_ms": percentile(samples, 0.5), "p99_ms": percentile(samples, 0.99)}


def admission(args, workdir, redis, backend_port):
    rates = {"local": [], "redis": []}
    cpu = {"local": [], "redis": []}  # the gateway's CPU-seconds per 1,000 handshakes
    for rnd in range(args.rounds):
        for mode in ("local", "redis"):
            port = redis.port if mode == "redis" else None
            gw = Gateway(args, workdir, f"adm-{mode}-{rnd}", backend_port, port, prefix="adm:",
                         cpus=[0])
            peer = (Gateway(args, workdir, f"adm-peer-{rnd}", backend_port, port, prefix="adm:",
                            cpus=[1]) if port else None)
            try:
                cpu0 = cpu_seconds(gw.proc.pid)
                load = subprocess.run(
                    [args.load, "--scenario", "handshake", "--target", f"127.0.0.1:{gw.port}",
                     "--concurrency", "16", "--duration", str(args.duration)],
                    capture_output=True, text=True, timeout=args.duration + 60,
                    preexec_fn=pin([1]), check=True)
                result = json.loads(load.stdout.strip().splitlines()[-1])
                rates[mode].append(result["rate"])
                cpu[mode].append((cpu_seconds(gw.proc.pid) - cpu0) / result["handshakes"] * 1000)
                log(f"admission round {rnd + 1} {mode}: {result['rate']:.0f} handshakes/s, "
                    f"{cpu[mode][-1]:.3f} CPU-s per 1,000")
            finally:
                gw.stop()
                if peer:
                    peer.stop()
    local, shared = statistics.median(rates["local"]), statistics.median(rates["redis"])
    cpu_local, cpu_shared = statistics.median(cpu["local"]), statistics.median(cpu["redis"])
    return {"local_hs_per_s": local, "redis_hs_per_s": shared, "ratio": shared / local,
            "local_cpu_s_per_1k": cpu_local, "redis_cpu_s_per_1k": cpu_shared,
            "cpu_ratio": cpu_shared / cpu_local}


def resp(*parts):
    out = f"*{len(parts)}\r\n"
    for p in parts:
        out += f"${len(p.encode())}\r\n{p}\r\n"
    return out


def scale(args, workdir, redis, backend_port):
    n = args.big
    until = int((time.time() + 3600) * 1000)
    now = int(time.time() * 1000)
    commands = []
    for k in range(n):
        cidr = f"10.{k // 65536}.{(k // 256) % 256}.{k % 256}/32"
        ban = {"cidr": cidr, "until": until, "reason": "bench", "origin": "manual", "offenses": 0}
        commands.append(resp("HSET", "big:bans", cidr, json.dumps(ban)))
        gid = f"{k:016x}"
        grant = {"id": gid, "cidr": cidr, "route": "*", "until": until, "reason": "bench",
                 "created": now}
        commands.append(resp("HSET", "big:grants", gid, json.dumps(grant)))
    redis.cli("--pipe", stdin="".join(commands))
    empty = Gateway(args, workdir, "scale-empty", backend_port, redis.port, prefix="empty:")
    started = time.monotonic()
    gw = Gateway(args, workdir, "scale-big", backend_port, redis.port, prefix="big:")
    try:
        def listed():
            bans = json.loads(gw.api("GET", "/v1/bans")[1])
            grants = json.loads(gw.api("GET", "/v1/grants")[1])
            return len(bans) == n and len(grants) == n
        wait_until(listed, 120, interval=0.1)
        converged = time.monotonic() - started
        time.sleep(2)  # the queued SQLite writes of the 20,000 rows
        rss_big, rss_empty = rss_kib(gw.proc.pid), rss_kib(empty.proc.pid)
        # CPU against an instance without Redis over two windows: idle (the 15 s checks find
        # nothing changed), then with one ban made every 15 s (each costs a full resync).
        plain = Gateway(args, workdir, "scale-plain", backend_port)
        try:
            def window(ban_every):
                r0 = gw.metric("rdpgate_state_redis_resyncs_total")
                c0, p0 = cpu_seconds(gw.proc.pid), cpu_seconds(plain.proc.pid)
                end = time.monotonic() + args.window
                k = 0
                while time.monotonic() < end:
                    if ban_every:
                        k += 1
                        gw.api("POST", "/v1/bans", {"cidr": f"198.19.0.{k}/32", "duration": "1h",
                                                    "reason": "bench"})
                    time.sleep(min(ban_every or args.window, max(0, end - time.monotonic())))
                extra = (cpu_seconds(gw.proc.pid) - c0) - (cpu_seconds(plain.proc.pid) - p0)
                return extra, gw.metric("rdpgate_state_redis_resyncs_total") - r0
            idle_cpu, idle_resyncs = window(0)
            busy_cpu, resyncs = window(15)
        finally:
            plain.stop()
    finally:
        gw.stop()
        empty.stop()
    return {"entries": 2 * n, "converged_s": converged, "rss_kib": rss_big,
            "rss_empty_kib": rss_empty, "idle_cpu_ms_per_min": idle_cpu * 1000 * 60 / args.window,
            "idle_resyncs": idle_resyncs, "resyncs": resyncs,
            "cpu_ms_per_resync": busy_cpu * 1000 / resyncs if resyncs else float("nan")}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rdpgate", default=os.path.join(ROOT, "build-release/gateway/rdpgate"))
    p.add_argument("--load", default=os.path.join(ROOT, "build-release/benchmarks/relay/rdp_load"))
    p.add_argument("--backend",
                   default=os.path.join(ROOT, "build-release/benchmarks/relay/fake_rdp_backend"))
    p.add_argument("--instances", default="2,3,4")
    p.add_argument("--bans", type=int, default=200, help="propagation samples per fleet size")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--big", type=int, default=10_000)
    p.add_argument("--window", type=float, default=45.0)
    p.add_argument("--quick", action="store_true", help="a short smoke run")
    args = p.parse_args()
    if args.quick:
        args.instances, args.bans, args.rounds, args.duration = "2", 20, 1, 1.0
        args.big, args.window = 1000, 16.0
    for tool in ("redis-server", "redis-cli"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found (Debian: redis-server)")
    workdir = tempfile.mkdtemp(prefix="rdpgate-fleet-bench-")
    redis = Redis(workdir)
    os.environ["RDPGATE_ADMIN_TOKEN"] = TOKEN
    backend = Child("backend", [args.backend, "--port", "0", "--threads", "1"], pinned([1]),
                    os.path.join(workdir, "backend.log"))
    try:
        backend_port = int(backend.expect("listening ", 10).split()[1])
        results = {"propagation": [propagation(args, workdir, redis, backend_port, int(n))
                                   for n in args.instances.split(",")]}
        for row in results["propagation"]:
            log(f"propagation, {row['instances']} instances: p50 {row['p50_ms']:.2f} ms, "
                f"p99 {row['p99_ms']:.2f} ms ({row['samples']} samples)")
        results["admission"] = admission(args, workdir, redis, backend_port)
        results["scale"] = scale(args, workdir, redis, backend_port)
        print(json.dumps(results, indent=2))
    finally:
        backend.stop()
        redis.proc.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

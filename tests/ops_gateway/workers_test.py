#!/usr/bin/env python3
"""`workers: 0` starts one I/O worker per CPU rdpgate may use, not per CPU of the machine.

rdpgate is started with a CPU affinity mask of one CPU, then of two (the mask is inherited from
this process, as `taskset` or systemd's CPUAffinity= would set it): the worker threads
(`rdpgate-w0`, `rdpgate-w1`, ... in /proc/PID/task/*/comm) number 1, then 2, on a machine with
more CPUs than that. The cgroup quota half (cpu.max, cfs_quota_us) is covered by the
`Cpus.*` unit tests, since a test cannot set its own quota without privileges it may lack.
"""

import glob
import os
import re

from harness import Suite, base_config, check, skip
from support.net import LOOPBACK


def worker_threads(pid: int) -> list[str]:
    names = []
    for path in glob.glob(f"/proc/{pid}/task/*/comm"):
        with open(path, encoding="ascii") as f:
            name = f.read().strip()
        if name.startswith("rdpgate-w"):
            names.append(name)
    return sorted(names)


def follows_affinity(suite: Suite) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        skip("one CPU: a mask cannot be narrower than the machine")
    backend = suite.backend()
    listeners = f'  - {{name: main, address: "{LOOPBACK}:0", route: pool}}\n'
    routes = f'  - {{name: pool, backends: ["{backend.address}"]}}\n'
    for mask in ({cpus[0]}, {cpus[0], cpus[1]}):
        wd = suite.workdir(f"workers-{len(mask)}")
        os.sched_setaffinity(0, mask)
        try:
            text = base_config(os.path.join(wd, "state"), listeners, routes)
            text = re.sub(r"(?m)^workers: .*$", "workers: 0", text)
            g = suite.gateway(wd, text).start()
        finally:
            os.sched_setaffinity(0, set(cpus))
        workers = worker_threads(g.pid)
        check(len(workers) == len(mask),
              f"affinity {sorted(mask)}: {len(workers)} workers {workers}, want {len(mask)}")
        print(f"affinity {sorted(mask)} of {len(cpus)} CPUs: workers {workers}")
        g.stop()


if __name__ == "__main__":
    Suite().run([("follows_affinity", follows_affinity)])

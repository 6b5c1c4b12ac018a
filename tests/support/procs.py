"""Child processes: each started in its own session (process group) and remembered by pid, so
that a failing test, or the interpreter's exit, still stops exactly what the suites started."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import threading
import unittest

from support.wait import wait_until

_children: dict[int, subprocess.Popen] = {}
_children_lock = threading.Lock()


def spawn(argv: list[str], *, env: dict[str, str] | None = None, cwd: str | None = None,
          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
          pass_fds=()) -> subprocess.Popen:
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=stdout, stderr=stderr, stdin=stdin,
                            pass_fds=pass_fds, start_new_session=True)
    with _children_lock:
        _children[proc.pid] = proc
    return proc


def forget(proc: subprocess.Popen) -> None:
    """`proc` was waited for by its caller: nothing left to stop at exit."""
    with _children_lock:
        _children.pop(proc.pid, None)


def stop_process(proc: subprocess.Popen | None, sig: int = signal.SIGTERM,
                 timeout: float = 5.0) -> int | None:
    """Stops one child we started: `sig` to its process group, then SIGKILL after `timeout`
    seconds. Returns its exit status."""
    if proc is None:
        return None
    try:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)  # the group id is the child's pid (start_new_session)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        else:
            # The leader is gone; helpers it left in its group (if any) go too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
    finally:
        forget(proc)
    return proc.returncode


@atexit.register
def _stop_all_children() -> None:
    with _children_lock:
        procs = list(_children.values())
    for proc in procs:
        stop_process(proc, signal.SIGKILL, timeout=2)


def traced(pid: int) -> bool:
    """Every thread of `pid` has a tracer."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/status", encoding="ascii") as f:
            tracer = next(line for line in f if line.startswith("TracerPid:")).split()[1]
        if tracer == "0":
            return False
    return True


@contextlib.contextmanager
def strace_inject(pid: int, syscalls: str, inject: str):
    """For the block, strace is attached to every thread of `pid` and injects `inject` (e.g.
    "error=EIO", "delay_enter=1000000") into `syscalls` (e.g. "fsync,fdatasync"). Skips the
    test (unittest.SkipTest) when strace is missing or cannot attach."""
    if shutil.which("strace") is None:
        raise unittest.SkipTest("strace is needed to inject the fault")
    tracer = spawn(["strace", "-f", "-qq", "-p", str(pid), "-e", f"trace={syscalls}",
                    "-e", f"inject={syscalls}:{inject}", "-o", "/dev/null"])
    try:
        try:
            wait_until(lambda: tracer.poll() is not None or traced(pid), 10, "strace to attach")
        except TimeoutError:
            pass
        if tracer.poll() is not None or not traced(pid):
            raise unittest.SkipTest("strace could not attach to rdpgate")
        yield "strace --inject"
    finally:
        stop_process(tracer, signal.SIGINT, timeout=5)  # detaches
        wait_until(lambda: not traced(pid), 10, "strace to detach")

"""Child processes: each started in its own session (process group) and remembered by pid, so
that a failing test, or the interpreter's exit, still stops exactly what the suites started."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import threading

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

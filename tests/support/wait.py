"""Waiting with a deadline: every wait in the suites goes through one of these."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, what: str,
               interval: float = 0.02) -> T:
    """Polls `predicate` until it returns a truthy value, which is returned; raises
    TimeoutError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)


def poll(predicate: Callable[[], T], timeout: float, interval: float = 0.1) -> T:
    """Polls `predicate` until it returns a truthy value or `timeout` seconds pass; returns the
    last value either way, for the caller to assert on."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def poll_value(read: Callable[[], T], expected: T, timeout: float, interval: float = 0.05) -> T:
    """Reads until the value equals `expected` or `timeout` seconds pass; returns the last value
    read either way (a counter may trail the event that moved it by a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if value == expected or time.monotonic() >= deadline:
            return value
        time.sleep(interval)

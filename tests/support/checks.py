"""How a suite file reports: exit 0 passed, 1 failed, 77 skipped (ctest SKIP_RETURN_CODE).

- unittest_main(): runs the calling module's unittest cases; 77 when all of them were skipped;
- run_named(): runs one check of a CHECKS table named on the command line (`list` prints them);
  a check raises Skip (a tool, the binary or an input is missing) or Fail (a defect found).
"""

from __future__ import annotations

import sys
import traceback
from typing import Callable

from support.env import SKIP_EXIT_CODE, find_tool, rdpgate_bin, rdpgate_missing


class Skip(Exception):
    """The check cannot run here."""


class Fail(Exception):
    """The check ran and found a defect."""


def need_tool(name: str) -> str:
    path = find_tool(name)
    if path is None:
        raise Skip(f"{name} is not installed")
    return path


def need_rdpgate() -> str:
    path = rdpgate_bin()
    if path is None:
        raise Skip(rdpgate_missing())
    return path


def unittest_main() -> int:
    import unittest
    program = unittest.main(module="__main__", exit=False, verbosity=2)
    result = program.result
    if not result.wasSuccessful():
        return 1
    # A class skipped in setUpClass counts as one skip and zero tests run.
    if result.skipped and len(result.skipped) >= result.testsRun:
        return SKIP_EXIT_CODE
    return 0


def run_named(checks: dict[str, Callable[[], None]], argv: list[str]) -> int:
    if len(argv) != 2 or (argv[1] not in checks and argv[1] != "list"):
        print(f"usage: {argv[0]} {{{'|'.join(checks)}|list}}", file=sys.stderr)
        return 2
    if argv[1] == "list":
        print("\n".join(checks))
        return 0
    try:
        checks[argv[1]]()
    except Skip as e:
        print(f"SKIP: {e}")
        return SKIP_EXIT_CODE
    except Fail as e:
        print(f"FAIL: {e}")
        return 1
    except Exception:  # an unexpected error is a failure too, with its traceback
        traceback.print_exc()
        print(f"FAIL: {argv[1]}: unexpected error")
        return 1
    print(f"PASS: {argv[1]}")
    return 0

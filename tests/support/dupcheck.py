#!/usr/bin/env python3
"""Reports runs of identical lines repeated between the Python files under tests/.

Every line is normalised (leading and trailing whitespace dropped, inner runs of whitespace
collapsed to one space); a window is WINDOW consecutive lines. Two passes: one over all lines
(blank lines kept, as empty), one over the non-blank lines only, so neither blank lines nor
re-indentation hide a copy. A window that occurs in two different files is reported once per
pair of places, merged into maximal runs. Windows made only of blank lines are ignored.

Usage: dupcheck.py [--root DIR] [--window N] [--same-file]
Exit status: 0 no repeated run, 1 repeated runs found (listed on stdout).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

WINDOW = 6


def normalise(line: str) -> str:
    return re.sub(r"\s+", " ", line).strip()


def numbered_lines(path: Path, keep_blank: bool) -> list[tuple[int, str]]:
    text = path.read_text(encoding="utf-8", errors="replace")
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = normalise(raw)
        if line or keep_blank:
            out.append((number, line))
    return out


def repeated_runs(files: list[Path], window: int, keep_blank: bool,
                  same_file: bool) -> list[tuple[Path, int, int, Path, int, int]]:
    """(file a, first line, last line, file b, first line, last line) for each repeated run."""
    lines = {f: numbered_lines(f, keep_blank) for f in files}
    where: dict[tuple[str, ...], list[tuple[Path, int]]] = defaultdict(list)
    for f, numbered in lines.items():
        texts = [t for _, t in numbered]
        for i in range(len(texts) - window + 1):
            key = tuple(texts[i:i + window])
            if any(key):
                where[key].append((f, i))
    # Matching window starts per pair of places; consecutive starts form one run.
    pairs: dict[tuple[Path, Path, int], set[int]] = defaultdict(set)
    for places in where.values():
        for x in range(len(places)):
            for y in range(x + 1, len(places)):
                (fa, ia), (fb, ib) = places[x], places[y]
                if fa == fb and not same_file:
                    continue
                if (str(fa), ia) > (str(fb), ib):
                    (fa, ia), (fb, ib) = (fb, ib), (fa, ia)
                pairs[(fa, fb, ib - ia)].add(ia)
    runs = []
    for (fa, fb, offset), starts in pairs.items():
        ordered = sorted(starts)
        begin = prev = ordered[0]
        for s in ordered[1:] + [None]:
            if s is not None and s == prev + 1:
                prev = s
                continue
            a, b = lines[fa], lines[fb]
            runs.append((fa, a[begin][0], a[prev + window - 1][0],
                         fb, b[begin + offset][0], b[prev + offset + window - 1][0]))
            if s is not None:
                begin = prev = s
    return sorted(runs, key=lambda r: (str(r[0]), r[1], str(r[3]), r[4]))


def merge(runs: list[tuple[Path, int, int, Path, int, int]]):
    """One entry per overlapping pair of places (the two passes find the same copy twice)."""
    out: list[list] = []
    for r in sorted(runs, key=lambda r: (str(r[0]), str(r[3]), r[1], r[4])):
        last = out[-1] if out else None
        if (last and last[0] == r[0] and last[3] == r[3] and r[1] <= last[2]
                and r[4] <= last[5] and r[4] >= last[4]):
            last[2], last[5] = max(last[2], r[2]), max(last[5], r[5])
        else:
            out.append(list(r))
    return [tuple(r) for r in out]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                        help="folder to scan recursively for *.py (default: tests/)")
    parser.add_argument("--window", type=int, default=WINDOW,
                        help=f"lines in a window (default {WINDOW})")
    parser.add_argument("--same-file", action="store_true",
                        help="also report runs repeated inside one file")
    args = parser.parse_args(argv)
    files = sorted(p for p in args.root.rglob("*.py") if "__pycache__" not in p.parts)
    runs = []
    for keep_blank in (True, False):
        runs += repeated_runs(files, args.window, keep_blank, args.same_file)
    found = merge(runs)
    for fa, a1, a2, fb, b1, b2 in found:
        print(f"{fa.relative_to(args.root)}:{a1}-{a2} == {fb.relative_to(args.root)}:{b1}-{b2}")
    print(f"{len(files)} files, window {args.window} lines: "
          f"{len(found)} repeated run(s)" + ("" if found else ", none"))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

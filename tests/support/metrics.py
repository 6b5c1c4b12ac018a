"""The Prometheus text exposition format, as rdpgate's /metrics serves it."""

from __future__ import annotations

import re

Labels = dict[str, str]
Series = dict[str, list[tuple[Labels, float]]]

_SAMPLE = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


class FormatError(ValueError):
    """A line of the exposition is neither a comment nor a sample."""


def parse(text: str, strict: bool = False) -> Series:
    """{metric name: [(labels, value)]} for every sample line; with `strict`, a line that is
    not a sample raises FormatError (otherwise it is skipped)."""
    series: Series = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            if strict:
                raise FormatError(f"unparseable exposition line: {line!r}")
            continue
        labels = dict(_LABEL.findall(m.group(2) or ""))
        series.setdefault(m.group(1), []).append((labels, float(m.group(3))))
    return series


def label_pairs(line: str) -> list[tuple[str, str]]:
    """The (label, value) pairs written in one sample line."""
    return _LABEL.findall(line)


def sample(series: Series, name: str, labels: Labels | None = None) -> float | None:
    """The sum of the samples of `name` whose labels include `labels`; None if there is none."""
    found = [v for have, v in series.get(name, [])
             if all(have.get(k) == x for k, x in (labels or {}).items())]
    return sum(found) if found else None


def value(series: Series, name: str, **labels: str) -> float:
    """Like sample(), with the labels as keywords and 0 when no sample matches."""
    return sample(series, name, labels) or 0


def by_labels(series: Series, name: str, keys: tuple[str, ...]) -> dict[tuple[str, ...], float]:
    """{tuple of label values: value} for every sample of `name` with a nonzero value."""
    out: dict[tuple[str, ...], float] = {}
    for labels, v in series.get(name, []):
        if v != 0:
            key = tuple(labels.get(k, "") for k in keys)
            out[key] = out.get(key, 0) + v
    return out

"""Numbers of a benchmark: summaries with spread, ratios of interleaved pairs, results.

Machines here are shared and noisy, so a result is never one time: it is the
median of several runs with its spread (min–max and the interquartile range),
and comparisons are ratios of runs interleaved in the same process (A, B, A, B,
...). :class:`MeasureResult` is what each measure returns and what the report
renders; it holds only numbers and short texts, so the smoke test can check it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "Check",
    "MeasureResult",
    "Row",
    "Summary",
    "pair_ratios",
    "percentile",
    "ratio_of_medians",
]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100), linearly interpolated between ranks."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not within 0-100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class Summary:
    """Median, p95 and spread of one series of samples."""

    n: int
    median: float
    p95: float
    minimum: float
    maximum: float
    q1: float
    q3: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            raise ValueError("a summary needs at least one sample")
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"samples must be finite numbers: {list(values)!r}")
        return cls(
            n=len(values),
            median=percentile(values, 50),
            p95=percentile(values, 95),
            minimum=min(values),
            maximum=max(values),
            q1=percentile(values, 25),
            q3=percentile(values, 75),
        )


def ratio_of_medians(b: Sequence[float], a: Sequence[float]) -> float:
    """median(b) / median(a): how many times B takes (or holds) what A does."""
    base = percentile(a, 50)
    if base <= 0:
        raise ValueError("the baseline's median must be positive for a ratio")
    return percentile(b, 50) / base


def pair_ratios(b: Sequence[float], a: Sequence[float]) -> list[float]:
    """b[i] / a[i] for interleaved runs: each pair shared the machine's mood."""
    if len(a) != len(b):
        raise ValueError(f"pairs need equal counts, got {len(b)} and {len(a)}")
    return [y / x for x, y in zip(a, b, strict=True) if x > 0]


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a measure's table: a series (or a ratio) and its unit."""

    label: str
    summary: Summary
    unit: str  # "ms", "MB", "×", "rows/s", ...


@dataclass(frozen=True, slots=True)
class Check:
    """A target of the brief and whether this run met it."""

    target: str  # e.g. "ratio ≤ 1.10×"
    measured: str  # e.g. "1.04×"
    passed: bool


@dataclass
class MeasureResult:
    """What one measure found; rendered as one section of docs/benchmarks.md."""

    key: str
    title: str
    method: str  # how it was measured, one paragraph
    rows: list[Row] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profile: str | None = None  # a profile of the measured side, when a target was missed

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def row(self, label: str) -> Row:
        for row in self.rows:
            if row.label == label:
                return row
        raise KeyError(f"{self.key}: no row {label!r}")

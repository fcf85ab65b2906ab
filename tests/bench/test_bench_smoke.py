"""Smoke run of every benchmark with tiny sizes: each produces well-formed numbers.

No timing is asserted (shared, noisy machine): only that every measure runs its
real path (real servers, real clients, the scripted model) and returns finite
summaries, checks and a report that names them.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.__main__ import MEASURES, main
from bench.config import SMOKE
from bench.report import Machine, markdown, render
from bench.stats import MeasureResult, Summary, pair_ratios, percentile, ratio_of_medians

RUNS = {
    "startup": SMOKE.startup_runs,
    "rss": SMOKE.startup_runs,
    "turn": SMOKE.turn_runs,
    "cancel": SMOKE.cancel_runs,
    "load": SMOKE.load_runs,
    "edit": SMOKE.edit_runs,
    "store": SMOKE.store_pairs,
    "compaction": SMOKE.compaction_runs,
    "diagnostics": SMOKE.diagnostics_runs,
    "permission": SMOKE.permission_runs,
    "command": SMOKE.command_runs,
    "revert": SMOKE.revert_runs,
    "journal": SMOKE.journal_runs,
    "scan": SMOKE.scan_runs,
    "acp_turn": SMOKE.turn_runs,
    "acp_startup": SMOKE.startup_runs,
    "mcp": SMOKE.mcp_runs,
    "search": SMOKE.search_runs,
    "memory": SMOKE.memory_runs,
}


def assert_well_formed(result: MeasureResult) -> None:
    assert result.rows and result.checks and result.method
    for row in result.rows:
        s = row.summary
        values = (s.median, s.p95, s.minimum, s.maximum, s.q1, s.q3)
        assert all(math.isfinite(v) for v in values), row
        assert s.minimum <= s.q1 <= s.median <= s.q3 <= s.maximum, row
        assert s.median <= s.p95 <= s.maximum, row
        assert s.n == RUNS[result.key], (row.label, s.n)
        if not row.label.startswith("B − A"):  # the only row that may be negative
            assert s.minimum >= 0, row
    for check in result.checks:
        assert isinstance(check.passed, bool) and check.target and check.measured


@pytest.mark.parametrize("key", list(MEASURES))
async def test_measure_runs_with_tiny_sizes(key: str, tmp_path: Path) -> None:
    keys, measure = MEASURES[key]
    results = await measure(SMOKE, "never", tmp_path)
    assert [r.key for r in results] == list(keys)
    for result in results:
        assert_well_formed(result)
        assert result.profile is None


async def test_a_profile_is_attached_when_asked(tmp_path: Path) -> None:
    _, measure = MEASURES["store"]
    [result] = await measure(SMOKE, "always", tmp_path)
    assert result.profile is not None
    assert "by own time" in result.profile and "nexus_lsp/storage/" in result.profile


def test_the_report_names_every_measure_and_target(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    assert main(["--smoke", "--only", "cancel,load", "--profile", "never",
                 "--output", str(output)]) == 0
    text = output.read_text(encoding="utf-8")
    assert "$/cancelRequest during a streaming turn" in text
    assert "nexus/session/load of a 10k-message session" in text
    assert text.count("✓") + text.count("✗") >= 2 * 4  # summary and section, per check
    assert "| CPU |" in text and "| Python |" in text


def test_summaries_and_ratios() -> None:
    s = Summary.of([4.0, 1.0, 3.0, 2.0, 100.0])
    assert (s.n, s.median, s.minimum, s.maximum) == (5, 3.0, 1.0, 100.0)
    assert (s.q1, s.q3) == (2.0, 4.0)
    assert s.p95 == pytest.approx(80.8)
    assert percentile([10.0], 95) == 10.0
    assert ratio_of_medians([2.0, 4.0, 6.0], [1.0, 2.0, 3.0]) == 2.0
    assert pair_ratios([2.0, 9.0], [1.0, 3.0]) == [2.0, 3.0]
    with pytest.raises(ValueError, match="at least one sample"):
        Summary.of([])
    with pytest.raises(ValueError, match="finite"):
        Summary.of([1.0, math.nan])
    with pytest.raises(ValueError, match="equal counts"):
        pair_ratios([1.0], [1.0, 2.0])


def test_report_renders_docstrings_as_markdown() -> None:
    assert markdown("a :class:`~x.y.Store` and ``code``\nwrapped\n\nnext") == (
        "a `Store` and `code` wrapped\n\nnext")
    result = MeasureResult("k", "Title", "method", checks=[], rows=[])
    text = render([result], Machine("cpu", 2, "py", "os", "0"), seconds=1.0,
                  command="make bench", sizes_name="full")
    assert "## Title" in text and "2 cores" in text

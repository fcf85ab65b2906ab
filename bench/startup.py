"""Spawn → ``initialize`` result, and idle memory after ``initialize``, against bare pygls.

A: ``python bench/bare_server.py`` (a pygls ``LanguageServer`` with no features).
B: ``python -m nexus_lsp``. Same interpreter, same client, same workspace folder,
alternating A, B, A, B. The timer runs from just before the process is spawned to
the ``initialize`` result at the client. Then the client sends ``initialized``
(nexus-lsp builds nothing more there: its runtime comes with the first ``nexus/*``
request; the memory measure shows the RSS after a first turn) and the bench
reads ``VmRSS`` from ``/proc/<pid>/status`` every 50 ms until two readings agree
(at least 300 ms after ``initialized``, at most 3 s): the idle RSS.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench.config import ProfileMode, Sizes
from bench.lsp import BARE_SERVER, NEXUS_SERVER, connect, nexus_settings, read_rss_kb
from bench.profiling import import_times, rss_by_import
from bench.stats import Check, MeasureResult, Row, Summary, pair_ratios, ratio_of_medians

__all__ = ["run"]

TARGET_START = 1.10
TARGET_RSS = 1.20
SETTLE_MIN_S = 0.3
SETTLE_MAX_S = 3.0
SETTLE_STEP_S = 0.05


async def settled_rss_kb(pid: int) -> int:
    started = time.perf_counter()
    await asyncio.sleep(SETTLE_MIN_S)
    last = read_rss_kb(pid)
    while time.perf_counter() - started < SETTLE_MAX_S:
        await asyncio.sleep(SETTLE_STEP_S)
        now = read_rss_kb(pid)
        if now == last:
            break
        last = now
    return last


async def spawn_once(command: tuple[str, ...], root: Path,
                     options: object) -> tuple[float, float]:
    """(ms to the initialize result, idle RSS in MiB)."""
    async with connect(command, root, options) as conn:
        rss = await settled_rss_kb(conn.client.pid)
        return conn.initialize_ms, rss / 1024


async def run(sizes: Sizes, profile: ProfileMode, workdir: Path) -> list[MeasureResult]:
    with tempfile.TemporaryDirectory(dir=workdir, prefix="startup-") as tmp:
        root = Path(tmp) / "ws"
        root.mkdir()
        options = nexus_settings(None)
        for _ in range(sizes.warmups):  # warms the file cache for both
            await spawn_once(BARE_SERVER, root, options)
            await spawn_once(NEXUS_SERVER, root, options)
        a: list[tuple[float, float]] = []
        b: list[tuple[float, float]] = []
        for _ in range(sizes.startup_runs):
            a.append(await spawn_once(BARE_SERVER, root, options))
            b.append(await spawn_once(NEXUS_SERVER, root, options))
    start, rss = _results(a, b, sizes.warmups)
    if profile == "always" or (profile == "missed" and not start.passed):
        start.profile = await asyncio.to_thread(import_times)
    if profile == "always" or (profile == "missed" and not rss.passed):
        rss.profile = await asyncio.to_thread(rss_by_import)
    return [start, rss]


def _results(a: list[tuple[float, float]], b: list[tuple[float, float]],
             warmups: int) -> tuple[MeasureResult, MeasureResult]:
    method = (__doc__ or "").split("\n\n", 1)[1].strip()
    a_ms, b_ms = [x[0] for x in a], [x[0] for x in b]
    a_mb, b_mb = [x[1] for x in a], [x[1] for x in b]
    start_ratio = ratio_of_medians(b_ms, a_ms)
    rss_ratio = ratio_of_medians(b_mb, a_mb)
    note = (f"{len(a)} spawns of each server, interleaved, after {warmups} uncounted "
            "spawn(s) of each.")
    start = MeasureResult(
        key="startup",
        title="Spawn → initialize result",
        method=method,
        rows=[
            Row("A: bare pygls server", Summary.of(a_ms), "ms"),
            Row("B: nexus-lsp", Summary.of(b_ms), "ms"),
            Row("ratio B/A, per pair", Summary.of(pair_ratios(b_ms, a_ms)), "×"),
        ],
        checks=[Check(f"ratio ≤ {TARGET_START:.2f}× (median/median)", f"{start_ratio:.2f}×",
                      start_ratio <= TARGET_START)],
        notes=[note],
    )
    rss = MeasureResult(
        key="rss",
        title="Idle RSS after initialize",
        method=method,
        rows=[
            Row("A: bare pygls server", Summary.of(a_mb), "MiB"),
            Row("B: nexus-lsp", Summary.of(b_mb), "MiB"),
            Row("ratio B/A, per pair", Summary.of(pair_ratios(b_mb, a_mb)), "×"),
        ],
        checks=[Check(f"ratio ≤ {TARGET_RSS:.2f}× (median/median)", f"{rss_ratio:.2f}×",
                      rss_ratio <= TARGET_RSS)],
        notes=[note],
    )
    return start, rss

"""``search_text`` on a generated 10k-file tree, against ``rg`` run directly, and the loop's lag.

The bench writes a tree of ``search_files`` source-like files (100 per folder,
~1.5 KB each, 1 in 100 holding the word searched for: ~100 matches, under the
tool's cap of 200, so every run searches the whole tree). A, the baseline: the
``rg`` binary the tool runs, spawned directly with the very arguments the tool
gives it (``--json``, ``.gitignore`` rules, sorted paths), its output read to the
end. B: the ``search_text`` tool through the skill registry on a disk workspace,
as a session calls it. Runs go A, B, A, B, ... after uncounted warm-ups (the
page cache holds the tree for both).

While B runs, a ticker on the same event loop sleeps 1 ms at a time and records
how late each wake-up is: the longest lateness is the longest stall of every other
request of the server during the search. C, for reference: the same ticker for as
long with nothing else running, i.e. what the machine's scheduler alone costs.
B′ (information, no target) is the same
tool with the binary hidden, i.e. the Python fallback (a worker thread walks and
reads the tree), with its own ticker.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench.config import ProfileMode, Sizes
from bench.history import Words
from bench.stats import Check, MeasureResult, Row, Summary, pair_ratios, ratio_of_medians
from nexus_lsp.config import SessionSettings
from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.messages import ToolCall
from nexus_lsp.skills import DiskWorkspace, builtin_registry, ripgrep
from nexus_lsp.skills.files import MAX_SEARCH_MATCHES
from nexus_lsp.skills.ripgrep import find_rg

__all__ = ["run"]

TARGET_RATIO = 1.5
TARGET_LAG_MS = 10.0
NEEDLE = "zebra_needle_handler"
PER_FOLDER = 100
TICK_S = 0.001


def make_tree(root: Path, files: int) -> int:
    """The generated tree; returns how many lines hold the needle."""
    words = Words(3)
    lines = [words.text(60) for _ in range(400)]
    hits = 0
    for n in range(files):
        folder = root / f"pkg{n // PER_FOLDER:03d}"
        if n % PER_FOLDER == 0:
            folder.mkdir(parents=True)
        body = [f"def handler_{n}(request):"]
        body += ["    " + lines[(n * 7 + i) % len(lines)] for i in range(24)]
        if n % 100 == 42:
            body.insert(5, f"    return {NEEDLE}(request)")
            hits += 1
        (folder / f"module_{n:05d}.py").write_text("\n".join(body) + "\n", encoding="utf-8")
    (root / ".gitignore").write_text("*.pyc\nbuild/\n", encoding="utf-8")
    return hits


class Ticker:
    """Sleeps ``TICK_S`` at a time on the loop; ``worst`` is the latest wake-up (ms)."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(TICK_S)
            self.worst = max(self.worst, (time.perf_counter() - before - TICK_S) * 1000)

    def stop(self) -> None:
        self._stop.set()


async def idle_lag(seconds: float) -> float:
    """The ticker's worst lateness (ms) with nothing else running: the machine's own."""
    ticker = Ticker()
    ticking = asyncio.create_task(ticker.run())
    await asyncio.sleep(seconds)
    ticker.stop()
    await ticking
    return ticker.worst


async def rg_directly(root: Path) -> float:
    """ms for rg with the tool's arguments, output read to the end."""
    binary = find_rg()
    assert binary is not None
    args = [*ripgrep._base_args(), "--json", "--max-filesize", ripgrep.MAX_FILE_SIZE,
            "--regexp", NEEDLE, "--", str(root)]
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        binary, *args, cwd=root, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, stdin=asyncio.subprocess.DEVNULL)
    assert process.stdout is not None
    while await process.stdout.read(65536):
        pass
    await process.wait()
    return (time.perf_counter() - started) * 1000


async def tool_search(root: Path, expected: int) -> tuple[float, float]:
    """(ms for search_text, worst loop lag in ms during it)."""
    registry = builtin_registry(DiskWorkspace(root), SessionSettings(tool_timeout_seconds=120))
    ticker = Ticker()
    ticking = asyncio.create_task(ticker.run())
    try:
        await asyncio.sleep(TICK_S * 3)  # the ticker is under way
        started = time.perf_counter()
        result, _ = await registry.run(ToolCall("c", "search_text", {"pattern": NEEDLE}),
                                       CancellationToken())
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        ticker.stop()
        await ticking
    found = len(result.output.splitlines()) if result.ok else 0
    if found != min(expected, MAX_SEARCH_MATCHES):
        raise RuntimeError(f"search_text found {found} lines, expected {expected}: "
                           f"{result.error or result.output[:200]}")
    return elapsed, ticker.worst


async def run(sizes: Sizes, profile: ProfileMode, workdir: Path) -> list[MeasureResult]:
    if find_rg() is None:
        raise RuntimeError("no rg binary: install the ripgrep package (a dependency)")
    with tempfile.TemporaryDirectory(dir=workdir, prefix="search-") as tmp:
        root = Path(tmp) / "tree"
        expected = await asyncio.to_thread(make_tree, root, sizes.search_files)
        for _ in range(sizes.warmups):
            await rg_directly(root)
            await tool_search(root, expected)
        a: list[float] = []
        b: list[tuple[float, float]] = []
        idle: list[float] = []
        for _ in range(sizes.search_runs):
            a.append(await rg_directly(root))
            b.append(await tool_search(root, expected))
            idle.append(await idle_lag(b[-1][0] / 1000))
        fallback: list[tuple[float, float]] = []
        original = ripgrep.find_rg
        ripgrep.find_rg = lambda: None  # type: ignore[assignment]
        try:
            for _ in range(sizes.search_runs):
                fallback.append(await tool_search(root, expected))
        finally:
            ripgrep.find_rg = original
    return [_result(sizes, expected, a, b, fallback, idle)]


def _result(sizes: Sizes, expected: int, a: list[float], b: list[tuple[float, float]],
            fallback: list[tuple[float, float]], idle: list[float]) -> MeasureResult:
    b_ms, b_lag = [x[0] for x in b], [x[1] for x in b]
    ratio = ratio_of_medians(b_ms, a)
    worst = max(b_lag)
    return MeasureResult(
        key="search",
        title="search_text on a 10k-file tree",
        method=(__doc__ or "").split("\n\n", 1)[1].strip(),
        rows=[
            Row("A: rg directly, same arguments", Summary.of(a), "ms"),
            Row("B: search_text tool", Summary.of(b_ms), "ms"),
            Row("ratio B/A, per pair", Summary.of(pair_ratios(b_ms, a)), "×"),
            Row("B: worst loop lag during the search", Summary.of(b_lag), "ms"),
            Row("C: worst loop lag, nothing running (as long as B)", Summary.of(idle), "ms"),
            Row("B′: Python fallback (no rg)", Summary.of([x[0] for x in fallback]), "ms"),
            Row("B′: worst loop lag during the fallback", Summary.of([x[1] for x in fallback]),
                "ms"),
        ],
        checks=[
            Check(f"search_text ≤ {TARGET_RATIO:g}× rg directly (median/median)",
                  f"{ratio:.2f}×", ratio <= TARGET_RATIO),
            Check(f"no event-loop stall > {TARGET_LAG_MS:g} ms during a search (every run)",
                  f"max {worst:.1f} ms", worst <= TARGET_LAG_MS),
        ],
        notes=[f"{sizes.search_files:,} files in folders of {PER_FOLDER}, {expected} matching "
               f"lines; {len(a)} interleaved runs per side after {sizes.warmups} uncounted "
               f"one(s); the fallback ran {len(fallback)} time(s)."],
    )

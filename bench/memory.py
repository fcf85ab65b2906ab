"""Memory of one nexus-lsp process: idle, after its first turn, with 20 long sessions loaded.

The bench first records ``memory_sessions`` sessions of ``memory_turns`` turns (5
messages each: 1,000-message sessions) into a workspace with the session store,
as live sessions would. Then it spawns ``python -m nexus_lsp`` on that workspace
with a scripted model (its own process) and reads ``VmRSS`` (settled, as in the
start-up measure) three times: idle after ``initialize`` + ``initialized``;
after the first turn (``nexus/session/new`` + ``send``, a short streamed
answer: the runtime, store, provider and session are built by then); and after
``nexus/session/load`` of every recorded session (each stays loaded, with its
history, for the rest of the process).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.config import ProfileMode, Sizes
from bench.history import Words
from bench.lsp import NEXUS_SERVER, connect, nexus_settings
from bench.model import model_process
from bench.startup import settled_rss_kb
from bench.stats import Check, MeasureResult, Row, Summary
from bench.store import build_turns, store_session
from bench.turn import nexus_turn
from nexus_lsp import wire

__all__ = ["run"]

TARGET_LOADED = 2.0  # loaded sessions' RSS ≤ this × the idle RSS


async def record_sessions(root: Path, sessions: int, turns: int) -> list[str]:
    ids = [f"memory-{n:02d}" for n in range(sessions)]
    for session_id in ids:
        await store_session(root, build_turns(turns, session_id), session_id,
                            flush_each_turn=False)
    return ids


async def one_process(root: Path, model_url: str, ids: list[str],
                      text: str) -> tuple[float, float, float]:
    """(idle, after the first turn, with every session loaded), MiB."""
    async with connect(NEXUS_SERVER, root, nexus_settings(f"{model_url}/v1")) as conn:
        client = conn.client
        idle = await settled_rss_kb(client.pid)
        await nexus_turn(client, text)
        after_turn = await settled_rss_kb(client.pid)
        for session_id in ids:
            loaded = await client.request(wire.SESSION_LOAD, {"sessionId": session_id})
            if not loaded.get("messages"):
                raise RuntimeError(f"{session_id}: loaded without messages: {loaded!r:.200}")
        with_sessions = await settled_rss_kb(client.pid)
    return idle / 1024, after_turn / 1024, with_sessions / 1024


async def run(sizes: Sizes, profile: ProfileMode, workdir: Path) -> list[MeasureResult]:
    text = Words(5).text(2_000)
    response = {"text": text, "chunkSize": 16, "delayMs": 0}
    with tempfile.TemporaryDirectory(dir=workdir, prefix="memory-") as tmp:
        folder = Path(tmp)
        results: list[tuple[float, float, float]] = []
        async with model_process({"responses": [response] * (sizes.memory_runs + 1)},
                                 folder) as model_url:
            for n in range(sizes.memory_runs):
                root = folder / f"ws-{n}"
                root.mkdir()
                ids = await record_sessions(root, sizes.memory_sessions, sizes.memory_turns)
                results.append(await one_process(root, model_url, ids, text))
    return [_result(sizes, results)]


def _result(sizes: Sizes, results: list[tuple[float, float, float]]) -> MeasureResult:
    idle = [r[0] for r in results]
    turn = [r[1] for r in results]
    loaded = [r[2] for r in results]
    ratios = [r[2] / r[0] for r in results]
    worst = max(ratios)
    return MeasureResult(
        key="memory",
        title="Memory: idle, after the first turn, 20 sessions loaded",
        method=(__doc__ or "").split("\n\n", 1)[1].strip(),
        rows=[
            Row("idle after initialized", Summary.of(idle), "MiB"),
            Row("after the first turn", Summary.of(turn), "MiB"),
            Row(f"{sizes.memory_sessions} sessions loaded", Summary.of(loaded), "MiB"),
            Row("loaded / idle, per process", Summary.of(ratios), "×"),
        ],
        checks=[Check(f"{sizes.memory_sessions} loaded sessions ≤ {TARGET_LOADED:g}× the idle "
                      "RSS (every process)", f"max {worst:.2f}×", worst <= TARGET_LOADED)],
        notes=[f"{sizes.memory_sessions} sessions of {sizes.memory_turns * 5:,} messages "
               f"each; {len(results)} server process(es)."],
    )

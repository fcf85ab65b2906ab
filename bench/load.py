"""``nexus/session/load`` of a 10k-message session, as after a restart.

The sessions are recorded before the server starts: one through a
:class:`~nexus_lsp.storage.SessionStore` fed with a long session's events
(:mod:`bench.history`: 10k messages, ~6.5 MB of text), then copied row for row
under other ids so that every timed load reads a session the server has not loaded
yet. The server (one process) first loads a small session (warm-up: lazy imports),
then each big one once; a run is the request → response time at the client,
response parsed, and checks the message count.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from contextlib import closing
from pathlib import Path

from bench.config import ProfileMode, Sizes
from bench.history import MESSAGES_PER_TURN
from bench.lsp import NEXUS_SERVER, BenchClient, connect, nexus_settings
from bench.profiling import format_stats, profiled_server
from bench.stats import Check, MeasureResult, Row, Summary
from bench.store import build_turns, store_session
from nexus_lsp import wire

__all__ = ["prepare_sessions", "run"]

TARGET_MS = 200.0
WARM = "bench-load-warm"


def _copy_session(db_path: Path, source: str, target: str) -> None:
    with closing(sqlite3.connect(db_path)) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(sessions)")]
        picked = ", ".join("?" if c == "id" else c for c in columns)
        db.execute(f"INSERT INTO sessions ({', '.join(columns)}) "
                   f"SELECT {picked} FROM sessions WHERE id = ?", (target, source))
        columns = [row[1] for row in db.execute("PRAGMA table_info(messages)")]
        picked = ", ".join("?" if c == "session_id" else c for c in columns)
        db.execute(f"INSERT INTO messages ({', '.join(columns)}) "
                   f"SELECT {picked} FROM messages WHERE session_id = ?", (target, source))
        db.commit()


async def prepare_sessions(root: Path, turns: int, copies: int) -> list[str]:
    """A warm-up session and ``copies`` sessions of ``turns`` turns in ``root``."""
    await store_session(root, build_turns(2, WARM), WARM)
    first = "bench-load-0"
    await store_session(root, build_turns(turns, first), first)
    ids = [first]
    db_path = root / ".nexus" / "nexus.db"
    for n in range(1, copies):
        target = f"bench-load-{n}"
        _copy_session(db_path, first, target)
        (root / ".nexus" / "sessions" / target).mkdir(mode=0o700)
        ids.append(target)
    return ids


async def load_once(client: BenchClient, session_id: str, messages: int) -> float:
    started = time.perf_counter()
    result = await client.request(wire.SESSION_LOAD, {"sessionId": session_id})
    elapsed = (time.perf_counter() - started) * 1000
    if len(result["messages"]) != messages or result["repaired"]:
        raise RuntimeError(f"load of {session_id}: {len(result['messages'])} messages "
                           f"(expected {messages}), repaired={result['repaired']}")
    return elapsed


async def run(sizes: Sizes, profile: ProfileMode, workdir: Path) -> list[MeasureResult]:
    messages = 1 + sizes.load_turns * MESSAGES_PER_TURN  # with the system prompt
    with tempfile.TemporaryDirectory(dir=workdir, prefix="load-") as tmp:
        folder = Path(tmp)
        root = folder / "ws"
        root.mkdir()
        ids = await prepare_sessions(root, sizes.load_turns, sizes.load_runs + 2)
        size_mb = (root / ".nexus" / "nexus.db").stat().st_size / 1e6
        options = nexus_settings(None)
        times: list[float] = []
        async with connect(NEXUS_SERVER, root, options) as conn:
            await load_once(conn.client, WARM, 1 + 2 * MESSAGES_PER_TURN)
            for session_id in ids[: sizes.load_runs]:
                times.append(await load_once(conn.client, session_id, messages))
        result = _result(sizes, times, messages, size_mb)
        if profile == "always" or (profile == "missed" and not result.passed):
            stats_file = folder / "load.prof"
            async with connect(profiled_server(stats_file), root, options) as conn:
                await load_once(conn.client, WARM, 1 + 2 * MESSAGES_PER_TURN)
                for session_id in ids[-2:]:
                    await load_once(conn.client, session_id, messages)
            result.profile = ("nexus-lsp under cProfile loading two sessions:\n"
                              + format_stats(stats_file))
    return [result]


def _result(sizes: Sizes, times: list[float], messages: int, size_mb: float) -> MeasureResult:
    summary = Summary.of(times)
    return MeasureResult(
        key="load",
        title="nexus/session/load of a 10k-message session",
        method=(__doc__ or "").split("\n\n", 1)[1].strip(),
        rows=[Row("request → response (parsed)", summary, "ms")],
        checks=[Check(f"median ≤ {TARGET_MS:g} ms", f"{summary.median:.0f} ms",
                      summary.median <= TARGET_MS)],
        notes=[f"{messages - 1:,} messages plus the system prompt per session; "
               f"{sizes.load_runs} sessions loaded once each; nexus.db {size_mb:.1f} MB."],
    )

"""The ACP door against the LSP door: the same turn, and spawn → ``initialize``.

Turn: one scripted model server process streams the same answer (the turn
measure's size and chunks) for every request. A: nexus-lsp over LSP (``python -m
nexus_lsp``), ``nexus/session/send`` from the bench's LSP client, to the ``send``
result. B: ``python -m nexus_lsp acp``, ``session/prompt`` from the ACP package's
client, to the prompt's answer (every ``agent_message_chunk`` received: the client
answers after the updates it got). Each run uses a session made beforehand. Runs
go A, B, A, B, ...; each B run checks the chunks add up to the scripted text.

Start-up: the timer runs from just before the process is spawned to the
``initialize`` result at the client; A: ``python -m nexus_lsp`` (LSP), B: ``python
-m nexus_lsp acp``; alternating, same interpreter and folder.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from acp import PROTOCOL_VERSION, helpers
from acp.client.connection import ClientSideConnection
from acp.stdio import spawn_agent_process

from bench.config import ProfileMode, Sizes
from bench.history import Words
from bench.lsp import NEXUS_SERVER, connect, nexus_settings, server_env
from bench.model import model_process
from bench.stats import Check, MeasureResult, Row, Summary, pair_ratios, ratio_of_medians
from bench.turn import PROMPT, nexus_turn

__all__ = ["run_startup", "run_turn"]

TARGET_TURN = 1.10
TARGET_START = 1.00
WAIT = 60.0
ACP_SERVER = (sys.executable, "-m", "nexus_lsp", "acp")


class Collector:
    """The bench's ACP client: counts the streamed text, answers nothing else."""

    def __init__(self) -> None:
        self.text: list[str] = []

    async def session_update(self, session_id: str, update: Any, **_: Any) -> None:
        if update.session_update == "agent_message_chunk":
            self.text.append(update.content.text)

    def on_connect(self, conn: Any) -> None:
        pass


@asynccontextmanager
async def acp_server(root: Path, settings: dict[str, Any]) -> AsyncIterator[
        tuple[ClientSideConnection, Collector, float]]:
    """A spawned, initialized ``nexus-lsp acp``; yields (conn, client, ms to initialize)."""
    client = Collector()
    started = time.perf_counter()
    async with spawn_agent_process(
        client, ACP_SERVER[0], *ACP_SERVER[1:], "--settings", json.dumps(settings),
        env=server_env(), cwd=root, transport_kwargs={"stderr": None},
    ) as (conn, _process):
        await asyncio.wait_for(conn.initialize(protocol_version=PROTOCOL_VERSION), WAIT)
        yield conn, client, (time.perf_counter() - started) * 1000


async def acp_turn(conn: ClientSideConnection, client: Collector, root: Path,
                   expected: str) -> float:
    session = await conn.new_session(cwd=str(root), mcp_servers=[])
    client.text.clear()
    started = time.perf_counter()
    answer = await conn.prompt(session_id=session.session_id,
                               prompt=[helpers.text_block(PROMPT)])
    done = time.perf_counter()
    streamed = "".join(client.text)
    if answer.stop_reason != "end_turn" or streamed != expected:
        raise RuntimeError(f"ACP turn did not stream the answer whole: {answer.stop_reason}, "
                           f"{len(streamed)} of {len(expected)} characters")
    return (done - started) * 1000


async def run_turn(sizes: Sizes, profile: ProfileMode, workdir: Path) -> list[MeasureResult]:
    text = Words(11).text(sizes.turn_chars)
    response = {"text": text, "chunkSize": sizes.turn_chunk, "delayMs": 0}
    script = {"responses": [response] * (2 * (sizes.turn_runs + sizes.warmups))}
    with tempfile.TemporaryDirectory(dir=workdir, prefix="acp-turn-") as tmp:
        folder = Path(tmp)
        lsp_root, acp_root = folder / "ws-lsp", folder / "ws-acp"
        lsp_root.mkdir()
        acp_root.mkdir()
        a: list[float] = []
        b: list[float] = []
        async with model_process(script, folder) as model_url:
            options = nexus_settings(f"{model_url}/v1")
            async with (connect(NEXUS_SERVER, lsp_root, options) as lsp,
                        acp_server(acp_root, options) as (conn, client, _)):
                for n in range(sizes.warmups + sizes.turn_runs):
                    lsp_ms = (await nexus_turn(lsp.client, text))["end"]
                    acp_ms = await acp_turn(conn, client, acp_root, text)
                    if n >= sizes.warmups:
                        a.append(lsp_ms)
                        b.append(acp_ms)
    ratio = ratio_of_medians(b, a)
    chunks = -(-sizes.turn_chars // sizes.turn_chunk)
    return [MeasureResult(
        key="acp_turn",
        title="ACP turn vs LSP turn",
        method=(__doc__ or "").split("\n\n", 1)[1].split("\n\n", 1)[0].strip(),
        rows=[
            Row("A: LSP, send → result", Summary.of(a), "ms"),
            Row("B: ACP, prompt → answer", Summary.of(b), "ms"),
            Row("ratio B/A, per pair", Summary.of(pair_ratios(b, a)), "×"),
        ],
        checks=[Check(f"ACP ≤ {TARGET_TURN:.2f}× LSP (median/median)", f"{ratio:.2f}×",
                      ratio <= TARGET_TURN)],
        notes=[f"{sizes.turn_chars:,} characters in {chunks:,} chunks of "
               f"{sizes.turn_chunk}; {len(a)} interleaved runs per side after "
               f"{sizes.warmups} uncounted one(s)."],
    )]


async def run_startup(sizes: Sizes, profile: ProfileMode, workdir: Path) -> list[MeasureResult]:
    with tempfile.TemporaryDirectory(dir=workdir, prefix="acp-startup-") as tmp:
        root = Path(tmp) / "ws"
        root.mkdir()
        options = nexus_settings(None)
        a: list[float] = []
        b: list[float] = []
        for n in range(sizes.warmups + sizes.startup_runs):
            async with connect(NEXUS_SERVER, root, options) as lsp:
                lsp_ms = lsp.initialize_ms
            async with acp_server(root, options) as (_conn, _client, acp_ms):
                pass
            if n >= sizes.warmups:
                a.append(lsp_ms)
                b.append(acp_ms)
    ratio = ratio_of_medians(b, a)
    return [MeasureResult(
        key="acp_startup",
        title="Spawn → initialize result, ACP vs LSP",
        method=(__doc__ or "").split("\n\n")[2].strip(),
        rows=[
            Row("A: nexus-lsp (LSP)", Summary.of(a), "ms"),
            Row("B: nexus-lsp acp", Summary.of(b), "ms"),
            Row("ratio B/A, per pair", Summary.of(pair_ratios(b, a)), "×"),
        ],
        checks=[Check(f"ACP ≤ {TARGET_START:.2f}× LSP (median/median)", f"{ratio:.2f}×",
                      ratio <= TARGET_START)],
        notes=[f"{len(a)} spawns of each, interleaved, after {sizes.warmups} uncounted "
               "spawn(s) of each."],
    )]

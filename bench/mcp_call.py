"""An MCP tool call through a turn against the same call made directly with the SDK.

**MCP tool call round trip.** One MCP server process each side, the in-repo stdio
server built with the SDK (``tests/mcp_support/fault_server.py``), tool ``echo``.
A: the bench process calls it directly with the ``mcp`` SDK's ``Client`` (its own
connection, started before the timing). B: nexus-lsp over stdio in ``auto`` mode
with the server in ``mcpServers``; the scripted model calls ``mcp__bench__echo``;
measured at the client from the tool's ``running`` update to its ``completed``
update (arguments checked against the tool's schema, the SDK call, the result
mapped, the update sent over stdio). Interleaved pairs (A, B, A, B, …) after one
uncounted warm-up call each side (B's starts the server).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from bench.config import ProfileMode, Sizes
from bench.lsp import NEXUS_SERVER, BenchClient, connect, nexus_settings
from bench.stats import Check, MeasureResult, Row, Summary, pair_ratios
from nexus_lsp import wire
from nexus_lsp.testing import ScriptedModelServer

__all__ = ["run"]

RATIO_TARGET = 1.2
FAULT_SERVER = Path(__file__).resolve().parent.parent / "tests" / "mcp_support" / "fault_server.py"


async def _through_turn(client: BenchClient, model: ScriptedModelServer, session: str,
                        n: int) -> float:
    call_id = f"bench_mcp_{n}"
    model.extend([{"toolCalls": [{"id": call_id, "name": "mcp__bench__echo",
                                  "arguments": {"text": f"ping {n}"}}]}, {"text": "ok"}])
    mark = len(client.updates)
    await client.request(wire.SESSION_SEND, {"sessionId": session, "prompt": f"echo {n}"})
    times: dict[str, float] = {}
    for arrived, update in client.updates[mark:]:
        if update.get("toolCallId") == call_id and update["kind"] == wire.UPDATE_TOOL_CALL_UPDATE:
            times.setdefault(update["status"], arrived)
    if "running" not in times or "completed" not in times:
        raise RuntimeError(f"{call_id} did not complete: {times}")
    return (times["completed"] - times["running"]) * 1000


async def _round_trip(sizes: Sizes, root: Path) -> MeasureResult:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters, stdio_client

    server = {"command": sys.executable, "args": [str(FAULT_SERVER)]}
    direct: list[float] = []
    ours: list[float] = []
    params = StdioServerParameters(command=sys.executable, args=[str(FAULT_SERVER)])
    with open("/dev/null", "w") as quiet:  # noqa: ASYNC230 (opened once, before timing)
        async with Client(stdio_client(params, errlog=quiet)) as sdk:
            await sdk.call_tool("echo", {"text": "warm-up"})
            async with ScriptedModelServer() as model:
                options = nexus_settings(model.openai_base_url, permissions={"mode": "auto"},
                                         mcpServers={"bench": server})
                async with connect(NEXUS_SERVER, root, options) as conn:
                    client = conn.client
                    created = await client.request(wire.SESSION_NEW, {"title": "bench mcp"})
                    session = str(created["sessionId"])
                    await _through_turn(client, model, session, -1)  # starts the server
                    for n in range(sizes.mcp_runs):
                        started = time.perf_counter()
                        result = await sdk.call_tool("echo", {"text": f"ping {n}"})
                        direct.append((time.perf_counter() - started) * 1000)
                        assert not result.is_error
                        ours.append(await _through_turn(client, model, session, n))
    ratio = Summary.of(pair_ratios(ours, direct))
    return MeasureResult(
        key="mcp",
        title="MCP tool call round trip",
        method=(__doc__ or "").split("\n\n")[1].strip(),
        rows=[
            Row("direct SDK call_tool (A)", Summary.of(direct), "ms"),
            Row("through a turn, running → completed (B)", Summary.of(ours), "ms"),
            Row("B / A per interleaved pair", ratio, "×"),
        ],
        checks=[Check(f"B / A median ≤ {RATIO_TARGET:g}×", f"{ratio.median:.2f}×",
                      ratio.median <= RATIO_TARGET)],
        notes=["Start-up and idle RSS with no MCP server configured are the `startup`/"
               "`rss` measures: the MCP package and the SDK are imported only when a "
               "server is configured."],
    )


async def run(sizes: Sizes, profile: ProfileMode, workdir: Path) -> list[MeasureResult]:
    del profile  # dominated by the two processes' I/O
    with tempfile.TemporaryDirectory(dir=workdir, prefix="mcp-") as tmp:
        root = Path(tmp) / "ws"
        root.mkdir()
        return [await _round_trip(sizes, root)]

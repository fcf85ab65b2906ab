"""Permissions and commands (protocol v2 §1–§2): the question's round trip, a 10 MB command.

**Permission round trip.** The client declares ``clientFeatures.permissionRequests``;
each run the scripted model calls ``run_command`` (``true``) in ``default`` mode, so
the server asks. The client answers ``allow_once`` the moment the request arrives.
Measured at the client: ``nexus/permission/request`` received → the tool's
``running`` update received (the server reads the answer, decides, starts the
command). One warm-up run is not counted.

**A command printing 10 MB.** In ``auto`` mode the model calls ``run_command`` with a
command printing 10 MB; measured at the client from the tool's ``running`` update to
its ``completed`` update (the output streamed, bounded, the result built), against
the same command run by a bare asyncio subprocess with its output to ``/dev/null``,
interleaved (bare, nexus, bare, nexus, …). The server's peak RSS (``VmHWM``) is read
before the first command and after each. For scale, a third series (A′, not a target)
is the same bare subprocess reading its output from a pipe, as any reader must: the
kernel then copies the 10 MB into the pipe and out of it, which ``/dev/null`` skips.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.config import ProfileMode, Sizes
from bench.lsp import NEXUS_SERVER, BenchClient, connect, nexus_settings
from bench.stats import Check, MeasureResult, Row, Summary, pair_ratios
from nexus_lsp import wire
from nexus_lsp.testing import ScriptedModelServer

__all__ = ["run"]

ROUND_TRIP_TARGET_MS = 5.0
COMMAND_RATIO_TARGET = 1.5
RSS_TARGET_MIB = 20.0
PIPE_READ = 1024 * 1024
FEATURES = {wire.CLIENT_FEATURES: {wire.FEATURE_PERMISSION_REQUESTS: True}}


def printing(size: int) -> str:
    return f"yes 0123456789abcdef | head -c {size}"


def peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


async def _tool_times(client: BenchClient, mark: int, call_id: str) -> dict[str, float]:
    times: dict[str, float] = {}
    for arrived, update in client.updates[mark:]:
        if update.get("toolCallId") == call_id and update["kind"] == wire.UPDATE_TOOL_CALL_UPDATE:
            times.setdefault(update["status"], arrived)
    if "running" not in times or "completed" not in times:
        raise RuntimeError(f"{call_id} did not run to completion: {times}")
    return times


async def _round_trip(client: BenchClient, model: ScriptedModelServer, session: str,
                      n: int, asked: dict[str, float]) -> float:
    call_id = f"bench_perm_{n}"
    model.extend([{"toolCalls": [{"id": call_id, "name": wire.TOOL_RUN_COMMAND,
                                  "arguments": {"command": "true"}}]}, {"text": "ok"}])
    mark = len(client.updates)
    await client.request(wire.SESSION_SEND, {"sessionId": session, "prompt": f"run {n}"})
    times = await _tool_times(client, mark, call_id)
    return (times["running"] - asked[call_id]) * 1000


async def _permission(sizes: Sizes, root: Path) -> MeasureResult:
    asked: dict[str, float] = {}
    async with ScriptedModelServer() as model:
        options = {**nexus_settings(model.openai_base_url), **FEATURES}
        async with connect(NEXUS_SERVER, root, options) as conn:
            client = conn.client

            @client.feature(wire.PERMISSION_REQUEST)
            def on_request(_: BenchClient, params: dict[str, Any]) -> dict[str, Any]:
                asked[params["toolCall"]["id"]] = time.perf_counter()
                return {"outcome": wire.OUTCOME_SELECTED, "optionId": wire.OPTION_ALLOW_ONCE}

            created = await client.request(wire.SESSION_NEW, {"title": "bench permission"})
            session = str(created["sessionId"])
            for n in range(sizes.warmups):
                await _round_trip(client, model, session, -1 - n, asked)
            samples = [await _round_trip(client, model, session, n, asked)
                       for n in range(sizes.permission_runs)]
    rounds = Summary.of(samples)
    return MeasureResult(
        key="permission",
        title="Permission round trip over stdio",
        method=(__doc__ or "").split("\n\n")[1].strip(),
        rows=[Row("permission request received → command running", rounds, "ms")],
        checks=[Check(f"median ≤ {ROUND_TRIP_TARGET_MS:g} ms", f"{rounds.median:.2f} ms",
                      rounds.median <= ROUND_TRIP_TARGET_MS)],
        notes=["Includes the answer's way back over stdio and the decision (rules, grants "
               "from nexus.db); the `running` update goes out just before the spawn."],
    )


async def _bare(command: str, piped: bool = False) -> float:
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", command, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE if piped else asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    if proc.stdout is not None:
        while await proc.stdout.read(PIPE_READ):
            pass
    await proc.wait()
    return (time.perf_counter() - started) * 1000


async def _nexus(client: BenchClient, model: ScriptedModelServer, session: str, n: int,
                 command: str) -> float:
    call_id = f"bench_cmd_{n}"
    model.extend([{"toolCalls": [{"id": call_id, "name": wire.TOOL_RUN_COMMAND,
                                  "arguments": {"command": command}}]}, {"text": "ok"}])
    mark = len(client.updates)
    await client.request(wire.SESSION_SEND, {"sessionId": session, "prompt": f"print {n}"})
    times = await _tool_times(client, mark, call_id)
    return (times["completed"] - times["running"]) * 1000


async def _command(sizes: Sizes, root: Path) -> MeasureResult:
    command = printing(sizes.command_bytes)
    bare: list[float] = []
    piped: list[float] = []
    ours: list[float] = []
    growth: list[float] = []
    async with ScriptedModelServer() as model:
        options = nexus_settings(model.openai_base_url, permissions={"mode": "auto"})
        async with connect(NEXUS_SERVER, root, options) as conn:
            client = conn.client
            created = await client.request(wire.SESSION_NEW, {"title": "bench command"})
            session = str(created["sessionId"])
            await _nexus(client, model, session, -1, "true")  # the session is live
            before = peak_rss_kib(client.pid)
            for n in range(sizes.command_runs):
                bare.append(await _bare(command))
                piped.append(await _bare(command, piped=True))
                ours.append(await _nexus(client, model, session, n, command))
                growth.append((peak_rss_kib(client.pid) - before) / 1024)
    ratios = pair_ratios(ours, bare)
    ratio = Summary.of(ratios)
    peak = Summary.of(growth)
    megabytes = sizes.command_bytes / 1e6
    return MeasureResult(
        key="command",
        title=f"run_command printing {megabytes:g} MB",
        method=(__doc__ or "").split("\n\n")[2].strip(),
        rows=[
            Row("bare asyncio subprocess, output to /dev/null (A)", Summary.of(bare), "ms"),
            Row("run_command, running → completed (B)", Summary.of(ours), "ms"),
            Row("B / A per interleaved pair", ratio, "×"),
            Row("bare asyncio subprocess reading the pipe (A′)", Summary.of(piped), "ms"),
            Row("A′ / A per interleaved pair (any reader's floor)",
                Summary.of(pair_ratios(piped, bare)), "×"),
            Row("B / A′ per interleaved pair", Summary.of(pair_ratios(ours, piped)), "×"),
            Row("server peak RSS growth", peak, "MiB"),
        ],
        checks=[
            Check(f"B / A median ≤ {COMMAND_RATIO_TARGET:g}×", f"{ratio.median:.2f}×",
                  ratio.median <= COMMAND_RATIO_TARGET),
            Check(f"server RSS growth ≤ {RSS_TARGET_MIB:g} MiB", f"{peak.maximum:.1f} MiB",
                  peak.maximum <= RSS_TARGET_MIB),
        ],
        notes=[f"`{command}`; the editor receives up to commands.maxStoredOutputBytes "
               "(1 MiB) of it, the model its head and tail."],
    )


async def run(sizes: Sizes, profile: ProfileMode, workdir: Path) -> list[MeasureResult]:
    del profile  # no profiled variant: both measures are dominated by I/O
    with tempfile.TemporaryDirectory(dir=workdir, prefix="command-") as tmp:
        root = Path(tmp) / "ws"
        root.mkdir()
        return [await _permission(sizes, root), await _command(sizes, root)]

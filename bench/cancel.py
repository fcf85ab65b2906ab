"""``$/cancelRequest`` during a streaming turn: time to -32800, and to the model seeing it.

The scripted model server runs in the bench process, so the moment it notices the
client left (its response handler is cancelled when the connection closes) is on
the bench's clock. Each run: a new session, a ``nexus/session/send`` whose answer
streams for seconds (8-character chunks, 1 ms apart); once the first ``content``
update arrived and a little more streamed, the client sends ``$/cancelRequest``.
Measured from that notification: the -32800 error reaching the client, and the
model server seeing its connection closed. Each run also checks that ``turnEnd``
(``cancelled``) arrived before the error, as the protocol requires.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from bench.config import ProfileMode, Sizes
from bench.history import Words
from bench.lsp import NEXUS_SERVER, WAIT, BenchClient, connect, nexus_settings
from bench.profiling import format_stats, profiled_server
from bench.stats import Check, MeasureResult, Row, Summary
from nexus_lsp import wire
from nexus_lsp.testing import ScriptedModelServer

__all__ = ["run"]

TARGET_ERROR_P95_MS = 10.0
TARGET_CLOSED_MS = 50.0
REQUEST_CANCELLED = -32800
STREAM_BEFORE_CANCEL_S = 0.02


async def cancel_once(client: BenchClient, model: ScriptedModelServer, text: str,
                      msg_id: int) -> tuple[float, float, bool]:
    """(ms to -32800, ms to the model seeing the close, turnEnd came first)."""
    model.push({"text": text, "chunkSize": 8, "delayMs": 1})
    created = await client.request(wire.SESSION_NEW, {"title": "bench cancel"})
    session_id = created["sessionId"]
    mark = len(client.updates)
    disconnects = model.disconnects
    answer = client.start_request(wire.SESSION_SEND,
                                  {"sessionId": session_id, "prompt": "stream for a while"},
                                  msg_id=msg_id)
    await client.wait_update(
        lambda u: u["sessionId"] == session_id and u["kind"] == wire.UPDATE_CONTENT, mark)
    await asyncio.sleep(STREAM_BEFORE_CANCEL_S)
    closed_at: list[float] = []

    async def watch_model() -> None:
        await model.wait_for_disconnect(WAIT, count=disconnects + 1)
        closed_at.append(time.perf_counter())

    watcher = asyncio.create_task(watch_model())
    sent = time.perf_counter()
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
    try:
        await asyncio.wait_for(answer, WAIT)
    except JsonRpcException as exc:
        errored = time.perf_counter()
        if exc.code != REQUEST_CANCELLED:
            raise RuntimeError(f"the cancelled send failed with {exc.code}: {exc}") from exc
    else:
        raise RuntimeError("the cancelled send answered normally instead of -32800")
    await watcher
    ends = [(t, u) for t, u in client.updates[mark:]
            if u["sessionId"] == session_id and u["kind"] == wire.UPDATE_TURN_END]
    ordered = len(ends) == 1 and ends[0][0] <= errored and ends[0][1]["stopReason"] == "cancelled"
    return (errored - sent) * 1000, (closed_at[0] - sent) * 1000, ordered


async def run(sizes: Sizes, profile: ProfileMode, workdir: Path) -> list[MeasureResult]:
    text = Words(5).text(40_000)  # 5,000 chunks 1 ms apart: streams far longer than needed
    with tempfile.TemporaryDirectory(dir=workdir, prefix="cancel-") as tmp:
        folder = Path(tmp)
        root = folder / "ws"
        root.mkdir()
        async with ScriptedModelServer() as model:
            options = nexus_settings(model.openai_base_url)
            errors: list[float] = []
            closes: list[float] = []
            ordered = 0
            async with connect(NEXUS_SERVER, root, options) as conn:
                for i in range(sizes.warmups):
                    await cancel_once(conn.client, model, text, 9_000 + i)
                for i in range(sizes.cancel_runs):
                    error_ms, closed_ms, in_order = await cancel_once(
                        conn.client, model, text, 10_000 + i)
                    errors.append(error_ms)
                    closes.append(closed_ms)
                    ordered += in_order
            result = _result(errors, closes, ordered, sizes.warmups)
            if profile == "always" or (profile == "missed" and not result.passed):
                stats_file = folder / "cancel.prof"
                async with connect(profiled_server(stats_file), root, options) as conn:
                    for i in range(3):
                        await cancel_once(conn.client, model, text, 20_000 + i)
                result.profile = ("nexus-lsp under cProfile for three cancelled turns:\n"
                                  + format_stats(stats_file))
    return [result]


def _result(errors: list[float], closes: list[float], ordered: int,
            warmups: int) -> MeasureResult:
    error_summary, close_summary = Summary.of(errors), Summary.of(closes)
    return MeasureResult(
        key="cancel",
        title="$/cancelRequest during a streaming turn",
        method=(__doc__ or "").split("\n\n", 1)[1].strip(),
        rows=[
            Row("$/cancelRequest → -32800 at the client", error_summary, "ms"),
            Row("$/cancelRequest → model server sees the connection closed", close_summary,
                "ms"),
        ],
        checks=[
            Check(f"-32800 p95 ≤ {TARGET_ERROR_P95_MS:g} ms", f"{error_summary.p95:.1f} ms",
                  error_summary.p95 <= TARGET_ERROR_P95_MS),
            Check(f"model server sees the close ≤ {TARGET_CLOSED_MS:g} ms (every run)",
                  f"max {close_summary.maximum:.1f} ms",
                  close_summary.maximum <= TARGET_CLOSED_MS),
            Check("turnEnd (cancelled) before the -32800 error (every run)",
                  f"{ordered} of {len(errors)}", ordered == len(errors)),
        ],
        notes=[f"{len(errors)} cancelled turns in one server process, after {warmups} "
               "uncounted one(s)."],
    )

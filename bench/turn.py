"""A 20k-token turn end to end, against a bare httpx client reading the same stream.

One scripted model server process streams the same answer (~80k characters in
4-character chunks, no delay: ~20k chunks) for every request. A, the baseline:
an ``httpx.AsyncClient`` POSTs a chat completion and reads the raw stream to its
end. B: nexus-lsp (``python -m nexus_lsp``, one process for all runs) gets
``nexus/session/send`` from the bench's LSP client over stdio, streams the
answer from the model and sends it back as ``nexus/session/update``
notifications; the run ends when the ``send`` result arrives. Each B run uses a
session made beforehand (``nexus/session/new``), as an editor's chat would. B′ is
a second nexus-lsp with the same settings except ``logging.streams`` without
``raw`` (no ``raw.jsonl``): it shows what logging every streamed chunk costs.
Runs go A, B, B′, A, B, B′, ...
Both clients are created before their timer starts; both connect inside it.

First output: A's first raw body byte and B's first ``content`` update, each
relative to its own request start, in the same interleaved runs. Warm-up runs
of each side are not counted.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import httpx

from bench.config import ProfileMode, Sizes
from bench.history import SYSTEM_PROMPT, Words
from bench.lsp import NEXUS_SERVER, BenchClient, connect, nexus_settings
from bench.model import model_process
from bench.profiling import format_stats, profiled_server
from bench.stats import Check, MeasureResult, Row, Summary, pair_ratios, ratio_of_medians
from nexus_lsp import wire

__all__ = ["run"]

TARGET_RATIO = 1.25
NO_RAW = ("context", "verbose")  # logging.streams without the raw provider traffic
TARGET_FIRST_MS = 5.0
PROMPT = "Explain the architecture of this workspace in detail."


async def httpx_turn(model_url: str) -> tuple[float, float, int]:
    """(first byte ms, end ms, bytes) of one raw read of the stream."""
    body = {
        "model": "scripted",
        "stream": True,
        "messages": [{"role": "system", "content": SYSTEM_PROMPT},
                     {"role": "user", "content": PROMPT}],
    }
    async with httpx.AsyncClient(timeout=60) as client:
        started = time.perf_counter()
        first: float | None = None
        size = 0
        async with client.stream("POST", f"{model_url}/v1/chat/completions", json=body) as answer:
            answer.raise_for_status()
            async for chunk in answer.aiter_raw():
                if first is None:
                    first = time.perf_counter()
                size += len(chunk)
        done = time.perf_counter()
    if first is None:
        raise RuntimeError("the scripted model sent an empty body")
    return (first - started) * 1000, (done - started) * 1000, size


async def nexus_turn(client: BenchClient, expected: str) -> dict[str, float]:
    """Timings (ms from the send) of one turn; checks the text arrived whole."""
    created = await client.request(wire.SESSION_NEW, {"title": "bench turn"})
    session_id = created["sessionId"]
    mark = len(client.updates)
    started = time.perf_counter()
    result = await client.request(wire.SESSION_SEND, {"sessionId": session_id, "prompt": PROMPT})
    done = time.perf_counter()
    updates = [(t, u) for t, u in client.updates[mark:] if u["sessionId"] == session_id]
    contents = [(t, u) for t, u in updates if u["kind"] == wire.UPDATE_CONTENT]
    turn_start = next(t for t, u in updates if u["kind"] == wire.UPDATE_TURN_START)
    streamed = "".join(u["text"] for _, u in contents)
    if result.get("stopReason") != "endTurn" or streamed != expected:
        raise RuntimeError(f"turn did not stream the answer whole: stopReason "
                           f"{result.get('stopReason')}, {len(streamed)} of {len(expected)} "
                           f"characters, error {result.get('error')}")
    return {
        "end": (done - started) * 1000,
        "first": (contents[0][0] - started) * 1000,
        "turnStart": (turn_start - started) * 1000,
        "notifications": float(len(contents)),
    }


async def run(sizes: Sizes, profile: ProfileMode, workdir: Path) -> list[MeasureResult]:
    text = Words(11).text(sizes.turn_chars)
    response = {"text": text, "chunkSize": sizes.turn_chunk, "delayMs": 0}
    # warm-up + runs for each of the three, and two turns for a profiled server
    script = {"responses": [response] * (3 * (sizes.turn_runs + sizes.warmups) + 2)}
    with tempfile.TemporaryDirectory(dir=workdir, prefix="turn-") as tmp:
        folder = Path(tmp)
        root, root_no_raw = folder / "ws", folder / "ws-no-raw"
        root.mkdir()
        root_no_raw.mkdir()
        async with model_process(script, folder) as model_url:
            options = nexus_settings(f"{model_url}/v1")
            no_raw = nexus_settings(f"{model_url}/v1", logging={"streams": list(NO_RAW)})
            a: list[tuple[float, float, int]] = []
            b: list[dict[str, float]] = []
            b_no_raw: list[dict[str, float]] = []
            async with (connect(NEXUS_SERVER, root, options) as conn,
                        connect(NEXUS_SERVER, root_no_raw, no_raw) as conn_no_raw):
                for n in range(sizes.warmups + sizes.turn_runs):
                    timings = (await httpx_turn(model_url), await nexus_turn(conn.client, text),
                               await nexus_turn(conn_no_raw.client, text))
                    if n >= sizes.warmups:
                        a.append(timings[0])
                        b.append(timings[1])
                        b_no_raw.append(timings[2])
            result = _result(sizes, a, b, b_no_raw)
            if profile == "always" or (profile == "missed" and not result.passed):
                stats_file = folder / "turn.prof"
                async with connect(profiled_server(stats_file), root, options) as conn:
                    await nexus_turn(conn.client, text)  # warm-up, profiled too
                    await nexus_turn(conn.client, text)
                result.profile = ("nexus-lsp under cProfile for two turns:\n"
                                  + format_stats(stats_file))
    return [result]


def _result(sizes: Sizes, a: list[tuple[float, float, int]], b: list[dict[str, float]],
            b_no_raw: list[dict[str, float]]) -> MeasureResult:
    a_end, a_first = [x[1] for x in a], [x[0] for x in a]
    b_end, b_first = [x["end"] for x in b], [x["first"] for x in b]
    ratio = ratio_of_medians(b_end, a_end)
    first_gap = Summary.of(b_first).median - Summary.of(a_first).median
    rows = [
        Row("A: httpx, whole stream", Summary.of(a_end), "ms"),
        Row("B: nexus-lsp, send → result", Summary.of(b_end), "ms"),
        Row("ratio B/A, per pair", Summary.of(pair_ratios(b_end, a_end)), "×"),
        Row("B′: nexus-lsp, raw.jsonl off, send → result",
            Summary.of([x["end"] for x in b_no_raw]), "ms"),
        Row("ratio B′/A, per pair",
            Summary.of(pair_ratios([x["end"] for x in b_no_raw], a_end)), "×"),
        Row("A: first raw byte", Summary.of(a_first), "ms"),
        Row("B: first content update", Summary.of(b_first), "ms"),
        Row("B − A first output, per pair",
            Summary.of([y - x for x, y in zip(a_first, b_first, strict=True)]), "ms"),
        Row("B: turnStart update", Summary.of([x["turnStart"] for x in b]), "ms"),
        Row("B: content notifications per turn", Summary.of([x["notifications"] for x in b]),
            ""),
    ]
    chunks = -(-sizes.turn_chars // sizes.turn_chunk)
    notes: list[str] = [
        f"{sizes.turn_chars:,} characters in {chunks:,} chunks of {sizes.turn_chunk}; "
        f"{a[0][2]:,} bytes of SSE per stream; {len(a)} interleaved runs per side after "
        f"{sizes.warmups} uncounted one(s).",
        "Every B run checks that the concatenated content updates equal the scripted text.",
    ]
    return MeasureResult(
        key="turn",
        title="A 20k-token turn, end to end",
        method=(__doc__ or "").split("\n\n", 1)[1].strip(),
        rows=rows,
        checks=[
            Check(f"end to end ≤ {TARGET_RATIO:.2f}× the bare client (median/median)",
                  f"{ratio:.2f}×", ratio <= TARGET_RATIO),
            Check(f"first update ≤ {TARGET_FIRST_MS:g} ms after the raw first byte "
                  "(difference of medians)", f"{first_gap:+.1f} ms",
                  first_gap <= TARGET_FIRST_MS),
        ],
        notes=notes,
    )

"""Context (protocol v2 §4): compaction's own overhead, and the diagnostics round trip.

Compaction: a session whose history holds a long working session (5 messages a turn:
prompt, tool calls, two results, answer; 2,000 messages in a full run) is compacted
with :meth:`Session.compact` (keeping the last 4 exchanges). The model is an
in-process stub that answers a fixed summary at once and times itself; the overhead
is the whole compaction minus the stub's time: choosing the exchanges, rendering the
transcript, applying the summary, the events (to a store sink buffering rows, as in
the server) and the next request's messages.

Diagnostics: the real server over stdio, with a client that declared
``clientFeatures.diagnostics`` and answers ``nexus/editor/diagnostics`` at once.
Round trip: the model calls ``get_diagnostics``; the time from the tool's ``running``
update to its ``completed`` update at the client (one ``nexus/editor/diagnostics``
request and answer, and our handling of both). Settle: the model calls
``edit_file``; the time from the tool's ``completed`` update to the next model
request at the scripted model, with the feature declared minus the same without it
and minus the settle poll's sleeps (100 ms between two answers that agree): our own
time in the settle wait.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from lsprotocol import types

from bench.config import ProfileMode, Sizes
from bench.history import SYSTEM_PROMPT, Words, turn_events
from bench.lsp import NEXUS_SERVER, BenchClient, connect, nexus_settings
from bench.stats import Check, MeasureResult, Row, Summary
from nexus_lsp import wire
from nexus_lsp.config import LoggingSettings, SessionSettings
from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.events import MessageAppended
from nexus_lsp.core.messages import Message, ToolDefinition
from nexus_lsp.core.stream import StreamComplete, StreamEvent, TextDelta
from nexus_lsp.session import Session
from nexus_lsp.session.diagnostics import POLL_SECONDS
from nexus_lsp.storage import SessionStore
from nexus_lsp.testing import ScriptedModelServer

__all__ = ["run_compaction", "run_diagnostics"]

COMPACTION_TARGET_MS = 20.0
ROUND_TRIP_TARGET_MS = 5.0
SUMMARY = "Summary: the user and the agent worked through the store and the editor. " * 8


class StubProvider:
    """Answers every request with the summary at once; its own time is measured."""

    model = "stub"

    def __init__(self) -> None:
        self.seconds = 0.0

    async def stream(self, messages: Sequence[Message], tools: Sequence[ToolDefinition],
                     cancel_token: CancellationToken) -> AsyncIterator[StreamEvent]:
        started = time.perf_counter()
        yield TextDelta(SUMMARY)
        self.seconds += time.perf_counter() - started
        yield StreamComplete(Message.assistant(SUMMARY), None, "stop")

    async def aclose(self) -> None:
        return None


def history(turns: int) -> list[Message]:
    words = Words(11)
    out: list[Message] = []
    for turn in range(1, turns + 1):
        for event in turn_events("bench", turn, len(out) + 1, words):
            if isinstance(event, MessageAppended):
                out.append(event.message)
    return out


async def compaction_once(messages: list[Message], store: SessionStore, n: int) -> float:
    provider = StubProvider()
    session = Session(provider=provider,  # type: ignore[arg-type]
                      settings=SessionSettings(context_tokens=2_000_000),
                      system_prompt=SYSTEM_PROMPT, history=messages,
                      session_id=f"bench-compact-{n}")
    await store.create_session(session.id, title="bench", model="stub",
                               system_prompt=SYSTEM_PROMPT)
    session.add_sink(store.sink(session.id))
    started = time.perf_counter()
    outcome = await session.compact()
    session.context.request_messages()
    total = time.perf_counter() - started
    if outcome.summary is None:
        raise RuntimeError(f"compaction fell back: {outcome.fallback}")
    await store.flush()
    return (total - provider.seconds) * 1000


async def run_compaction(sizes: Sizes, profile: ProfileMode,
                         workdir: Path) -> list[MeasureResult]:
    turns = max(2, sizes.compaction_messages // 5)
    messages = history(turns)
    runs: list[float] = []
    with tempfile.TemporaryDirectory(dir=workdir, prefix="compact-") as tmp:
        store = await SessionStore.open(Path(tmp), LoggingSettings(streams=()))
        try:
            await compaction_once(messages, store, 0)  # warm-up
            for n in range(1, sizes.compaction_runs + 1):
                runs.append(await compaction_once(messages, store, n))
        finally:
            await store.aclose()
    overhead = Summary.of(runs)
    return [MeasureResult(
        key="compaction",
        title=f"Compaction of a {len(messages):,}-message session (our overhead)",
        method=(__doc__ or "").split("\n\n")[1].strip(),
        rows=[Row("compaction minus the model's time", overhead, "ms")],
        checks=[Check(f"median ≤ {COMPACTION_TARGET_MS:g} ms", f"{overhead.median:.1f} ms",
                      overhead.median <= COMPACTION_TARGET_MS)],
        notes=[f"{len(messages):,} messages, {turns:,} exchanges; {len(runs)} runs after "
               "one warm-up."],
    )]


def _answer_diagnostics(client: BenchClient, asked: list[float]) -> None:
    @client.feature(wire.EDITOR_DIAGNOSTICS)  # type: ignore[untyped-decorator]
    def on_diagnostics(params: dict[str, Any]) -> dict[str, Any]:
        asked.append(time.perf_counter())
        items = [{"uri": u, "diagnostics": [{
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}},
            "severity": 2, "message": "a standing warning", "source": "bench"}]}
            for u in params["uris"]]
        return {"items": items}


def _tool_times(client: BenchClient, mark: int, call_id: str) -> dict[str, float]:
    return {u["status"]: t for t, u in client.updates[mark:]
            if u["kind"] == wire.UPDATE_TOOL_CALL_UPDATE and u["toolCallId"] == call_id}


async def _edit_runs(root: Path, model: ScriptedModelServer, arrivals: list[float],
                     runs: int, declared: bool) -> tuple[list[float], list[int]]:
    """Tool completed → next model request (ms) per edit, and the asks after each."""
    features = {wire.CLIENT_FEATURES: {"diagnostics": True}} if declared else {}
    options = {**nexus_settings(model.openai_base_url), **features}
    times: list[float] = []
    asks_after: list[int] = []
    async with connect(NEXUS_SERVER, root, options) as conn:
        client = conn.client
        asked: list[float] = []
        _answer_diagnostics(client, asked)
        created = await client.request(wire.SESSION_NEW, {"title": "bench diagnostics"})
        for n in range(runs + 1):
            call_id = f"edit_{int(declared)}_{n}"
            model.extend([
                {"toolCalls": [{"id": call_id, "name": wire.TOOL_EDIT_FILE, "arguments": {
                    "path": "app.py", "oldText": f"value = {n}\n",
                    "newText": f"value = {n + 1}\n"}}]},
                {"text": "Done."},
            ])
            mark, seen = len(client.updates), len(arrivals)

            async def apply(arrived: float, params: types.ApplyWorkspaceEditParams,
                            n: int = n) -> types.ApplyWorkspaceEditResult:
                (root / "app.py").write_text(f"value = {n + 1}\n")  # the editor saves it
                return types.ApplyWorkspaceEditResult(applied=True)

            client.edit_handler = apply
            await client.request(wire.SESSION_SEND,
                                 {"sessionId": created["sessionId"], "prompt": "Edit."})
            completed = _tool_times(client, mark, call_id)["completed"]
            following = [t for t in arrivals[seen:] if t > completed]
            asks = [t for t in asked if t > completed]
            asked.clear()
            if n:  # the first is a warm-up
                times.append((following[0] - completed) * 1000)
                asks_after.append(len(asks))
    return times, asks_after


async def run_diagnostics(sizes: Sizes, profile: ProfileMode,
                          workdir: Path) -> list[MeasureResult]:
    arrivals: list[float] = []
    with tempfile.TemporaryDirectory(dir=workdir, prefix="diagnostics-") as tmp:
        root = Path(tmp) / "ws"
        root.mkdir()
        (root / "app.py").write_text("value = 0\n")
        async with ScriptedModelServer(on_request=lambda r: arrivals.append(
                time.perf_counter())) as model:
            options = {**nexus_settings(model.openai_base_url),
                       wire.CLIENT_FEATURES: {"diagnostics": True}}
            round_trips: list[float] = []
            async with connect(NEXUS_SERVER, root, options) as conn:
                client = conn.client
                _answer_diagnostics(client, [])
                created = await client.request(wire.SESSION_NEW, {"title": "bench"})
                for n in range(sizes.diagnostics_runs + 1):
                    call_id = f"diag_{n}"
                    model.extend([{"toolCalls": [{"id": call_id, "name": "get_diagnostics",
                                                  "arguments": {"path": "app.py"}}]},
                                  {"text": "Done."}])
                    mark = len(client.updates)
                    await client.request(wire.SESSION_SEND, {
                        "sessionId": created["sessionId"], "prompt": "Diagnostics?"})
                    times = _tool_times(client, mark, call_id)
                    if n:
                        round_trips.append((times["completed"] - times["running"]) * 1000)
            (root / "app.py").write_text("value = 0\n")
            with_feature, asks = await _edit_runs(root, model, arrivals,
                                                  sizes.diagnostics_runs, True)
            (root / "app.py").write_text("value = 0\n")
            without, _ = await _edit_runs(root, model, arrivals, sizes.diagnostics_runs, False)
    baseline = Summary.of(without).median
    sleeps = [max(0, a - 1) * POLL_SECONDS * 1000 for a in asks]
    ours = [max(0.0, t - s - baseline) for t, s in zip(with_feature, sleeps, strict=True)]
    trip = Summary.of(round_trips)
    return [MeasureResult(
        key="diagnostics",
        title="Editor diagnostics: round trip and settle wait (our time)",
        method=(__doc__ or "").split("\n\n")[2].strip(),
        rows=[
            Row("get_diagnostics running → completed (one round trip)", trip, "ms"),
            Row("edit batch: completed → next model call, with diagnostics",
                Summary.of(with_feature), "ms"),
            Row("the same without the feature", Summary.of(without), "ms"),
            Row("our time in the settle wait (with − without − poll sleeps)",
                Summary.of(ours), "ms"),
        ],
        checks=[Check(f"round trip median ≤ {ROUND_TRIP_TARGET_MS:g} ms",
                      f"{trip.median:.1f} ms", trip.median <= ROUND_TRIP_TARGET_MS)],
        notes=[f"{len(round_trips)} get_diagnostics calls and {len(with_feature)} edits with and "
               "without the feature, after one warm-up each; the settle wait took "
               f"{Summary.of([float(a) for a in asks]).median:.0f} editor answers after a batch "
               "(two that agree end it)."],
    )]

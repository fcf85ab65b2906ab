"""``edit_file`` on an open 5 MB document: the round trip, and the size of the edit sent.

The client opens a 5 MB document (``didOpen``, ~65k lines) with unique markers
near its middle. Each run the scripted model (in the bench process) calls
``edit_file`` to replace one marker, then answers "done". The client plays the
editor: it answers ``workspace/applyEdit`` (applied), after checking that the
edit is one ``TextDocumentEdit`` at the open document's version whose one text
edit spans exactly the marker, and applies it to its buffer with an incremental
``didChange``. Measured at the client: the tool's ``running`` update →
``workspace/applyEdit`` received → the tool's ``completed`` update. One warm-up
run is not counted.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from lsprotocol import converters, types

from bench.config import ProfileMode, Sizes
from bench.history import Words
from bench.lsp import NEXUS_SERVER, BenchClient, connect, nexus_settings, uri
from bench.profiling import format_stats, profiled_server
from bench.stats import Check, MeasureResult, Row, Summary
from nexus_lsp import wire
from nexus_lsp.testing import ScriptedModelServer

__all__ = ["Document", "run"]

TARGET_MS = 50.0
MAX_EDIT_BYTES = 2_000  # an applyEdit carrying a changed range, not a document
PREFIX = "line {:07d}: "


def marker(n: int) -> str:
    return f"NEXUS_BENCH_TARGET_{n:04d}"


def replacement(n: int) -> str:
    return f"NEXUS_BENCH_EDITED_{n:04d}"


class Document:
    """The editor's buffer of the big file: lines, version, marker positions."""

    def __init__(self, path: Path, size: int, markers: int) -> None:
        words = Words(3)
        filler = [words.text(60) for _ in range(97)]
        lines: list[str] = []
        total = 0
        while total < size:
            line = PREFIX.format(len(lines)) + filler[len(lines) % len(filler)] + "\n"
            lines.append(line)
            total += len(line)
        middle = len(lines) // 2
        self.marker_lines = {n: middle + 3 * n for n in range(markers)}
        for n, at in self.marker_lines.items():
            lines[at] = PREFIX.format(at) + marker(n) + " " + lines[at][len(PREFIX.format(at)):]
        self.lines = lines
        self.path = path
        self.uri = uri(path)
        self.version = 1
        self.column = len(PREFIX.format(0))
        path.write_text("".join(lines), encoding="utf-8")

    @property
    def size(self) -> int:
        return sum(len(line) for line in self.lines)

    def open_in(self, client: BenchClient) -> None:
        self.version = 1
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=self.uri, language_id="plaintext",
                                                 version=self.version,
                                                 text="".join(self.lines))))

    def check(self, n: int, params: types.ApplyWorkspaceEditParams) -> str | None:
        """Why ``params`` is not the minimal edit of marker ``n``, or None."""
        changes = params.edit.document_changes or []
        if params.edit.changes or len(changes) != 1:
            return f"expected one documentChanges entry, got {params.edit}"
        change = changes[0]
        if not isinstance(change, types.TextDocumentEdit):
            return f"expected a TextDocumentEdit, got {type(change).__name__}"
        if change.text_document.uri != self.uri or change.text_document.version != self.version:
            return (f"edit for {change.text_document.uri} v{change.text_document.version}, "
                    f"buffer is v{self.version}")
        if len(change.edits) != 1:
            return f"expected one text edit, got {len(change.edits)}"
        edit = change.edits[0]
        if not isinstance(edit, types.TextEdit | types.AnnotatedTextEdit):
            return f"expected a text edit, got {type(edit).__name__}"
        line = self.marker_lines[n]
        want = types.Range(start=types.Position(line=line, character=self.column),
                           end=types.Position(line=line, character=self.column + len(marker(n))))
        if edit.range != want or edit.new_text != replacement(n):
            return f"edit {edit.range} {edit.new_text!r}, expected {want} {replacement(n)!r}"
        return None

    def apply(self, client: BenchClient, n: int) -> None:
        """Apply the checked edit to the buffer and tell the server (incremental)."""
        line = self.marker_lines[n]
        self.lines[line] = self.lines[line].replace(marker(n), replacement(n), 1)
        self.version += 1
        start = types.Position(line=line, character=self.column)
        end = types.Position(line=line, character=self.column + len(marker(n)))
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=self.uri,
                                                                version=self.version),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=start, end=end), text=replacement(n))]))


async def edit_once(client: BenchClient, model: ScriptedModelServer, doc: Document,
                    session_id: str, n: int) -> dict[str, float]:
    call_id = f"bench_edit_{n}"
    model.extend([
        {"toolCalls": [{"id": call_id, "name": wire.TOOL_EDIT_FILE,
                        "arguments": {"path": doc.path.name, "oldText": marker(n),
                                      "newText": replacement(n)}}]},
        {"text": "Done."},
    ])
    seen: dict[str, float] = {}
    problems: list[str] = []

    async def on_edit(arrived: float, params: types.ApplyWorkspaceEditParams
                      ) -> types.ApplyWorkspaceEditResult:
        seen["applyEdit"] = arrived
        seen["bytes"] = len(json.dumps(converters.get_converter().unstructure(params)))
        problem = doc.check(n, params)
        if problem is not None:
            problems.append(problem)
            return types.ApplyWorkspaceEditResult(applied=False, failure_reason=problem)
        doc.apply(client, n)
        seen["answered"] = time.perf_counter()
        return types.ApplyWorkspaceEditResult(applied=True)

    client.edit_handler = on_edit
    mark = len(client.updates)
    result = await client.request(wire.SESSION_SEND,
                                  {"sessionId": session_id, "prompt": f"Edit marker {n}."})
    client.edit_handler = None
    if problems:
        raise RuntimeError(f"run {n}: the applyEdit was not the minimal edit: {problems[0]}")
    statuses = {u["status"]: t for t, u in client.updates[mark:]
                if u["kind"] == wire.UPDATE_TOOL_CALL_UPDATE and u["toolCallId"] == call_id}
    if "completed" not in statuses or "running" not in statuses or "applyEdit" not in seen:
        raise RuntimeError(f"run {n}: edit_file did not complete: {result.get('toolCalls')}")
    running = statuses["running"]
    return {
        "round": (statuses["completed"] - running) * 1000,
        "toEdit": (seen["applyEdit"] - running) * 1000,
        "afterAnswer": (statuses["completed"] - seen["answered"]) * 1000,
        "bytes": seen["bytes"],
    }


async def _session(client: BenchClient) -> str:
    created = await client.request(wire.SESSION_NEW, {"title": "bench edit"})
    return str(created["sessionId"])


async def run(sizes: Sizes, profile: ProfileMode, workdir: Path) -> list[MeasureResult]:
    with tempfile.TemporaryDirectory(dir=workdir, prefix="edit-") as tmp:
        folder = Path(tmp)
        root = folder / "ws"
        root.mkdir()
        doc = Document(root / "big.txt", sizes.edit_bytes, sizes.edit_runs + 4)
        async with ScriptedModelServer() as model:
            options = nexus_settings(model.openai_base_url)
            runs: list[dict[str, float]] = []
            async with connect(NEXUS_SERVER, root, options) as conn:
                doc.open_in(conn.client)
                session_id = await _session(conn.client)
                await edit_once(conn.client, model, doc, session_id, 0)  # warm-up
                for n in range(1, sizes.edit_runs + 1):
                    runs.append(await edit_once(conn.client, model, doc, session_id, n))
            result = _result(doc, runs)
            if profile == "always" or (profile == "missed" and not result.passed):
                stats_file = folder / "edit.prof"
                async with connect(profiled_server(stats_file), root, options) as conn:
                    doc.open_in(conn.client)
                    session_id = await _session(conn.client)
                    for n in range(sizes.edit_runs + 1, sizes.edit_runs + 4):
                        await edit_once(conn.client, model, doc, session_id, n)
                result.profile = ("nexus-lsp under cProfile for three edits:\n"
                                  + format_stats(stats_file))
    return [result]


def _result(doc: Document, runs: list[dict[str, float]]) -> MeasureResult:
    rounds = Summary.of([r["round"] for r in runs])
    sent = Summary.of([r["bytes"] for r in runs])
    return MeasureResult(
        key="edit",
        title="edit_file on an open 5 MB document",
        method=(__doc__ or "").split("\n\n", 1)[1].strip(),
        rows=[
            Row("tool running → completed (round trip)", rounds, "ms"),
            Row("tool running → applyEdit received", Summary.of([r["toEdit"] for r in runs]),
                "ms"),
            Row("applyEdit answered → tool completed",
                Summary.of([r["afterAnswer"] for r in runs]), "ms"),
            Row("applyEdit message size", sent, "bytes"),
        ],
        checks=[
            Check(f"round trip median ≤ {TARGET_MS:g} ms", f"{rounds.median:.1f} ms",
                  rounds.median <= TARGET_MS),
            Check("the edit is the changed range (one TextDocumentEdit, exact range; every run)",
                  f"max {sent.maximum:.0f} bytes sent for a {doc.size / 1e6:.1f} MB document",
                  sent.maximum <= MAX_EDIT_BYTES),
        ],
        notes=[f"{doc.size:,} characters, {len(doc.lines):,} lines; {len(runs)} edits in one "
               "session, after one warm-up."],
    )

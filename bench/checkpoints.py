"""Checkpoints (protocol v2 §3): revert to the applyEdit, journal overhead, the scan.

**Revert of a turn that changed 100 files (1 MB).** A workspace of 100 files of
10 kB; each run the scripted model rewrites all of them in one turn (100
``write_file`` calls; the client applies the edits to disk as the headless client
does). Measured at the client: ``nexus/session/revert`` sent → its one
``workspace/applyEdit`` (100 text edits) received. The revert reads the journal
(100 rows, zlib), the files, plans each file's restore and builds the edit.

**Journal overhead per edit.** The same server and client, one ``edit_file`` on a
10 kB file per turn: the tool's ``running`` → ``completed`` updates at the client is
the edit's round trip (journal included). The journal's own share is measured on a
real store in this process: ``Journal.add`` of the same change (compress both
texts, hash, one committed transaction), same number of runs.

**The before/after scan of a 10k-file workspace.** A git repository of 10,000
files (2 levels of folders, a few ignored ones). One run is what ``run_command``
adds: ``take_snapshot`` (``git add -A`` into the private index in ``.nexus/``: the
pre-images become git objects) then, after one file was changed,
``changes_since`` (``git diff-files`` and ``git ls-files -o`` against that index,
the changed file read and hashed); against ``git status --porcelain`` on the same
tree, interleaved.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types

from bench.config import ProfileMode, Sizes
from bench.lsp import NEXUS_SERVER, BenchClient, connect, nexus_settings
from bench.stats import Check, MeasureResult, Row, Summary, pair_ratios
from nexus_lsp import wire
from nexus_lsp.checkpoints.journal import Journal
from nexus_lsp.checkpoints.scan import changes_since, take_snapshot
from nexus_lsp.client.edits import apply_workspace_edit
from nexus_lsp.config import LoggingSettings
from nexus_lsp.storage import SessionStore
from nexus_lsp.testing import ScriptedModelServer

__all__ = ["run"]

REVERT_TARGET_MS = 300.0
JOURNAL_TARGET = 0.10
SCAN_TARGET_MS = 150.0


def _text(n: int, size: int, salt: str) -> str:
    line = f"file {n:04d} {salt} " + "x" * 40 + "\n"
    return (line * (size // len(line) + 1))[:size - 1] + "\n"


def _applier(root: Path) -> Any:
    async def apply(arrived: float, params: types.ApplyWorkspaceEditParams
                    ) -> types.ApplyWorkspaceEditResult:
        apply_workspace_edit(params.edit, root)
        return types.ApplyWorkspaceEditResult(applied=True)
    return apply


async def _revert(sizes: Sizes, root: Path) -> MeasureResult:
    count, size = sizes.revert_files, sizes.revert_bytes // sizes.revert_files
    for n in range(count):
        (root / f"f{n:03d}.txt").write_text(_text(n, size, "before"), encoding="utf-8")
    samples: list[float] = []
    async with (
        ScriptedModelServer() as model,
        connect(NEXUS_SERVER, root, nexus_settings(model.openai_base_url)) as conn,
    ):
        client: BenchClient = conn.client
        client.edit_handler = _applier(root)
        for run in range(sizes.warmups + sizes.revert_runs):
            calls = [{"id": f"w{run}_{n}", "name": wire.TOOL_WRITE_FILE,
                      "arguments": {"path": f"f{n:03d}.txt",
                                    "content": _text(n, size, f"after {run}")}}
                     for n in range(count)]
            model.extend([{"toolCalls": calls}, {"text": "rewrote them"}])
            turn = await client.request(wire.SESSION_SEND, {"prompt": f"rewrite {run}"})
            arrived: list[float] = []

            async def timed(at: float, params: types.ApplyWorkspaceEditParams,
                            seen: list[float] = arrived) -> types.ApplyWorkspaceEditResult:
                seen.append(at)
                return await _applier(root)(at, params)

            client.edit_handler = timed
            sent = time.perf_counter()
            result = await client.request(wire.SESSION_REVERT, {
                "sessionId": turn["sessionId"], "turnId": turn["turnId"]})
            client.edit_handler = _applier(root)
            restored = [f for f in result["files"] if f["action"] == wire.REVERT_RESTORED]
            if len(arrived) != 1 or len(restored) != count:
                raise RuntimeError(f"revert run {run}: {len(arrived)} applyEdit(s), "
                                   f"{len(restored)} restored: {result}")
            if run >= sizes.warmups:
                samples.append((arrived[0] - sent) * 1000)
    summary = Summary.of(samples)
    return MeasureResult(
        key="revert",
        title=f"Revert of a turn that changed {count} files ({sizes.revert_bytes:,} bytes)",
        method=(__doc__ or "").split("\n\n")[1].strip(),
        rows=[Row("nexus/session/revert sent → workspace/applyEdit received", summary, "ms")],
        checks=[Check(f"median ≤ {REVERT_TARGET_MS:g} ms", f"{summary.median:.1f} ms",
                      summary.median <= REVERT_TARGET_MS)],
    )


async def _journal(sizes: Sizes, root: Path) -> MeasureResult:
    original = "marker 0\n" + _text(1, 10_000, "journal")
    (root / "j.txt").write_text(original, encoding="utf-8")
    trips: list[float] = []
    async with (
        ScriptedModelServer() as model,
        connect(NEXUS_SERVER, root, nexus_settings(model.openai_base_url)) as conn,
    ):
        client: BenchClient = conn.client
        client.edit_handler = _applier(root)
        session = str((await client.request(wire.SESSION_NEW, {}))["sessionId"])
        for run in range(sizes.warmups + sizes.journal_runs):
            call_id = f"e{run}"
            model.extend([{"toolCalls": [{"id": call_id, "name": wire.TOOL_EDIT_FILE,
                                          "arguments": {"path": "j.txt",
                                                        "oldText": f"marker {run}",
                                                        "newText": f"marker {run + 1}"}}]},
                          {"text": "ok"}])
            mark = len(client.updates)
            await client.request(wire.SESSION_SEND, {"sessionId": session, "prompt": "e"})
            times: dict[str, float] = {}
            for at, update in client.updates[mark:]:
                if update.get("toolCallId") == call_id and "status" in update:
                    times.setdefault(update["status"], at)
            if "completed" not in times or "running" not in times:
                raise RuntimeError(f"edit {run} did not complete: {times}")
            if run >= sizes.warmups:
                trips.append((times["completed"] - times["running"]) * 1000)
    costs: list[float] = []
    store_root = root / "journal-store"
    store_root.mkdir()
    store = await SessionStore.open(store_root, LoggingSettings())
    try:
        await store.create_session("bench-journal", title="j", model="m", system_prompt="s")
        journal = Journal(store)
        text = original
        for run in range(sizes.warmups + sizes.journal_runs):
            after = text.replace(f"marker {run}", f"marker {run + 1}", 1)
            started = time.perf_counter()
            await journal.add("bench-journal", 1, "write", "j.txt", existed=True,
                              before=text, after=after)
            if run >= sizes.warmups:
                costs.append((time.perf_counter() - started) * 1000)
            text = after
    finally:
        await store.aclose()
    trip, cost = Summary.of(trips), Summary.of(costs)
    share = cost.median / trip.median if trip.median > 0 else float("inf")
    return MeasureResult(
        key="journal",
        title="Journal overhead per edit",
        method=(__doc__ or "").split("\n\n")[2].strip(),
        rows=[Row("edit round trip (running → completed)", trip, "ms"),
              Row("journal row written (Journal.add)", cost, "ms")],
        checks=[Check(f"journal ≤ {JOURNAL_TARGET:.0%} of the round trip",
                      f"{share:.1%}", share <= JOURNAL_TARGET)],
    )


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@example.invalid", *args],
                   cwd=root, check=True, capture_output=True)


def _make_tree(root: Path, files: int) -> None:
    (root / ".gitignore").write_text("build/\n*.log\n", encoding="utf-8")
    per = max(1, int(files ** 0.5))
    for n in range(files):
        folder = root / f"d{n // per:03d}"
        folder.mkdir(exist_ok=True)
        (folder / f"f{n:05d}.py").write_text(f"value = {n}\n", encoding="utf-8")
    (root / "build").mkdir()
    (root / "build" / "out.o").write_bytes(b"\0" * 100)
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "tree")


def _scan_once(root: Path, n: int) -> float:
    started = time.perf_counter()
    before = take_snapshot(root)
    (root / "d000" / "f00000.py").write_text(f"value = {n}  # changed\n", encoding="utf-8")
    changes = changes_since(before)
    elapsed = (time.perf_counter() - started) * 1000
    if [c.path for c in changes] != ["d000/f00000.py"]:
        raise RuntimeError(f"the scan found {changes}")
    return elapsed


def _status_once(root: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["git", "status", "--porcelain"], cwd=root, check=True, capture_output=True)
    return (time.perf_counter() - started) * 1000


async def _scan(sizes: Sizes, root: Path) -> MeasureResult:
    await asyncio.to_thread(_make_tree, root, sizes.scan_files)
    await asyncio.to_thread(_scan_once, root, -1)  # the private index is made once
    scans: list[float] = []
    statuses: list[float] = []
    for n in range(sizes.warmups + sizes.scan_runs):
        status = await asyncio.to_thread(_status_once, root)
        scan = await asyncio.to_thread(_scan_once, root, n)
        if n >= sizes.warmups:
            statuses.append(status)
            scans.append(scan)
    scan, status = Summary.of(scans), Summary.of(statuses)
    return MeasureResult(
        key="scan",
        title=f"Before/after scan of a {sizes.scan_files:,}-file workspace (git)",
        method=(__doc__ or "").split("\n\n")[3].strip(),
        rows=[Row("snapshot + scan after (nexus)", scan, "ms"),
              Row("git status --porcelain", status, "ms"),
              Row("nexus / git status", Summary.of(pair_ratios(scans, statuses)), "×")],
        checks=[Check(f"median ≤ {SCAN_TARGET_MS:g} ms", f"{scan.median:.1f} ms",
                      scan.median <= SCAN_TARGET_MS)],
        notes=[f"{os.cpu_count()} CPU(s); the tree is on the bench's temporary folder."],
    )


async def run(sizes: Sizes, profile: ProfileMode, workdir: Path) -> list[MeasureResult]:
    results = []
    for measure in (_revert, _journal, _scan):
        with tempfile.TemporaryDirectory(dir=workdir) as folder:
            results.append(await measure(sizes, Path(folder)))
    return results

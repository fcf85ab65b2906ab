"""Compiler in the loop (protocol v2 §4): new diagnostics after a batch that edits.

Before a batch whose calls write files, :meth:`DiagnosticsWatch.before` asks the
editor for the diagnostics of those files. After it, :meth:`DiagnosticsWatch.after`
polls until two answers in a row agree (the editor's language servers have settled)
or ``edits.diagnosticsDelayMs`` has passed, and appends the errors and warnings that
were not there before to the batch's last tool result:
``Diagnostics after this change: …``. Diagnostics are compared without their range
(:func:`~nexus_lsp.skills.diagnostics.diagnostic_key`), so an old error that an edit
moved down a few lines is not reported as new.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from nexus_lsp.core.cancel import CancellationToken, Cancelled, race
from nexus_lsp.core.messages import ToolCall, ToolResult
from nexus_lsp.skills.diagnostics import (
    Diagnostic,
    DiagnosticsSource,
    diagnostic_key,
    format_report,
    severity,
)

__all__ = ["DIAGNOSTICS_HEADING", "DiagnosticsWatch", "edited_paths"]

log = logging.getLogger(__name__)

DIAGNOSTICS_HEADING = "Diagnostics after this change:"
POLL_SECONDS = 0.1
ASK_TIMEOUT = 5.0
MAX_REPORTED = 50
# Arguments that name files a write tool changes.
_PATH_ARGUMENTS = ("path", "new_path", "newPath")

Snapshot = dict[str, list[Diagnostic]]


def edited_paths(calls: Sequence[ToolCall], is_read_only: Callable[[str], bool]) -> list[str]:
    """Paths the write calls of a batch name (as the model gave them)."""
    paths: list[str] = []
    for call in calls:
        if is_read_only(call.name):
            continue
        for name in _PATH_ARGUMENTS:
            value = call.arguments.get(name)
            if isinstance(value, str) and value and value not in paths:
                paths.append(value)
    return paths


class DiagnosticsWatch:
    def __init__(
        self,
        source: DiagnosticsSource,
        *,
        delay_ms: Callable[[], int],
        is_read_only: Callable[[str], bool],
        normalise: Callable[[str], str | None],
    ) -> None:
        self.source = source
        self._delay_ms = delay_ms
        self._is_read_only = is_read_only
        self._normalise = normalise  # model path → workspace-relative, None if refused
        self.last_round_trip: float | None = None  # seconds, of the last ask (benchmarks)

    async def before(self, calls: Sequence[ToolCall], token: CancellationToken) -> Snapshot | None:
        """The diagnostics of the files the batch will write; None: nothing to watch."""
        paths = [p for p in (self._normalise(x) for x in edited_paths(calls, self._is_read_only))
                 if p is not None]
        if not paths:
            return None
        try:
            return await self._ask(paths, token)
        except Cancelled:
            return None
        except Exception as exc:
            log.warning("diagnostics before the batch: the editor did not answer: %s", exc)
            return None

    async def after(
        self,
        baseline: Snapshot,
        calls: Sequence[ToolCall],
        results: list[ToolResult],
        token: CancellationToken,
    ) -> list[ToolResult]:
        """``results`` with the new errors and warnings appended to the last one."""
        paths = sorted(baseline)
        try:
            settled = await self.settle(paths, token)
        except Cancelled:
            return results
        except Exception as exc:
            log.warning("diagnostics after the batch: the editor did not answer: %s", exc)
            return results
        new = new_problems(baseline, settled)
        if not new or not results:
            return results
        shown = new[:MAX_REPORTED]
        more = f"\n[{len(new) - len(shown)} more not shown]" if len(new) > len(shown) else ""
        note = f"\n\n{DIAGNOSTICS_HEADING}\n{format_report(shown)}{more}"
        last = results[-1]
        if last.error is not None:
            last = dataclasses.replace(last, error=last.error + note)
        else:
            last = dataclasses.replace(last, output=last.output + note)
        return [*results[:-1], last]

    async def settle(self, paths: Sequence[str], token: CancellationToken) -> Snapshot:
        """Poll until two answers agree or the delay has passed; the last answer."""
        deadline = time.monotonic() + self._delay_ms() / 1000
        current = await self._ask(paths, token)
        while time.monotonic() < deadline:
            await race(asyncio.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic()))),
                       token)
            following = await self._ask(paths, token)
            if _same(current, following):
                return following
            current = following
        return current

    async def _ask(self, paths: Sequence[str], token: CancellationToken) -> Snapshot:
        started = time.perf_counter()
        answer = await race(asyncio.wait_for(self.source.diagnostics(paths), ASK_TIMEOUT), token)
        self.last_round_trip = time.perf_counter() - started
        return {path: list(answer.get(path, [])) for path in paths}


def _same(a: Snapshot, b: Snapshot) -> bool:
    return _keys(a) == _keys(b)


def _keys(snapshot: Snapshot) -> Counter[Any]:
    return Counter(diagnostic_key(p, d) for p, ds in snapshot.items() for d in ds)


def new_problems(before: Snapshot, after: Snapshot) -> list[tuple[str, Diagnostic]]:
    """Errors and warnings of ``after`` that ``before`` did not have (counted: a second
    copy of an old message is new)."""
    seen = _keys(before)
    out: list[tuple[str, Diagnostic]] = []
    for path in sorted(after):
        for diagnostic in after[path]:
            if severity(diagnostic) > 2:
                continue
            key = diagnostic_key(path, diagnostic)
            if seen[key] > 0:
                seen[key] -= 1
                continue
            out.append((path, diagnostic))
    return sorted(out, key=lambda item: (severity(item[1]), item[0]))

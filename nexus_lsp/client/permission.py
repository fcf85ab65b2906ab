"""Permission questions on the terminal (``nexus-lsp ask``, protocol v2 §1).

When its stdin is a terminal, ``ask`` declares ``clientFeatures.permissionRequests``
and answers each ``nexus/permission/request`` by printing the question on stderr and
reading one line: the option's number (Enter alone rejects). When stdin is not a
terminal it declares nothing and offers no ``window/showMessageRequest``, so the
server answers such calls ``denied: no way to ask``, and :func:`refusal_hint` tells
the user how to allow them (``--mode``, ``--allow``).

The line is read by one daemon thread at a time: a question withdrawn by the server
(the turn was cancelled) leaves its read pending, and the next question takes it
over instead of starting a second reader on the same terminal.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any, TextIO

from nexus_lsp import wire
from nexus_lsp.client.render import TurnRenderer

__all__ = ["NO_WAY_TO_ASK", "TerminalQuestions", "refusal_hint"]

# As the server words it (permissions/gate.py); the client imports nothing of the core.
NO_WAY_TO_ASK = "no way to ask"


class TerminalQuestions:
    def __init__(self, renderer: TurnRenderer, stdin: TextIO | None = None) -> None:
        self._renderer = renderer
        self._stdin = stdin or sys.stdin
        self._pending: Future[str] | None = None
        self._lock = asyncio.Lock()

    async def answer(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The result of ``nexus/permission/request``."""
        async with self._lock:
            options = [o for o in params.get("options", ()) if isinstance(o, Mapping)]
            raw_call = params.get("toolCall")
            call: Mapping[str, Any] = raw_call if isinstance(raw_call, Mapping) else {}
            style = self._renderer.style
            title = str(call.get("title") or call.get("name") or "a tool call")
            lines = [style.yellow(f"? Nexus wants to: {title}")]
            lines += [f"  {i}) {o.get('name', o.get('optionId'))}"
                      for i, o in enumerate(options, 1)]
            lines.append(f"  choose 1-{len(options)} (Enter rejects): ")
            self._renderer.note("\n".join(lines))
            try:
                line = await asyncio.wrap_future(self._read_line())
            except asyncio.CancelledError:
                self._renderer.note(style.yellow("  (question withdrawn: the turn was cancelled)"))
                raise
            choice = line.strip()
            if choice.isdigit() and 1 <= int(choice) <= len(options):
                option = options[int(choice) - 1]
                return {"outcome": wire.OUTCOME_SELECTED, "optionId": option.get("optionId")}
            if not line:  # end of input: nobody to answer
                return {"outcome": wire.OUTCOME_CANCELLED}
            return {"outcome": wire.OUTCOME_SELECTED, "optionId": wire.OPTION_REJECT_ONCE}

    def _read_line(self) -> Future[str]:
        if self._pending is not None and not self._pending.done():
            return self._pending
        future: Future[str] = Future()
        self._pending = future
        stdin = self._stdin

        def read() -> None:
            try:
                future.set_result(stdin.readline())
            except Exception as exc:  # a closed terminal: no answer
                future.set_exception(exc)

        threading.Thread(target=read, name="nexus-ask-question", daemon=True).start()
        return future


def refusal_hint(result: Mapping[str, Any] | None, note: Callable[[str], None]) -> None:
    """After a turn: when calls were denied for want of a way to ask, say what to do."""
    calls = result.get("toolCalls") if isinstance(result, Mapping) else None
    denied = [c for c in calls or () if isinstance(c, Mapping)
              and NO_WAY_TO_ASK in str(c.get("error") or "")]
    if denied:
        names = ", ".join(sorted({str(c.get("name")) for c in denied}))
        note(f"nexus-lsp ask: {names} needed your approval, but stdin is not a terminal to "
             "ask on. Allow it with --mode auto, --allow 'PATTERN' (e.g. --allow 'pytest *'), "
             "or permissions rules in --settings.")

"""``nexus.ask`` for generic editors (protocol v2 §7): the turn in the background.

Editors give up on long requests (Emacs after 10 s, Helix after 20 s), so the command
answers at once and the turn runs on in a task of the runtime (closed at shutdown):

- a server-created work-done progress covers the whole turn (title ``Nexus``, the
  current step as its message; cancelling it cancels the turn);
- at its end, after the command's answer has been written, the transcript is shown
  with ``window/showDocument`` (selection on the answer) to clients that support it,
  and ``window/showMessage`` tells every client the answer's first line and where the
  transcript is, or the error — the only channel of editors without ``showDocument``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from pathlib import Path

from lsprotocol import types

from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.events import TurnResult
from nexus_lsp.errors import NexusError
from nexus_lsp.lsp.channel import LspChannel, client_supports
from nexus_lsp.lsp.runtime import LspRuntime
from nexus_lsp.lsp.updates import PROGRESS_CREATE_TIMEOUT
from nexus_lsp.lsp.workspace import path_to_uri

__all__ = ["answer_summary", "run_ask", "show_after_answer", "show_outcome", "show_refusal"]

log = logging.getLogger(__name__)

# How long the end of a turn waits for the command's answer to be written before it
# shows the transcript anyway (the answer is normally long gone).
ANSWER_WAIT_SECONDS = 10.0
MESSAGE_CHARS = 200


async def run_ask(
    runtime: LspRuntime,
    session_id: str,
    prompt: str,
    answered: Awaitable[None],
    *,
    show_transcript: bool,
) -> None:
    """Run one turn in the background and show its outcome; see the module docstring."""
    token = CancellationToken()
    progress = await _create_progress(runtime.channel, runtime.new_progress_token("turn"))
    try:
        result = await runtime.run_turn(
            session_id, prompt, progress, cancel_token=token, steps=progress is not None
        )
    except Exception as exc:  # refused before it started (busy, settings, store), or a bug
        if not isinstance(exc, NexusError):
            log.exception("nexus.ask in %s failed", session_id)
        elif progress is not None:
            # refused before the turn began its progress: close it, or an editor may
            # show the created progress for good
            runtime.channel.begin_progress(progress, "Nexus", None)
            runtime.channel.end_progress(progress, "refused")
        await _wait_answered(answered)
        show_refusal(runtime, exc)
        return
    await _wait_answered(answered)
    show_outcome(runtime, result, show_transcript=show_transcript)


async def _create_progress(channel: LspChannel, token: str) -> str | None:
    if not channel.progress_supported:
        return None
    try:
        await asyncio.wait_for(channel.create_progress(token), PROGRESS_CREATE_TIMEOUT)
    except Exception as exc:  # refused or never answered: the turn runs without it
        log.warning("window/workDoneProgress/create failed: %s", exc or type(exc).__name__)
        return None
    return token


async def show_after_answer(
    runtime: LspRuntime, answered: Awaitable[None], result: TurnResult, show_transcript: bool
) -> None:
    """The end of a waited ``nexus.ask``, shown once its answer is written."""
    await _wait_answered(answered)
    show_outcome(runtime, result, show_transcript=show_transcript)


async def _wait_answered(answered: Awaitable[None]) -> None:
    try:
        await asyncio.wait_for(answered, ANSWER_WAIT_SECONDS)
    except TimeoutError:
        log.warning("the command's answer was not written in %s s", ANSWER_WAIT_SECONDS)


def show_outcome(runtime: LspRuntime, result: TurnResult, *, show_transcript: bool) -> None:
    """The transcript at the answer (``showDocument``) and the answer's gist (``showMessage``)."""
    store = runtime.host.store
    transcript = store.transcript_path(result.session_id)
    written = transcript.is_file()  # not when logging.streams leaves out "context"
    if (written and show_transcript
            and client_supports(runtime.server, "window.show_document.support")):
        line = store.answer_line(result.session_id, result.turn_id)
        at = types.Position(line=line or 0, character=0)
        params = types.ShowDocumentParams(
            uri=path_to_uri(transcript), external=False, take_focus=True,
            selection=types.Range(start=at, end=at) if line is not None else None,
        )
        # sent now, before the message: the editor opens the transcript, then the
        # message shows (the answer is awaited only to log a failure)
        sent = asyncio.wrap_future(runtime.server.window_show_document(params))
        runtime.host.spawn(_shown(sent), f"showDocument {params.uri}")
    shown = _shown_path(runtime.host.root, transcript) if written else None
    level, text = answer_summary(result, shown)
    runtime.channel.show_message(level, text)


async def _shown(sent: Awaitable[types.ShowDocumentResult]) -> None:
    result = await sent
    if not getattr(result, "success", True):
        log.info("the editor could not show the transcript")


def show_refusal(runtime: LspRuntime, exc: BaseException) -> None:
    runtime.channel.show_message(types.MessageType.Error, f"Nexus: {_cut(str(exc))}")


def answer_summary(
    result: TurnResult, transcript: str | None
) -> tuple[types.MessageType, str]:
    """The ``showMessage`` of a turn's end: its level and text."""
    if result.error is not None:
        where = f" (transcript: {transcript})" if transcript else ""
        return types.MessageType.Error, f"Nexus: {_cut(result.error.message)}{where}"
    first = next((ln.strip() for ln in result.content.splitlines() if ln.strip()), "")
    how = {"cancelled": "cancelled", "maxIterations": "stopped after too many steps"}
    what = _cut(first) if first else "(no text in the answer)"
    if result.stop_reason in how:
        what = f"{how[result.stop_reason]}: {what}"
    where = f" — transcript: {transcript}" if transcript else ""
    return types.MessageType.Info, f"Nexus: {what}{where}"


def _cut(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MESSAGE_CHARS else line[: MESSAGE_CHARS - 1] + "…"


def _shown_path(root: Path, path: Path) -> str:
    """The transcript's path relative to the workspace when inside it."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()

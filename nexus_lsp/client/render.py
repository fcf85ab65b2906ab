"""What ``nexus-lsp ask`` shows in the terminal while a turn runs.

The assistant's text goes to stdout as it streams, so ``nexus-lsp ask ... > answer.md``
captures exactly the answer. Everything else (reasoning, tool calls, batch progress,
server messages, the closing summary) goes to stderr, one concise line per event::

    ⚙ read_file greet.py … ok
    ⚙ edit_file greet.py … failed: edit_file: failed: oldText not found

When both streams are the same terminal, a line on one is finished before the other
writes, so the two never share a line. Colours only when stderr is a terminal and
``NO_COLOR`` is not set.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from nexus_lsp import wire

__all__ = ["Style", "TurnRenderer", "TurnState"]

# Argument names worth showing after the tool name, in order of preference.
_SUMMARY_KEYS = ("path", "pattern", "glob")
_SUMMARY_MAX = 60


class Style:
    """ANSI styling that disappears when colours are off."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @classmethod
    def for_stream(cls, stream: TextIO) -> Style:
        isatty = getattr(stream, "isatty", None)
        return cls(bool(isatty and isatty()) and "NO_COLOR" not in os.environ)

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled and text else text

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def green(self, text: str) -> str:
        return self._wrap("32", text)

    def red(self, text: str) -> str:
        return self._wrap("31", text)

    def yellow(self, text: str) -> str:
        return self._wrap("33", text)

    def cyan(self, text: str) -> str:
        return self._wrap("36", text)


@dataclass
class TurnState:
    """What the updates told us about the turn (the send result may never come)."""

    session_id: str | None = None
    turn_id: int | None = None
    stop_reason: str | None = None
    usage: Mapping[str, Any] | None = None
    content_chars: int = 0
    tool_calls: int = 0
    last_seq: int | None = None
    lost_updates: int = 0
    tool_names: dict[str, str] = field(default_factory=dict)
    tool_args: dict[str, Mapping[str, Any]] = field(default_factory=dict)


class TurnRenderer:
    """Turns ``nexus/session/update`` and ``$/progress`` into terminal output."""

    def __init__(self, out: TextIO, err: TextIO, *, verbose: bool = False) -> None:
        self._out = out
        self._err = err
        self.style = Style.for_stream(err)
        self._verbose = verbose
        # Lines must not be shared when both streams end up on one screen or file.
        self._shared_tty = out is err or (_isatty(out) and _isatty(err))
        self._out_open = False  # stdout has a line without its newline
        self._out_closed = False
        self._err_owner: str | None = None  # who owns an unfinished stderr line
        self.state = TurnState()

    # -- nexus/session/update ------------------------------------------------------
    def update(self, params: Mapping[str, Any]) -> None:
        self._track(params)
        kind = params.get("kind")
        if kind == wire.UPDATE_CONTENT:
            self._content(str(params.get("text", "")))
        elif kind == wire.UPDATE_REASONING:
            self._reasoning(bool(params.get("active")), params.get("text"))
        elif kind == wire.UPDATE_TOOL_CALL:
            self._tool_call(params)
        elif kind == wire.UPDATE_TOOL_CALL_UPDATE:
            self._tool_call_update(params)
        elif kind == wire.UPDATE_COMPACTION and params.get("phase") == wire.COMPACTION_END:
            self.note(self.style.dim(_compaction_note(params)))
        elif kind == wire.UPDATE_TURN_END:
            self.state.stop_reason = str(params.get("stopReason"))
            usage = params.get("usage")
            self.state.usage = usage if isinstance(usage, Mapping) else None

    def _track(self, params: Mapping[str, Any]) -> None:
        state = self.state
        session_id = params.get("sessionId")
        if isinstance(session_id, str):
            state.session_id = session_id
        turn_id = params.get("turnId")
        if isinstance(turn_id, int):
            state.turn_id = turn_id
        seq = params.get("seq")
        if isinstance(seq, int):
            if state.last_seq is not None and seq != state.last_seq + 1:
                state.lost_updates += max(seq - state.last_seq - 1, 0)
                self.note(f"updates out of order: seq {seq} after {state.last_seq}")
            state.last_seq = seq

    def _content(self, text: str) -> None:
        if not text:
            return
        if self._err_owner is not None and self._shared_tty:
            self._end_err_line()
        self._write_out(text)
        self._out_open = not text.endswith("\n")
        self.state.content_chars += len(text)

    def _reasoning(self, active: bool, text: object) -> None:
        if active and isinstance(text, str) and text:
            prefix = "" if self._err_owner == "reasoning" else self.style.dim("✻ ")
            self._err_write(prefix + self.style.dim(text), owner="reasoning")
        elif not active and self._err_owner == "reasoning":
            self._end_err_line()

    def _tool_call(self, params: Mapping[str, Any]) -> None:
        call_id = str(params.get("toolCallId"))
        self.state.tool_calls += 1
        self.state.tool_names[call_id] = str(params.get("name", "?"))
        arguments = params.get("arguments")
        self.state.tool_args[call_id] = arguments if isinstance(arguments, Mapping) else {}

    def _tool_call_update(self, params: Mapping[str, Any]) -> None:
        call_id = str(params.get("toolCallId"))
        status = str(params.get("status"))
        name = self.state.tool_names.get(call_id) or str(params.get("name", "?"))
        label = f"{self.style.cyan('⚙')} {name} {self._summary(call_id)}".rstrip()
        if status == "running":
            self._err_write(f"{label} … ", owner=call_id)
            return
        outcome = self._outcome(status, params.get("error"))
        if self._err_owner == call_id:
            self._err_write(outcome + "\n", owner=call_id)
        else:
            self._err_write(f"{label} … {outcome}\n", owner=call_id)

    def _summary(self, call_id: str) -> str:
        arguments = self.state.tool_args.get(call_id, {})
        parts = [arguments[key] for key in _SUMMARY_KEYS if isinstance(arguments.get(key), str)]
        if isinstance(arguments.get("newPath"), str):
            parts.append(f"→ {arguments['newPath']}")
        summary = " ".join(parts)
        return summary if len(summary) <= _SUMMARY_MAX else summary[: _SUMMARY_MAX - 1] + "…"

    def _outcome(self, status: str, error: object) -> str:
        if status == "completed":
            return self.style.green("ok")
        detail = str(error).strip().splitlines()[0] if error else ""
        text = f"{status}: {detail}" if detail else status
        return self.style.red(text) if status == "failed" else self.style.yellow(text)

    # -- $/progress ----------------------------------------------------------------
    def progress(self, value: object) -> None:
        if not isinstance(value, Mapping):
            return
        kind = value.get("kind")
        if kind == "begin" and value.get("title"):
            self._err_write(self.style.dim(f"▸ {value['title']}") + "\n", owner=None)
        elif kind == "report" and self._verbose and value.get("message"):
            self._err_write(self.style.dim(f"  {value['message']}") + "\n", owner=None)
        elif kind == "end" and value.get("message"):
            self._err_write(self.style.dim(f"▸ {value['message']}") + "\n", owner=None)

    # -- other output --------------------------------------------------------------
    def note(self, text: str) -> None:
        """A line on stderr (server messages, cancellation notices, the summary)."""
        self._err_write(text + "\n", owner=None)

    def debug(self, text: str) -> None:
        if self._verbose:
            self.note(self.style.dim(text))

    def finish_output(self) -> None:
        """End stdout with a newline so a shell prompt starts on its own line."""
        if self._out_open:
            self._write_out("\n")
            self._out_open = False
        if self._err_owner is not None:
            self._end_err_line()

    def _err_write(self, text: str, owner: str | None) -> None:
        if self._out_open and self._shared_tty:
            self._write_out("\n")
            self._out_open = False
        if self._err_owner is not None and self._err_owner != owner:
            self._end_err_line()
        self._err.write(text)
        self._err.flush()
        self._err_owner = None if text.endswith("\n") else owner

    def _write_out(self, text: str) -> None:
        if self._out_closed:
            return
        try:
            self._out.write(text)
            self._out.flush()
        except BrokenPipeError:
            # `nexus-lsp ask ... | head`: the reader left; the turn (and its edits) go on.
            self._out_closed = True
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self._out.fileno())  # so the flush at exit stays quiet
                os.close(devnull)

    def _end_err_line(self) -> None:
        self._err.write("\n")
        self._err.flush()
        self._err_owner = None


def _isatty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def describe_outcome(
    renderer: TurnRenderer,
    *,
    status: str,
    session_id: str | None,
    message: str,
    error_code: str | None,
    transcript: str | None,
) -> None:
    """The closing lines on stderr: how the turn ended, the session, the transcript."""
    style, state = renderer.style, renderer.state
    renderer.finish_output()
    facts = [f"session {session_id}"] if session_id else []
    if state.tool_calls:
        facts.append(f"{state.tool_calls} tool call{'s' if state.tool_calls != 1 else ''}")
    usage = state.usage or {}
    if isinstance(usage.get("inputTokens"), int) or isinstance(usage.get("outputTokens"), int):
        facts.append(
            f"tokens {usage.get('inputTokens', '?')} in / {usage.get('outputTokens', '?')} out"
        )
    tail = f" · {' · '.join(facts)}" if facts else ""
    if status == "endTurn":
        renderer.note(style.green("✓ done") + style.dim(tail))
    elif status == "maxIterations":
        renderer.note(
            style.yellow("⚠ stopped: reached session.maxIterations before the model finished")
            + style.dim(tail)
        )
    elif status == "cancelled":
        renderer.note(style.yellow("⏹ turn cancelled") + style.dim(tail))
    elif status == "error":
        renderer.note(style.red(f"✗ turn ended in error {error_code}: {message}") + style.dim(tail))
    else:
        renderer.note(style.red(f"✗ {message}") + style.dim(tail))
    if transcript:
        renderer.note(style.dim("  transcript: ") + transcript)


def _compaction_note(params: Mapping[str, Any]) -> str:
    """One line for a ``compaction`` end (protocol v2 §4)."""
    sizes = f"~{params.get('tokensBefore')} → ~{params.get('tokensAfter')} tokens"
    if params.get("summary") is None:
        return f"context compacted by truncation ({params.get('fallback')}; {sizes})"
    return f"context compacted: older messages summarised ({sizes})"

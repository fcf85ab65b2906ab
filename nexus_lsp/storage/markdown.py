"""Markdown for the human-readable transcripts: ``context.md`` and ``verbose.md``.

Pure functions from values to text (the writer in ``transcript.py`` appends them).
``context.md`` is the conversation: system prompt, prompts, answers, tool calls with
their arguments, tool results cut at ``logging.markdownTruncate`` characters with a
pointer to the full text in ``nexus.db``. ``verbose.md`` is the rest: reasoning,
timings, token counts. Times are UTC ISO 8601 with date and seconds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from nexus_lsp.core.events import CompactionEnded, TurnResult
from nexus_lsp.core.messages import SUMMARY_NAME, Message, ToolCall

__all__ = [
    "context_truncated",
    "fence",
    "header",
    "md_time",
    "message",
    "session_resumed",
    "truncate",
    "turn_ended",
    "turn_started",
    "verbose_batch",
    "verbose_message",
    "verbose_reasoning",
    "verbose_stream",
    "verbose_tool",
    "verbose_turn_ended",
    "verbose_turn_started",
]

_BACKTICKS = re.compile(r"`{3,}")


def md_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fence(text: str, info: str = "") -> str:
    """``text`` in a code fence longer than any backtick run inside it."""
    longest = max((len(m.group(0)) for m in _BACKTICKS.finditer(text)), default=2)
    ticks = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") else text + "\n"
    return f"{ticks}{info}\n{body}{ticks}\n"


def truncate(text: str, limit: int, ord_: int) -> str:
    """``text`` cut at ``limit`` characters (0: never), saying where the rest is."""
    if limit <= 0 or len(text) <= limit:
        return fence(text)
    rest = len(text) - limit
    return fence(text[:limit]) + f"\n… {rest:,} more characters in nexus.db, message {ord_}\n"


def header(session_id: str, title: str, model: str, created: datetime, system_prompt: str) -> str:
    return (
        f"# {title or 'Untitled session'}\n\n"
        f"- session: `{session_id}`\n- model: `{model}`\n- created: {md_time(created)}\n\n"
        f"## System prompt\n\n{fence(system_prompt)}\n"
    )


def turn_started(turn: int, at: datetime) -> str:
    return f"## Turn {turn} · {md_time(at)}\n\n"


def _call(call: ToolCall) -> str:
    if call.arguments_error is not None:
        arguments = fence(call.raw_arguments or "", "text")
        note = f"arguments not valid: {call.arguments_error}\n\n"
    else:
        arguments = fence(json.dumps(call.arguments, indent=2, ensure_ascii=False), "json")
        note = ""
    return f"**Tool call** `{call.name}` · `{call.id}`\n\n{note}{arguments}\n"


def message(ord_: int, msg: Message, at: datetime, limit: int) -> str:
    """One history entry of ``context.md``; ``ord_`` is its index in the history."""
    stamp = md_time(at)
    if msg.role == "tool":
        flag = " · error" if msg.is_error else ""
        head = f"### Tool result `{msg.name or '?'}` · `{msg.tool_call_id or '?'}`{flag} · {stamp}"
        return f"{head}\n\n{truncate(msg.content, limit, ord_)}\n"
    title = {"user": "User", "assistant": "Assistant", "system": "System"}[msg.role]
    if msg.role == "system" and msg.name == SUMMARY_NAME:
        title = "Summary of the earlier conversation (compaction)"
    parts = [f"### {title} · {stamp}\n\n"]
    if msg.content:
        parts.append(msg.content if msg.content.endswith("\n") else msg.content + "\n")
        parts.append("\n")
    if msg.cancelled:
        parts.append("_(cancelled: the answer was cut here)_\n\n")
    if msg.interrupted:
        parts.append("_(interrupted: an error cut the answer here)_\n\n")
    parts.extend(_call(call) for call in msg.tool_calls)
    return "".join(parts)


def context_truncated(indexes: Iterable[int], at: datetime) -> str:
    listed = ", ".join(str(i) for i in indexes)
    return f"_{md_time(at)}: messages {listed} no longer go to the model (context budget)._\n\n"


def attachments(labels: Iterable[str]) -> str:
    listed = "\n".join(f"- `{label}`" for label in labels)
    return f"**Attached:**\n\n{listed}\n\n"


def compaction_ended(event: CompactionEnded, at: datetime) -> str:
    if event.summary is None:
        return (f"_{md_time(at)}: compaction fell back to truncation: {event.fallback} "
                f"(~{event.tokens_before:,} → ~{event.tokens_after:,} tokens)._\n\n")
    return (f"_{md_time(at)}: compaction: {len(event.indexes)} messages replaced by the summary "
            f"above (~{event.tokens_before:,} → ~{event.tokens_after:,} tokens; the originals "
            "stay in nexus.db)._\n\n")


def turn_ended(result: TurnResult, at: datetime) -> str:
    text = f"_Turn {result.turn_id} ended · {result.stop_reason} · {md_time(at)}_\n\n"
    if result.error is not None:
        text += f"**Error** `{result.error.code}`: {result.error.message}\n\n"
    return text


def session_resumed(at: datetime, interrupted_turn: int | None, closed_calls: int) -> str:
    what = f"turn {interrupted_turn} was interrupted" if interrupted_turn else "history repaired"
    return (
        f"_{md_time(at)}: session resumed; {what}; "
        f"{closed_calls} tool call(s) closed as interrupted._\n\n"
    )


def verbose_turn_started(turn: int, at: datetime) -> str:
    return f"## Turn {turn} · started {md_time(at)}\n\n"


def verbose_reasoning(at: datetime, text: str) -> str:
    return f"### Reasoning · {md_time(at)}\n\n{fence(text)}\n"


def verbose_stream(at: datetime, deltas: int, chars: int) -> str:
    return f"- {md_time(at)} streamed {deltas:,} content deltas ({chars:,} characters)\n"


def verbose_message(at: datetime, ord_: int, role: str, tokens: int) -> str:
    return f"- {md_time(at)} message {ord_} ({role}): ~{tokens:,} tokens (estimate)\n"


def verbose_tool(at: datetime, call: ToolCall, status: str, seconds: float | None,
                 error: str | None) -> str:
    took = f" in {seconds:.3f} s" if seconds is not None else ""
    why = f": {error}" if error else ""
    return f"- {md_time(at)} tool `{call.name}` (`{call.id}`) {status}{took}{why}\n"


def verbose_batch(at: datetime, index: int, text: str) -> str:
    return f"- {md_time(at)} batch {index}: {text}\n"


def verbose_turn_ended(at: datetime, result: TurnResult, seconds: float | None) -> str:
    took = f" after {seconds:.3f} s" if seconds is not None else ""
    usage = result.usage
    tokens = ""
    if usage is not None:
        tokens = (
            f"; tokens in {usage.input_tokens if usage.input_tokens is not None else '?'}"
            f", out {usage.output_tokens if usage.output_tokens is not None else '?'}"
        )
    stamp = md_time(at)
    return f"\n**Turn {result.turn_id} ended** {stamp}: {result.stop_reason}{took}{tokens}\n\n"

"""Compaction (protocol v2 §4): the oldest exchanges replaced by a summary.

When the context would pass ``session.compactAt`` of ``contextTokens`` before a model
call (or when ``nexus/session/compact`` forces it between turns), the session's own
model is asked to summarise every exchange but the last
``session.keepRecentExchanges``, with :data:`SUMMARY_PROMPT`, which asks to keep the
decisions, file names, open tasks and the user's instructions. The summary enters the
history as a marker message (:data:`~nexus_lsp.session.context.SUMMARY_NAME`) and the
summarised messages are marked out of context; the originals stay in the history and
the store. The system prompt, which carries the rules files (AGENTS.md, NEXUS.md), is
never part of what is summarised and goes to the model unchanged.

A summary that fails (provider error, empty answer) or is cancelled falls back to
v1 truncation, and the ``compaction`` end says so (``fallback``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from nexus_lsp.core.cancel import CancellationToken, Cancelled, race
from nexus_lsp.core.events import (
    CompactionEnded,
    CompactionStarted,
    ContextTruncated,
    MessageAppended,
    SessionEvent,
)
from nexus_lsp.core.messages import Message
from nexus_lsp.core.stream import StreamComplete, TextDelta
from nexus_lsp.errors import ProviderError
from nexus_lsp.providers.base import Provider
from nexus_lsp.session.context import CHARS_PER_TOKEN, SUMMARY_NAME, Context, is_summary

__all__ = [
    "COMPACTION_MARKER",
    "SUMMARY_PROMPT",
    "CompactionFailed",
    "CompactionOutcome",
    "compact",
    "compact_and_report",
    "render_transcript",
    "summarise",
    "summary_message",
]

log = logging.getLogger(__name__)

# Opens every summary request; the scripted model server recognises it (keep the two
# spellings equal: tests/unit/testing checks it).
COMPACTION_MARKER = "[nexus:compaction]"
SUMMARY_PROMPT = (
    f"{COMPACTION_MARKER} You are compacting the oldest part of a conversation between a "
    "user and a coding agent, so that the agent can go on within its context window. "
    "Write a concise summary, in the agent's voice, that keeps:\n"
    "- every decision taken and why;\n"
    "- every file name and path mentioned, read or changed, and what changed;\n"
    "- open tasks, unfinished work and the next steps;\n"
    "- the user's instructions and preferences (verbatim when short).\n"
    "Drop greetings and tool output that no longer matters. If the conversation "
    "starts with an earlier summary, fold it in. Answer with the summary only."
)
# A single message is cut to this in the summary request (head and tail kept).
MESSAGE_CHARS = 4_000
# The summary request uses at most this fraction of the context window.
REQUEST_FRACTION = 0.6


class CompactionFailed(Exception):
    """The model gave no usable summary."""


@dataclass(frozen=True, slots=True)
class CompactionOutcome:
    """What a compaction did: the ``compaction`` update's end."""

    tokens_before: int
    tokens_after: int
    summary: str | None
    indexes: tuple[int, ...]
    fallback: str | None = None


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[… {len(text) - 2 * half} characters left out …]\n{text[-half:]}"


def render_transcript(messages: Sequence[Message], budget_chars: int) -> str:
    """The messages to summarise as plain text, newest kept when over ``budget_chars``.

    Each message gets an equal share of the budget (head and tail kept), so the oldest
    requests are summarised too; an earlier summary always stays whole (it is the
    memory of everything before it).
    """
    share = max(200, min(MESSAGE_CHARS, budget_chars // max(1, len(messages)) - 80))
    parts: list[str] = []
    for message in messages:
        if is_summary(message):
            parts.append(f"[Earlier summary]\n{message.content}")
        elif message.role == "user":
            parts.append(f"[User]\n{_cut(message.content, share)}")
        elif message.role == "assistant":
            lines = [_cut(message.content, share)] if message.content else []
            lines += [f"(called {c.name} {_cut(c.raw_arguments or str(c.arguments), 400)})"
                      for c in message.tool_calls]
            parts.append("[Agent]\n" + "\n".join(lines))
        elif message.role == "tool":
            parts.append(f"[Tool result: {message.name}]\n{_cut(message.content, share)}")
    kept: list[str] = []
    size = 0
    for part in reversed(parts):
        if size + len(part) > budget_chars and kept and not part.startswith("[Earlier summary]"):
            kept.append("[… older messages left out …]")
            break
        kept.append(part)
        size += len(part)
    if parts and parts[0].startswith("[Earlier summary]") and parts[0] not in kept:
        kept.append(parts[0])
    return "\n\n".join(reversed(kept))


async def summarise(
    provider: Provider, context: Context, indexes: Sequence[int], token: CancellationToken
) -> str:
    """Ask the model for a summary of the messages at ``indexes``.

    Raises :class:`CompactionFailed`, ``ProviderError`` or ``Cancelled``.
    """
    history = context.messages
    budget = int(context.budget_tokens * REQUEST_FRACTION) * CHARS_PER_TOKEN
    transcript = render_transcript([history[i] for i in indexes], budget)
    request = [Message.system(SUMMARY_PROMPT), Message.user(transcript)]
    parts: list[str] = []

    async def stream() -> str:
        async for event in provider.stream(request, [], token):
            if isinstance(event, TextDelta):
                parts.append(event.text)
            elif isinstance(event, StreamComplete):
                return event.message.content or "".join(parts)
        raise CompactionFailed("the model's stream ended before the summary was complete")

    text = (await race(stream(), token)).strip()
    if not text:
        raise CompactionFailed("the model answered with an empty summary")
    return text


def summary_message(text: str) -> Message:
    return Message(role="system", content=text, name=SUMMARY_NAME)


async def compact(
    provider: Provider, context: Context, keep_recent: int, token: CancellationToken
) -> tuple[CompactionOutcome, Message | None]:
    """Summarise and apply to ``context``; returns the outcome and the marker to append
    (None when the summary failed and the context was truncated instead).

    Never raises for a failed or cancelled summary: it falls back to truncation.
    """
    before = context.tokens_in_context()
    indexes = context.compaction_plan(keep_recent)
    if not indexes:
        dropped = context.truncate()
        return CompactionOutcome(before, context.tokens_in_context(), None, dropped,
                                 "nothing old enough to summarise"), None
    try:
        text = await summarise(provider, context, indexes, token)
    except (Cancelled, ProviderError, CompactionFailed) as exc:
        why = "cancelled" if isinstance(exc, Cancelled) else f"failed: {exc}"
        log.warning("compaction %s; truncating the context instead", why)
        dropped = context.truncate()
        return CompactionOutcome(
            before, context.tokens_in_context(), None, dropped,
            f"summary {why}; the oldest messages were truncated instead",
        ), None
    return CompactionOutcome(before, before, text, tuple(indexes)), summary_message(text)


async def compact_and_report(
    provider: Provider,
    context: Context,
    keep_recent: int,
    token: CancellationToken,
    *,
    turn_id: int,
    emit: Callable[[SessionEvent], Awaitable[None]],
) -> CompactionOutcome:
    """:func:`compact`, with its events: ``CompactionStarted``, the marker's
    ``MessageAppended``, ``ContextTruncated`` of what left the context, ``CompactionEnded``."""
    await emit(CompactionStarted(turn_id, context.tokens_in_context()))
    outcome, marker = await compact(provider, context, keep_recent, token)
    if marker is not None:
        index = context.append(marker)
        await emit(MessageAppended(turn_id, index, marker))
        context.exclude(outcome.indexes)
        outcome = CompactionOutcome(
            outcome.tokens_before, context.tokens_in_context(), outcome.summary, outcome.indexes
        )
    if outcome.indexes:
        await emit(ContextTruncated(turn_id, outcome.indexes))
    await emit(CompactionEnded(
        turn_id, outcome.tokens_before, outcome.tokens_after, outcome.summary,
        outcome.indexes, outcome.fallback,
    ))
    return outcome

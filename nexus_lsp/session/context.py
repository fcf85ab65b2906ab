"""The context: the history a session keeps, and what of it goes to the model.

The history is append-only (index 0 is the system prompt); truncation marks whole
*exchanges* (a user message and everything up to the next user message) as out of
context, so an assistant tool-call message is never separated from its results.
Before every provider request :func:`repair` makes the request valid whatever the
history holds: every tool call has exactly one result, right after it, in call
order; results without a call are dropped; user messages that would follow each
other are merged, empty assistant messages dropped.

Tokens are estimated (about four characters a token) where the provider has not
reported usage; once it has, the reported input count of the last request plus
estimates of what came after is used instead.

Compaction (protocol v2 §4, :mod:`nexus_lsp.session.compaction`) adds a *summary
marker* to the history: a ``system`` message named :data:`SUMMARY_NAME` whose text
replaces the exchanges it summarised (marked out of context, like truncated ones).
The marker in context goes to the model right after the system prompt, as a user
message; older markers are summarised into newer ones. The system prompt (with the
rules files) is never part of what is summarised.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence

from nexus_lsp.core.events import UsageReported
from nexus_lsp.core.messages import SUMMARY_NAME, Message, ToolDefinition, ToolResult, Usage
from nexus_lsp.core.stream import StreamComplete

__all__ = [
    "SUMMARY_NAME", "Context", "estimate_tokens", "is_summary", "repair", "usage_event",
]

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4
# Kept free for the model's answer when deciding whether to truncate.
ANSWER_RESERVE_FRACTION = 0.2


SUMMARY_HEADING = (
    "Summary of the earlier conversation (written when the context grew large; the "
    "messages it replaces are no longer shown):"
)


def is_summary(message: Message) -> bool:
    return message.role == "system" and message.name == SUMMARY_NAME


def estimate_tokens(message: Message) -> int:
    size = len(message.content)
    for call in message.tool_calls:
        size += len(call.name) + len(call.raw_arguments or json.dumps(call.arguments))
    return size // CHARS_PER_TOKEN + MESSAGE_OVERHEAD_TOKENS


class Context:
    """History, in-context flags, tool definitions and the token budget of a session."""

    def __init__(
        self,
        system_prompt: str,
        *,
        budget_tokens: int,
        history: Sequence[Message] = (),
        out_of_context: Iterable[int] = (),
        tools: Sequence[ToolDefinition] = (),
    ) -> None:
        self._messages: list[Message] = [Message.system(system_prompt), *history]
        self._tokens: list[int] = [estimate_tokens(m) for m in self._messages]
        self._excluded: set[int] = {i for i in out_of_context if 0 < i < len(self._messages)}
        self.budget_tokens = budget_tokens
        self.tools: list[ToolDefinition] = list(tools)
        self._reported: tuple[int, int] | None = None  # (input tokens, message count then)

    def __repr__(self) -> str:
        return (
            f"<Context {len(self._messages)} messages, {len(self._excluded)} out of context, "
            f"~{self.tokens_in_context():,}/{self.budget_tokens:,} tokens>"
        )

    @property
    def system_prompt(self) -> str:
        return self._messages[0].content

    @property
    def messages(self) -> list[Message]:
        return list(self._messages)

    @property
    def out_of_context(self) -> frozenset[int]:
        return frozenset(self._excluded)

    def __len__(self) -> int:
        return len(self._messages)

    def append(self, message: Message) -> int:
        """Add a message; returns its index in the history."""
        self._messages.append(message)
        self._tokens.append(estimate_tokens(message))
        return len(self._messages) - 1

    def record_usage(self, usage: Usage | None, message_count: int) -> None:
        """Remember the provider's input count for a request made when the history
        held ``message_count`` messages (what came after is estimated)."""
        if usage is not None and usage.input_tokens is not None:
            self._reported = (usage.input_tokens, message_count)

    def estimate_request(self, request: Sequence[Message]) -> int:
        """An estimate of a request's size: its messages and the tool definitions."""
        tools = sum(len(json.dumps(t.parameters)) + len(t.description) for t in self.tools)
        return tools // CHARS_PER_TOKEN + sum(estimate_tokens(m) for m in request)

    def over(self, fraction: float) -> bool:
        """Whether the context is past ``fraction`` of the budget."""
        return self.tokens_in_context() > int(self.budget_tokens * fraction)

    def compaction_plan(self, keep_recent: int) -> list[int]:
        """In-context indexes to summarise: all but the last ``keep_recent`` exchanges
        (the exchange in flight always stays), with the summary already in force."""
        exchanges = self._exchanges()
        keep = max(1, keep_recent)
        old = [i for group in exchanges[:-keep] for i in group] if len(exchanges) > keep else []
        if not old:
            return []
        markers = [i for i in range(1, len(self._messages))
                   if i not in self._excluded and is_summary(self._messages[i])]
        return sorted({*markers, *old})

    def summary_in_force(self) -> str | None:
        for i in range(len(self._messages) - 1, 0, -1):
            if i not in self._excluded and is_summary(self._messages[i]):
                return self._messages[i].content
        return None

    def exclude(self, indexes: Iterable[int]) -> None:
        """Mark messages out of context (they stay in the history)."""
        self._excluded.update(i for i in indexes if 0 < i < len(self._messages))
        self._reported = None  # the provider's count included them

    def tokens_in_context(self) -> int:
        if self._reported is not None:
            total, start = self._reported
        else:
            total = sum(len(json.dumps(t.parameters)) for t in self.tools) // CHARS_PER_TOKEN
            start = 0
        return total + sum(
            self._tokens[i] for i in range(start, len(self._messages)) if i not in self._excluded
        )

    def truncate(self) -> tuple[int, ...]:
        """Mark the oldest exchanges out of context until the history fits the budget.

        The latest exchange (the turn in flight) always stays. Returns the indexes
        newly marked, in order.
        """
        limit = int(self.budget_tokens * (1 - ANSWER_RESERVE_FRACTION))
        if self.tokens_in_context() <= limit:
            return ()
        exchanges = self._exchanges()
        dropped: list[int] = []
        for exchange in exchanges[:-1]:
            if self.tokens_in_context() <= limit:
                break
            self._excluded.update(exchange)
            self._reported = None  # the provider's count included what was just dropped
            dropped.extend(exchange)
        if self.tokens_in_context() > limit:
            log.warning(
                "context still ~%d tokens over a %d-token budget after truncation",
                self.tokens_in_context(), limit,
            )
        return tuple(dropped)

    def _exchanges(self) -> list[list[int]]:
        """In-context indexes after the system prompt, grouped from each user message."""
        groups: list[list[int]] = []
        for i in range(1, len(self._messages)):
            if i in self._excluded or is_summary(self._messages[i]):
                continue
            if self._messages[i].role == "user" or not groups:
                groups.append([])
            groups[-1].append(i)
        return groups

    def request_messages(self) -> list[Message]:
        """What goes to the provider: system prompt and in-context history, repaired."""
        chosen = [self._messages[0]]
        summaries: list[Message] = []
        for i in range(1, len(self._messages)):
            if i in self._excluded:
                continue
            message = self._messages[i]
            if is_summary(message):
                summaries.append(Message.user(f"{SUMMARY_HEADING}\n\n{message.content}"))
            elif message.role != "system":
                chosen.append(message)
        chosen[1:1] = summaries[-1:]  # the newest summary, right after the system prompt
        repaired, problems = repair(chosen)
        for problem in problems:
            log.warning("history repaired before the request: %s", problem)
        return repaired

    def pending_tool_calls(self) -> list[tuple[int, str, str]]:
        """Tool calls of the last assistant message that have no result yet."""
        for i in range(len(self._messages) - 1, 0, -1):
            message = self._messages[i]
            if message.role == "assistant":
                answered = {m.tool_call_id for m in self._messages[i + 1 :] if m.role == "tool"}
                return [(i, c.id, c.name) for c in message.tool_calls if c.id not in answered]
        return []


def repair(messages: Sequence[Message]) -> tuple[list[Message], list[str]]:
    """Make a message list one that every provider accepts; returns it and what was fixed."""
    out: list[Message] = []
    problems: list[str] = []
    i = 0
    while i < len(messages):
        message = messages[i]
        i += 1
        if message.role == "tool":
            problems.append(f"dropped a result for unknown tool call {message.tool_call_id!r}")
            continue
        if message.role == "assistant" and not message.tool_calls and not message.content:
            continue  # an answer cancelled before any text: nothing to send
        if message.role == "user" and out and out[-1].role == "user":
            out[-1] = Message.user(f"{out[-1].content}\n\n{message.content}")
            continue
        out.append(message)
        if message.role != "assistant" or not message.tool_calls:
            continue
        results: dict[str, Message] = {}
        while i < len(messages) and messages[i].role == "tool":
            result = messages[i]
            i += 1
            if result.tool_call_id in results:
                problems.append(f"dropped a second result for tool call {result.tool_call_id!r}")
            elif result.tool_call_id not in {c.id for c in message.tool_calls}:
                problems.append(f"dropped a result for unknown tool call {result.tool_call_id!r}")
            else:
                results[result.tool_call_id or ""] = result
        for call in message.tool_calls:
            if call.id in results:
                out.append(results[call.id])
            else:
                problems.append(f"tool call {call.id!r} ({call.name}) had no result")
                out.append(
                    ToolResult(
                        call.id, call.name, status="failed",
                        error=f"{call.name}: interrupted: no result was recorded for this call",
                    ).to_message()
                )
    # Providers want the conversation to open with a user message.
    first = next((k for k, m in enumerate(out) if m.role != "system"), len(out))
    while first < len(out) and out[first].role != "user":
        problems.append(f"dropped a leading {out[first].role} message")
        del out[first]
    return out, problems


def usage_event(
    turn_id: int,
    context: Context,
    request: Sequence[Message],
    complete: StreamComplete,
    context_tokens: int,
) -> UsageReported:
    """The ``usage`` of one model call (protocol v2 §4): the provider's numbers, or
    estimates (marked so) where it reported none."""
    usage = complete.usage
    reported_in = usage.input_tokens if usage else None
    reported_out = usage.output_tokens if usage else None
    used = reported_in if reported_in is not None else context.estimate_request(request)
    out = reported_out if reported_out is not None else estimate_tokens(complete.message)
    return UsageReported(
        turn_id, used, context_tokens, used, out,
        estimated=reported_in is None or reported_out is None,
    )

"""A long, realistic session as session events: what the store and load measures record.

Each turn is what a session emits for "ask, think, call two tools, answer"
(see :mod:`nexus_lsp.core.events`): 5 messages (user, assistant with two tool
calls, two tool results, final answer) and 25 event rows once the store has
coalesced the streamed deltas, so ``turns(n)`` gives ``5n`` messages and ``25n``
events: the 10k messages + 50k events of the brief for ``n = 2000``. Texts are
deterministic (seeded) and sized like a working session: short prompts, tool
outputs of a few hundred to a couple of thousand characters.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from nexus_lsp.core.events import (
    BatchEnded,
    BatchProgress,
    BatchStarted,
    ContentDelta,
    MessageAppended,
    ReasoningChanged,
    SessionEvent,
    ToolCallRecord,
    ToolCallRequested,
    ToolCallStatus,
    TurnEnded,
    TurnResult,
    TurnStarted,
)
from nexus_lsp.core.messages import Message, ToolCall, ToolResult, Usage

__all__ = ["EVENTS_PER_TURN", "MESSAGES_PER_TURN", "SYSTEM_PROMPT", "Words", "turn_events"]

MESSAGES_PER_TURN = 5
EVENTS_PER_TURN = 25
SYSTEM_PROMPT = "You are nexus, a coding agent working in the user's editor."

_VOCABULARY = (
    "the", "session", "store", "flush", "turn", "model", "stream", "editor", "buffer", "edit",
    "range", "token", "cancel", "request", "response", "update", "progress", "batch", "tool",
    "workspace", "document", "version", "line", "character", "offset", "encoding", "provider",
    "retry", "context", "history", "message", "event", "row", "transaction", "commit", "index",
    "cursor", "parser", "handler", "server", "client", "notification",
)


class Words:
    """Deterministic filler text."""

    def __init__(self, seed: int = 7) -> None:
        self._random = random.Random(seed)

    def text(self, chars: int) -> str:
        words: list[str] = []
        size = 0
        while size < chars:
            word = self._random.choice(_VOCABULARY)
            words.append(word)
            size += len(word) + 1
        return " ".join(words)[:chars]

    def chunks(self, chars: int, size: int) -> list[str]:
        text = self.text(chars)
        return [text[i : i + size] for i in range(0, len(text), size)]


def _reasoning(turn: int, words: Words) -> Iterator[SessionEvent]:
    yield ReasoningChanged(turn, active=True)
    for part in words.chunks(300, 100):
        yield ReasoningChanged(turn, active=True, text=part)
    yield ReasoningChanged(turn, active=False)


def turn_events(session_id: str, turn: int, first_index: int,
                words: Words) -> list[SessionEvent]:
    """The events of turn ``turn`` whose first message has history index ``first_index``."""
    prompt = f"Turn {turn}: " + words.text(110)
    calls = (
        ToolCall(f"call_{turn}_0", "read_file", {"path": f"src/module_{turn % 97}.py"}),
        ToolCall(f"call_{turn}_1", "search_text", {"pattern": f"def handler_{turn % 13}"}),
    )
    outputs = (
        "\n".join(f"{n:4d}  {words.text(60)}" for n in range(1, 25)),
        "\n".join(f"src/module_{n}.py:{n * 7}: {words.text(50)}" for n in range(10)),
    )
    results = tuple(ToolResult(call.id, call.name, output) for call, output in
                    zip(calls, outputs, strict=True))
    first_text = "".join(words.chunks(240, 6))
    answer_chunks = words.chunks(600, 6)
    answer = "".join(answer_chunks)
    i = first_index
    events: list[SessionEvent] = [
        TurnStarted(turn, prompt),
        MessageAppended(turn, i, Message.user(prompt)),
        *_reasoning(turn, words),
        *(ContentDelta(turn, first_text[k : k + 6]) for k in range(0, len(first_text), 6)),
        *(ToolCallRequested(turn, call) for call in calls),
        MessageAppended(turn, i + 1, Message.assistant(first_text, calls)),
        BatchStarted(turn, 0, calls, parallel=True),
    ]
    for done, (call, result) in enumerate(zip(calls, results, strict=True), start=1):
        events += [
            ToolCallStatus(turn, call, "running"),
            ToolCallStatus(turn, call, "completed", output=result.output,
                           locations=(str(call.arguments.get("path", "src")),)),
            BatchProgress(turn, 0, result, done, len(calls)),
        ]
    events += [
        BatchEnded(turn, 0, "completed"),
        MessageAppended(turn, i + 2, results[0].to_message()),
        MessageAppended(turn, i + 3, results[1].to_message()),
        *_reasoning(turn, words),
        *(ContentDelta(turn, part) for part in answer_chunks),
        MessageAppended(turn, i + 4, Message.assistant(answer)),
    ]
    records = tuple(ToolCallRecord(call, "completed") for call in calls)
    ended = TurnResult(session_id, turn, "endTurn", answer, records,
                       Usage(input_tokens=4000 + turn, output_tokens=300))
    events.append(TurnEnded(turn, ended))
    return events

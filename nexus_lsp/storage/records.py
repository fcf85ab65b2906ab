"""What the store hands out, and how messages become rows and back.

:class:`SessionRecord` and :class:`LoadedSession` are the store's public values;
:class:`StoredMessage` is a message with the columns the ``messages`` table keeps
beside it. Text is made storable here: SQLite (and UTF-8 files) refuse lone
surrogates, which Python strings may carry (``surrogateescape`` file names, a
provider's broken JSON escapes), so every string passes :func:`clean_text`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from nexus_lsp.core.messages import Message, Role, ToolCall
from nexus_lsp.errors import StoreError

__all__ = [
    "LoadedSession",
    "SessionRecord",
    "SessionStatus",
    "StoredMessage",
    "check_session_id",
    "clean_text",
    "estimate_tokens",
    "from_db_time",
    "message_from_row",
    "message_row",
    "now",
    "to_db_time",
    "tool_calls_from_json",
    "tool_calls_to_json",
]

SessionStatus = Literal["idle", "running", "interrupted"]
ROLES = frozenset({"system", "user", "assistant", "tool"})

# About four characters a token, plus a little per message (as the session's context).
CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4

# Session ids name folders under .nexus/sessions/: nothing that could climb out.
_SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    title: str
    created_at: datetime
    updated_at: datetime
    turn_count: int
    status: SessionStatus
    model: str
    parent_id: str | None = None  # the session this one was forked from


@dataclass(frozen=True)
class LoadedSession:
    """A session read back from ``nexus.db``, ready to construct a ``Session`` with.

    ``messages`` is the full history (index 0 is the system prompt); the indexes in
    ``out_of_context`` no longer go to the model. ``repaired`` says an interrupted
    turn was closed (tool calls without a result got an "interrupted" result, which
    is stored). ``settings`` is what ``create_session`` was given (added field).
    """

    record: SessionRecord
    system_prompt: str
    messages: list[Message]
    out_of_context: frozenset[int]
    repaired: bool
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One ``messages`` row: the message and where/when it entered the history."""

    ord: int
    turn: int
    message: Message
    in_context: bool
    created_at: str


def check_session_id(session_id: str) -> str:
    if not isinstance(session_id, str) or not _SESSION_ID.fullmatch(session_id):
        raise StoreError(
            f"invalid session id {session_id!r}: use 1-128 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit"
        )
    return session_id


def clean_text(text: str) -> str:
    """``text`` as valid Unicode: surrogate pairs joined, lone surrogates → U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def now() -> datetime:
    return datetime.now(UTC)


def to_db_time(moment: datetime) -> str:
    # One fixed format, so that text order is time order in SQL.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_db_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def estimate_tokens(content: str, tool_calls_json: str | None) -> int:
    return (len(content) + len(tool_calls_json or "")) // CHARS_PER_TOKEN + MESSAGE_OVERHEAD_TOKENS


def tool_calls_to_json(calls: tuple[ToolCall, ...]) -> str | None:
    if not calls:
        return None
    items: list[dict[str, Any]] = []
    for call in calls:
        item: dict[str, Any] = {"id": call.id, "name": call.name, "arguments": call.arguments}
        if call.raw_arguments is not None:
            item["rawArguments"] = call.raw_arguments
        if call.arguments_error is not None:
            item["argumentsError"] = call.arguments_error
        items.append(item)
    return clean_text(json.dumps(items, ensure_ascii=False, default=str))


def tool_calls_from_json(text: str | None) -> tuple[ToolCall, ...]:
    if not text:
        return ()
    items = json.loads(text)
    if not isinstance(items, list):
        raise StoreError(f"tool_calls is not a JSON array: {text[:80]!r}")
    calls: list[ToolCall] = []
    for item in items:
        arguments = item.get("arguments")
        calls.append(
            ToolCall(
                id=str(item["id"]),
                name=str(item["name"]),
                arguments=arguments if isinstance(arguments, dict) else {},
                raw_arguments=item.get("rawArguments"),
                arguments_error=item.get("argumentsError"),
            )
        )
    return tuple(calls)


# Column order of the messages table as written by the store.
MESSAGE_COLUMNS = (
    "session_id, ord, turn, role, content, tool_calls, tool_call_id, name,"
    " cancelled, is_error, token_estimate, in_context, created_at"
)

MessageRow = tuple[str, int, int, str, str, str | None, str | None, str | None, int, int, int,
                   int, str]


def message_row(
    session_id: str, stored: StoredMessage, redact: Callable[[str], str] | None = None
) -> MessageRow:
    """The row for ``stored``; ``redact`` (text → text) scrubs secrets when given.

    Checked here, at recording time: a row the schema refuses would fail a whole
    flush (and every retry of it), not just itself.
    """
    message = stored.message
    if message.role not in ROLES:
        raise StoreError(f"message {stored.ord}: unknown role {message.role!r}")
    if not isinstance(message.content, str):
        raise StoreError(f"message {stored.ord}: content is {type(message.content).__name__}, "
                         "not text")
    scrub = redact or clean_text
    content = scrub(message.content)
    calls = tool_calls_to_json(message.tool_calls)
    if calls is not None:
        calls = scrub(calls)
    return (
        session_id,
        stored.ord,
        stored.turn,
        message.role,
        content,
        calls,
        None if message.tool_call_id is None else clean_text(message.tool_call_id),
        None if message.name is None else clean_text(message.name),
        _cut_marker(message),
        int(message.is_error),
        estimate_tokens(content, calls),
        int(stored.in_context),
        stored.created_at,
    )


# The ``cancelled`` column says what cut an assistant answer: nothing (0), a cancel
# (1) or an error (2). One column for both keeps the schema (and older servers,
# which read any non-zero value as cancelled) as it was.
CUT_BY_CANCEL = 1
CUT_BY_ERROR = 2


def _cut_marker(message: Message) -> int:
    if message.interrupted:
        return CUT_BY_ERROR
    return CUT_BY_CANCEL if message.cancelled else 0


def message_from_row(row: tuple[Any, ...]) -> StoredMessage:
    """A row selected as ``ord, turn, role, content, tool_calls, tool_call_id, name,
    cancelled, is_error, in_context, created_at``."""
    ord_, turn, role, content, calls, call_id, name, cancelled, is_error, in_context, at = row
    if role not in ROLES:
        raise StoreError(f"message {ord_} has an unknown role {role!r}")
    typed_role: Role = role
    message = Message(
        role=typed_role,
        content=content or "",
        tool_calls=tool_calls_from_json(calls),
        tool_call_id=call_id,
        name=name,
        cancelled=cancelled == CUT_BY_CANCEL,
        interrupted=cancelled == CUT_BY_ERROR,
        is_error=bool(is_error),
    )
    return StoredMessage(int(ord_), int(turn), message, bool(in_context), str(at))

"""Core values → the camelCase JSON results of protocol §2.

Pure functions: what the session and the store return goes in, the exact wire
shape comes out (optional keys are left out rather than sent as null).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from nexus_lsp.core.events import ToolCallRecord, TurnResult
from nexus_lsp.core.messages import Message
from nexus_lsp.lsp.updates import usage_json

if TYPE_CHECKING:
    from nexus_lsp.checkpoints import RevertResult
    from nexus_lsp.session.compaction import CompactionOutcome
    from nexus_lsp.session.manager import Steered
    from nexus_lsp.session.session import Session
    from nexus_lsp.storage import SessionRecord

__all__ = [
    "fork_result",
    "iso",
    "list_result",
    "load_result",
    "message_json",
    "new_result",
    "record_json",
    "revert_result",
    "revert_summary",
    "send_result",
    "steered_result",
    "compact_result",
    "tool_call_json",
]


def iso(moment: datetime | str) -> str:
    """ISO 8601 in UTC with a ``Z``: ``2025-01-31T12:00:00.123Z``."""
    if isinstance(moment, str):
        return moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def new_result(session: Session, log_dir: str) -> dict[str, Any]:
    """The ``nexus/session/new`` result of a session just created."""
    return {
        "sessionId": session.id,
        "title": session.title,
        "createdAt": iso(session.created_at),
        "logDir": log_dir,
    }


def tool_call_json(record: ToolCallRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "toolCallId": record.call.id,
        "name": record.call.name,
        "arguments": record.call.arguments,
        "status": record.status,
    }
    if record.error is not None:
        out["error"] = record.error
    return out


def send_result(result: TurnResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "sessionId": result.session_id,
        "turnId": result.turn_id,
        "stopReason": result.stop_reason,
        "content": result.content,
        "toolCalls": [tool_call_json(r) for r in result.tool_calls],
    }
    usage = usage_json(result.usage)
    if usage:
        out["usage"] = usage
    if result.error is not None:
        out["error"] = {"code": result.error.code, "message": result.error.message}
    return out


def steered_result(steered: Steered) -> dict[str, Any]:
    """A ``whenBusy: "steer"`` send that joined the running turn (protocol v2 §4)."""
    return {"sessionId": steered.session_id, "steered": True, "turnId": steered.turn_id}


def compact_result(outcome: CompactionOutcome) -> dict[str, Any]:
    """``nexus/session/compact``: what the ``compaction`` end update says."""
    out: dict[str, Any] = {
        "compacted": outcome.summary is not None,
        "tokensBefore": outcome.tokens_before,
        "tokensAfter": outcome.tokens_after,
        "summary": outcome.summary,
    }
    if outcome.fallback is not None:
        out["fallback"] = outcome.fallback
    return out


def record_json(record: SessionRecord) -> dict[str, Any]:
    return {
        "sessionId": record.session_id,
        "title": record.title,
        "createdAt": iso(record.created_at),
        "updatedAt": iso(record.updated_at),
        "turnCount": record.turn_count,
        "status": record.status,
        **({"parentId": record.parent_id} if record.parent_id else {}),
    }


def list_result(records: Iterable[SessionRecord]) -> dict[str, Any]:
    return {"sessions": [record_json(r) for r in records]}


def message_json(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["toolCalls"] = [
            {"toolCallId": c.id, "name": c.name, "arguments": c.arguments}
            for c in message.tool_calls
        ]
    if message.tool_call_id is not None:
        out["toolCallId"] = message.tool_call_id
    if message.name is not None:
        out["name"] = message.name
    if message.cancelled:
        out["cancelled"] = True
    if message.interrupted:
        out["interrupted"] = True
    if message.is_error:
        out["isError"] = True
    return out


def load_result(
    session_id: str,
    title: str,
    repaired: bool,
    messages: Iterable[Message],
    reverted: Iterable[tuple[int, Message]] = (),
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "sessionId": session_id,
        "title": title,
        "repaired": repaired,
        "messages": [message_json(m) for m in messages],
    }
    # Messages of reverted turns (protocol v2 §3): not in the history any more.
    listed = [{**message_json(m), "turnId": turn, "reverted": True} for turn, m in reverted]
    if listed:
        out["reverted"] = listed
    return out


def revert_result(result: RevertResult) -> dict[str, Any]:
    return {
        "files": [{"path": f.path, "action": f.action} for f in result.files],
        "conflicts": [{"path": c.path, "reason": c.reason} for c in result.conflicts],
        "notRestored": [{"path": c.path, "reason": c.reason} for c in result.not_restored],
        "messagesReverted": result.messages_reverted,
    }


def fork_result(record: SessionRecord) -> dict[str, Any]:
    return {"sessionId": record.session_id, "parentId": record.parent_id,
            "title": record.title}


def revert_summary(turn_id: int, result: RevertResult) -> str:
    """One line for ``window/showMessage`` after ``nexus.revert``."""
    changed = [f"{f.path} ({f.action})" for f in result.files if f.action != "unchanged"]
    parts = [f"Nexus: reverted turn {turn_id}"]
    parts.append("files: " + (", ".join(changed) if changed else "none changed"))
    if result.conflicts:
        parts.append("conflicts (your text kept): " + ", ".join(
            f"{c.path}: {c.reason}" for c in result.conflicts))
    if result.not_restored:
        parts.append("not restored: " + ", ".join(
            f"{c.path}: {c.reason}" for c in result.not_restored))
    parts.append(f"{result.messages_reverted} message(s) reverted")
    return "; ".join(parts)

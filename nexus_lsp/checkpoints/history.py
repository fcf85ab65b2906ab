"""The conversation side of checkpoints: reverting turns' messages, forking a session.

Reverted messages move from ``messages`` to ``reverted_messages`` (kept, never sent
to the model again, listed by ``load``). Turns are a suffix of the history, so the
positions (``ord``) left in ``messages`` stay contiguous and the next turn appends
after them as usual. A fork is a new ``sessions`` row with ``parent_id`` and a copy
of the parent's messages up to the end of a turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nexus_lsp.core.messages import Message
from nexus_lsp.errors import UnknownSession, UnknownTurn

if TYPE_CHECKING:
    import aiosqlite

    from nexus_lsp.storage import SessionStore

__all__ = [
    "RevertedMessage",
    "SessionFacts",
    "copy_history",
    "read_facts",
    "reverted_messages",
    "revert_messages",
]

_MOVED = ("ord, turn, role, content, tool_calls, tool_call_id, name, cancelled, is_error,"
          " created_at")


@dataclass(frozen=True, slots=True)
class SessionFacts:
    session_id: str
    title: str
    model: str
    system_prompt: str
    turn_count: int
    live_turns: frozenset[int]  # turns with messages not reverted
    journaled_turns: frozenset[int]  # turns with changes not reverted

    def check_turn(self, turn_id: int) -> None:
        """UnknownTurn unless ``turn_id`` ran and something of it is left to revert."""
        if not 1 <= turn_id <= self.turn_count:
            why = f"it has {self.turn_count} turn(s)" if self.turn_count else "it has no turns"
            raise UnknownTurn(self.session_id, turn_id, why)
        if turn_id not in self.live_turns and not any(
            t >= turn_id for t in self.journaled_turns
        ):
            raise UnknownTurn(self.session_id, turn_id, "that turn was reverted")


@dataclass(frozen=True, slots=True)
class RevertedMessage:
    turn: int
    message: Message


async def read_facts(store: SessionStore, session_id: str) -> SessionFacts:
    rows = await store.read(
        "SELECT title, model, system_prompt, turn_count FROM sessions WHERE id = ?",
        (session_id,))
    if not rows:
        raise UnknownSession(session_id)
    title, model, prompt, turns = rows[0]
    live = await store.read(
        "SELECT DISTINCT turn FROM messages WHERE session_id = ? AND turn > 0", (session_id,))
    journaled = await store.read(
        "SELECT DISTINCT turn FROM checkpoints WHERE session_id = ? AND reverted = 0",
        (session_id,))
    return SessionFacts(session_id, str(title), str(model), str(prompt), int(turns),
                        frozenset(int(r[0]) for r in live),
                        frozenset(int(r[0]) for r in journaled))


async def revert_messages(store: SessionStore, session_id: str, from_turn: int,
                          stamp: str) -> int:
    """Move the messages of ``from_turn`` and later to ``reverted_messages``."""
    moved = 0

    async def move(db: aiosqlite.Connection) -> None:
        nonlocal moved
        await db.execute(
            f"INSERT INTO reverted_messages (session_id, {_MOVED}, reverted_at)"
            f" SELECT session_id, {_MOVED}, ? FROM messages"
            " WHERE session_id = ? AND turn >= ? AND ord > 0",
            (stamp, session_id, from_turn))
        async with db.execute(
            "DELETE FROM messages WHERE session_id = ? AND turn >= ? AND ord > 0",
            (session_id, from_turn),
        ) as cursor:
            moved = cursor.rowcount

    await store.write(move)
    return moved


async def reverted_messages(store: SessionStore, session_id: str) -> list[RevertedMessage]:
    """The session's reverted messages, in the order they were reverted and written."""
    from nexus_lsp.storage.records import tool_calls_from_json

    rows = await store.read(
        "SELECT turn, role, content, tool_calls, tool_call_id, name, cancelled, is_error"
        " FROM reverted_messages WHERE session_id = ? ORDER BY reverted_at, ord",
        (session_id,))
    return [RevertedMessage(int(r[0]), _message(r, tool_calls_from_json(r[3]))) for r in rows]


def _message(row: Any, calls: Any) -> Message:
    return Message(role=row[1], content=str(row[2]), tool_calls=calls,
                   tool_call_id=row[4], name=row[5], cancelled=bool(row[6]),
                   is_error=bool(row[7]))


async def copy_history(store: SessionStore, source_id: str, target_id: str,
                       upto_turn: int) -> None:
    """Give ``target_id`` the messages of ``source_id`` up to the end of ``upto_turn``."""
    columns = ("ord, turn, role, content, tool_calls, tool_call_id, name, cancelled, is_error,"
               " token_estimate, in_context, created_at")

    async def copy(db: aiosqlite.Connection) -> None:
        await db.execute(
            f"INSERT INTO messages (session_id, {columns}) SELECT ?, {columns} FROM messages"
            " WHERE session_id = ? AND ord > 0 AND turn <= ? ORDER BY ord",
            (target_id, source_id, upto_turn))
        await db.execute("UPDATE sessions SET turn_count = ? WHERE id = ?",
                         (upto_turn, target_id))

    await store.write(copy)

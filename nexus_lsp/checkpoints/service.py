"""``revert`` and ``fork`` of protocol v2 §3, on the store, the journal and a workspace.

The session manager calls these with the session known idle (it refuses
``sessionBusy`` and keeps turns from starting meanwhile) and drops its live copy
of a session whose conversation was reverted, so the next turn resumes from the
store without the reverted messages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nexus_lsp.checkpoints.history import (
    SessionFacts,
    copy_history,
    read_facts,
    revert_messages,
)
from nexus_lsp.checkpoints.journal import Journal
from nexus_lsp.checkpoints.revert import FileOutcome, Problem, RevertWorkspace, plan_revert

if TYPE_CHECKING:
    from nexus_lsp.storage import SessionRecord, SessionStore

__all__ = ["RevertResult", "fork_session", "revert_label", "revert_turns"]

log = logging.getLogger(__name__)


def revert_label(turn_id: int) -> str:
    return f"Nexus: revert turn {turn_id}"


@dataclass
class RevertResult:
    files: list[FileOutcome] = field(default_factory=list)
    conflicts: list[Problem] = field(default_factory=list)
    not_restored: list[Problem] = field(default_factory=list)
    messages_reverted: int = 0


async def revert_turns(store: SessionStore, workspace: RevertWorkspace, session_id: str,
                       turn_id: int, *, code: bool, conversation: bool) -> RevertResult:
    """Revert turn ``turn_id`` and every later one of ``session_id``.

    UnknownSession / UnknownTurn before anything is changed. The code goes first: if
    the editor refuses the edit (or a file has unsaved changes an editor without
    applyEdit would lose), the error is raised and the conversation is kept too.
    """
    from nexus_lsp.storage.markdown import md_time
    from nexus_lsp.storage.records import now, to_db_time

    facts = await read_facts(store, session_id)
    facts.check_turn(turn_id)
    journal = Journal(store)
    result = RevertResult()
    if code:
        entries = await journal.entries(session_id, turn_id)
        plan = await plan_revert(workspace, entries)
        if plan.changes:
            await workspace.apply_all(plan.changes, revert_label(turn_id))
        # Refused files stay journaled: a later revert may restore them once readable.
        refused = {p.path for p in plan.not_restored}
        await journal.mark_reverted([
            e.id for e in entries if e.path not in refused and e.new_path not in refused])
        result.files, result.conflicts = plan.files, plan.conflicts
        result.not_restored = plan.not_restored
    at = now()
    if conversation:
        result.messages_reverted = await revert_messages(store, session_id, turn_id,
                                                         to_db_time(at))
    store.note(session_id, _rewind_note(facts, turn_id, result, code, conversation,
                                        md_time(at)))
    log.info("session %s: reverted from turn %d (code=%s, conversation=%s): %d file(s), "
             "%d conflict(s), %d message(s)", session_id, turn_id, code, conversation,
             len(result.files), len(result.conflicts), result.messages_reverted)
    return result


def _rewind_note(facts: SessionFacts, turn_id: int, result: RevertResult, code: bool,
                 conversation: bool, at: str) -> str:
    last = facts.turn_count
    turns = f"turn {turn_id}" if last <= turn_id else f"turns {turn_id}–{last}"
    lines = [f"\n## Rewind: {turns} reverted ({at})\n"]
    if conversation:
        lines.append(f"- conversation: {result.messages_reverted} message(s) reverted; the "
                     f"next turn continues from the end of turn {turn_id - 1}")
    if code:
        changed = [f"{f.path} ({f.action})" for f in result.files if f.action != "unchanged"]
        lines.append("- code: " + (", ".join(changed) if changed else "no file changed"))
        lines += [f"- conflict: {c.path}: {c.reason}" for c in result.conflicts]
        lines += [f"- not restored: {c.path}: {c.reason}" for c in result.not_restored]
    return "\n".join(lines) + "\n"


async def fork_session(store: SessionStore, session_id: str, turn_id: int | None,
                       new_id: str, settings: dict[str, object]) -> SessionRecord:
    """A new session with ``session_id``'s history up to the end of ``turn_id``."""
    from nexus_lsp.storage.markdown import md_time

    facts = await read_facts(store, session_id)
    upto = facts.turn_count if turn_id is None else turn_id
    if turn_id is not None:
        facts.check_turn(turn_id)
        if turn_id not in facts.live_turns:
            raise_unknown(facts, turn_id)
    title = facts.title if facts.title.endswith("(fork)") else f"{facts.title} (fork)"
    record = await store.create_session(new_id, title=title, model=facts.model,
                                        system_prompt=facts.system_prompt,
                                        settings=settings, parent_id=session_id)
    await copy_history(store, session_id, new_id, upto)
    store.note(new_id, f"\n## Forked from session {session_id} at the end of turn {upto} "
                       f"({md_time(record.created_at)})\n")
    return record


def raise_unknown(facts: SessionFacts, turn_id: int) -> None:
    from nexus_lsp.errors import UnknownTurn

    raise UnknownTurn(facts.session_id, turn_id, "its messages were reverted")

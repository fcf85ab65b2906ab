"""Checkpoints (protocol v2 §3): the journal of every change, revert and fork.

In the core: no protocol here. ``journal.py`` records each change a tool makes
before it is applied; ``revert.py`` plans the changes that undo turns (three-way,
``merge.py``); ``history.py`` reverts and copies conversations; ``service.py`` puts
them together for the session manager.
"""

from __future__ import annotations

from nexus_lsp.checkpoints.journal import Journal, JournaledWorkspace
from nexus_lsp.checkpoints.revert import FileOutcome, Problem
from nexus_lsp.checkpoints.service import RevertResult, fork_session, revert_label, revert_turns

__all__ = [
    "FileOutcome",
    "Journal",
    "JournaledWorkspace",
    "Problem",
    "RevertResult",
    "fork_session",
    "revert_label",
    "revert_turns",
]

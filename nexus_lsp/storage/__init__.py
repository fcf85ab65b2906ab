"""The ``.nexus`` store: sessions in SQLite, human-readable transcripts beside them.

``SessionStore`` (``store.py``) is the entry point; see docs/architecture.md for
the contract. Layout: ``schema.sql``/``schema.py`` (versions, migrations),
``db.py`` (the one connection), ``recorder.py`` (events → rows), ``sql.py``,
``repair.py`` (closing interrupted turns), ``transcript.py``/``markdown.py``
(``context.md``, ``verbose.md``, ``raw.jsonl``), ``redact.py`` (no secrets on disk).
"""

from nexus_lsp.storage.records import LoadedSession, SessionRecord, SessionStatus
from nexus_lsp.storage.store import SessionStore

__all__ = ["LoadedSession", "SessionRecord", "SessionStatus", "SessionStore"]

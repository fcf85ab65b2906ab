"""Which environment variables hold API keys: one list for the whole process.

A provider reads its key from the variable ``provider.apiKeyEnv`` names, and that
name can be anything (``NEXUS_LLM_CREDENTIAL``). Every place that keeps text, the
store's files and rows as well as the process's log handlers, must treat the value
of such a variable as a secret, so the name is registered here once (by the session
manager when settings arrive or change, and by ``create_provider`` when it reads the
key) and every :class:`~nexus_lsp.storage.redact.Redactor` reads this list.

The list only grows: a key configured earlier may still be in a running turn's
traffic, and redacting one value too many costs nothing. It is process-wide because
the environment is.
"""

from __future__ import annotations

import threading

__all__ = ["add_key_env", "key_envs"]

_lock = threading.Lock()
_names: frozenset[str] = frozenset()


def add_key_env(name: str | None) -> None:
    """Treat the value of environment variable ``name`` as a secret from now on."""
    global _names
    name = (name or "").strip()
    if not name or name in _names:
        return
    with _lock:
        _names = _names | {name}


def key_envs() -> frozenset[str]:
    """The names registered so far (a new object whenever one is added)."""
    return _names

"""API keys: which values are secrets, and keeping them out of log records.

A provider reads its key from the variable ``provider.apiKeyEnv`` names, and that
name can be anything (``NEXUS_LLM_CREDENTIAL``). Every place that keeps text, the
store's files and rows as well as the process's log handlers, must treat the value
of such a variable as a secret, so the name is registered here (by the session
manager when settings arrive or change, and by every provider) and every
:class:`SecretScan` reads the list. Values of variables named ``*_API_KEY``,
``*_KEY`` or ``*_TOKEN`` are secrets too.

The list only grows: a key configured earlier may still be in a running turn's
traffic, and redacting one value too many costs nothing. It is process-wide because
the environment is. This module is light (no storage, no pydantic): the server's
log handlers use it before ``initialize`` is answered.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping

__all__ = [
    "REDACTED",
    "RedactingLogFilter",
    "SecretScan",
    "add_key_env",
    "add_key_env_of",
    "key_envs",
    "scrub",
]

REDACTED = "[REDACTED]"
MIN_SECRET_CHARS = 8
RESCAN_S = 1.0
SECRET_ENV_SUFFIXES = ("_API_KEY", "_KEY", "_TOKEN")
AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{4,}")

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


def add_key_env_of(options: object) -> None:
    """Register ``provider.apiKeyEnv`` of a raw settings object (maybe wrapped in
    ``{"nexus": ...}``) before it is validated: what the client sends next may quote
    the key, and the debug log shows it."""
    if isinstance(options, dict) and set(options) == {"nexus"}:
        options = options["nexus"]
    provider = options.get("provider") if isinstance(options, dict) else None
    name = provider.get("apiKeyEnv") if isinstance(provider, dict) else None
    if isinstance(name, str):
        add_key_env(name)


def key_envs() -> frozenset[str]:
    """The names registered so far (a new object whenever one is added)."""
    return _names


class SecretScan:
    """The secret values of the environment, longest first. ``environ`` is for tests.

    ``os.environ`` is scanned again when the last scan is older than
    :data:`RESCAN_S` (reading it costs far more than a redaction), so a key exported
    after start-up is covered within a second, and at once when a key variable is
    registered. Values shorter than :data:`MIN_SECRET_CHARS` are ignored:
    redacting ``"1"`` everywhere would wreck the logs and protect nothing.
    """

    def __init__(self, environ: Mapping[str, str] | None = None,
                 key_names: Iterable[str] = ()) -> None:
        self._environ = environ
        self._key_names = frozenset(key_names)
        self._secrets: list[str] = []
        self._scanned = -RESCAN_S  # monotonic time of the last scan of os.environ
        self._scanned_names: frozenset[str] | None = None  # key_envs() at that scan

    def secrets(self) -> list[str]:
        """The same list object until the next scan (callers may cache on it)."""
        names = key_envs()
        if self._environ is not None:
            return _scan(self._environ, self._key_names | names)
        # A variable registered since the last scan is read now, not a second later:
        # the first prompt after a settings change may already hold its value.
        if names is not self._scanned_names or time.monotonic() - self._scanned >= RESCAN_S:
            self._secrets = _scan(os.environ, self._key_names | names)
            self._scanned = time.monotonic()
            self._scanned_names = names
        return self._secrets


def _scan(environ: Mapping[str, str], key_names: frozenset[str]) -> list[str]:
    upper = {name.upper() for name in key_names}  # Windows ignores the case
    values = {
        value
        for name, value in environ.items()
        if (name.upper().endswith(SECRET_ENV_SUFFIXES) or name.upper() in upper)
        and len(value) >= MIN_SECRET_CHARS
    }
    # Longest first, so a key containing another is replaced whole.
    return sorted(values, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every secret and ``Bearer``/``Basic`` credential replaced."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    lower = text.lower()  # the substitution costs far more than this test
    if "bearer" not in lower and "basic" not in lower:
        return text
    return AUTH_SCHEME.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


class RedactingLogFilter(logging.Filter):
    """A handler filter: no log record leaves the process with a secret in it.

    Records of every logger reach the handlers (pygls logs each JSON-RPC message,
    prompt and answer included; a tool's traceback may quote its arguments), so the
    scrub is at the handler, not at each call. The record's message, traceback and
    stack are rendered once and scrubbed; the record then carries the scrubbed text
    instead of ``msg % args``.
    """

    def __init__(self, scan: SecretScan | None = None) -> None:
        super().__init__()
        self._scan = scan or SecretScan()
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            if getattr(record, "_nexus_redacted", False):
                return True  # a record goes to several handlers: scrub it once
            secrets = self._scan.secrets()
            message = record.getMessage()
            scrubbed = scrub(message, secrets)
            if scrubbed != message:
                record.msg, record.args = scrubbed, None
            if record.exc_info and not record.exc_text:
                record.exc_text = self._formatter.formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = scrub(record.exc_text, secrets)
            if record.stack_info:
                record.stack_info = scrub(record.stack_info, secrets)
            setattr(record, "_nexus_redacted", True)  # noqa: B010 (not a LogRecord field)
        except Exception:  # a record that cannot render: the handler reports it
            pass
        return True

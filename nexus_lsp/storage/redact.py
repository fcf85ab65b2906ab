"""Keeping secrets out of ``.nexus``: every string the store writes passes here.

Three rules, applied to rows and to all three log streams alike:

* a value under a key that names a credential (``Authorization``, ``x-api-key``,
  ``api_key``, ...) is replaced whole;
* any occurrence of the value of an environment variable whose name ends in
  ``_API_KEY``, ``_KEY`` or ``_TOKEN``, or that is configured as a key variable
  (``provider.apiKeyEnv``, whatever its name: see :mod:`nexus_lsp.keys`), is
  replaced, wherever it appears (a header, a URL, a prompt the user pasted it into);
* ``Bearer``/``Basic`` credentials are replaced.

The environment is scanned again when the last scan is older than
:data:`RESCAN_S` (reading ``os.environ`` costs far more than the redaction itself),
so a key exported after start-up is covered within a second; a newly configured key
variable is read at the next use. Values shorter than
:data:`MIN_SECRET_CHARS` are ignored: redacting ``"1"`` everywhere would wreck the
logs and protect nothing.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

from nexus_lsp.keys import key_envs
from nexus_lsp.storage.records import clean_text

__all__ = ["REDACTED", "RedactingLogFilter", "Redactor"]

REDACTED = "[REDACTED]"
MIN_SECRET_CHARS = 8
RESCAN_S = 1.0
SECRET_ENV_SUFFIXES = ("_API_KEY", "_KEY", "_TOKEN")
SECRET_KEYS = frozenset(
    {
        "authorization",
        "proxy_authorization",
        "x_api_key",
        "api_key",
        "apikey",
        "x_goog_api_key",
        "api_token",
        "access_token",
        "refresh_token",
        "client_secret",
        "password",
        "secret",
    }
)
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{4,}")
# Words every SECRET_KEYS entry contains: a line without any needs no key search.
_SECRET_KEY_WORDS = ("authorization", "key", "token", "secret", "password")
# A credential key in serialized JSON: an object key, or the name of a [name, value] pair.
_SECRET_KEY_JSON = re.compile(
    '"(?:' + "|".join(key.replace("_", "[-_]") for key in sorted(SECRET_KEYS)) + ')"\\s*[:,]',
    re.IGNORECASE,
)


def _is_secret_key(key: str) -> bool:
    return key.lower().replace("-", "_") in SECRET_KEYS


def _only_plain_text(line: str) -> bool:
    """No credential key and no ``Bearer``/``Basic`` word in a serialized JSON line."""
    lower = line.lower()
    if "bearer" in lower or "basic" in lower:
        return False
    return not (any(word in lower for word in _SECRET_KEY_WORDS)
                and _SECRET_KEY_JSON.search(line))


class Redactor:
    """Scrubs secrets from text and JSON-like values.

    ``environ`` (for tests) replaces ``os.environ``; ``key_envs`` names variables
    whose values are secrets whatever their names, besides those of :func:`key_envs`.
    """

    def __init__(self, environ: Mapping[str, str] | None = None,
                 key_envs: Iterable[str] = ()) -> None:
        self._environ = environ
        self._key_envs = frozenset(key_envs)
        self._secrets: list[str] = []
        self._scanned = -RESCAN_S  # monotonic time of the last scan of os.environ
        self._scanned_names: frozenset[str] | None = None  # key_envs() at that scan
        self._plain_for: list[str] | None = None  # the secrets _plain_secrets is about
        self._plain_secrets = True

    def secrets(self) -> list[str]:
        names = key_envs()
        if self._environ is not None:
            return self._scan(self._environ, self._key_envs | names)
        # A variable configured since the last scan is read now, not a second later:
        # the first prompt after a settings change may already hold its value.
        if names is not self._scanned_names or time.monotonic() - self._scanned >= RESCAN_S:
            self._secrets = self._scan(os.environ, self._key_envs | names)
            self._scanned = time.monotonic()
            self._scanned_names = names
        return self._secrets

    @staticmethod
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

    def text(self, text: str, secrets: list[str] | None = None) -> str:
        """``text`` with secrets replaced and made valid Unicode."""
        text = clean_text(text)
        for secret in self.secrets() if secrets is None else secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        lower = text.lower()  # the substitution costs far more than this test
        if "bearer" not in lower and "basic" not in lower:
            return text
        return _AUTH_SCHEME.sub(lambda m: f"{m.group(1)} {REDACTED}", text)

    def value(self, value: Any, secrets: list[str] | None = None) -> Any:
        """A JSON-ready copy of ``value`` with secrets replaced (unknown types via str)."""
        secrets = self.secrets() if secrets is None else secrets
        if isinstance(value, str):
            return self.text(value, secrets)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, bytes | bytearray):
            return self.text(bytes(value).decode("utf-8", "replace"), secrets)
        if isinstance(value, Mapping):
            return {
                self.text(str(k), secrets): REDACTED
                if isinstance(k, str) and _is_secret_key(k) and v is not None
                else self.value(v, secrets)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple | set | frozenset):
            items = list(value)
            # Header lists as pairs: [("Authorization", "Bearer ..."), ...]
            if len(items) == 2 and isinstance(items[0], str) and _is_secret_key(items[0]):
                return [self.text(items[0], secrets), REDACTED]
            return [self.value(item, secrets) for item in items]
        return self.text(str(value), secrets)

    def json_line(self, record: Mapping[str, Any]) -> str:
        """One JSON line (no newline) of ``record``, redacted.

        The common case, plain JSON data with no credential keys and no
        ``Bearer``/``Basic`` words, is serialized first and scrubbed once as text
        (the line of every streamed chunk goes to ``raw.jsonl``, so walking each
        value was most of the cost of logging a long answer). Anything else takes the
        walk of :meth:`value`; for JSON data with string keys both give the same line.
        """
        secrets = self.secrets()
        try:
            line = json.dumps(record, ensure_ascii=False)
        except (TypeError, ValueError):  # types JSON does not know: value() says how
            line = None
        if line is not None and self._plain(secrets) and _only_plain_text(line):
            line = clean_text(line)
            for secret in secrets:
                if secret in line:
                    line = line.replace(secret, REDACTED)
            return line
        return clean_text(json.dumps(self.value(record, secrets), ensure_ascii=False))

    def _plain(self, secrets: list[str]) -> bool:
        """Whether every secret reads the same inside a JSON string (no escapes)."""
        if self._plain_for is not secrets:
            self._plain_for = secrets
            self._plain_secrets = all(json.dumps(s, ensure_ascii=False)[1:-1] == s
                                      for s in secrets)
        return self._plain_secrets


class RedactingLogFilter(logging.Filter):
    """A handler filter: no log record leaves the process with a secret in it.

    Records of every logger reach the handlers (pygls logs each JSON-RPC message at
    DEBUG, prompt and answer included; a tool's traceback may quote its arguments),
    so the scrub is at the handler, not at each call. The record's message, its
    traceback and its stack are rendered once and redacted; the record then carries
    the redacted text instead of ``msg % args``.
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self._redactor = redactor or Redactor()
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            if getattr(record, "_nexus_redacted", False):
                return True  # a record goes to several handlers: redact it once
            message = record.getMessage()
            redacted = self._redactor.text(message)
            if redacted != message:
                record.msg, record.args = redacted, None
            if record.exc_info and not record.exc_text:
                record.exc_text = self._formatter.formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self._redactor.text(record.exc_text)
            if record.stack_info:
                record.stack_info = self._redactor.text(record.stack_info)
            setattr(record, "_nexus_redacted", True)  # noqa: B010 (not a LogRecord field)
        except Exception:  # a record that cannot render: let the handler report it
            pass
        return True

"""Keeping secrets out of ``.nexus``: every string the store writes passes here.

Three rules, applied to rows and to all three log streams alike:

* a value under a key that names a credential (``Authorization``, ``x-api-key``,
  ``api_key``, ...) is replaced whole;
* any occurrence of the value of an environment variable whose name ends in
  ``_API_KEY``, ``_KEY`` or ``_TOKEN`` is replaced, wherever it appears (a header,
  a URL, a prompt the user pasted it into);
* ``Bearer``/``Basic`` credentials are replaced.

The environment is scanned again when the last scan is older than
:data:`RESCAN_S` (reading ``os.environ`` costs far more than the redaction itself),
so a key exported after start-up is covered within a second. Values shorter than
:data:`MIN_SECRET_CHARS` are ignored: redacting ``"1"`` everywhere would wreck the
logs and protect nothing.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from typing import Any

from nexus_lsp.storage.records import clean_text

__all__ = ["REDACTED", "Redactor"]

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


def _is_secret_key(key: str) -> bool:
    return key.lower().replace("-", "_") in SECRET_KEYS


class Redactor:
    """Scrubs secrets from text and JSON-like values. ``environ`` is for tests."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ
        self._secrets: list[str] = []
        self._scanned = -RESCAN_S  # monotonic time of the last scan of os.environ

    def secrets(self) -> list[str]:
        if self._environ is not None:
            return self._scan(self._environ)
        if time.monotonic() - self._scanned >= RESCAN_S:
            self._secrets = self._scan(os.environ)
            self._scanned = time.monotonic()
        return self._secrets

    @staticmethod
    def _scan(environ: Mapping[str, str]) -> list[str]:
        values = {
            value
            for name, value in environ.items()
            if name.upper().endswith(SECRET_ENV_SUFFIXES) and len(value) >= MIN_SECRET_CHARS
        }
        # Longest first, so a key containing another is replaced whole.
        return sorted(values, key=len, reverse=True)

    def text(self, text: str, secrets: list[str] | None = None) -> str:
        """``text`` with secrets replaced and made valid Unicode."""
        text = clean_text(text)
        for secret in self.secrets() if secrets is None else secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
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
        """One JSON line (no newline) of ``record``, redacted."""
        return clean_text(json.dumps(self.value(record), ensure_ascii=False))

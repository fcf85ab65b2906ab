"""Keeping secrets out of ``.nexus``: every string the store writes passes here.

Three rules, applied to rows and to all three log streams alike:

* a value under a key that names a credential (``Authorization``, ``x-api-key``,
  ``api_key``, ...) is replaced whole;
* any occurrence of the value of an environment variable whose name ends in
  ``_API_KEY``, ``_KEY`` or ``_TOKEN``, or that is configured as a key variable
  (``provider.apiKeyEnv``, whatever its name: see :mod:`nexus_lsp.keys`), is
  replaced, wherever it appears (a header, a URL, a prompt the user pasted it into);
* ``Bearer``/``Basic`` credentials are replaced.

Which values are secrets, and how often the environment is read, is
:class:`nexus_lsp.keys.SecretScan`'s (shared with the server's log handlers).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from nexus_lsp.keys import REDACTED, RedactingLogFilter, SecretScan, scrub
from nexus_lsp.storage.records import clean_text

__all__ = ["REDACTED", "RedactingLogFilter", "Redactor"]  # the filter: nexus_lsp.keys

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
    whose values are secrets whatever their names, besides :func:`nexus_lsp.keys.key_envs`.
    """

    def __init__(self, environ: Mapping[str, str] | None = None,
                 key_envs: Iterable[str] = ()) -> None:
        self._scan = SecretScan(environ, key_envs)
        self._plain_for: list[str] | None = None  # the secrets _plain_secrets is about
        self._plain_secrets = True

    def secrets(self) -> list[str]:
        return self._scan.secrets()

    def text(self, text: str, secrets: list[str] | None = None) -> str:
        """``text`` with secrets replaced and made valid Unicode."""
        return scrub(clean_text(text), self.secrets() if secrets is None else secrets)

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
            return self._scrubbed(line, secrets)
        return clean_text(json.dumps(self.value(record, secrets), ensure_ascii=False))

    def json_text(self, line: str, record: Mapping[str, Any]) -> str:
        """:meth:`json_line` of ``record`` when ``line`` is already its JSON text
        (``json.dumps(record, ensure_ascii=False)``): the same line, redacted."""
        secrets = self.secrets()
        if self._plain(secrets) and _only_plain_text(line):
            return self._scrubbed(line, secrets)
        return clean_text(json.dumps(self.value(record, secrets), ensure_ascii=False))

    @staticmethod
    def _scrubbed(line: str, secrets: list[str]) -> str:
        line = clean_text(line)
        for secret in secrets:
            if secret in line:
                line = line.replace(secret, REDACTED)
        return line

    def _plain(self, secrets: list[str]) -> bool:
        """Whether every secret reads the same inside a JSON string (no escapes)."""
        if self._plain_for is not secrets:
            self._plain_for = secrets
            self._plain_secrets = all(json.dumps(s, ensure_ascii=False)[1:-1] == s
                                      for s in secrets)
        return self._plain_secrets


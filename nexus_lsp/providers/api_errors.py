"""Error texts of model APIs: the API's own message, errors reported mid-stream, and
the key taken out of them (an API may quote the key it refused).

Every API wraps its message differently (OpenAI and Anthropic nest it under
``error.message``, Ollama sends ``error`` as a string, vLLM and FastAPI servers use
``message`` or ``detail``); the user should read the API's words, e.g. "model 'x'
not found", not "HTTP 404".
"""

from __future__ import annotations

import json

from nexus_lsp.errors import (
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderError,
    ProviderRateLimitedError,
    ProviderUnavailableError,
)

__all__ = ["EXCERPT_CHARS", "api_error", "error_message", "scrub_error"]

EXCERPT_CHARS = 300
REDACTED = "[redacted]"  # what HTTP error bodies have always shown in place of the key


def error_message(text: str) -> str:
    """The API's own error message from an error body (OpenAI, Anthropic, Ollama, vLLM)."""
    try:
        body = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:EXCERPT_CHARS]
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, str):
            return error[:EXCERPT_CHARS]
        if isinstance(error, dict):
            for key in ("message", "detail", "msg"):
                if isinstance(error.get(key), str):
                    return str(error[key])[:EXCERPT_CHARS]
        if isinstance(body.get("detail"), str):
            return str(body["detail"])[:EXCERPT_CHARS]
    return " ".join(text.split())[:EXCERPT_CHARS]


def api_error(kind: str, message: str, api_name: str) -> ProviderError:
    """An error the API reported inside a stream, by the API's error type."""
    kind = kind or "api_error"
    text = f"the {api_name} reported an error ({kind}): {message}"
    if "auth" in kind or "permission" in kind:
        return ProviderAuthError(text)
    if "rate_limit" in kind:
        return ProviderRateLimitedError(text, status=None)
    if "invalid_request" in kind or "not_found" in kind or "too_large" in kind:
        return ProviderBadRequestError(text)
    return ProviderUnavailableError(text)


def scrub_error(error: ProviderError, key: str | None) -> None:
    """Take ``key`` out of ``error`` in place: its message, body excerpt and causes.

    A cause whose text holds the key is cut from the chain (a logged traceback
    would print it); the error's own text says what happened.
    """
    if not key:
        return
    error.args = tuple(a.replace(key, REDACTED) if isinstance(a, str) else a
                       for a in error.args)
    error.body_excerpt = error.body_excerpt.replace(key, REDACTED)
    cause, depth = error.__cause__ or error.__context__, 0
    while cause is not None and depth < 10:
        if key in repr(cause) + str(cause):
            error.__cause__ = None
            error.__suppress_context__ = True
            return
        cause, depth = cause.__cause__ or cause.__context__, depth + 1

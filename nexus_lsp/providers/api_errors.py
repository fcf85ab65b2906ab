"""Error texts of model APIs: the API's own message, and errors reported mid-stream.

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

__all__ = ["EXCERPT_CHARS", "api_error", "error_message"]

EXCERPT_CHARS = 300


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

"""A request body as the bytes sent, also when its text is not valid Unicode."""

from __future__ import annotations

import json
import logging
from typing import Any

from nexus_lsp.core.text import valid_unicode_json
from nexus_lsp.errors import ProviderBadRequestError

__all__ = ["encode_body"]

log = logging.getLogger(__name__)


def encode_body(body: Any, api_name: str) -> bytes:
    """``body`` as JSON in UTF-8, the way httpx encodes ``json=`` (compact, no NaN).

    A lone surrogate (from a file name or a client's JSON) cannot be encoded; left in
    the history it would fail every later request of the session, so it is sent as
    U+FFFD instead. A body that is not JSON at all is a bad request, not a crash.
    """
    try:
        return _dumps(body)
    except UnicodeEncodeError:
        log.warning("%s: the request holds invalid Unicode (lone surrogates); "
                    "sent with U+FFFD in their place", api_name)
        return _dumps(valid_unicode_json(body))
    except (TypeError, ValueError) as exc:
        detail = f"cannot encode the request to the {api_name}: {exc}"
        raise ProviderBadRequestError(detail) from exc


def _dumps(body: Any) -> bytes:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")

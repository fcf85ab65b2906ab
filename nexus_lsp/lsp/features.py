"""``initializationOptions.clientFeatures`` (protocol v2): what a client declared it does.

Optional client features are used only when declared: ``usage`` (``usage`` updates),
``diagnostics`` (``nexus/editor/diagnostics`` requests, the ``get_diagnostics`` tool,
diagnostics after edits and ``diagnostics`` attachments). ``clientFeatures`` sits
beside the settings in ``initializationOptions`` and is not a setting itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nexus_lsp import wire

__all__ = ["client_features", "strip_client_features"]


def client_features(options: Any) -> dict[str, bool]:
    """``initializationOptions.clientFeatures`` (booleans only; anything else is off)."""
    if not isinstance(options, Mapping):
        return {}
    features = options.get(wire.CLIENT_FEATURES)
    if not isinstance(features, Mapping):
        return {}
    return {str(k): v for k, v in features.items() if isinstance(v, bool)}


def strip_client_features(options: Any) -> Any:
    """The options without ``clientFeatures``, which is not a setting."""
    if isinstance(options, Mapping) and wire.CLIENT_FEATURES in options:
        return {k: v for k, v in options.items() if k != wire.CLIENT_FEATURES}
    return options

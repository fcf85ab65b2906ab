"""Settings from files and the command line, for doors whose protocol carries none.

ACP has no settings channel and ``nexus-lsp ask`` runs headless, so both read the
protocol §7 settings from these layers (protocol-v2 §6), later wins:

1. ``--settings JSON`` / ``--settings-file PATH`` (the command line),
2. the user file ``$XDG_CONFIG_HOME/nexus-lsp/settings.json`` (``~/.config`` when
   the variable is unset),
3. the workspace's ``.nexus/settings.json``.

A missing file is no layer; an unreadable one, or one that is not a JSON object, is
a problem named with its path (the layer is skipped, the others still apply). The
fields are validated by :class:`~nexus_lsp.host.settings.SettingsLayers`, layer by
layer, so an invalid field is named with the file it came from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexus_lsp import wire

__all__ = [
    "SettingsLayer",
    "parse_settings_text",
    "read_settings_file",
    "user_settings_path",
    "workspace_settings_path",
]

SETTINGS_FILE = "settings.json"
USER_DIR = "nexus-lsp"


@dataclass(frozen=True, slots=True)
class SettingsLayer:
    """One source of settings: the raw object and where it came from (for messages)."""

    raw: dict[str, Any]
    where: str


def user_settings_path(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
    return Path(base).expanduser() / USER_DIR / SETTINGS_FILE


def workspace_settings_path(root: Path) -> Path:
    return root / wire.NEXUS_DIR / SETTINGS_FILE


def read_settings_file(path: Path) -> tuple[SettingsLayer | None, str | None]:
    """The file's settings object as a layer, or the problem; ``(None, None)`` if absent."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"{path}: cannot read the settings file: {exc}"
    return parse_settings_text(text, str(path))


def parse_settings_text(text: str, where: str) -> tuple[SettingsLayer | None, str | None]:
    """A JSON settings object (``--settings``, a file's text) as a layer, or the problem."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"{where}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
    if not isinstance(value, dict):
        return None, f"{where}: expected a JSON object, got {type(value).__name__}"
    return SettingsLayer(value, where), None

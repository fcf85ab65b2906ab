"""How the runtime tells the user something, whatever the front door.

The LSP door shows it with ``window/showMessage``; a headless door logs it.
"""

from __future__ import annotations

from typing import Literal, Protocol

__all__ = ["MessageLevel", "Notifier"]

MessageLevel = Literal["error", "warning", "info"]


class Notifier(Protocol):
    def show_message(self, level: MessageLevel, text: str) -> None:
        """Show ``text`` to the user (never raises)."""

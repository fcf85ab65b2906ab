"""Where the settings come from (protocol §7), and telling the user what is wrong.

Layers, each over the one before: the defaults, the initial settings (LSP's
``initializationOptions``; settings files for headless doors), then what the client
says later (LSP's ``workspace/configuration`` answers and ``didChangeConfiguration``
pushes). Invalid fields keep their previous value and are named in one warning to
the user. A refresh under way is tracked, so a turn started right after a settings
change waits for it (:meth:`SettingsLayers.settled`) and runs with the new settings.

Both ``{...settings}`` and ``{"nexus": {...settings}}`` are accepted as a payload.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from nexus_lsp import wire
from nexus_lsp.config import Settings, parse_settings
from nexus_lsp.host.notify import Notifier
from nexus_lsp.keys import add_key_env

__all__ = ["SettingsLayers", "unwrap_section"]

log = logging.getLogger(__name__)


def unwrap_section(raw: Any) -> Any:
    """The ``nexus`` section of a payload that may or may not be wrapped in it."""
    if isinstance(raw, dict) and set(raw) == {wire.SETTINGS_SECTION}:
        return raw[wire.SETTINGS_SECTION]
    return raw


class SettingsLayers:
    def __init__(
        self, notifier: Notifier, on_change: Callable[[Settings], None] | None = None
    ) -> None:
        self._notifier = notifier
        self.on_change = on_change
        self._initial = Settings()
        self.settings = self._initial
        self._refreshing: set[asyncio.Future[Settings]] = set()

    def load_initial(self, raw: Any, where: str) -> Settings:
        """Apply the initial layer; returns the settings in force."""
        self._initial = self._parse(unwrap_section(raw), Settings(), where)
        self._set(self._initial)
        return self.settings

    def load_layers(self, layers: Iterable[tuple[Any, str]]) -> Settings:
        """Apply several initial layers ``(raw, where)``, each over the one before
        (settings files: an invalid field is named with its file)."""
        settings = Settings()
        for raw, where in layers:
            settings = self._parse(unwrap_section(raw), settings, where)
        self._initial = settings
        self._set(settings)
        return self.settings

    def apply_client(self, raw: Any, where: str) -> Settings:
        """Apply what the client says now, over the initial layer."""
        self._set(self._parse(unwrap_section(raw), self._initial, where))
        return self.settings

    def track(self, refresh: Awaitable[Settings]) -> asyncio.Future[Settings]:
        """Run ``refresh``; until it is done, :meth:`settled` waits for it."""
        future = asyncio.ensure_future(refresh)
        self._refreshing.add(future)
        future.add_done_callback(self._refreshing.discard)
        return future

    async def settled(self) -> Settings:
        """The settings once every refresh under way has finished."""
        if self._refreshing:
            await asyncio.gather(*self._refreshing, return_exceptions=True)
        return self.settings

    def _parse(self, raw: Any, base: Settings, where: str) -> Settings:
        settings, problems = parse_settings(raw, base)
        if problems:
            text = "; ".join(problems)
            log.warning("invalid settings from %s: %s", where, text)
            self._notifier.show_message(
                "warning", f"Nexus: invalid settings ignored, defaults kept: {text}"
            )
        return settings

    def _set(self, settings: Settings) -> None:
        # The key variable is a secret from the moment it is named, in every log.
        add_key_env(settings.provider.api_key_env)
        changed = settings != self.settings
        self.settings = settings
        if changed and self.on_change is not None:
            self.on_change(settings)

"""Where the settings come from (protocol §7), and telling the user what is wrong.

Layers, each over the one before: the defaults, ``initializationOptions``, then the
client's ``workspace/configuration`` section ``nexus`` (asked after ``initialized``
and again on every ``workspace/didChangeConfiguration``). A client that cannot be
asked pushes its settings in ``didChangeConfiguration`` instead. Invalid fields keep
their previous value and are named in one ``window/showMessage`` warning.

Both ``{...settings}`` and ``{"nexus": {...settings}}`` are accepted as a payload.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from nexus_lsp import wire
from nexus_lsp.config import Settings, parse_settings
from nexus_lsp.server.channel import client_supports

__all__ = ["SettingsSource", "unwrap_section"]

log = logging.getLogger(__name__)

CONFIGURATION_TIMEOUT = 10.0


def unwrap_section(raw: Any) -> Any:
    """The ``nexus`` section of a payload that may or may not be wrapped in it."""
    if isinstance(raw, dict) and set(raw) == {wire.SETTINGS_SECTION}:
        return raw[wire.SETTINGS_SECTION]
    return raw


class SettingsSource:
    def __init__(
        self, server: LanguageServer, on_change: Callable[[Settings], None] | None = None
    ) -> None:
        self._server = server
        self.on_change = on_change
        self._initial = Settings()
        self.settings = self._initial
        self._refreshing: set[asyncio.Future[Settings]] = set()

    def load_initial(self, options: Any) -> Settings:
        """Apply ``initializationOptions``; returns the settings in force."""
        self._initial = self._parse(unwrap_section(options), Settings(), "initializationOptions")
        self._set(self._initial)
        return self.settings

    async def pull(self) -> Settings:
        """Ask the client for section ``nexus`` (when it can be asked) and apply it."""
        if not client_supports(self._server, "workspace.configuration"):
            return self.settings
        params = types.ConfigurationParams(
            items=[types.ConfigurationItem(section=wire.SETTINGS_SECTION)]
        )
        try:
            answer = await asyncio.wait_for(
                self._server.workspace_configuration_async(params), CONFIGURATION_TIMEOUT
            )
        except Exception as exc:  # a client that fails here keeps the earlier settings
            log.warning("workspace/configuration failed: %s", exc or type(exc).__name__)
            return self.settings
        # lsprotocol structures the answer as a sequence (a tuple), one item per section
        raw = answer[0] if isinstance(answer, list | tuple) and answer else None
        self._set(self._parse(unwrap_section(raw), self._initial, "workspace/configuration"))
        return self.settings

    def changed(self, pushed: Any) -> asyncio.Future[Settings]:
        """``workspace/didChangeConfiguration``: pull again, or take what was pushed.

        Returns the refresh; until it is done, :meth:`settled` waits for it, so a
        turn sent right after a settings change runs with the new settings.
        """
        refresh = asyncio.ensure_future(self._changed(pushed))
        self._refreshing.add(refresh)
        refresh.add_done_callback(self._refreshing.discard)
        return refresh

    async def settled(self) -> Settings:
        """The settings once every refresh under way has finished."""
        if self._refreshing:
            await asyncio.gather(*self._refreshing, return_exceptions=True)
        return self.settings

    async def _changed(self, pushed: Any) -> Settings:
        if client_supports(self._server, "workspace.configuration"):
            return await self.pull()
        if isinstance(pushed, dict) and pushed:
            section = pushed.get(wire.SETTINGS_SECTION, pushed)
            self._set(self._parse(section, self._initial, "didChangeConfiguration"))
        return self.settings

    def _parse(self, raw: Any, base: Settings, where: str) -> Settings:
        settings, problems = parse_settings(raw, base)
        if problems:
            text = "; ".join(problems)
            log.warning("invalid settings from %s: %s", where, text)
            self._server.window_show_message(
                types.ShowMessageParams(
                    type=types.MessageType.Warning,
                    message=f"Nexus: invalid settings ignored, defaults kept: {text}",
                )
            )
        return settings

    def _set(self, settings: Settings) -> None:
        changed = settings != self.settings
        self.settings = settings
        if changed and self.on_change is not None:
            self.on_change(settings)

"""Settings over LSP: ``initializationOptions``, ``workspace/configuration``, pushes.

The layering and validation are the host's (:class:`~nexus_lsp.host.settings.SettingsLayers`);
this module only knows where an LSP client keeps them: the initial layer comes from
``initializationOptions``, then the client is asked for section ``nexus`` after
``initialized`` and again on every ``workspace/didChangeConfiguration``. A client that
cannot be asked pushes its settings in ``didChangeConfiguration`` instead.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from nexus_lsp import wire
from nexus_lsp.config import Settings
from nexus_lsp.host.settings import SettingsLayers
from nexus_lsp.lsp.channel import LspNotifier, client_supports, strip_client_features

__all__ = ["LspSettingsSource"]

log = logging.getLogger(__name__)

CONFIGURATION_TIMEOUT = 10.0


class LspSettingsSource:
    def __init__(self, server: LanguageServer, layers: SettingsLayers) -> None:
        self._server = server
        self.layers = layers
        self.pulled = False  # asked the client at least once

    @classmethod
    def create(
        cls, server: LanguageServer, params: types.InitializeParams | None
    ) -> LspSettingsSource:
        """A source with ``initializationOptions`` applied (invalid fields shown)."""
        source = cls(server, SettingsLayers(LspNotifier(server)))
        options = params.initialization_options if params else None
        source.load_initial(strip_client_features(options))  # clientFeatures: not settings
        return source

    def load_initial(self, options: Any) -> Settings:
        """Apply ``initializationOptions``; returns the settings in force."""
        return self.layers.load_initial(options, "initializationOptions")

    async def pull(self) -> Settings:
        """Ask the client for section ``nexus`` (when it can be asked) and apply it."""
        self.pulled = True
        if not client_supports(self._server, "workspace.configuration"):
            return self.layers.settings
        params = types.ConfigurationParams(
            items=[types.ConfigurationItem(section=wire.SETTINGS_SECTION)]
        )
        try:
            answer = await asyncio.wait_for(
                self._server.workspace_configuration_async(params), CONFIGURATION_TIMEOUT
            )
        except Exception as exc:  # a client that fails here keeps the earlier settings
            log.warning("workspace/configuration failed: %s", exc or type(exc).__name__)
            return self.layers.settings
        # lsprotocol structures the answer as a sequence (a tuple), one item per section
        raw = answer[0] if isinstance(answer, list | tuple) and answer else None
        return self.layers.apply_client(raw, "workspace/configuration")

    def changed(self, pushed: Any) -> asyncio.Future[Settings]:
        """``workspace/didChangeConfiguration``: pull again, or take what was pushed.

        Returns the refresh; until it is done, ``layers.settled()`` waits for it.
        """
        return self.layers.track(self._changed(pushed))

    async def _changed(self, pushed: Any) -> Settings:
        if client_supports(self._server, "workspace.configuration"):
            return await self.pull()
        if isinstance(pushed, dict) and pushed:
            section = pushed.get(wire.SETTINGS_SECTION, pushed)
            return self.layers.apply_client(section, "didChangeConfiguration")
        return self.layers.settings

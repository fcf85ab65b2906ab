"""The cattrs converter of the server: custom params arrive as plain dicts.

pygls turns the params and results of methods lsprotocol does not know (every
``nexus/*`` method) into namedtuples called ``Object``, renaming keys that are not
identifiers and serialising them back as JSON arrays. Building the generic JSON-RPC
messages with ``cls(**obj)`` keeps those payloads as the dicts they were on the wire
(validated by ``server/params.py``), while LSP types are still structured by
lsprotocol's own hooks.
"""

from __future__ import annotations

from typing import Any

from cattrs import Converter
from lsprotocol import converters
from pygls.protocol import JsonRPCNotification, JsonRPCRequestMessage, JsonRPCResponseMessage

__all__ = ["dict_converter"]


def _as_dicts(obj: dict[str, Any], cls: type[Any]) -> Any:
    return cls(**obj)


def dict_converter() -> Converter:
    """lsprotocol's converter, with generic messages carrying plain dicts."""
    converter = converters.get_converter()
    for cls in (JsonRPCRequestMessage, JsonRPCResponseMessage, JsonRPCNotification):
        converter.register_structure_hook(cls, _as_dicts)
    return converter

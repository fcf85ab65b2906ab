"""The cattrs converter of the server: custom params arrive as plain dicts.

pygls turns the params and results of methods lsprotocol does not know (every
``nexus/*`` method) into namedtuples called ``Object``, renaming keys that are not
identifiers and serialising them back as JSON arrays. Building the generic JSON-RPC
messages with ``cls(**obj)`` keeps those payloads as the dicts they were on the wire
(validated by ``lsp/params.py``), while LSP types are still structured by
lsprotocol's own hooks.

Going out, plain dicts (every ``nexus/*`` result and update) are passed to
``json.dumps`` as they are instead of being copied value by value by cattrs: for a
10k-message ``nexus/session/load`` that copy cost ~17 ms. Anything in them that JSON
does not know (an LSP type, an enum) is still unstructured, by pygls' ``default``
hook of ``json.dumps``.
"""

from __future__ import annotations

from typing import Any

from cattrs import Converter
from lsprotocol import converters
from pygls.protocol import JsonRPCNotification, JsonRPCRequestMessage, JsonRPCResponseMessage

__all__ = ["dict_converter"]


def _as_dicts(obj: dict[str, Any], cls: type[Any]) -> Any:
    return cls(**obj)


def _as_is(obj: dict[str, Any]) -> dict[str, Any]:
    return obj


def dict_converter() -> Converter:
    """lsprotocol's converter, with generic messages carrying plain dicts."""
    converter = converters.get_converter()
    for cls in (JsonRPCRequestMessage, JsonRPCResponseMessage, JsonRPCNotification):
        converter.register_structure_hook(cls, _as_dicts)
    converter.register_unstructure_hook(dict, _as_is)
    return converter

"""The cattrs converter of the server: custom params arrive as plain dicts.

pygls turns the params and results of methods lsprotocol does not know (every
``nexus/*`` method) into namedtuples called ``Object``, renaming keys that are not
identifiers and serialising them back as JSON arrays. Building the generic JSON-RPC
messages from their known members keeps those payloads as the dicts they were on the
wire (validated by ``lsp/params.py``), while LSP types are still structured by
lsprotocol's own hooks. A missing ``params`` is ``None`` (JSON-RPC allows leaving it
out) and members JSON-RPC does not define are ignored, as lsprotocol's own message
types ignore them.

Arrays are strict: cattrs builds a sequence from any iterable, so ``"arguments":
{"a": 1}`` would become ``("a",)`` and a string its characters. Here only a JSON
array is an array.

Going out, plain dicts (every ``nexus/*`` result and update) are passed to
``json.dumps`` as they are instead of being copied value by value by cattrs: for a
10k-message ``nexus/session/load`` that copy cost ~17 ms. Anything in them that JSON
does not know (an LSP type, an enum) is still unstructured, by pygls' ``default``
hook of ``json.dumps``.
"""

from __future__ import annotations

import re
import typing
from typing import Any

import attrs
from cattrs import Converter, transform_error
from cattrs.cols import homogenous_tuple_structure_factory, is_mutable_sequence, is_sequence
from lsprotocol import converters
from pygls.protocol import JsonRPCNotification, JsonRPCRequestMessage, JsonRPCResponseMessage

__all__ = ["describe_structure_error", "dict_converter", "json_type"]

_MEMBERS = {
    JsonRPCRequestMessage: ("id", "method", "jsonrpc", "params"),
    JsonRPCNotification: ("method", "jsonrpc", "params"),
    JsonRPCResponseMessage: ("id", "jsonrpc", "result"),
}


class WrongJsonType(ValueError):
    """A JSON value of another type than the one asked for (an array, an object)."""


def _as_dicts(obj: Any, cls: type[Any]) -> Any:
    if not isinstance(obj, dict):
        raise WrongJsonType(f"expected an object, got {json_type(obj)}")
    return cls(**{name: obj.get(name) for name in _MEMBERS[cls]})


def _as_is(obj: dict[str, Any]) -> dict[str, Any]:
    return obj


def _strict_sequence(converter: Converter) -> Any:
    def factory(type_: Any) -> Any:
        inner = homogenous_tuple_structure_factory(type_, converter)

        def structure(obj: Any, cls: Any) -> Any:
            if not isinstance(obj, list | tuple):
                raise WrongJsonType(f"expected an array, got {json_type(obj)}")
            return inner(obj, cls)

        return structure

    return factory


def _is_sequence(type_: Any) -> bool:
    # Mutable sequences (list[...]) keep cattrs' own hook; lsprotocol uses Sequence.
    return bool(is_sequence(type_) and not is_mutable_sequence(type_))


def dict_converter() -> Converter:
    """lsprotocol's converter, with generic messages carrying plain dicts."""
    converter = converters.get_converter()
    for cls in _MEMBERS:
        converter.register_structure_hook(cls, _as_dicts)
    converter.register_unstructure_hook(dict, _as_is)
    converter.register_structure_hook_factory(_is_sequence, _strict_sequence(converter))
    return converter


def describe_structure_error(exc: BaseException) -> tuple[str, str]:
    """What cattrs could not structure, in wire names: ``(message, first field)``.

    E.g. ``("params.textDocument: expected an object (TextDocumentIdentifier);
    params.context: required", "params.textDocument")``.
    """
    try:
        problems = transform_error(exc, path="", format_exception=_format_problem)
    except Exception:  # not a cattrs validation error
        return str(exc) or type(exc).__name__, "params"
    parts: list[str] = []
    fields: list[str] = []
    for problem in problems:
        text, _, path = problem.rpartition(" @ ")
        field = _wire_path(path) or "params"
        fields.append(field)
        parts.append(f"{field}: {text}")
    return "; ".join(parts), (fields[0] if fields else "params")


def _wire_path(path: str) -> str:
    # ".params.text_document[0]" → "params.textDocument[0]"
    path = path.lstrip(".$")
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), path)


def _format_problem(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, KeyError):
        return "required"
    if isinstance(exc, WrongJsonType):
        return str(exc)
    if type_ is None:  # a validator of the field refused the value
        return f"invalid value ({exc})"
    return f"expected {_type_name(type_)}"


def _type_name(type_: Any) -> str:
    args = [a for a in typing.get_args(type_) if a is not type(None)]
    if typing.get_origin(type_) is typing.Union:
        return " or ".join(_type_name(a) for a in args) if args else "null"
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}
    if type_ in names:
        return names[type_]
    if isinstance(type_, type) and attrs.has(type_):
        return f"an object ({type_.__name__})"
    if is_sequence(type_):
        return "an array"
    name = getattr(type_, "__name__", None) or str(type_)
    return f"a valid {name}"


def json_type(value: Any) -> str:
    """``value``'s JSON type, for messages: ``an array``, ``a string``, ..."""
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__

"""Skills described by a raw JSON schema instead of a pydantic model.

MCP tools (and plugins that already have a schema) bring their arguments as JSON
Schema. :class:`SchemaSkill` offers that schema to the model as it is and validates
the model's arguments against it before the skill runs, with the registry's error
format (``<tool>: invalidArguments: <where>: <what>``). The validation uses
``jsonschema`` when it is installed (it comes with the ``mcp`` extra); without it only
the shape the schema promises at the top (an object, its required keys, the JSON
types of its properties) is checked, and the tool itself judges the rest.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ConfigDict

from nexus_lsp.core.messages import ToolDefinition
from nexus_lsp.errors import ToolError
from nexus_lsp.skills.base import Skill, SkillArguments

__all__ = ["RawArguments", "SchemaSkill", "validate_against"]

log = logging.getLogger(__name__)

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "object": (dict,), "array": (list,), "null": (type(None),),
}


class RawArguments(SkillArguments):
    """The arguments as the model sent them (already checked against the schema)."""

    model_config = ConfigDict(extra="allow")

    @property
    def values(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class SchemaSkill(Skill[RawArguments]):
    """A skill whose arguments are the JSON schema in :attr:`input_schema`.

    Subclasses (or instances) set ``input_schema``; ``run``/``invoke`` receive
    :class:`RawArguments` (``args.values`` is the dict)."""

    arguments = RawArguments
    input_schema: Mapping[str, Any] = {"type": "object", "properties": {}}

    def definition(self) -> ToolDefinition:
        return ToolDefinition(self.name, self.description, dict(self.input_schema))

    _validator: Any = None  # built at the first call (per skill instance)

    def parse_arguments(self, arguments: dict[str, Any]) -> RawArguments:
        if self._validator is None:
            self._validator = _validator_for(self.input_schema)
        validate_against(self.input_schema, arguments, self._validator)
        return RawArguments.model_validate(arguments)


def _validator_for(schema: Mapping[str, Any]) -> Any:
    """A jsonschema validator of ``schema``, or False when jsonschema is not installed."""
    try:  # untyped, and optional: looked up by name
        jsonschema: Any = importlib.import_module("jsonschema")
    except ImportError:  # the mcp extra brings it; without it, the top-level checks
        return False
    validator_class = jsonschema.validators.validator_for(schema, jsonschema.Draft202012Validator)
    return validator_class(schema)


def validate_against(schema: Mapping[str, Any], arguments: dict[str, Any],
                     validator: Any = None) -> None:
    """Raise ToolError ``invalidArguments`` naming every problem of ``arguments``."""
    validator = _validator_for(schema) if validator is None else validator
    if validator is False:
        _shallow_check(schema, arguments)
        return
    schema_error: type[Exception] = importlib.import_module("jsonschema.exceptions").SchemaError
    try:
        errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.path))
    except schema_error as exc:
        # The tool's own schema is broken: let the tool judge the arguments.
        log.warning("the schema of a tool is invalid (%s): arguments not checked", exc)
        return
    if errors:
        parts = [f"{'.'.join(str(p) for p in e.path) or 'arguments'}: {e.message}"
                 for e in errors[:5]]
        raise ToolError("invalidArguments", "; ".join(parts))


def _shallow_check(schema: Mapping[str, Any], arguments: dict[str, Any]) -> None:
    problems = [f"{name}: Field required" for name in schema.get("required", ())
                if name not in arguments]
    properties = schema.get("properties", {})
    for name, value in arguments.items():
        spec = properties.get(name) if isinstance(properties, dict) else None
        if spec is None:
            if schema.get("additionalProperties") is False:
                problems.append(f"{name}: Extra inputs are not permitted")
            continue
        wanted = spec.get("type") if isinstance(spec, dict) else None
        names = [wanted] if isinstance(wanted, str) else wanted if isinstance(wanted, list) else []
        kinds = tuple(t for n in names for t in _JSON_TYPES.get(n, ()))
        bad_bool = isinstance(value, bool) and bool not in kinds
        if kinds and (not isinstance(value, kinds) or bad_bool):
            problems.append(f"{name}: expected {' or '.join(names)}")
    if problems:
        raise ToolError("invalidArguments", "; ".join(problems))

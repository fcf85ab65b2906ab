"""The permission gate: the one place a tool call is allowed, refused or asked about.

The session core calls :meth:`PermissionGate.check` before a tool runs (in the tool
batch). The gate decides with the policy (``policy.py``) over the settings' rules and
the workspace's stored grants, and when the answer is *ask* it asks through a
:class:`PermissionAsker` — an interface each front door implements with its protocol
(the LSP door: ``nexus/permission/request``, else ``window/showMessageRequest``). The
core never knows which.

- Questions are asked one at a time (parallel calls wait for the one before).
- ``allow_always`` / ``reject_always`` store a grant (the pattern the option named)
  before the call runs or is refused; it holds for the workspace, across restarts.
- A door with no way to ask answers :data:`UNAVAILABLE`: the call is denied with
  ``no way to ask (set permissions.mode or a rule)``.
- A cancelled turn cancels the pending question (the door cancels its request) and
  :class:`~nexus_lsp.core.cancel.Cancelled` goes up: the call is answered ``cancelled``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from nexus_lsp import wire
from nexus_lsp.config import PermissionMode, PermissionSettings
from nexus_lsp.core.cancel import CancellationToken, race
from nexus_lsp.core.messages import ToolCall
from nexus_lsp.permissions.policy import PolicyRule, decide, pattern_for

__all__ = [
    "EDITS_MAY_CONFIRM",
    "NO_WAY_TO_ASK",
    "UNAVAILABLE",
    "Grant",
    "GrantBook",
    "PermissionAnswer",
    "PermissionAsker",
    "PermissionGate",
    "PermissionOption",
    "PermissionQuestion",
    "ToolFacts",
]

log = logging.getLogger(__name__)

NO_WAY_TO_ASK = "no way to ask (set permissions.mode or a rule)"

# Set by the session for the tools it runs: whether an edit may still be confirmed in
# the editor (``edits.confirm``). Only ``default`` mode does; ``acceptEdits`` never
# asks, and ``strict`` has asked already.
EDITS_MAY_CONFIRM: ContextVar[bool] = ContextVar("EDITS_MAY_CONFIRM", default=True)


@dataclass(frozen=True, slots=True)
class Grant:
    """A stored decision for the workspace (``nexus/permissions/list``)."""

    id: int
    tool: str
    match: str
    action: Literal["allow", "deny"]
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "tool": self.tool, "match": self.match,
                "action": self.action, "createdAt": self.created_at}


class GrantBook(Protocol):
    """Where grants are kept (``storage/grants.py``: the workspace's nexus.db)."""

    async def list_grants(self) -> list[Grant]: ...

    async def add_grant(self, tool: str, match: str, action: Literal["allow", "deny"]) -> Grant: ...


@dataclass(frozen=True, slots=True)
class PermissionOption:
    option_id: str
    name: str
    kind: str

    def to_json(self) -> dict[str, str]:
        return {"optionId": self.option_id, "name": self.name, "kind": self.kind}


@dataclass(frozen=True, slots=True)
class PermissionQuestion:
    session_id: str
    turn_id: int
    call: ToolCall
    kind: str
    title: str
    arguments: Mapping[str, Any]
    pattern: str  # what an "always" option stores
    options: tuple[PermissionOption, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """The params of ``nexus/permission/request``."""
        return {
            "sessionId": self.session_id,
            "turnId": self.turn_id,
            "toolCall": {"id": self.call.id, "name": self.call.name, "kind": self.kind,
                         "title": self.title, "arguments": dict(self.arguments)},
            "options": [o.to_json() for o in self.options],
        }


UNAVAILABLE: Literal["unavailable"] = "unavailable"


@dataclass(frozen=True, slots=True)
class PermissionAnswer:
    """``selected`` with an option id, ``cancelled`` (dismissed), or ``unavailable``."""

    outcome: Literal["selected", "cancelled", "unavailable"]
    option_id: str | None = None


class PermissionAsker(Protocol):
    """A front door's way to ask the user. Cancelling ``token`` must withdraw the
    question (and raise :class:`~nexus_lsp.core.cancel.Cancelled` via ``race``)."""

    def ask(self, question: PermissionQuestion) -> Awaitable[PermissionAnswer]: ...


def options_for(pattern: str) -> tuple[PermissionOption, ...]:
    return (
        PermissionOption(wire.OPTION_ALLOW_ONCE, "Allow once", wire.OPTION_ALLOW_ONCE),
        PermissionOption(wire.OPTION_ALLOW_ALWAYS, f"Always allow `{pattern}`",
                         wire.OPTION_ALLOW_ALWAYS),
        PermissionOption(wire.OPTION_REJECT_ONCE, "Reject", wire.OPTION_REJECT_ONCE),
        PermissionOption(wire.OPTION_REJECT_ALWAYS, f"Always reject `{pattern}`",
                         wire.OPTION_REJECT_ALWAYS),
    )


@dataclass(frozen=True, slots=True)
class ToolFacts:
    """What the gate needs of the tool being called."""

    kind: str
    subject: str
    title: str
    arguments: Mapping[str, Any]
    other_subjects: tuple[str, ...] = ()  # also checked against deny rules (a move's target)


class PermissionGate:
    """Decides every call of one workspace's sessions (see the module docstring)."""

    def __init__(
        self,
        settings: Callable[[], PermissionSettings],
        grants: GrantBook | None,
        asker: Callable[[], PermissionAsker | None],
    ) -> None:
        self._settings = settings
        self._grants = grants
        self._asker = asker
        self._asking = asyncio.Lock()

    @property
    def default_mode(self) -> PermissionMode:
        return self._settings().mode

    async def check(
        self,
        *,
        session_id: str,
        turn_id: int,
        mode: PermissionMode,
        call: ToolCall,
        facts: ToolFacts,
        token: CancellationToken,
    ) -> str | None:
        """None when the call may run; else the denial the model reads."""
        rules = await self._rules()
        for other in facts.other_subjects:
            refused = decide(mode, facts.kind, call.name, other, rules)
            if refused.rule is not None and refused.action == "deny":
                return f"{call.name}: denied: {refused.why} (`{other}`)"
        decision = decide(mode, facts.kind, call.name, facts.subject, rules)
        if decision.action == "allow":
            return None
        if decision.action == "deny":
            return f"{call.name}: denied: {decision.why}"
        async with self._asking:  # one question at a time
            token.raise_if_cancelled()
            # A grant stored while this call waited for the question before it.
            decision = decide(mode, facts.kind, call.name, facts.subject, await self._rules())
            if decision.action != "ask":
                return None if decision.action == "allow" else (
                    f"{call.name}: denied: {decision.why}")
            return await self._ask(session_id, turn_id, call, facts, token)

    async def _ask(self, session_id: str, turn_id: int, call: ToolCall, facts: ToolFacts,
                   token: CancellationToken) -> str | None:
        asker = self._asker()
        if asker is None:
            return f"{call.name}: denied: {NO_WAY_TO_ASK}"
        pattern = pattern_for(facts.kind, facts.subject)
        question = PermissionQuestion(session_id, turn_id, call, facts.kind, facts.title,
                                      facts.arguments, pattern, options_for(pattern))
        answer = await race(asker.ask(question), token)
        if answer.outcome == UNAVAILABLE:
            return f"{call.name}: denied: {NO_WAY_TO_ASK}"
        if answer.outcome != "selected":
            return f"{call.name}: denied: the user dismissed the question"
        option = answer.option_id
        if option in (wire.OPTION_ALLOW_ALWAYS, wire.OPTION_REJECT_ALWAYS):
            action: Literal["allow", "deny"] = (
                "allow" if option == wire.OPTION_ALLOW_ALWAYS else "deny")
            if self._grants is not None:
                await self._grants.add_grant(call.name, pattern, action)
        if option in (wire.OPTION_ALLOW_ONCE, wire.OPTION_ALLOW_ALWAYS):
            return None
        if option == wire.OPTION_REJECT_ALWAYS:
            return f"{call.name}: denied: the user always rejects `{pattern}`"
        if option == wire.OPTION_REJECT_ONCE:
            return f"{call.name}: denied: the user rejected it"
        log.warning("permission answer with an unknown option %r: denied", option)
        return f"{call.name}: denied: the answer named no known option ({option!r})"

    async def _rules(self) -> list[PolicyRule]:
        rules = [PolicyRule(r.tool, r.match, r.action) for r in self._settings().rules]
        if self._grants is not None:
            rules += [PolicyRule(g.tool, g.match, g.action, "grant")
                      for g in await self._grants.list_grants()]
        return rules

"""Permissions (protocol v2 §1): the policy, the gate the session asks, stored grants."""

from nexus_lsp.permissions.gate import (
    EDITS_MAY_CONFIRM,
    NO_WAY_TO_ASK,
    Grant,
    GrantBook,
    PermissionAnswer,
    PermissionAsker,
    PermissionGate,
    PermissionOption,
    PermissionQuestion,
    ToolFacts,
)
from nexus_lsp.permissions.policy import Decision, PolicyRule, decide, pattern_for

__all__ = [
    "EDITS_MAY_CONFIRM",
    "NO_WAY_TO_ASK",
    "Decision",
    "Grant",
    "GrantBook",
    "PermissionAnswer",
    "PermissionAsker",
    "PermissionGate",
    "PermissionOption",
    "PermissionQuestion",
    "PolicyRule",
    "ToolFacts",
    "decide",
    "pattern_for",
]

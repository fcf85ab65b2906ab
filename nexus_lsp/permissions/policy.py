"""The permission policy (protocol v2 §1): modes, rules, grants → allow, deny or ask.

Pure functions, no I/O. :func:`decide` takes a tool call's kind, its tool name and its
subject (the command line, or the tool's main argument) and answers:

1. every rule (``permissions.rules``) and stored grant that matches is gathered; a
   matching ``deny`` wins, always (a deny rule beats a grant);
2. else a matching ``allow`` allows — except in ``plan`` mode, which never lets
   anything but reads and searches run;
3. else the mode's table decides.

Command lines: a rule's glob is matched against the whole line, and for ``deny`` also
against each simple command of it (``cd x && rm -rf y`` is caught by ``rm *``). An
``allow`` covers a line only when each of its simple commands matches an allow, and
never a line with command substitution (``$(…)``, backticks) unless the pattern is the
exact line: ``pytest *`` must not let ``pytest; curl … | sh`` through.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from nexus_lsp.config import PermissionMode

__all__ = [
    "Action",
    "Decision",
    "PolicyRule",
    "decide",
    "mode_decision",
    "pattern_for",
    "rule_matches",
]

Action = Literal["allow", "deny", "ask"]
EXECUTE_KINDS = frozenset({"execute"})
READ_KINDS = frozenset({"read", "search"})
CHANGE_KINDS = frozenset({"edit", "delete", "move"})

# protocol v2 §1's table
_TABLE: dict[str, dict[str, Action]] = {
    "plan": {"read": "allow", "change": "deny", "execute": "deny", "mcp": "deny"},
    "default": {"read": "allow", "change": "allow", "execute": "ask", "mcp": "ask"},
    "acceptEdits": {"read": "allow", "change": "allow", "execute": "ask", "mcp": "ask"},
    "strict": {"read": "allow", "change": "ask", "execute": "ask", "mcp": "ask"},
    "auto": {"read": "allow", "change": "allow", "execute": "allow", "mcp": "allow"},
}

# Words after which the next word names what runs (`git status`, `python -m pytest`).
_MULTI_WORD = frozenset({
    "git", "npm", "npx", "pnpm", "yarn", "cargo", "go", "uv", "poetry", "pip", "pip3",
    "docker", "kubectl", "make", "dotnet", "mvn", "gradle", "bundle", "rake", "hatch", "tox",
})
_PYTHON = re.compile(r"^python[0-9.]*$")
_CONTROL = re.compile(r"&&|\|\||[;|&\n]")
_SUBSTITUTION = ("$(", "`", "<(", ">(")
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """A settings rule or a stored grant; ``source`` says which (for the reason)."""

    tool: str
    match: str
    action: Literal["allow", "deny"]
    source: str = "rule"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    why: str
    rule: PolicyRule | None = None


def _column(kind: str) -> str:
    if kind in READ_KINDS:
        return "read"
    if kind in CHANGE_KINDS:
        return "change"
    if kind in EXECUTE_KINDS:
        return "execute"
    return "mcp"


def mode_decision(mode: PermissionMode, kind: str) -> Action:
    return _TABLE[mode][_column(kind)]


def segments(command: str) -> list[str]:
    """The simple commands of a line, split at ``;``, ``&&``, ``||``, ``|``, ``&``.

    Quote-blind on purpose: a split inside quotes only makes an allow harder to reach.
    """
    return [part.strip() for part in _CONTROL.split(command) if part.strip()]


def _glob(pattern: str, text: str) -> bool:
    if fnmatch.fnmatchcase(text, pattern):
        return True
    # `pytest *` covers a bare `pytest` too
    return pattern.endswith(" *") and text == pattern[:-2]


def rule_matches(rule: PolicyRule, tool: str, subject: str, *, command: bool) -> bool:
    if not fnmatch.fnmatchcase(tool, rule.tool):
        return False
    subject = subject.strip()
    if not command:
        return _glob(rule.match, subject)
    if rule.action == "deny":
        return _glob(rule.match, subject) or any(_glob(rule.match, s) for s in segments(subject))
    exact = not _GLOB_CHARS.intersection(rule.match)
    if exact:
        return rule.match.strip() == subject
    if any(marker in subject for marker in _SUBSTITUTION):
        return False
    return _glob(rule.match, subject) and len(segments(subject)) <= 1


def _covers_every_segment(rules: Sequence[PolicyRule], tool: str, subject: str) -> bool:
    parts = segments(subject)
    if len(parts) < 2 or any(marker in subject for marker in _SUBSTITUTION):
        return False
    return all(any(rule_matches(r, tool, p, command=True) for r in rules) for p in parts)


def specificity(rule: PolicyRule) -> tuple[int, int]:
    """More literal characters first; an exact pattern before any glob."""
    literal = sum(1 for c in rule.match if c not in _GLOB_CHARS)
    return (0 if _GLOB_CHARS.intersection(rule.match) else 1, literal)


def decide(
    mode: PermissionMode,
    kind: str,
    tool: str,
    subject: str,
    rules: Iterable[PolicyRule],
) -> Decision:
    """What to do with one call (see the module docstring)."""
    command = kind in EXECUTE_KINDS
    candidates = [r for r in rules]
    matching = sorted(
        (r for r in candidates if rule_matches(r, tool, subject, command=command)),
        key=specificity, reverse=True,
    )
    denies = [r for r in matching if r.action == "deny"]
    if denies:
        rule = denies[0]
        return Decision("deny", f"{_describe(rule)} forbids it", rule)
    allows = [r for r in matching if r.action == "allow"]
    if not allows and command:
        allow_rules = [r for r in candidates if r.action == "allow"]
        if _covers_every_segment(allow_rules, tool, subject):
            allows = [r for r in allow_rules if any(
                rule_matches(r, tool, p, command=True) for p in segments(subject))]
    table = mode_decision(mode, kind)
    if mode == "plan" and table == "deny":
        return Decision("deny", "plan mode: only reading and searching are allowed")
    if allows:
        rule = allows[0]
        return Decision("allow", f"{_describe(rule)} allows it", rule)
    if table == "deny":
        return Decision("deny", f"{mode} mode does not allow {kind} tools")
    return Decision(table, f"{mode} mode {'allows' if table == 'allow' else 'asks for'} {kind}")


def _describe(rule: PolicyRule) -> str:
    what = "the stored grant" if rule.source == "grant" else "the rule"
    return f"{what} {rule.action} {rule.tool} `{rule.match}`"


def pattern_for(kind: str, subject: str) -> str:
    """What ``allow_always``/``reject_always`` store: the command's first word(s) + `` *``,
    or the exact argument."""
    subject = subject.strip()
    if kind not in EXECUTE_KINDS:
        return subject or "*"
    if len(segments(subject)) > 1 or any(m in subject for m in _SUBSTITUTION):
        return subject  # a compound line is granted as it is, never as a glob
    try:
        words = shlex.split(subject)
    except ValueError:
        return subject
    if not words:
        return "*"
    taken = [words[0]]
    rest = words[1:]
    if _PYTHON.match(words[0]) and len(rest) >= 2 and rest[0] == "-m":
        taken += rest[:2]
    elif words[0] in _MULTI_WORD and rest and not rest[0].startswith("-"):
        taken.append(rest[0])
    if any(_GLOB_CHARS.intersection(w) or " " in w for w in taken):
        return subject
    return " ".join(taken) + " *"

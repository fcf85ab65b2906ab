"""Skills from other packages: the entry point group ``nexus_lsp.skills``.

A package declares, in its ``pyproject.toml``::

    [project.entry-points."nexus_lsp.skills"]
    word_count = "my_package.skills:WordCount"

The object named is a :class:`~nexus_lsp.skills.base.Skill` subclass (made with no
arguments), a ``Skill`` instance, or a callable taking the workspace
(:class:`~nexus_lsp.skills.workspace.Workspace`) and returning a skill or a list of
them. Entry points are read once per process (:func:`discover`); the skills are made
for each session's registry (:meth:`PluginSkills.make`). A plugin that cannot be
imported, names something else, fails to build, or whose tool name is taken (a
built-in, another plugin, an ``mcp__`` name) is skipped, with one problem message
naming it: it never stops the server.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from nexus_lsp.skills.base import Skill
from nexus_lsp.skills.workspace import Workspace

__all__ = ["ENTRY_POINT_GROUP", "PluginSkills", "discover"]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "nexus_lsp.skills"

Factory = Callable[[Workspace], list[Skill[Any]]]


@dataclass(slots=True)
class PluginSkills:
    """The loaded plugins (factories by entry point) and the problems met so far."""

    factories: list[tuple[str, Factory]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    _reported: set[str] = field(default_factory=set)

    def make(self, workspace: Workspace, taken: Iterable[str]) -> list[Skill[Any]]:
        """The plugins' skills for one registry whose names ``taken`` already has."""
        names = set(taken)
        skills: list[Skill[Any]] = []
        for entry, factory in self.factories:
            try:
                made = factory(workspace)
            except Exception as exc:
                self._problem(entry, f"building its skills failed: {exc or type(exc).__name__}",
                              exc)
                continue
            for skill in made:
                name = getattr(skill, "name", None)
                if not isinstance(skill, Skill) or not isinstance(name, str) or not name:
                    self._problem(entry, f"{skill!r} is not a nexus_lsp Skill with a name")
                elif name in names or name.startswith("mcp__"):
                    self._problem(entry, f"the tool name {name!r} is taken")
                else:
                    names.add(name)
                    skills.append(skill)
        return skills

    def new_problems(self) -> list[str]:
        """Problems not reported yet (each is reported once per process)."""
        fresh = [p for p in self.problems if p not in self._reported]
        self._reported.update(fresh)
        return fresh

    def _problem(self, entry: str, what: str, exc: BaseException | None = None) -> None:
        text = f"skill plugin {entry}: {what}; skipped"
        if text not in self.problems:
            self.problems.append(text)
            log.warning("%s", text, exc_info=exc)


_loaded: PluginSkills | None = None


def discover(reload: bool = False) -> PluginSkills:
    """Every installed plugin, imported once per process."""
    global _loaded
    if _loaded is None or reload:
        _loaded = _load(entry_points(group=ENTRY_POINT_GROUP))
    return _loaded


def _load(found: Iterable[EntryPoint]) -> PluginSkills:
    plugins = PluginSkills()
    for ep in found:
        label = f"{ep.name} ({ep.value})"
        try:
            target = ep.load()
        except BaseException as exc:  # SystemExit or KeyboardInterrupt from an import, too
            if isinstance(exc, KeyboardInterrupt):
                raise
            plugins._problem(label, f"cannot be imported: {exc!r}", exc)
            continue
        factory = _factory(target)
        if factory is None:
            plugins._problem(label, f"{target!r} is not a Skill subclass, a Skill or a "
                                    "callable taking the workspace")
            continue
        plugins.factories.append((label, factory))
    return plugins


def _factory(target: object) -> Factory | None:
    if isinstance(target, type):
        if not issubclass(target, Skill):
            return None
        cls = target
        return lambda workspace: [cls()]
    if isinstance(target, Skill):
        instance = target
        return lambda workspace: [instance]
    if callable(target):
        make = target

        def build(workspace: Workspace) -> list[Skill[Any]]:
            made = make(workspace)
            return list(made) if isinstance(made, list | tuple) else [made]

        return build
    return None

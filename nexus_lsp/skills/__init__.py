"""Skills: the tools a model can call, the Workspace they act on, and the registry."""

from nexus_lsp.skills.base import Skill, SkillArguments, SkillOutput, SkillRegistry
from nexus_lsp.skills.disk import DiskWorkspace, minimal_replacement
from nexus_lsp.skills.files import builtin_registry, builtin_skills
from nexus_lsp.skills.schema import RawArguments, SchemaSkill
from nexus_lsp.skills.workspace import (
    DeleteFile,
    DirEntry,
    FileChange,
    RenameFile,
    TextReplacement,
    Workspace,
    WriteText,
)

__all__ = [
    "DeleteFile",
    "DirEntry",
    "DiskWorkspace",
    "FileChange",
    "RawArguments",
    "RenameFile",
    "SchemaSkill",
    "Skill",
    "SkillArguments",
    "SkillOutput",
    "SkillRegistry",
    "TextReplacement",
    "Workspace",
    "WriteText",
    "builtin_registry",
    "builtin_skills",
    "minimal_replacement",
]

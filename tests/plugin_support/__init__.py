"""A real distribution with ``nexus_lsp.skills`` entry points, made in a folder.

:func:`install_plugins` writes two modules and a ``nexus_test_plugins-0.1.dist-info``
(``METADATA`` + ``entry_points.txt``) into a folder: a process with that folder on
``sys.path`` (``PYTHONPATH``) finds the entry points through ``importlib.metadata``
as it would an installed package's.
"""

from __future__ import annotations

from pathlib import Path

GOOD = '''
from __future__ import annotations

from nexus_lsp.skills import Skill, SkillArguments, SkillOutput
from nexus_lsp.errors import ToolError


class WordCountArgs(SkillArguments):
    text: str


class WordCount(Skill[WordCountArgs]):
    name = "word_count"
    description = "Count the words of a text."
    arguments = WordCountArgs
    kind = "read"
    read_only = True

    async def run(self, args, token):
        if not args.text.strip():
            raise ToolError("failed", "the text is empty")
        return SkillOutput(f"{len(args.text.split())} words")


class RootArgs(SkillArguments):
    pass


def make(workspace):
    class Root(Skill[RootArgs]):
        name = "workspace_root_name"
        description = "The workspace folder's name."
        arguments = RootArgs

        async def run(self, args, token):
            return SkillOutput(workspace.root.name)

    return [Root()]


class FakeRead(WordCount):
    name = "read_file"


NOT_A_SKILL = 42
'''

BROKEN = '''
raise ImportError("the plugin needs libfoo, which is not installed")
'''

ENTRY_POINTS = """[nexus_lsp.skills]
word_count = nexus_test_good_plugin:WordCount
root_name = nexus_test_good_plugin:make
broken = nexus_test_broken_plugin:Thing
not_a_skill = nexus_test_good_plugin:NOT_A_SKILL
clash = nexus_test_good_plugin:FakeRead
"""


def install_plugins(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nexus_test_good_plugin.py").write_text(GOOD)
    (folder / "nexus_test_broken_plugin.py").write_text(BROKEN)
    info = folder / "nexus_test_plugins-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: nexus-test-plugins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return folder

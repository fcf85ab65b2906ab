"""Three-way revert of one file's text, so the user's later edits are never lost.

``base`` is the text the agent left, ``current`` what the file holds now (the user
may have edited it since), ``target`` the text before the agent's change. The
merge is breezy's ``merge3`` (line-based, the algorithm of ``diff3``): hunks only
the revert changes are reverted, hunks only the user changed keep the user's
text, and hunks both changed are conflicts where the user's text is kept as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from merge3 import Merge3

__all__ = ["Reverted", "revert_text"]


@dataclass(frozen=True, slots=True)
class Reverted:
    text: str
    conflicts: int  # hunks left as the user has them


def revert_text(base: str, current: str, target: str) -> Reverted:
    if current == base:
        return Reverted(target, 0)
    if current == target:
        return Reverted(current, 0)
    a = current.splitlines(keepends=True)
    b = target.splitlines(keepends=True)
    z = base.splitlines(keepends=True)
    out: list[str] = []
    conflicts = 0
    regions: list[tuple[Any, ...]] = list(Merge3(z, a, b).merge_regions())
    for region in regions:
        what = region[0]
        if what == "unchanged":
            out.extend(z[region[1]:region[2]])
        elif what in ("a", "same"):
            out.extend(a[region[1]:region[2]])
        elif what == "b":
            out.extend(b[region[1]:region[2]])
        else:  # conflict: (zstart, zend, astart, aend, bstart, bend); the user's wins
            conflicts += 1
            out.extend(a[region[3]:region[4]])
    return Reverted("".join(out), conflicts)

"""Why a missed target is missed, and what would fix it: read off the profiles.

Rendered by :mod:`bench.report` under a measure only when that measure missed a
target in the run being reported. Keep each entry in step with the code: when a
fix lands, the entry goes (or says what is left).
"""

from __future__ import annotations

__all__ = ["ANALYSIS"]

ANALYSIS: dict[str, str] = {}

"""The ``bench`` package sits at the repository root, beside the installed package:
put the root on ``sys.path`` so the smoke test imports it as ``make bench`` does."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

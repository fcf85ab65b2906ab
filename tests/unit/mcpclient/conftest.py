"""The MCP client's tests run real servers: tests/mcp_support (in-repo) and npm's."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[2]
if str(TESTS) not in sys.path:  # for `import mcp_support`
    sys.path.insert(0, str(TESTS))

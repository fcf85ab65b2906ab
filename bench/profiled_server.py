"""nexus-lsp on stdio under cProfile: ``python bench/profiled_server.py STATS_FILE``.

Serves exactly like ``python -m nexus_lsp`` (the same ``serve_stdio``) and writes
the profile when serving ends (after ``exit`` or when stdin closes). The CLI itself
ends the process with ``os._exit`` once serving is over, which would skip the
profiler's dump; here the dump comes first.
"""

from __future__ import annotations

import cProfile
import os
import sys


def main() -> None:
    stats_file = sys.argv[1]
    profile = cProfile.Profile()
    code = 0
    profile.enable()
    try:
        from nexus_lsp.lsp import serve_stdio

        code = serve_stdio(None) or 0
    finally:
        profile.disable()
        profile.dump_stats(stats_file)
        sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()

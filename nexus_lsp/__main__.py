"""``python -m nexus_lsp``: the same as the ``nexus-lsp`` command."""

from __future__ import annotations

from nexus_lsp.cli import main

raise SystemExit(main())

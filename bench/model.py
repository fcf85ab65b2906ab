"""The scripted model server as a separate process (``python -m nexus_lsp.testing``).

The turn measure runs the model in its own process so that neither side being
compared shares an event loop with it: the baseline client and nexus-lsp read the
very same stream from the very same server.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

__all__ = ["model_process"]

START_TIMEOUT = 60.0


@asynccontextmanager
async def model_process(script: dict[str, Any], folder: Path) -> AsyncIterator[str]:
    """Serve ``script``; yields the base URL (``http://127.0.0.1:PORT``)."""
    script_file = folder / "model-script.json"
    script_file.write_text(json.dumps(script), encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nexus_lsp.testing", "--script", str(script_file),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)
        text = line.decode().strip()
        if not text.startswith("listening http://127.0.0.1:"):
            raise RuntimeError(f"the scripted model server did not start: {text!r}")
        yield text.removeprefix("listening ")
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()

"""A scripted model server on 127.0.0.1 for tests, benchmarks and ``nexus-lsp demo``.

Import cost matters to nobody here (only tests and the demo use it), but the LSP
server never imports this package: aiohttp is an optional (``demo``) dependency.

    from nexus_lsp.testing import ScriptedModelServer, Script
    async with ScriptedModelServer(Script.from_dict({"responses": [{"text": "hi"}]})) as srv:
        ProviderSettings(kind="openai", base_url=srv.openai_base_url)

The script format is documented in ``docs/scripted-model.md``; run it from another
process with ``python -m nexus_lsp.testing --script FILE.json``.
"""

from nexus_lsp.testing.script import (
    Fault,
    Script,
    ScriptedResponse,
    ScriptedToolCall,
    ScriptedUsage,
    ScriptError,
)
from nexus_lsp.testing.server import RecordedRequest, ScriptedModelServer, ValidationFailure

__all__ = [
    "Fault",
    "RecordedRequest",
    "Script",
    "ScriptError",
    "ScriptedModelServer",
    "ScriptedResponse",
    "ScriptedToolCall",
    "ScriptedUsage",
    "ValidationFailure",
]

"""One workspace's runtime, shared by every front door (LSP today, ACP next).

A front door (``nexus_lsp.lsp``, ``nexus_lsp.acp``) translates its protocol; what it
needs beyond that lives here, free of any protocol library:

- :class:`~nexus_lsp.host.settings.SettingsLayers`: settings sources layered and
  validated, problems told to the user through a :class:`Notifier`;
- :class:`~nexus_lsp.host.editor.EditorWorkspace`: the skills' ``Workspace`` in an
  editor — open buffers first, edits applied by the editor (the door sends them),
  the disk fallback, a late answer after a cancel never counted as applied;
- :class:`~nexus_lsp.host.runtime.WorkspaceRuntime`: the store, the session manager
  and the one cancel path of a running turn.

Nothing here imports a front door; the import test enforces it.
"""

-- nexus.nvim user commands. Nothing starts here: each command loads the
-- plugin's modules on first use, and the server starts when one needs it.
if vim.g.loaded_nexus then
  return
end
vim.g.loaded_nexus = 1

if vim.fn.has("nvim-0.10") == 0 then
  vim.notify("nexus.nvim needs Neovim 0.10 or newer", vim.log.levels.ERROR)
  return
end

local function command(name, fn, opts)
  opts.force = true
  vim.api.nvim_create_user_command(name, function(args)
    require("nexus.commands")[fn](args)
  end, opts)
end

command("NexusAsk", "ask", {
  nargs = "*",
  range = true,
  bang = true,
  desc = "Nexus: ask the agent (a range is attached; queued while a turn runs, ! steers it)",
})
command("NexusAdd", "add", {
  nargs = "?",
  range = true,
  complete = "file",
  desc = "Nexus: attach a file (or the range) to the next ask",
})
command("NexusAddDiagnostics", "add_diagnostics", {
  nargs = 0,
  bang = true,
  desc = "Nexus: attach this file's diagnostics (! every file's) to the next ask",
})
command("NexusCompact", "compact", { nargs = 0, desc = "Nexus: summarise the session's older exchanges now" })
command("NexusRevert", "revert", { nargs = "?", desc = "Nexus: revert a turn (default: the last) and the ones after it" })
command("NexusFork", "fork", { nargs = "?", desc = "Nexus: a new session from a turn (default: all of it)" })
command("NexusMcp", "mcp", { nargs = 0, desc = "Nexus: MCP servers, their status and tools" })
command("NexusCancel", "cancel", { nargs = 0, desc = "Nexus: cancel the running turn" })
command("NexusNew", "new", { nargs = 0, desc = "Nexus: start a new session" })
command("NexusSessions", "sessions", { nargs = 0, desc = "Nexus: pick and load a stored session" })
command("NexusLog", "log", { nargs = 0, desc = "Nexus: open the session's transcript" })
command("NexusChat", "chat", { nargs = 0, desc = "Nexus: show the chat" })
command("NexusMode", "mode", {
  nargs = "?",
  complete = function(lead)
    return vim.tbl_filter(function(mode)
      return vim.startswith(mode, lead)
    end, { "default", "plan", "acceptEdits", "strict", "auto" })
  end,
  desc = "Nexus: set the session's permission mode",
})
command("NexusPermissions", "permissions", {
  nargs = 0,
  desc = "Nexus: list the stored permission grants, revoke one",
})

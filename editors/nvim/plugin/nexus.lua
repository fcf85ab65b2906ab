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
  desc = "Nexus: ask the agent (a range is sent along as context)",
})
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

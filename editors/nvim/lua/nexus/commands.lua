--- The user commands (:NexusAsk, :NexusCancel, :NexusNew, :NexusSessions,
--- :NexusLog, :NexusChat): argument and range handling, then nexus.session.
--- plugin/nexus.lua defines the commands and loads this module on first use.
local protocol = require("nexus.protocol")
local session = require("nexus.session")

local M = {}

--- The selected lines as prompt context: path, line numbers and the text.
---@param bufnr integer
---@param line1 integer 1-based, inclusive
---@param line2 integer
---@param root string
---@return string
function M.selection_context(bufnr, line1, line2, root)
  local name = vim.api.nvim_buf_get_name(bufnr)
  local path
  if name == "" then
    path = "[unnamed buffer]"
  else
    name = vim.fs.normalize(name)
    path = vim.startswith(name, root .. "/") and name:sub(#root + 2) or name
  end
  local lines = vim.api.nvim_buf_get_lines(bufnr, line1 - 1, line2, false)
  local fence = "```"
  for _, line in ipairs(lines) do
    -- A fence longer than any backtick run inside keeps the block intact.
    local run = line:match("^%s*(`+)")
    if run and #run >= #fence then
      fence = string.rep("`", #run + 1)
    end
  end
  local where = line1 == line2 and string.format("line %d", line1)
    or string.format("lines %d-%d", line1, line2)
  return table.concat({
    string.format("Selected %s of `%s`:", where, path),
    "",
    fence .. (vim.bo[bufnr].filetype or ""),
    table.concat(lines, "\n"),
    fence,
  }, "\n")
end

--- :[range]NexusAsk[!] [prompt]: a range is attached (a file+range attachment;
--- the selected text in the prompt for servers before protocol v2 §4); while a
--- turn runs the prompt is queued after it, or steers it with [!].
---@param opts table command callback argument (args, bang, range, line1, line2)
function M.ask(opts)
  local bufnr = vim.api.nvim_get_current_buf()
  local ws = session.current(bufnr)
  local ranged = opts.range and opts.range > 0 and vim.bo[bufnr].buftype == ""
  local function go(prompt)
    if type(prompt) ~= "string" or vim.trim(prompt) == "" then
      return
    end
    local items = {}
    if ranged then
      local client = require("nexus.client")
      local name = vim.api.nvim_buf_get_name(bufnr)
      if name ~= "" and client.uses(client.get(ws.root), protocol.FEATURE_USAGE) then
        items[1] = require("nexus.context").file_item(name, opts.line1, opts.line2)
      else
        prompt = prompt .. "\n\n" .. M.selection_context(bufnr, opts.line1, opts.line2, ws.root)
      end
    end
    session.ask(ws, prompt, { context = items, steer = opts.bang })
  end
  local args = opts.args or ""
  if vim.trim(args) ~= "" then
    go(args)
  else
    vim.ui.input({ prompt = opts.bang and "Steer Nexus: " or "Ask Nexus: " }, go)
  end
end

--- Queue an attachment for the next ask and say so in the chat.
---@param ws nexus.Workspace
---@param item table
local function attach(ws, item)
  table.insert(ws.attachments, item)
  local context = require("nexus.context")
  local names = vim.tbl_map(function(i)
    return context.item_name(i, ws.root)
  end, ws.attachments)
  ws.chat:open(false)
  ws.chat:note("for the next ask: " .. table.concat(names, ", "))
end

--- :[range]NexusAdd [file]: attach a file (default: the current one; with a
--- range, those lines of it) to the next ask.
---@param opts table
function M.add(opts)
  local bufnr = vim.api.nvim_get_current_buf()
  local ws = session.current(bufnr)
  local path = vim.trim(opts.args or "")
  local line1, line2
  if path == "" then
    path = vim.api.nvim_buf_get_name(bufnr)
    if path == "" or vim.bo[bufnr].buftype ~= "" then
      return session.notify("this buffer is not a file; :NexusAdd {file}", vim.log.levels.WARN)
    end
    if opts.range and opts.range > 0 then
      line1, line2 = opts.line1, opts.line2
    end
  end
  attach(ws, require("nexus.context").file_item(path, line1, line2))
end

--- :NexusAddDiagnostics[!]: attach the current file's diagnostics (all files' with !).
---@param opts table
function M.add_diagnostics(opts)
  local bufnr = vim.api.nvim_get_current_buf()
  local ws = session.current(bufnr)
  local path = vim.api.nvim_buf_get_name(bufnr)
  if not opts.bang and (path == "" or vim.bo[bufnr].buftype ~= "") then
    return session.notify("this buffer is not a file; :NexusAddDiagnostics! attaches every file's", vim.log.levels.WARN)
  end
  attach(ws, require("nexus.context").diagnostics_item(not opts.bang and path or nil))
end

--- :NexusRevert [turn]
---@param opts table
function M.revert(opts)
  require("nexus.checkpoints").revert(session.current(), tonumber(opts.args))
end

--- :NexusFork [turn]
---@param opts table
function M.fork(opts)
  require("nexus.checkpoints").fork(session.current(), tonumber(opts.args))
end

--- :NexusCompact
function M.compact()
  require("nexus.context").compact(session.current())
end

--- :NexusMcp
function M.mcp()
  require("nexus.mcp").show(session.current())
end

function M.cancel()
  session.cancel(session.current())
end

function M.new()
  session.new(session.current())
end

function M.sessions()
  require("nexus.sessions").pick(session.current())
end

--- :NexusChat: show the chat of this workspace (and move into it).
function M.chat()
  session.current().chat:open(true)
end

--- :[mods]NexusLog: open the current session's Markdown transcript.
---@param opts table|nil
function M.log(opts)
  local ws = session.current()
  local path = require("nexus.sessions").transcript(ws)
  if not path then
    vim.notify("nexus: no session yet in this workspace (ask something first)", vim.log.levels.WARN)
    return
  end
  if not vim.uv.fs_stat(path) then
    vim.notify("nexus: no transcript yet at " .. path, vim.log.levels.WARN)
    return
  end
  local mods = opts and opts.mods or ""
  vim.cmd(string.format("%s split %s", mods, vim.fn.fnameescape(path)))
end

--- :NexusMode [mode]
---@param opts table
function M.mode(opts)
  require("nexus.permission").set_mode(vim.trim(opts.args or ""))
end

--- :NexusPermissions
function M.permissions()
  require("nexus.permission").manage()
end

return M

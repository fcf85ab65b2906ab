--- How the chat writes things: the text of tool status lines and turn
--- footers, and the highlight groups (all default links, so colorschemes win).
local protocol = require("nexus.protocol")

local api = vim.api

local M = {}

local highlights = {
  NexusReasoning = "Comment",
  NexusFooter = "Comment",
  NexusError = "DiagnosticError",
  NexusToolPending = "Comment",
  NexusToolRunning = "DiagnosticWarn",
  NexusToolCompleted = "DiagnosticOk",
  NexusToolFailed = "DiagnosticError",
  NexusToolCancelled = "DiagnosticHint",
  NexusToolSkipped = "DiagnosticHint",
  NexusAsking = "DiagnosticWarn",
  NexusUsage = "Comment",
}
local function set_highlights()
  for group, link in pairs(highlights) do
    api.nvim_set_hl(0, group, { link = link, default = true })
  end
end
set_highlights()
-- :colorscheme clears every group; put the default links back.
api.nvim_create_autocmd("ColorScheme", {
  group = api.nvim_create_augroup("nexus_highlights", { clear = true }),
  callback = set_highlights,
})

--- Highlight group of each tool status.
M.status_hl = {
  pending = "NexusToolPending",
  running = "NexusToolRunning",
  completed = "NexusToolCompleted",
  failed = "NexusToolFailed",
  cancelled = "NexusToolCancelled",
  skipped = "NexusToolSkipped",
  done = "NexusToolCompleted",
}

local stop_labels = {
  [protocol.STOP_END_TURN] = "done",
  [protocol.STOP_MAX_ITERATIONS] = "stopped: tool iteration limit reached",
  [protocol.STOP_CANCELLED] = "cancelled",
  [protocol.STOP_ERROR] = "stopped by an error",
}

--- A short description of a tool call's arguments for its status line.
---@param name string
---@param args table|nil
---@return string
function M.describe_tool(name, args)
  if type(args) ~= "table" then
    return name
  end
  local parts = { name }
  if type(args.path) == "string" then
    parts[#parts + 1] = args.path
  end
  if type(args.newPath) == "string" then
    parts[#parts + 1] = "-> " .. args.newPath
  end
  if type(args.command) == "string" then
    local command = vim.split(args.command, "\n", { plain = true })[1]
    parts[#parts + 1] = "`" .. (#command > 80 and command:sub(1, 77) .. "..." or command) .. "`"
  end
  if type(args.cwd) == "string" and args.cwd ~= "" and args.cwd ~= "." then
    parts[#parts + 1] = "in " .. args.cwd
  end
  if type(args.pattern) == "string" then
    parts[#parts + 1] = string.format("%q", args.pattern)
  end
  if #parts == 1 and next(args) ~= nil then
    local ok, encoded = pcall(vim.json.encode, args)
    if ok then
      parts[#parts + 1] = #encoded > 60 and encoded:sub(1, 57) .. "..." or encoded
    end
  end
  return table.concat(parts, " ")
end

--- A tool call's line: `- [status] name args: first line of the error`.
---@param name string
---@param args table|nil
---@param status string
---@param err string|nil
---@return string
function M.tool_line(name, args, status, err)
  local line = string.format("- [%s] %s", status, M.describe_tool(name, args))
  if type(err) == "string" and err ~= "" then
    line = line .. ": " .. vim.split(err, "\n", { plain = true })[1]
  end
  return line
end

--- A turn's footer text: how it stopped and the tokens it used.
---@param stop_reason string
---@param usage table|nil
---@param note string|nil
---@return string
function M.footer(stop_reason, usage, note)
  local text = stop_labels[stop_reason] or tostring(stop_reason)
  if type(usage) == "table" and (usage.inputTokens or usage.outputTokens) then
    text = string.format(
      "%s · %s in / %s out tokens",
      text,
      usage.inputTokens or "?",
      usage.outputTokens or "?"
    )
  end
  if note then
    text = text .. " (" .. note .. ")"
  end
  return "_" .. text .. "_"
end

return M

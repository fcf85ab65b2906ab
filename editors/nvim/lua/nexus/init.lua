--- nexus.nvim: an LLM agent session from the nexus-lsp language server.
---
--- `require("nexus").setup(opts)` sets the options (see `:help nexus-setup`);
--- the server starts on the first command that needs it, once per workspace.
--- The functions here are the Lua API behind the user commands.
local M = {}

--- Set the options. May be called again: running servers get the new
--- `settings` (workspace/didChangeConfiguration); `cmd` and `cmd_env` apply to
--- servers started afterwards.
---@param opts nexus.Options|table|nil
function M.setup(opts)
  require("nexus.config").set(opts)
  require("nexus.progress")
  -- Only when a server may be running: setup() itself must stay cheap.
  if package.loaded["nexus.client"] then
    require("nexus.client").push_settings()
  end
end

--- Ask in the current workspace's session (a new session when there is none).
---@param prompt string
function M.ask(prompt)
  local session = require("nexus.session")
  session.ask(session.current(), prompt)
end

--- Cancel the running turn of the current workspace.
function M.cancel()
  require("nexus.commands").cancel()
end

--- Start over: the next ask creates a new session.
function M.new()
  require("nexus.commands").new()
end

--- Pick a stored session and load it into the chat.
function M.sessions()
  require("nexus.commands").sessions()
end

--- Open the current session's transcript (.nexus/sessions/<id>/context.md).
function M.log()
  require("nexus.commands").log()
end

--- Show the chat of the current workspace.
function M.chat()
  require("nexus.commands").chat()
end

--- For statuslines: tool batch progress, or "" when idle.
---@return string
function M.status()
  return require("nexus.progress").status()
end

--- A snapshot of the current workspace's state (for statuslines and scripts).
---@param bufnr integer|nil
---@return { root: string, session_id: string|nil, title: string|nil, running: boolean, chat_buf: integer|nil, last_result: table|nil, mode: string|nil, mode_session: string|nil }
function M.state(bufnr)
  local ws = require("nexus.session").current(bufnr)
  return {
    root = ws.root,
    session_id = ws.session_id,
    title = ws.title,
    running = ws.turn ~= nil,
    chat_buf = ws.chat.buf,
    last_result = ws.last_result,
    mode = ws.mode,
    mode_session = ws.mode_session,
  }
end

return M

--- Workspace state and turns: per workspace root the current session, its chat
--- buffer and the running turn. Asking, cancelling, starting over, listing and
--- loading sessions go through here; `nexus/session/update`s are routed here
--- by the client and rendered into the chat.
local chat = require("nexus.chat")
local client = require("nexus.client")
local config = require("nexus.config")
local protocol = require("nexus.protocol")

local M = {}

---@class nexus.Turn
---@field prompt string
---@field request_id integer|nil the nexus/session/send request
---@field client_id integer|nil
---@field turn_id integer|nil
---@field ended boolean turnEnd was rendered
---@field cancelling boolean
---@field timer uv.uv_timer_t|nil settles the turn when a cancel gets no reply

---@class nexus.Workspace
---@field root string
---@field chat nexus.Chat
---@field session_id string|nil
---@field title string|nil
---@field seq integer|nil last update seq seen for the session
---@field turn nexus.Turn|nil
---@field last_result table|nil the last nexus/session/send result
---@field mode string|nil the permission mode picked with :NexusMode
---@field mode_session string|nil the session that mode was given to

---@type table<string, nexus.Workspace>
local workspaces = {}
local turn_counter = 0

---@param root string
---@return nexus.Workspace
function M.workspace(root)
  local ws = workspaces[root]
  if not ws then
    ws = { root = root, chat = chat.new(root) }
    workspaces[root] = ws
  end
  return ws
end

--- The workspace of a buffer (default: the current one).
---@param bufnr integer|nil
---@return nexus.Workspace
function M.current(bufnr)
  return M.workspace(client.root_for(bufnr))
end

function M.notify(message, level)
  vim.notify("nexus: " .. message, level or vim.log.levels.INFO)
end

local function fire(pattern, data)
  vim.api.nvim_exec_autocmds("User", { pattern = pattern, modeline = false, data = data })
end

---@param ws nexus.Workspace
---@param turn nexus.Turn
local function settle(ws, turn)
  if turn.timer then
    turn.timer:stop()
    turn.timer:close()
    turn.timer = nil
  end
  if ws.turn == turn then
    ws.turn = nil
    fire("NexusTurnEnd", { root = ws.root, sessionId = ws.session_id })
  end
end

---@param err table lsp.ResponseError
---@return string
function M.describe_error(err)
  local data = type(err.data) == "table" and err.data or {}
  if data.reason == protocol.REASON_SESSION_BUSY then
    return "this session is already running a turn (:NexusCancel stops it)"
  elseif data.reason == protocol.REASON_UNKNOWN_SESSION then
    return "the server does not know this session any more (:NexusNew starts a new one)"
  end
  return string.format("%s (%s)", err.message or "request failed", tostring(err.code))
end

---@param ws nexus.Workspace
---@param turn nexus.Turn
local function on_send_result(ws, turn, err, result)
  if ws.turn ~= turn then
    return -- settled already (cancel timeout, server exit)
  end
  if err then
    ws.chat:error(M.describe_error(err))
  elseif type(result) == "table" then
    ws.last_result = result
    ws.session_id = result.sessionId or ws.session_id
    if not turn.ended then
      ws.chat:footer(result.stopReason, result.usage)
    end
    if result.stopReason == protocol.STOP_ERROR and type(result.error) == "table" then
      ws.chat:error(string.format("%s: %s", result.error.code, result.error.message))
    end
  end
  settle(ws, turn)
end

---@param ws nexus.Workspace
---@param turn nexus.Turn
---@param c vim.lsp.Client
local function send_now(ws, turn, c)
  turn_counter = turn_counter + 1
  local params = {
    sessionId = ws.session_id,
    prompt = turn.prompt,
    workDoneToken = string.format("nexus-turn-%d", turn_counter),
  }
  local ok, id = client.request(c, protocol.SESSION_SEND, params, function(err, result)
    on_send_result(ws, turn, err, result)
  end)
  if not ok then
    ws.chat:error("the nexus server is not running")
    settle(ws, turn)
    return
  end
  turn.request_id = id
  turn.client_id = c.id
end

--- The mode picked with :NexusMode holds for every session of the workspace:
--- give it to a session (new, loaded, or after a server restart) before its turn.
---@param ws nexus.Workspace
---@param c vim.lsp.Client
---@param done fun(err: string|nil)
function M.apply_mode(ws, c, done)
  if not ws.mode or not ws.session_id or ws.mode_session == ws.session_id then
    return done(nil)
  end
  local params = { sessionId = ws.session_id, mode = ws.mode }
  client.request(c, protocol.SESSION_SET_MODE, params, function(err)
    if err then
      return done("could not set the mode: " .. M.describe_error(err))
    end
    ws.mode_session = params.sessionId
    done(nil)
  end)
end

---@param ws nexus.Workspace
---@param turn nexus.Turn
---@param c vim.lsp.Client
local function send(ws, turn, c)
  M.apply_mode(ws, c, function(err)
    if ws.turn ~= turn then
      return
    end
    if err then
      ws.chat:error(err)
      settle(ws, turn)
      return
    end
    send_now(ws, turn, c)
  end)
end

---@param prompt string
---@return string
local function title_for(prompt)
  local line = vim.trim(vim.split(vim.trim(prompt), "\n", { plain = true })[1] or "")
  if vim.fn.strchars(line) > 60 then
    line = vim.fn.strcharpart(line, 0, 57) .. "..."
  end
  return line
end

--- Run one turn: the prompt is shown at once, the answer streams in.
---@param ws nexus.Workspace
---@param prompt string
function M.ask(ws, prompt)
  if ws.turn then
    M.notify("a turn is running; wait for it or :NexusCancel it", vim.log.levels.WARN)
    return
  end
  ---@type nexus.Turn
  local turn = { prompt = prompt, ended = false, cancelling = false }
  ws.turn = turn
  ws.chat:open(config.options.chat.focus)
  ws.chat:user(prompt)
  fire("NexusTurnStart", { root = ws.root, sessionId = ws.session_id })
  client.with_client(ws.root, function(c, start_err)
    if ws.turn ~= turn then
      return
    end
    if not c then
      ws.chat:error(start_err or "the nexus server did not start")
      settle(ws, turn)
      return
    end
    if ws.session_id then
      send(ws, turn, c)
      return
    end
    -- Create the session first so updates can be matched to it from the start.
    client.request(c, protocol.SESSION_NEW, { title = title_for(prompt) }, function(err, result)
      if not err and type(result) == "table" and not ws.session_id then
        ws.session_id, ws.title, ws.seq = result.sessionId, result.title, nil
      end
      if ws.turn ~= turn then
        return
      end
      if not ws.session_id then
        ws.chat:error("could not create a session: " .. (err and M.describe_error(err) or "no result"))
        settle(ws, turn)
        return
      end
      if turn.cancelling then
        ws.chat:footer(protocol.STOP_CANCELLED)
        settle(ws, turn)
        return
      end
      send(ws, turn, c)
    end)
  end)
end

--- Cancel the running turn with `nexus/session/cancel`: the send then answers
--- with its result (stopReason cancelled) once the session is free again, which
--- settles the chat. ($/cancelRequest would get a -32800 reply Neovim drops, and
--- the turnEnd before it comes while the session is still busy.) Without any
--- reply the chat settles after `cancel_timeout_ms`.
---@param ws nexus.Workspace
function M.cancel(ws)
  local turn = ws.turn
  if not turn then
    M.notify("no turn is running")
    return
  end
  if turn.cancelling then
    return
  end
  turn.cancelling = true
  local c = turn.client_id and vim.lsp.get_client_by_id(turn.client_id)
  if c and turn.request_id and ws.session_id then
    client.notify(c, protocol.SESSION_CANCEL, { sessionId = ws.session_id })
  end
  turn.timer = vim.uv.new_timer()
  turn.timer:start(
    config.options.cancel_timeout_ms,
    0,
    vim.schedule_wrap(function()
      if ws.turn == turn then
        if not turn.ended then
          ws.chat:footer(protocol.STOP_CANCELLED, nil, "the server did not confirm")
        end
        settle(ws, turn)
      end
    end)
  )
end

--- Forget the current session: the next ask starts a new one.
---@param ws nexus.Workspace
function M.new(ws)
  if ws.turn then
    M.notify("a turn is running; :NexusCancel it first", vim.log.levels.WARN)
    return
  end
  ws.session_id, ws.title, ws.seq, ws.last_result = nil, nil, nil, nil
  ws.chat:clear()
  ws.chat:open(true)
end

---@param ws nexus.Workspace
---@param client_id integer
local function owns(ws, client_id)
  local c = vim.lsp.get_client_by_id(client_id)
  return c ~= nil and c.root_dir == ws.root
end

---@param ws nexus.Workspace
---@param params table
local function render(ws, params)
  local kind, turn = params.kind, ws.turn
  if kind == protocol.UPDATE_TURN_START then
    if turn then
      turn.turn_id = params.turnId
    end
  elseif kind == protocol.UPDATE_CONTENT then
    ws.chat:content(params.text or "")
  elseif kind == protocol.UPDATE_REASONING then
    ws.chat:reasoning(params.text, params.active)
  elseif kind == protocol.UPDATE_TOOL_CALL then
    ws.chat:tool_call(params.toolCallId, params.name, params.arguments, params.status or "pending")
  elseif kind == protocol.UPDATE_TOOL_CALL_UPDATE then
    ws.chat:tool_update(params.toolCallId, params.name, params.status, params.error, params)
  elseif kind == protocol.UPDATE_TURN_END then
    ws.chat:footer(params.stopReason, params.usage)
    if turn then
      turn.ended = true
    end
  end
end

--- The workspace that shows a session of a client.
---@param client_id integer
---@param session_id string|nil
---@return nexus.Workspace|nil
function M.find(client_id, session_id)
  for _, ws in pairs(workspaces) do
    if ws.session_id and ws.session_id == session_id and owns(ws, client_id) then
      return ws
    end
  end
  return nil
end

client.on_update = function(client_id, params)
  for _, ws in pairs(workspaces) do
    if ws.session_id and ws.session_id == params.sessionId and owns(ws, client_id) then
      local seq = tonumber(params.seq)
      if seq and ws.seq and seq <= ws.seq then
        return -- a duplicate or stale update
      end
      ws.seq = seq or ws.seq
      render(ws, params)
      return
    end
  end
end

-- While a permission question is open, its tool line says so.
require("nexus.permission").on_question = function(client_id, params, state)
  local ws = M.find(client_id, params.sessionId)
  local call = type(params.toolCall) == "table" and params.toolCall or {}
  if ws and call.id then
    ws.chat:asking(call.id, state == "asking" and "  waiting for your answer" or nil)
  end
end

client.on_exit = function(root, code)
  local ws = workspaces[root]
  if ws then
    ws.seq, ws.mode_session = nil, nil
    if ws.turn then
      ws.chat:error(string.format("the nexus server exited (code %d); see :LspLog", code))
      settle(ws, ws.turn)
    end
  end
end

return M

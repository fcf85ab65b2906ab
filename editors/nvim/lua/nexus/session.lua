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
---@field context table[]|nil attachments (protocol v2 §4 ContextItem)
---@field when_busy string|nil "queue" or "steer": sent while another turn ran

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
---@field queue nexus.Turn[] sends waiting for the running turn (queue, steer)
---@field attachments table[] added with :NexusAdd, sent with the next ask
---@field steered string[] steering prompts the running turn took, not shown yet
---@field last_turn_id integer|nil the session's last turn, when this Neovim saw it

---@type table<string, nexus.Workspace>
local workspaces = {}
M.workspaces = workspaces
local turn_counter = 0

---@param root string
---@return nexus.Workspace
function M.workspace(root)
  local ws = workspaces[root]
  if not ws then
    ws = { root = root, chat = chat.new(root), queue = {}, steered = {}, attachments = {} }
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

function M.fire(pattern, data)
  vim.api.nvim_exec_autocmds("User", { pattern = pattern, modeline = false, data = data })
end

---@param ws nexus.Workspace
---@param turn nexus.Turn
function M.settle(ws, turn)
  if turn.timer then
    turn.timer:stop()
    turn.timer:close()
    turn.timer = nil
  end
  if ws.turn == turn then
    ws.turn = nil
    M.fire("NexusTurnEnd", { root = ws.root, sessionId = ws.session_id })
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
local function dequeue(ws, turn)
  for i, queued in ipairs(ws.queue) do
    if queued == turn then
      table.remove(ws.queue, i)
      return true
    end
  end
  return false
end

---@param ws nexus.Workspace
---@param turn nexus.Turn
local function on_send_result(ws, turn, err, result)
  if type(result) == "table" and result.steered then
    -- It joins the running turn before its next model call: shown at the
    -- usage update that ends the current call (nexus.render).
    dequeue(ws, turn)
    table.insert(ws.steered, turn.prompt)
    return
  end
  if dequeue(ws, turn) then
    -- Answered before it ever started: refused (an older server, an error).
    ws.chat:error(string.format("%q was not sent: %s", turn.prompt, err and M.describe_error(err) or "no turn ran"))
    if #ws.queue == 0 and not ws.turn then
      M.fire("NexusTurnEnd", { root = ws.root, sessionId = ws.session_id })
    end
    return
  end
  if not err and type(result) == "table" then
    ws.last_result = result
    ws.last_turn_id = result.turnId or ws.last_turn_id
  end
  if ws.turn ~= turn then
    return -- settled already (cancel timeout, server exit, the next turn started)
  end
  if err then
    ws.chat:error(M.describe_error(err))
  elseif type(result) == "table" then
    ws.session_id = result.sessionId or ws.session_id
    if not turn.ended then
      ws.chat:footer(result.stopReason, result.usage)
    end
    if result.stopReason == protocol.STOP_ERROR and type(result.error) == "table" then
      ws.chat:error(string.format("%s: %s", result.error.code, result.error.message))
    end
  end
  M.settle(ws, turn)
end

--- A queued send's turn started (its turnStart): it becomes the running turn.
---@param ws nexus.Workspace
---@param turn_id integer|nil
function M.promote(ws, turn_id)
  ws.last_turn_id = turn_id or ws.last_turn_id
  local turn = ws.turn
  if turn and not turn.ended then
    turn.turn_id = turn.turn_id or turn_id
    return
  end
  -- Queued sends first; a steer that came too late was queued by the server.
  local next_turn
  for _, queued in ipairs(ws.queue) do
    if queued.when_busy ~= protocol.WHEN_BUSY_STEER then
      next_turn = queued
      break
    end
  end
  next_turn = next_turn or ws.queue[1]
  if not next_turn and #ws.steered > 0 then
    -- A steer the turn ended without runs as a turn of its own; no send answers
    -- for it, its turnEnd settles it.
    next_turn = { prompt = table.remove(ws.steered, 1), ended = false, cancelling = false, synthetic = true }
  end
  if not next_turn then
    return
  end
  if turn then
    M.settle(ws, turn)
  end
  dequeue(ws, next_turn)
  next_turn.turn_id = turn_id
  ws.turn = next_turn
  ws.chat:user(next_turn.prompt)
  M.fire("NexusTurnStart", { root = ws.root, sessionId = ws.session_id })
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
    whenBusy = turn.when_busy,
  }
  if turn.context and #turn.context > 0 then
    params.context = turn.context
  end
  local ok, id = client.request(c, protocol.SESSION_SEND, params, function(err, result)
    on_send_result(ws, turn, err, result)
  end)
  if not ok then
    ws.chat:error("the nexus server is not running")
    if not dequeue(ws, turn) then
      M.settle(ws, turn)
    end
    return
  end
  turn.request_id = id
  turn.client_id = c.id
end

---@param ws nexus.Workspace
---@param turn nexus.Turn
---@param c vim.lsp.Client
local function send(ws, turn, c)
  require("nexus.permission").apply_mode(ws, c, function(err)
    if ws.turn ~= turn then
      return
    end
    if err then
      ws.chat:error(err)
      M.settle(ws, turn)
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

--- While a turn runs: queue the prompt after it, or steer it (protocol v2 §4).
---@param ws nexus.Workspace
---@param turn nexus.Turn
local function enqueue(ws, turn)
  if not ws.session_id then
    M.notify("the session is still starting; ask again in a moment", vim.log.levels.WARN)
    return
  end
  table.insert(ws.queue, turn)
  -- Said outside the chat: a line there would cut the answer streaming in.
  local first = vim.split(turn.prompt, "\n", { plain = true })[1]
  M.notify((turn.when_busy == protocol.WHEN_BUSY_STEER and "steering: " or "queued: ") .. first)
  require("nexus.context").refresh(ws)
  client.with_client(ws.root, function(c, start_err)
    if not c then
      dequeue(ws, turn)
      ws.chat:error(start_err or "the nexus server did not start")
      return
    end
    send_now(ws, turn, c)
  end)
end

--- Run one turn: the prompt is shown at once, the answer streams in. While a
--- turn runs, the prompt is queued after it, or steers it with `steer`.
---@param ws nexus.Workspace
---@param prompt string
---@param opts { context: table[]|nil, steer: boolean|nil }|nil
function M.ask(ws, prompt, opts)
  opts = opts or {}
  -- What :NexusAdd gathered goes with this prompt, then the list starts over.
  local context = vim.list_extend(vim.list_extend({}, ws.attachments), opts.context or {})
  ws.attachments = {}
  if ws.turn or #ws.queue > 0 then
    return enqueue(ws, {
      prompt = prompt,
      context = context,
      ended = false,
      cancelling = false,
      when_busy = opts.steer and protocol.WHEN_BUSY_STEER or protocol.WHEN_BUSY_QUEUE,
    })
  end
  ---@type nexus.Turn
  local turn = { prompt = prompt, context = context, ended = false, cancelling = false }
  ws.turn = turn
  ws.chat:open(config.options.chat.focus)
  ws.chat:user(prompt)
  M.fire("NexusTurnStart", { root = ws.root, sessionId = ws.session_id })
  client.with_client(ws.root, function(c, start_err)
    if ws.turn ~= turn then
      return
    end
    if not c then
      ws.chat:error(start_err or "the nexus server did not start")
      M.settle(ws, turn)
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
        M.settle(ws, turn)
        return
      end
      if turn.cancelling then
        ws.chat:footer(protocol.STOP_CANCELLED)
        M.settle(ws, turn)
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
        M.settle(ws, turn)
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
function M.owns(ws, client_id)
  local c = vim.lsp.get_client_by_id(client_id)
  return c ~= nil and c.root_dir == ws.root
end

--- The workspace that shows a session of a client.
---@param client_id integer
---@param session_id string|nil
---@return nexus.Workspace|nil
function M.find(client_id, session_id)
  for _, ws in pairs(workspaces) do
    if ws.session_id and ws.session_id == session_id and M.owns(ws, client_id) then
      return ws
    end
  end
  return nil
end

-- nexus.render routes the server's updates here; it requires this module back.
package.loaded["nexus.session"] = M
require("nexus.render")

return M

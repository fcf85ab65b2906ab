--- Routes `nexus/session/update`s to the workspace showing the session and
--- renders them into its chat; marks tool lines while a permission question
--- is open; settles a running turn when its server exits.
local client = require("nexus.client")
local context = require("nexus.context")
local protocol = require("nexus.protocol")
local session = require("nexus.session")

local M = {}

---@param ws nexus.Workspace
---@param params table
local function render(ws, params)
  local kind, turn = params.kind, ws.turn
  if kind == protocol.UPDATE_TURN_START then
    session.promote(ws, params.turnId)
    if type(params.attachments) == "table" and #params.attachments > 0 then
      ws.chat:note("attached: " .. table.concat(params.attachments, ", "))
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
      if turn.synthetic then
        session.settle(ws, turn)
      end
    end
  elseif kind == protocol.UPDATE_USAGE then
    context.on_usage(ws, params)
    -- A model call ended: steering prompts join before the next one.
    while turn and not turn.ended and #ws.steered > 0 do
      ws.chat:user(table.remove(ws.steered, 1), "You (steering)")
    end
  elseif kind == protocol.UPDATE_COMPACTION then
    context.on_compaction(ws, params)
  end
end

client.on_update = function(client_id, params)
  for _, ws in pairs(session.workspaces) do
    if ws.session_id and ws.session_id == params.sessionId and session.owns(ws, client_id) then
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
  local ws = session.find(client_id, params.sessionId)
  local call = type(params.toolCall) == "table" and params.toolCall or {}
  if ws and call.id then
    ws.chat:asking(call.id, state == "asking" and "  waiting for your answer" or nil)
  end
end

client.on_exit = function(root, code)
  local ws = session.workspaces[root]
  if ws then
    ws.seq, ws.mode_session = nil, nil
    if ws.turn then
      ws.chat:error(string.format("the nexus server exited (code %d); see :LspLog", code))
      session.settle(ws, ws.turn)
    end
  end
end

return M

--- Stored sessions: list and pick one (vim.ui.select), load it into the chat,
--- the path of its Markdown transcript.
local client = require("nexus.client")
local protocol = require("nexus.protocol")
local session = require("nexus.session")

local M = {}

--- Load a stored session into the chat; the next ask continues it.
---@param ws nexus.Workspace
---@param session_id string
---@param done fun(ok: boolean)|nil
function M.load(ws, session_id, done)
  done = done or function() end
  if ws.turn then
    session.notify("a turn is running; :NexusCancel it first", vim.log.levels.WARN)
    return done(false)
  end
  client.with_client(ws.root, function(c, start_err)
    if not c then
      session.notify(start_err or "the nexus server did not start", vim.log.levels.ERROR)
      return done(false)
    end
    client.request(c, protocol.SESSION_LOAD, { sessionId = session_id }, function(err, result)
      if err or type(result) ~= "table" then
        session.notify("could not load the session: " .. (err and session.describe_error(err) or "no result"), vim.log.levels.ERROR)
        return done(false)
      end
      ws.session_id, ws.title, ws.seq, ws.last_result = result.sessionId, result.title, nil, nil
      ws.last_turn_id = nil
      ws.chat:clear(result.title)
      ws.chat:history(result.messages or {})
      if result.repaired then
        ws.chat:note("the last turn was interrupted; its unfinished tool calls were closed")
      end
      ws.chat:open(true)
      done(true)
    end)
  end)
end

---@param session table an item of nexus/session/list
---@return string
function M.format_session(session)
  local title = (session.title and session.title ~= "") and session.title or session.sessionId
  local when = tostring(session.updatedAt or session.createdAt or ""):gsub("T", " "):sub(1, 16)
  local text = string.format("%s  [%s, %d turns]", title, when, session.turnCount or 0)
  if session.status and session.status ~= "idle" then
    text = text .. " " .. session.status
  end
  return text
end

--- Pick a stored session with vim.ui.select and load it.
---@param ws nexus.Workspace
function M.pick(ws)
  client.with_client(ws.root, function(c, start_err)
    if not c then
      session.notify(start_err or "the nexus server did not start", vim.log.levels.ERROR)
      return
    end
    client.request(c, protocol.SESSION_LIST, client.object(nil), function(err, result)
      if err or type(result) ~= "table" then
        session.notify("could not list sessions: " .. (err and session.describe_error(err) or "no result"), vim.log.levels.ERROR)
        return
      end
      local sessions = result.sessions or {}
      if #sessions == 0 then
        session.notify("no sessions in this workspace yet")
        return
      end
      vim.ui.select(sessions, {
        prompt = "Nexus sessions",
        kind = "nexus_session",
        format_item = M.format_session,
      }, function(choice)
        if choice then
          M.load(ws, choice.sessionId)
        end
      end)
    end)
  end)
end

--- Path of the session's Markdown transcript.
---@param ws nexus.Workspace
---@return string|nil
function M.transcript(ws)
  if not ws.session_id then
    return nil
  end
  return table.concat(
    { ws.root, protocol.NEXUS_DIR, protocol.SESSIONS_DIR, ws.session_id, protocol.CONTEXT_MD },
    "/"
  )
end

return M

--- Checkpoints (protocol v2 §3): `:NexusRevert [turn]` undoes a turn and every
--- later one (code through one undoable workspace edit, conversation in the
--- store), `:NexusFork [turn]` starts a new session from a turn. The chat is
--- reloaded and says what was restored and what conflicted.
local client = require("nexus.client")
local protocol = require("nexus.protocol")
local session = require("nexus.session")

local M = {}

--- One line saying what a revert did.
---@param turn_id integer|nil
---@param result table
---@return string text, boolean clean (no conflicts, nothing left unrestored)
function M.summary(turn_id, result)
  local parts = {}
  local changed = {}
  for _, file in ipairs(result.files or {}) do
    if file.action ~= protocol.REVERT_UNCHANGED then
      changed[#changed + 1] = string.format("%s %s", file.path, file.action)
    end
  end
  parts[#parts + 1] = string.format(
    "reverted turn %s: %s",
    turn_id and tostring(turn_id) or "?",
    #changed > 0 and table.concat(changed, ", ") or "no file changed"
  )
  local conflicts = result.conflicts or {}
  if #conflicts > 0 then
    parts[#parts + 1] = "conflicts, your text kept: "
      .. table.concat(vim.tbl_map(function(c)
        return string.format("%s (%s)", c.path, c.reason)
      end, conflicts), ", ")
  end
  local missing = result.notRestored or {}
  if #missing > 0 then
    parts[#parts + 1] = "not restored: "
      .. table.concat(vim.tbl_map(function(c)
        return string.format("%s (%s)", c.path, c.reason)
      end, missing), ", ")
  end
  if type(result.messagesReverted) == "number" then
    parts[#parts + 1] = string.format("%d message(s) reverted", result.messagesReverted)
  end
  return table.concat(parts, "; "), #conflicts == 0 and #missing == 0
end

---@param ws nexus.Workspace
---@param what string
---@param fn fun(c: vim.lsp.Client)
local function with_session(ws, what, fn)
  if not ws.session_id then
    return session.notify("no session yet in this workspace: nothing to " .. what, vim.log.levels.WARN)
  end
  if ws.turn or #ws.queue > 0 then
    return session.notify("a turn is running; :NexusCancel it first", vim.log.levels.WARN)
  end
  client.with_client(ws.root, function(c, start_err)
    if not c then
      return session.notify(start_err or "the nexus server did not start", vim.log.levels.ERROR)
    end
    fn(c)
  end)
end

---@param ws nexus.Workspace
---@param text string
---@param clean boolean
local function report(ws, text, clean)
  ws.chat:note(text)
  session.notify(text, clean and vim.log.levels.INFO or vim.log.levels.WARN)
end

--- Revert turn `turn_id` (default: the last) and every later one, code and
--- conversation; the chat is reloaded without them.
---@param ws nexus.Workspace
---@param turn_id integer|nil
---@param done fun(result: table|nil)|nil
function M.revert(ws, turn_id, done)
  done = done or function() end
  with_session(ws, "revert", function(c)
    turn_id = turn_id or ws.last_turn_id
    local session_id = ws.session_id
    local function finish(err, result, reverted_turn)
      if err or type(result) ~= "table" then
        session.notify("could not revert: " .. (err and session.describe_error(err) or "no result"), vim.log.levels.ERROR)
        return done(nil)
      end
      ws.last_turn_id = nil -- the store knows the new last turn; the command asks it
      local text, clean = M.summary(reverted_turn or result.turnId, result)
      require("nexus.sessions").load(ws, session_id, function()
        report(ws, text, clean)
        done(result)
      end)
    end
    if turn_id then
      local params = { sessionId = session_id, turnId = turn_id, code = true, conversation = true }
      client.request(c, protocol.SESSION_REVERT, params, function(err, result)
        finish(err, result, turn_id)
      end)
    else
      -- The last turn of a loaded session: the server's command knows it.
      local params = { command = protocol.COMMAND_REVERT, arguments = { { sessionId = session_id } } }
      client.request(c, "workspace/executeCommand", params, function(err, result)
        finish(err, result, type(result) == "table" and result.turnId or nil)
      end)
    end
  end)
end

--- A new session holding the history up to the end of `turn_id` (default: all);
--- the chat switches to it, the code is not touched.
---@param ws nexus.Workspace
---@param turn_id integer|nil
---@param done fun(result: table|nil)|nil
function M.fork(ws, turn_id, done)
  done = done or function() end
  with_session(ws, "fork", function(c)
    local params = { sessionId = ws.session_id, turnId = turn_id }
    client.request(c, protocol.SESSION_FORK, params, function(err, result)
      if err or type(result) ~= "table" or not result.sessionId then
        session.notify("could not fork: " .. (err and session.describe_error(err) or "no result"), vim.log.levels.ERROR)
        return done(nil)
      end
      require("nexus.sessions").load(ws, result.sessionId, function()
        local text = string.format(
          "forked from %s%s into %s",
          result.parentId or params.sessionId,
          turn_id and string.format(" at turn %d", turn_id) or "",
          result.sessionId
        )
        report(ws, text, true)
        done(result)
      end)
    end)
  end)
end

return M

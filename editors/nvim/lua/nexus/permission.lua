--- Permission questions (protocol v2 §1): the server's `nexus/permission/request`
--- answered through `vim.ui.select` (so telescope, fzf-lua and dressing pickers
--- ask it), withdrawn by the server's `$/cancelRequest` when the turn is
--- cancelled; `:NexusMode` and `:NexusPermissions`.
local protocol = require("nexus.protocol")

local api = vim.api

local M = {}

--- Called with (client_id, params, state) when a question opens ("asking") and
--- when it is answered or withdrawn; set by nexus.session to mark the tool line.
---@type fun(client_id: integer, params: table, state: string)|nil
M.on_question = nil

---@class nexus.Question
---@field client_id integer
---@field id integer|string|nil the JSON-RPC id of the request, when it could be found
---@field params table
---@field done boolean
---@field finish fun(result: table)
---@field windows table<integer, boolean> floating windows open before the picker

---@type nexus.Question[]
local pending = {}

M.MODES = {
  protocol.MODE_DEFAULT,
  protocol.MODE_PLAN,
  protocol.MODE_ACCEPT_EDITS,
  protocol.MODE_STRICT,
  protocol.MODE_AUTO,
}

M.MODE_HELP = {
  [protocol.MODE_DEFAULT] = "edits run, commands and MCP tools ask",
  [protocol.MODE_PLAN] = "read and search only",
  [protocol.MODE_ACCEPT_EDITS] = "edits run without confirming, commands ask",
  [protocol.MODE_STRICT] = "edits, commands and MCP tools ask",
  [protocol.MODE_AUTO] = "everything runs without asking",
}

-- Neovim does not pass a server request's id to its handler, but the coroutine
-- it runs the handler in closes over the decoded message: find it there, so a
-- `$/cancelRequest` withdraws exactly this question.
local function current_request_id()
  for level = 2, 12 do
    local info = debug.getinfo(level, "f")
    if not info then
      break
    end
    for i = 1, 20 do
      local name, value = debug.getupvalue(info.func, i)
      if not name then
        break
      end
      if name == "decoded" and type(value) == "table" and value.id ~= nil and value.method then
        return value.id
      end
    end
  end
  return nil
end

local function floating_windows()
  local found = {}
  for _, win in ipairs(api.nvim_list_wins()) do
    if api.nvim_win_get_config(win).relative ~= "" then
      found[win] = true
    end
  end
  return found
end

--- The picker's prompt: what the agent wants to do.
---@param params table
---@return string
function M.prompt(params)
  local call = type(params.toolCall) == "table" and params.toolCall or {}
  local title = call.title
  if type(title) ~= "string" or title == "" then
    title = call.name or "a tool call"
  end
  return "Nexus: " .. title:gsub("\n", " ") .. "?"
end

---@param question nexus.Question
local function forget(question)
  for i, q in ipairs(pending) do
    if q == question then
      table.remove(pending, i)
      return
    end
  end
end

--- Handler of `nexus/permission/request`: runs in the coroutine Neovim gives
--- server requests, so it waits for the picker without blocking the editor.
function M.handle_request(_, params, ctx)
  params = type(params) == "table" and params or {}
  local options = type(params.options) == "table" and params.options or {}
  local co, is_main = coroutine.running()
  local async = co ~= nil and not is_main
  local answer ---@type table|nil
  ---@type nexus.Question
  local question = {
    client_id = ctx.client_id,
    id = current_request_id(),
    params = params,
    done = false,
    windows = floating_windows(),
  }
  question.finish = function(result)
    if question.done then
      return
    end
    question.done = true
    forget(question)
    answer = result
    if M.on_question then
      M.on_question(ctx.client_id, params, result.optionId or result.outcome)
    end
    if async then
      -- Scheduled: a synchronous vim.ui.select answers before we yield.
      vim.schedule(function()
        coroutine.resume(co, result)
      end)
    end
  end
  table.insert(pending, question)
  if M.on_question then
    M.on_question(ctx.client_id, params, "asking")
  end
  vim.ui.select(options, {
    prompt = M.prompt(params),
    kind = "nexus_permission",
    format_item = function(option)
      return option.name or option.optionId
    end,
  }, function(choice)
    if question.done then
      if choice then
        vim.notify("nexus: that question was withdrawn (the turn was cancelled)", vim.log.levels.WARN)
      end
      return
    end
    if choice and choice.optionId then
      question.finish({ outcome = protocol.OUTCOME_SELECTED, optionId = choice.optionId })
    else
      question.finish({ outcome = protocol.OUTCOME_CANCELLED })
    end
  end)
  if async then
    return coroutine.yield()
  end
  -- No coroutine (an old Neovim): only a picker that answered at once counts.
  question.finish(answer or { outcome = protocol.OUTCOME_CANCELLED })
  return answer
end

--- Close what the picker opened (floating windows since the question), if any.
---@param question nexus.Question
local function close_picker(question)
  for win in pairs(floating_windows()) do
    if not question.windows[win] and api.nvim_win_is_valid(win) then
      pcall(api.nvim_win_close, win, true)
    end
  end
  if api.nvim_get_mode().mode:sub(1, 1) == "i" then
    vim.cmd("stopinsert")
  end
end

--- Handler of `$/cancelRequest` from the server: withdraws a pending question.
function M.handle_cancel(_, params, ctx)
  local id = type(params) == "table" and params.id or nil
  local mine = vim.tbl_filter(function(q)
    return q.client_id == ctx.client_id
  end, pending)
  local target
  for _, q in ipairs(mine) do
    if q.id ~= nil and q.id == id then
      target = q
    end
  end
  -- Without ids (the lookup failed) only an unambiguous question is withdrawn.
  if not target and #mine == 1 and mine[1].id == nil then
    target = mine[1]
  end
  if not target then
    return
  end
  close_picker(target)
  target.finish({ outcome = protocol.OUTCOME_CANCELLED })
  vim.notify("nexus: question withdrawn: " .. M.prompt(target.params), vim.log.levels.INFO)
end

--- Questions waiting for an answer (for tests and statuslines).
---@return integer
function M.pending_count()
  return #pending
end

--- The JSON-RPC ids of the questions waiting (nil where it was not found).
---@return table
function M.pending_ids()
  return vim.tbl_map(function(q)
    return q.id == nil and vim.NIL or q.id
  end, pending)
end

---@param grant table an item of nexus/permissions/list
---@return string
function M.format_grant(grant)
  local when = tostring(grant.createdAt or ""):gsub("T", " "):sub(1, 16)
  return string.format("%s %s `%s`  [%s]", grant.action or "?", grant.tool or "?", grant.match or "", when)
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
  require("nexus.client").request(c, protocol.SESSION_SET_MODE, params, function(err)
    if err then
      return done("could not set the mode: " .. require("nexus.session").describe_error(err))
    end
    ws.mode_session = params.sessionId
    done(nil)
  end)
end

--- Set the permission mode of the workspace's session (:NexusMode). Without a
--- session yet, the mode is kept and given to the session the next ask creates.
---@param mode string|nil nil: pick one with vim.ui.select
function M.set_mode(mode)
  local session = require("nexus.session")
  local ws = session.current()
  if mode == nil or mode == "" then
    vim.ui.select(M.MODES, {
      prompt = "Nexus permission mode",
      kind = "nexus_mode",
      format_item = function(m)
        return string.format("%-12s %s", m, M.MODE_HELP[m])
      end,
    }, function(choice)
      if choice then
        M.set_mode(choice)
      end
    end)
    return
  end
  if not M.MODE_HELP[mode] then
    session.notify(
      string.format("unknown mode %q (one of %s)", mode, table.concat(M.MODES, ", ")),
      vim.log.levels.ERROR
    )
    return
  end
  ws.mode, ws.mode_session = mode, nil
  if not ws.session_id then
    session.notify(string.format("mode %s (%s) for the next session", mode, M.MODE_HELP[mode]))
    return
  end
  require("nexus.client").with_client(ws.root, function(c, start_err)
    if not c then
      return session.notify(start_err or "the nexus server did not start", vim.log.levels.ERROR)
    end
    M.apply_mode(ws, c, function(err)
      if err then
        return session.notify(err, vim.log.levels.ERROR)
      end
      session.notify(string.format("mode %s (%s)", mode, M.MODE_HELP[mode]))
      require("nexus.context").refresh(ws)
      vim.api.nvim_exec_autocmds("User", {
        pattern = "NexusModeChanged",
        modeline = false,
        data = { root = ws.root, sessionId = ws.session_id, mode = mode },
      })
    end)
  end)
end

--- :NexusPermissions: the workspace's stored grants; picking one revokes it.
---@param done fun(revoked: table|nil)|nil called after the pick (for tests)
function M.manage(done)
  done = done or function() end
  local session = require("nexus.session")
  local client = require("nexus.client")
  local ws = session.current()
  client.with_client(ws.root, function(c, start_err)
    if not c then
      session.notify(start_err or "the nexus server did not start", vim.log.levels.ERROR)
      return done(nil)
    end
    client.request(c, protocol.PERMISSIONS_LIST, client.object(nil), function(err, result)
      if err or type(result) ~= "table" then
        session.notify("could not list the grants: " .. (err and session.describe_error(err) or "no result"), vim.log.levels.ERROR)
        return done(nil)
      end
      local grants = result.grants or {}
      if #grants == 0 then
        session.notify("no stored permission grants in this workspace")
        return done(nil)
      end
      vim.ui.select(grants, {
        prompt = "Nexus grants (pick one to revoke it)",
        kind = "nexus_grant",
        format_item = M.format_grant,
      }, function(choice)
        if not choice then
          return done(nil)
        end
        client.request(c, protocol.PERMISSIONS_REVOKE, { id = choice.id }, function(rerr, rresult)
          if rerr or type(rresult) ~= "table" then
            session.notify("could not revoke: " .. (rerr and session.describe_error(rerr) or "no result"), vim.log.levels.ERROR)
            return done(nil)
          end
          if rresult.revoked then
            session.notify("revoked: " .. M.format_grant(choice))
          else
            session.notify("that grant was already gone", vim.log.levels.WARN)
          end
          done(choice)
        end)
      end)
    end)
  end)
end

return M

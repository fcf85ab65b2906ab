--- Context (protocol v2 §4): the usage meter (chat winbar, `status()`),
--- compaction notes, attachments (`:NexusAsk` ranges, `:NexusAdd`,
--- `:NexusAddDiagnostics`) and the client side of `nexus/editor/diagnostics`
--- answered from `vim.diagnostic.get`.
local api = vim.api

local M = {}

--- Latest usage update per workspace root.
---@type table<string, table>
M.usage = {}

---@param n number|nil
---@return string
function M.tokens(n)
  if type(n) ~= "number" then
    return "?"
  end
  if n >= 1000 then
    local text = string.format("%.1fk", n / 1000)
    return (text:gsub("%.0k$", "k"))
  end
  return tostring(math.floor(n))
end

--- `12.3k/128k (10%)`, `~` in front when the server estimated it.
---@param usage table|nil a usage update
---@return string
function M.usage_text(usage)
  if type(usage) ~= "table" or type(usage.usedTokens) ~= "number" then
    return ""
  end
  local text = M.tokens(usage.usedTokens)
  if type(usage.contextTokens) == "number" and usage.contextTokens > 0 then
    text = string.format(
      "%s/%s (%d%%)",
      text,
      M.tokens(usage.contextTokens),
      math.floor(usage.usedTokens * 100 / usage.contextTokens + 0.5)
    )
  end
  if usage.estimated then
    text = "~" .. text
  end
  return text
end

--- The chat window's winbar: title, mode, context meter.
---@param ws nexus.Workspace
---@return string
function M.winbar(ws)
  -- Statusline syntax: a literal % is %%.
  local title = (ws.title and ws.title ~= "") and ws.title or "Nexus"
  local parts = { (title:gsub("%%", "%%%%")) }
  if ws.mode then
    parts[#parts + 1] = ws.mode
  end
  if ws.queue and #ws.queue > 0 then
    parts[#parts + 1] = string.format("%d queued", #ws.queue)
  end
  local usage = M.usage_text(M.usage[ws.root])
  if usage ~= "" then
    parts[#parts + 1] = "%#NexusUsage#context " .. usage:gsub("%%", "%%%%") .. "%*"
  end
  return table.concat(parts, " · ")
end

--- The chat window's winbar expression (evaluated per window).
M.WINBAR = "%{%v:lua.require'nexus.context'.bar()%}"

--- Evaluated by the chat window's 'winbar'.
---@return string
function M.bar()
  local ok, text = pcall(function()
    local buf = api.nvim_win_get_buf(vim.g.statusline_winid or 0)
    local ws = require("nexus.session").workspaces[vim.b[buf].nexus_root]
    return ws and M.winbar(ws) or ""
  end)
  return ok and text or ""
end

--- Redraw the winbars showing the chat.
---@param ws nexus.Workspace
function M.refresh(ws)
  if ws.chat.buf and api.nvim_buf_is_valid(ws.chat.buf) then
    vim.cmd("redrawstatus!")
  end
end

--- A usage update.
---@param ws nexus.Workspace
---@param params table
function M.on_usage(ws, params)
  M.usage[ws.root] = params
  M.refresh(ws)
end

--- A compaction update: a note in the chat.
---@param ws nexus.Workspace
---@param params table
function M.on_compaction(ws, params)
  if params.phase == "start" then
    ws.chat:note(string.format("compacting the context (%s tokens)…", M.tokens(params.tokensBefore)))
  elseif params.summary == nil or params.summary == vim.NIL then
    ws.chat:note("context not compacted: " .. tostring(params.fallback or "the summary failed"))
  else
    ws.chat:note(string.format(
      "context compacted: %s → %s tokens (the summary is in :NexusLog)",
      M.tokens(params.tokensBefore),
      M.tokens(params.tokensAfter)
    ))
  end
end

--- Usage of the current workspace for statuslines ("" when none yet).
---@return string
function M.status()
  local ok, root = pcall(function()
    return require("nexus.client").root_for(0)
  end)
  local usage = ok and M.usage[root] or nil
  local text = M.usage_text(usage)
  return text ~= "" and ("ctx " .. text) or ""
end

--- :NexusCompact: summarise the session's older exchanges now (between turns);
--- the `compaction` updates show it in the chat.
---@param ws nexus.Workspace
---@param done fun(result: table|nil)|nil
function M.compact(ws, done)
  done = done or function() end
  local session = require("nexus.session")
  local client = require("nexus.client")
  if not ws.session_id then
    session.notify("no session yet in this workspace", vim.log.levels.WARN)
    return done(nil)
  end
  client.with_client(ws.root, function(c, start_err)
    if not c then
      session.notify(start_err or "the nexus server did not start", vim.log.levels.ERROR)
      return done(nil)
    end
    local params = { sessionId = ws.session_id }
    client.request(c, require("nexus.protocol").SESSION_COMPACT, params, function(err, result)
      if err or type(result) ~= "table" then
        session.notify("could not compact: " .. (err and session.describe_error(err) or "no result"), vim.log.levels.ERROR)
        return done(nil)
      end
      if not result.compacted then
        session.notify("not compacted: " .. tostring(result.fallback or "nothing old enough to summarise"))
      end
      done(result)
    end)
  end)
end

-- Attachments -----------------------------------------------------------------

--- A file attachment, whole or lines `line1`..`line2` (1-based, inclusive).
---@param path string
---@param line1 integer|nil
---@param line2 integer|nil
---@return table ContextItem
function M.file_item(path, line1, line2)
  local item = { type = "file", uri = vim.uri_from_fname(vim.fs.normalize(vim.fn.fnamemodify(path, ":p"))) }
  if line1 and line2 then
    -- Ending at the start of the next line: whole lines in any position encoding.
    item.range = {
      start = { line = line1 - 1, character = 0 },
      ["end"] = { line = line2, character = 0 },
    }
  end
  return item
end

--- The diagnostics of a file (or of every file, `path` nil).
---@param path string|nil
---@return table ContextItem
function M.diagnostics_item(path)
  local item = { type = "diagnostics" }
  if path then
    item.uri = vim.uri_from_fname(vim.fs.normalize(vim.fn.fnamemodify(path, ":p")))
  end
  return item
end

--- A short name of an item, as the chat lists what waits for the next ask.
---@param item table
---@param root string
---@return string
function M.item_name(item, root)
  local function rel(uri)
    local name = vim.uri_to_fname(uri)
    return vim.startswith(name, root .. "/") and name:sub(#root + 2) or name
  end
  if item.type == "file" then
    local name = rel(item.uri)
    if item.range then
      local first, last = item.range.start.line + 1, item.range["end"].line
      name = first == last and string.format("%s:%d", name, first)
        or string.format("%s:%d-%d", name, first, last)
    end
    return name
  elseif item.type == "diagnostics" then
    return item.uri and ("diagnostics of " .. rel(item.uri)) or "diagnostics"
  end
  return tostring(item.title or item.type)
end

-- nexus/editor/diagnostics -----------------------------------------------------

local function lsp_diagnostic(d)
  local original = type(d.user_data) == "table" and d.user_data.lsp or nil
  if type(original) == "table" and original.range then
    return original -- a language server's own, positions in its encoding
  end
  local out = {
    range = {
      start = { line = d.lnum, character = d.col },
      ["end"] = { line = d.end_lnum or d.lnum, character = d.end_col or d.col },
    },
    severity = d.severity,
    message = d.message,
  }
  if d.source then
    out.source = d.source
  end
  if d.code then
    out.code = d.code
  end
  return out
end

--- Diagnostics of the buffers of `uris` (every buffer with some when empty).
---@param uris string[]|nil
---@return table[] items `{ uri, diagnostics }`
function M.collect(uris)
  local buffers = {}
  if type(uris) == "table" and #uris > 0 then
    for _, uri in ipairs(uris) do
      local ok, bufnr = pcall(vim.uri_to_bufnr, uri)
      buffers[#buffers + 1] = { uri = uri, bufnr = ok and api.nvim_buf_is_loaded(bufnr) and bufnr or nil }
    end
  else
    local seen = {}
    for _, d in ipairs(vim.diagnostic.get(nil)) do
      if not seen[d.bufnr] and api.nvim_buf_is_valid(d.bufnr) then
        seen[d.bufnr] = true
        buffers[#buffers + 1] = { uri = vim.uri_from_bufnr(d.bufnr), bufnr = d.bufnr }
      end
    end
  end
  local items = {}
  for _, entry in ipairs(buffers) do
    local diagnostics = {}
    if entry.bufnr then
      for _, d in ipairs(vim.diagnostic.get(entry.bufnr)) do
        diagnostics[#diagnostics + 1] = lsp_diagnostic(d)
      end
    end
    items[#items + 1] = { uri = entry.uri, diagnostics = diagnostics }
  end
  return items
end

-- The changedtick each buffer had when its diagnostics last changed: a buffer
-- changed since (the agent's edit) has diagnostics of an older text.
local diagnosed_tick = {}
api.nvim_create_autocmd("DiagnosticChanged", {
  group = api.nvim_create_augroup("nexus_diagnostics", { clear = true }),
  callback = function(ev)
    if api.nvim_buf_is_valid(ev.buf) then
      diagnosed_tick[ev.buf] = vim.b[ev.buf].changedtick
    end
  end,
})

-- A buffer whose language servers have not yet reported on its current text.
local function stale(bufnr)
  if not api.nvim_buf_is_loaded(bufnr) or diagnosed_tick[bufnr] == vim.b[bufnr].changedtick then
    return false
  end
  for _, c in ipairs(vim.lsp.get_clients({ bufnr = bufnr })) do
    if c.name ~= "nexus" then
      return true
    end
  end
  return false
end

--- Handler of the server's `nexus/editor/diagnostics` request. Buffers just
--- changed (by the agent's edit) get up to `diagnostics_wait_ms` for their
--- language servers to report on the new text, so the answer describes it.
function M.handle_diagnostics(_, params)
  local uris = type(params) == "table" and params.uris or nil
  local co, is_main = coroutine.running()
  local limit = require("nexus.config").options.diagnostics_wait_ms
  if co and not is_main and limit > 0 and type(uris) == "table" then
    local buffers = {}
    for _, uri in ipairs(uris) do
      local ok, bufnr = pcall(vim.uri_to_bufnr, uri)
      if ok then
        buffers[#buffers + 1] = bufnr
      end
    end
    local function settled()
      for _, bufnr in ipairs(buffers) do
        if stale(bufnr) then
          return false
        end
      end
      return true
    end
    if not settled() then
      local timer, waited, resumed = assert(vim.uv.new_timer()), 0, false
      timer:start(20, 20, vim.schedule_wrap(function()
        waited = waited + 20
        if not resumed and (settled() or waited >= limit) then
          resumed = true
          timer:stop()
          timer:close()
          coroutine.resume(co)
        end
      end))
      coroutine.yield()
    end
  end
  return { items = M.collect(uris) }
end

return M

--- The chat buffer: one markdown scratch buffer per workspace, shown in a
--- split and reused. It renders a turn as its `nexus/session/update`s arrive:
--- content appended in place, reasoning dimmed as a quote, one line per tool
--- call whose status is rewritten in place, and a footer at turnEnd.
local config = require("nexus.config")
local format = require("nexus.format")
local tooloutput = require("nexus.tooloutput")

local api = vim.api

local M = {}

local ns_reasoning = api.nvim_create_namespace("nexus_reasoning")
local ns_tools = api.nvim_create_namespace("nexus_tools")
local ns_status = api.nvim_create_namespace("nexus_tool_status")
local ns_meta = api.nvim_create_namespace("nexus_meta")

---@class nexus.Chat
---@field root string
---@field buf integer|nil
---@field block string|nil kind of the last thing written
---@field tools table<string, {mark: integer, name: string, args: table|nil}>
local Chat = {}
Chat.__index = Chat
Chat.ns_tools = ns_tools

---@param root string
---@return nexus.Chat
function M.new(root)
  return setmetatable({ root = root, buf = nil, block = nil, tools = {} }, Chat)
end

--- The chat buffer, created on first use.
---@return integer
function Chat:buffer()
  if self.buf and api.nvim_buf_is_valid(self.buf) then
    if api.nvim_buf_is_loaded(self.buf) then
      return self.buf
    end
    -- Unloaded (:bdelete): a scratch buffer's text is gone; start a fresh one.
    api.nvim_buf_delete(self.buf, { force = true })
  end
  local buf = api.nvim_create_buf(false, true)
  api.nvim_buf_set_name(buf, "nexus://chat/" .. self.root)
  vim.b[buf].nexus_root = self.root
  vim.bo[buf].filetype = "markdown"
  vim.bo[buf].modifiable = false
  local function map(lhs, rhs, desc)
    vim.keymap.set("n", lhs, rhs, { buffer = buf, nowait = true, desc = desc })
  end
  map("q", "<Cmd>close<CR>", "Nexus: close the chat window")
  map("<C-c>", "<Cmd>NexusCancel<CR>", "Nexus: cancel the running turn")
  map("<CR>", "<Cmd>NexusAsk<CR>", "Nexus: ask")
  self.buf = buf
  self.block = nil
  self.tools = {}
  self:_set(0, -1, { "# Nexus", "", "" })
  self.block = "header"
  return buf
end

---@return integer|nil window showing the chat in the current tab page
function Chat:window()
  if not (self.buf and api.nvim_buf_is_valid(self.buf)) then
    return nil
  end
  for _, win in ipairs(api.nvim_tabpage_list_wins(0)) do
    if api.nvim_win_get_buf(win) == self.buf then
      return win
    end
  end
  return nil
end

local split_commands = {
  right = "botright vertical sbuffer %d",
  left = "topleft vertical sbuffer %d",
  above = "topleft sbuffer %d",
  below = "botright sbuffer %d",
  tab = "tab sbuffer %d",
}

--- Show the chat (reusing its window when visible).
---@param focus boolean|nil move the cursor into it
---@return integer window
function Chat:open(focus)
  local buf = self:buffer()
  local win = self:window()
  if not win then
    local previous = api.nvim_get_current_win()
    local opts = config.options.chat
    if opts.position == "current" then
      api.nvim_win_set_buf(0, buf)
    else
      vim.cmd(string.format(split_commands[opts.position], buf))
      local vertical = opts.position == "right" or opts.position == "left"
      if opts.position ~= "tab" then
        local total = vertical and vim.o.columns or vim.o.lines
        local size = opts.size < 1 and math.floor(total * opts.size) or opts.size
        if vertical then
          api.nvim_win_set_width(0, math.max(size, 20))
        else
          api.nvim_win_set_height(0, math.max(size, 5))
        end
      end
    end
    win = api.nvim_get_current_win()
    vim.wo[win].wrap = true
    vim.wo[win].linebreak = true
    vim.wo[win].number = false
    vim.wo[win].relativenumber = false
    vim.wo[win].signcolumn = "no"
    vim.wo[win].spell = false
    -- Title, permission mode and the context meter (nexus.context).
    vim.wo[win].winbar = require("nexus.context").WINBAR
    api.nvim_win_set_cursor(win, { api.nvim_buf_line_count(buf), 0 })
    if not focus and api.nvim_win_is_valid(previous) then
      api.nvim_set_current_win(previous)
    end
  elseif focus then
    api.nvim_set_current_win(win)
  end
  return win
end

--- Close the chat window(s) of the current tab page.
function Chat:close()
  local win = self:window()
  while win do
    if #api.nvim_tabpage_list_wins(0) == 1 then
      return
    end
    api.nvim_win_close(win, true)
    win = self:window()
  end
end

--- The buffer's lines (the whole transcript as shown).
---@return string[]
function Chat:lines()
  if not (self.buf and api.nvim_buf_is_valid(self.buf)) then
    return {}
  end
  return api.nvim_buf_get_lines(self.buf, 0, -1, false)
end

function Chat:_set(first, last, lines)
  local buf = self.buf
  local old_count = api.nvim_buf_line_count(buf)
  vim.bo[buf].modifiable = true
  api.nvim_buf_set_lines(buf, first, last, false, lines)
  vim.bo[buf].modifiable = false
  self:_follow(old_count)
end

-- Windows whose cursor sat on the last line keep following the stream.
function Chat:_follow(old_count)
  local count = api.nvim_buf_line_count(self.buf)
  local current = api.nvim_get_current_win()
  for _, win in ipairs(api.nvim_list_wins()) do
    if api.nvim_win_get_buf(win) == self.buf then
      local row = api.nvim_win_get_cursor(win)[1]
      if win ~= current or row >= old_count then
        api.nvim_win_set_cursor(win, { count, 0 })
      end
    end
  end
end

---@return integer row 0-based, string text of the last line
function Chat:_last()
  local count = api.nvim_buf_line_count(self.buf)
  return count - 1, api.nvim_buf_get_lines(self.buf, count - 1, count, false)[1]
end

-- Start a new block (paragraph) unless the last write was of the same kind.
function Chat:_begin(kind)
  self:buffer()
  if self.block == kind then
    return
  end
  local _, last = self:_last()
  if last ~= "" then
    self:_set(-1, -1, { "", "" })
  end
  self.block = kind
end

--- Append text to the last line, continuing it; new lines get `prefix`.
---@return integer first_row, integer last_row
function Chat:_write(text, prefix)
  local parts = vim.split(text, "\n", { plain = true })
  local row, last = self:_last()
  local lines = { last .. parts[1] }
  for i = 2, #parts do
    lines[#lines + 1] = prefix .. parts[i]
  end
  self:_set(row, row + 1, lines)
  return row, row + #lines - 1
end

--- Empty the chat (a new or loaded session).
---@param title string|nil
function Chat:clear(title)
  local buf = self:buffer()
  for _, ns in ipairs({ ns_reasoning, ns_tools, ns_status, ns_meta }) do
    api.nvim_buf_clear_namespace(buf, ns, 0, -1)
  end
  tooloutput.clear(buf)
  self.tools = {}
  self:_set(0, -1, { "# " .. ((title and title ~= "") and title or "Nexus"), "", "" })
  self.block = "header"
end

--- The user's prompt, then the heading the answer streams under.
---@param prompt string
---@param heading string|nil default "You"
function Chat:user(prompt, heading)
  self:_begin("user")
  local row = self:_last()
  local lines = { "## " .. (heading or "You"), "" }
  vim.list_extend(lines, vim.split(prompt, "\n", { plain = true }))
  vim.list_extend(lines, { "", "## Nexus", "", "" })
  self:_set(row, row + 1, lines)
  self.block = "header"
end

--- An assistant text delta.
---@param text string
function Chat:content(text)
  self:buffer()
  if text == "" then
    return
  end
  self:_begin("content")
  self:_write(text, "")
end

--- A reasoning delta, shown dimmed as a quote.
---@param text string|nil
---@param active boolean|nil
function Chat:reasoning(text, active)
  self:buffer()
  if type(text) == "string" and text ~= "" then
    if self.block ~= "reasoning" then
      self:_begin("reasoning")
      self:_write("> ", "")
    end
    local first, last = self:_write(text, "> ")
    for row = first, last do
      api.nvim_buf_set_extmark(self.buf, ns_reasoning, row, 0, {
        id = row + 1,
        line_hl_group = "NexusReasoning",
      })
    end
  end
  if active == false and self.block == "reasoning" then
    self.block = "reasoning-done"
  end
end

function Chat:_status_hl(row, status)
  api.nvim_buf_clear_namespace(self.buf, ns_status, row, row + 1)
  local group = format.status_hl[status]
  if group then
    api.nvim_buf_set_extmark(self.buf, ns_status, row, 2, {
      end_col = 4 + #status,
      hl_group = group,
    })
  end
end

--- A tool call the model asked for: one line, updated in place later.
---@param id string
---@param name string
---@param args table|nil
---@param status string
function Chat:tool_call(id, name, args, status)
  self:_begin("tool")
  local row, last = self:_last()
  local line = format.tool_line(name, args, status, nil)
  if last == "" then
    self:_set(row, row + 1, { line })
  else
    row = row + 1
    self:_set(-1, -1, { line })
  end
  local mark = api.nvim_buf_set_extmark(self.buf, ns_tools, row, 0, { right_gravity = false })
  self.tools[id] = { mark = mark, name = name, args = args, status = status }
  self:_status_hl(row, status)
end

--- A tool call's new status (running, completed, failed, cancelled, skipped);
--- a running command's `output` chunk streams under its line, its exit status
--- follows the final update.
---@param id string
---@param name string
---@param status string
---@param err string|nil
---@param update table|nil the whole toolCallUpdate
function Chat:tool_update(id, name, status, err, update)
  self:buffer()
  local tool = self.tools[id]
  if not tool then
    self:tool_call(id, name, nil, status)
    tool = self.tools[id]
  end
  update = update or {}
  -- The final update's `output` is what the model got: the chunks showed it already.
  if status == "running" and type(update.output) == "string" then
    tooloutput.append(self, tool, update.output)
  elseif status ~= "running" then
    tooloutput.asking(self, tool, nil)
    tooloutput.finish(self, tool, update)
  end
  if tool.status == status then
    return -- one more output chunk: the line stays as it is
  end
  tool.status = status
  local row = api.nvim_buf_get_extmark_by_id(self.buf, ns_tools, tool.mark, {})[1]
  local line = format.tool_line(tool.name or name, tool.args, status, err)
  local old = api.nvim_buf_get_lines(self.buf, row, row + 1, false)[1]
  vim.bo[self.buf].modifiable = true
  api.nvim_buf_set_text(self.buf, row, 0, row, #old, { line })
  vim.bo[self.buf].modifiable = false
  self:_status_hl(row, status)
end

--- Mark a tool line while its permission question is open (nil: clear).
---@param id string
---@param text string|nil
function Chat:asking(id, text)
  tooloutput.asking(self, self.tools[id], text)
end

--- The footer of a turn: how it stopped and the tokens it used.
---@param stop_reason string
---@param usage table|nil
---@param note string|nil
function Chat:footer(stop_reason, usage, note)
  self:_begin("footer")
  local row = self:_last()
  self:_set(row, row + 1, { format.footer(stop_reason, usage, note) })
  api.nvim_buf_set_extmark(self.buf, ns_meta, row, 0, { line_hl_group = "NexusFooter" })
end

--- An error of the turn or of a request.
---@param message string
function Chat:error(message)
  self:_begin("error")
  local row = self:_last()
  local lines = vim.split("**Error:** " .. message, "\n", { plain = true })
  self:_set(row, row + 1, lines)
  for r = row, row + #lines - 1 do
    api.nvim_buf_set_extmark(self.buf, ns_meta, r, 0, { line_hl_group = "NexusError" })
  end
end

--- An informational line (not part of the conversation).
---@param text string
function Chat:note(text)
  self:_begin("note")
  local row, last = self:_last()
  if last ~= "" then
    -- Notes in a row: each on its own line.
    self:_set(-1, -1, { "" })
    row = row + 1
  end
  self:_set(row, row + 1, { "_" .. text .. "_" })
  api.nvim_buf_set_extmark(self.buf, ns_meta, row, 0, { line_hl_group = "NexusFooter" })
end

--- Render a loaded session's messages (nexus/session/load).
---@param messages table[]
function Chat:history(messages)
  local results = {}
  for _, message in ipairs(messages) do
    if message.role == "tool" and message.toolCallId then
      results[message.toolCallId] = message
    end
  end
  for _, message in ipairs(messages) do
    local content = type(message.content) == "string" and message.content or ""
    if message.role == "system" and message.name == "compaction" then
      self:note("the conversation before this point was summarised (compaction; see :NexusLog)")
    elseif message.role == "user" then
      self:user(content)
    elseif message.role == "assistant" then
      self:content(content)
      for _, call in ipairs(message.toolCalls or {}) do
        -- A loaded history says a tool ran, not how it went.
        local status = results[call.toolCallId] and "done" or "pending"
        self:tool_call(call.toolCallId, call.name, call.arguments, status)
      end
    end
  end
end

return M

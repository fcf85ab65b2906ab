--- A running tool's output in the chat (run_command, protocol v2 §2): the
--- `output` chunks of `toolCallUpdate`s streamed in a fenced block right under
--- the tool's line (before the lines of later tools), then the exit status; and
--- the "asking" mark on a tool line while its permission question is open.
local api = vim.api

local M = {}

local ns_output = api.nvim_create_namespace("nexus_tool_output")
local ns_asking = api.nvim_create_namespace("nexus_tool_asking")

local INDENT = "  "

-- Terminal colour codes and carriage returns mean nothing in a buffer.
---@param text string
---@return string
function M.clean(text)
  text = text:gsub("\27%[[%d;?]*[%a]", ""):gsub("\r\n", "\n"):gsub("\r", "\n")
  return text
end

---@param chat nexus.Chat
---@param tool table the chat's record of the tool call
---@return integer row 0-based of the tool line
local function tool_row(chat, tool)
  return api.nvim_buf_get_extmark_by_id(chat.buf, chat.ns_tools, tool.mark, {})[1]
end

---@param chat nexus.Chat
local function set_lines(chat, first, last, lines)
  local old_count = api.nvim_buf_line_count(chat.buf)
  vim.bo[chat.buf].modifiable = true
  api.nvim_buf_set_lines(chat.buf, first, last, false, lines)
  vim.bo[chat.buf].modifiable = false
  chat:_follow(old_count)
end

-- Insert lines after `row` by splitting at its end: the marks of later tool
-- lines (left gravity, at column 0 of the next row) move down with them.
local function insert_after(chat, row, lines)
  local text = api.nvim_buf_get_lines(chat.buf, row, row + 1, false)[1]
  local old_count = api.nvim_buf_line_count(chat.buf)
  vim.bo[chat.buf].modifiable = true
  api.nvim_buf_set_text(chat.buf, row, #text, row, #text, { "", unpack(lines) })
  vim.bo[chat.buf].modifiable = false
  chat:_follow(old_count)
end

--- The row of the block's closing fence, opening the block on first use.
---@param chat nexus.Chat
---@param tool table
---@return integer
local function closing_row(chat, tool)
  if tool.fence then
    return api.nvim_buf_get_extmark_by_id(chat.buf, ns_output, tool.fence, {})[1]
  end
  local row = tool_row(chat, tool)
  insert_after(chat, row, { INDENT .. "```", INDENT, INDENT .. "```" })
  -- Gravity right: lines inserted at the fence's row push it down.
  tool.fence = api.nvim_buf_set_extmark(chat.buf, ns_output, row + 3, 0, {})
  return row + 3
end

--- Append an output chunk under the tool's line.
---@param chat nexus.Chat
---@param tool table
---@param text string
function M.append(chat, tool, text)
  text = M.clean(text)
  if text == "" then
    return
  end
  local fence = closing_row(chat, tool)
  local last = api.nvim_buf_get_lines(chat.buf, fence - 1, fence, false)[1]
  local parts = vim.split(text, "\n", { plain = true })
  local lines = { last .. parts[1] }
  for i = 2, #parts do
    lines[#lines + 1] = INDENT .. parts[i]
  end
  set_lines(chat, fence - 1, fence, lines)
end

--- How a command ended, from its final update's details.
---@param update table
---@return string|nil
function M.status_text(update)
  local parts = {}
  if update.timedOut then
    parts[#parts + 1] = "timed out"
  end
  if type(update.signal) == "string" then
    parts[#parts + 1] = "ended by " .. update.signal
  elseif type(update.exitCode) == "number" then
    parts[#parts + 1] = "exit " .. update.exitCode
  end
  if #parts == 0 then
    return nil
  end
  if type(update.durationMs) == "number" then
    parts[#parts + 1] = string.format("%d ms", update.durationMs)
  end
  if update.truncated then
    parts[#parts + 1] = "output cut"
  end
  return table.concat(parts, " · ")
end

--- The exit status line under the output (or under the tool line).
---@param chat nexus.Chat
---@param tool table
---@param update table the final toolCallUpdate
function M.finish(chat, tool, update)
  local text = M.status_text(update)
  if not text or tool.finished then
    return
  end
  tool.finished = true
  local after
  if tool.fence then
    after = api.nvim_buf_get_extmark_by_id(chat.buf, ns_output, tool.fence, {})[1]
    -- A trailing newline of the output leaves an empty last line: drop it.
    local before = api.nvim_buf_get_lines(chat.buf, after - 1, after, false)[1]
    if before == INDENT and after - 1 > tool_row(chat, tool) + 1 then
      set_lines(chat, after - 1, after, {})
      after = after - 1
    end
  else
    after = tool_row(chat, tool)
  end
  insert_after(chat, after, { INDENT .. "_" .. text .. "_" })
  local row = after + 1
  local group = (update.exitCode == 0 and not update.signal) and "NexusFooter" or "NexusError"
  api.nvim_buf_set_extmark(chat.buf, ns_output, row, 0, { line_hl_group = group })
end

--- Mark a tool line while its permission question is open; clear it after.
---@param chat nexus.Chat
---@param tool table|nil
---@param text string|nil nil clears the mark
function M.asking(chat, tool, text)
  if not tool or not (chat.buf and api.nvim_buf_is_valid(chat.buf)) then
    return
  end
  if tool.asking then
    pcall(api.nvim_buf_del_extmark, chat.buf, ns_asking, tool.asking)
    tool.asking = nil
  end
  if text then
    tool.asking = api.nvim_buf_set_extmark(chat.buf, ns_asking, tool_row(chat, tool), 0, {
      virt_text = { { text, "NexusAsking" } },
      virt_text_pos = "eol",
    })
  end
end

--- Forget every mark (the chat was cleared).
---@param buf integer
function M.clear(buf)
  api.nvim_buf_clear_namespace(buf, ns_output, 0, -1)
  api.nvim_buf_clear_namespace(buf, ns_asking, 0, -1)
end

return M

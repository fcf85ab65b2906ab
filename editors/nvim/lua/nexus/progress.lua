--- Tool batch progress. Neovim turns the server's `$/progress` into the
--- `LspProgress` autocmd itself, so fidget.nvim and statuslines show it with no
--- help from us; this module keeps the latest message for `status()` and, with
--- `progress.notify = true`, shows it with vim.notify for setups without such a plugin.
local config = require("nexus.config")

local M = {}

--- Latest progress value per client id (cleared at `end`).
---@type table<integer, table>
local latest = {}

---@param value table lsp.WorkDoneProgressBegin|Report|End
---@return string
function M.format(value)
  local text = value.title or "Nexus"
  if value.message and value.message ~= "" then
    text = text .. ": " .. value.message
  end
  if value.kind ~= "end" and type(value.percentage) == "number" then
    text = string.format("%s (%d%%)", text, value.percentage)
  end
  return text
end

---@param ev table LspProgress autocmd event
local function on_progress(ev)
  local data = ev.data or {}
  local client = vim.lsp.get_client_by_id(data.client_id)
  if not client or client.name ~= "nexus" then
    return
  end
  local value = data.params and data.params.value
  if type(value) ~= "table" then
    return
  end
  latest[client.id] = value.kind ~= "end" and value or nil
  if config.options.progress.notify then
    vim.notify(M.format(value), vim.log.levels.INFO, { title = "Nexus" })
  end
end

local group = vim.api.nvim_create_augroup("nexus_progress", { clear = true })
vim.api.nvim_create_autocmd("LspProgress", { group = group, callback = on_progress })

--- A short text for statuslines: the running batch of any nexus client and
--- how full the current workspace's context is, or "".
---@return string
function M.status()
  local parts = {}
  for _, value in pairs(latest) do
    parts[1] = M.format(value)
    break
  end
  if package.loaded["nexus.context"] then
    local usage = require("nexus.context").status()
    if usage ~= "" then
      parts[#parts + 1] = usage
    end
  end
  return table.concat(parts, " · ")
end

return M

--- Options of the plugin: defaults, merge and validation.
---
--- `setup()` stores the merged options here; every other module reads
--- `require("nexus.config").options`, so setup may be called before or after
--- the first command (lazy.nvim `opts`) and again to change options.
local M = {}

---@class nexus.ChatOptions
---@field position "right"|"left"|"above"|"below"|"tab"|"current" where the chat split opens
---@field size number columns/rows of the split; below 1 it is a fraction of the editor
---@field focus boolean move the cursor into the chat window when a turn starts

---@class nexus.ProgressOptions
---@field notify boolean also show tool batch progress with vim.notify

---@class nexus.Options
---@field cmd string[]|nil command that starts the server (stdio); nil: nexus-lsp on PATH, else the project's .venv
---@field cmd_env table<string,string>|nil extra environment for the server
---@field settings table the server settings (protocol section 7)
---@field root_markers string[] files/folders marking a workspace root
---@field write_on_edit boolean write buffers changed by the agent's edits
---@field attach_buffers boolean attach the server to file buffers in the workspace
---@field cancel_timeout_ms integer settle the chat this long after a cancel without reply
---@field diagnostics_wait_ms integer how long the server's diagnostics question waits for other language servers to report on a just-edited buffer
---@field chat nexus.ChatOptions
---@field progress nexus.ProgressOptions
---@field on_attach fun(client: vim.lsp.Client, bufnr: integer)|nil
---@field capabilities table|nil extra client capabilities, merged over Neovim's

---@type nexus.Options
M.defaults = {
  cmd = nil,
  cmd_env = nil,
  settings = {},
  root_markers = { ".git", "AGENTS.md", "NEXUS.md", ".nexus", "pyproject.toml", "package.json" },
  write_on_edit = false,
  attach_buffers = true,
  cancel_timeout_ms = 3000,
  diagnostics_wait_ms = 2000,
  chat = { position = "right", size = 0.4, focus = false },
  progress = { notify = false },
  on_attach = nil,
  capabilities = nil,
}

---@type nexus.Options
M.options = vim.deepcopy(M.defaults)

local positions = { right = true, left = true, above = true, below = true, tab = true, current = true }

--- Check the plugin options (not the server settings: see nexus.health).
---@param opts table
---@return string[] problems, each naming the option
function M.validate(opts)
  local problems = {}
  local function expect(name, value, kind)
    if type(value) ~= kind then
      problems[#problems + 1] =
        string.format("%s: expected a %s, got %s", name, kind, type(value))
      return false
    end
    return true
  end
  if opts.cmd ~= nil and expect("cmd", opts.cmd, "table") then
    if #opts.cmd == 0 then
      problems[#problems + 1] = "cmd: must name the server command"
    end
    for i, part in ipairs(opts.cmd) do
      expect(string.format("cmd[%d]", i), part, "string")
    end
  end
  if opts.cmd_env ~= nil then
    expect("cmd_env", opts.cmd_env, "table")
  end
  expect("settings", opts.settings, "table")
  if expect("root_markers", opts.root_markers, "table") then
    for i, marker in ipairs(opts.root_markers) do
      expect(string.format("root_markers[%d]", i), marker, "string")
    end
  end
  expect("write_on_edit", opts.write_on_edit, "boolean")
  expect("attach_buffers", opts.attach_buffers, "boolean")
  if expect("cancel_timeout_ms", opts.cancel_timeout_ms, "number") and opts.cancel_timeout_ms <= 0 then
    problems[#problems + 1] = "cancel_timeout_ms: must be positive"
  end
  if expect("diagnostics_wait_ms", opts.diagnostics_wait_ms, "number") and opts.diagnostics_wait_ms < 0 then
    problems[#problems + 1] = "diagnostics_wait_ms: must be 0 or more"
  end
  if expect("chat", opts.chat, "table") then
    if not positions[opts.chat.position] then
      problems[#problems + 1] = string.format(
        "chat.position: expected right, left, above, below, tab or current, got %s",
        vim.inspect(opts.chat.position)
      )
    end
    if expect("chat.size", opts.chat.size, "number") and opts.chat.size <= 0 then
      problems[#problems + 1] = "chat.size: must be positive"
    end
    expect("chat.focus", opts.chat.focus, "boolean")
  end
  if expect("progress", opts.progress, "table") then
    expect("progress.notify", opts.progress.notify, "boolean")
  end
  if opts.on_attach ~= nil then
    expect("on_attach", opts.on_attach, "function")
  end
  if opts.capabilities ~= nil then
    expect("capabilities", opts.capabilities, "table")
  end
  return problems
end

--- Merge user options over the defaults. Invalid options are reported and
--- the defaults kept, so a typo never leaves the plugin unusable.
---@param user table|nil
---@return nexus.Options
function M.set(user)
  local merged = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), user or {})
  -- Lists replace, they do not merge index by index.
  if user and user.cmd then
    merged.cmd = user.cmd
  end
  if user and user.root_markers then
    merged.root_markers = user.root_markers
  end
  local problems = M.validate(merged)
  if #problems > 0 then
    vim.notify(
      "nexus: invalid options, defaults kept for them:\n  " .. table.concat(problems, "\n  "),
      vim.log.levels.ERROR
    )
    for _, problem in ipairs(problems) do
      local key = problem:match("^([%w_]+)")
      if key then
        merged[key] = vim.deepcopy(M.defaults[key])
      end
    end
  end
  M.options = merged
  return merged
end

return M

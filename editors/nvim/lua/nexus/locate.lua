--- Where the server command comes from when the `cmd` option is not set:
--- `nexus-lsp` on PATH (pipx / uv tool installs put it there), else the
--- project's own virtual environment (`.venv`), so a `pip install` into the
--- project works without configuration.
local M = {}

M.EXECUTABLE = "nexus-lsp"

--- How to get the command, for :checkhealth and the start error.
M.INSTALL_ADVICE = {
  "Install it so that it is on PATH: `pipx install /path/to/nexus-lsp` or "
    .. "`uv tool install /path/to/nexus-lsp` (a checkout of the repository)",
  "or into the project's virtual environment: `.venv/bin/pip install /path/to/nexus-lsp`",
  "or set `cmd` in require('nexus').setup{} (e.g. { '/path/to/nexus-lsp/.venv/bin/nexus-lsp' })",
}

---@param root string
---@return string[] the project-local executables tried, in order
function M.venv_candidates(root)
  if vim.fn.has("win32") == 1 then
    return { vim.fs.joinpath(root, ".venv", "Scripts", M.EXECUTABLE .. ".exe") }
  end
  return { vim.fs.joinpath(root, ".venv", "bin", M.EXECUTABLE) }
end

--- The command that starts the server for `root`.
---@param cmd string[]|nil the `cmd` option
---@param root string|nil the workspace root
---@return string[]|nil cmd, nil when nothing was found
---@return string where it came from ("option", "PATH", ".venv"), or what was tried
function M.server_cmd(cmd, root)
  if cmd ~= nil then
    return cmd, "option"
  end
  if vim.fn.executable(M.EXECUTABLE) == 1 then
    return { M.EXECUTABLE }, "PATH"
  end
  local tried = { M.EXECUTABLE .. " on PATH" }
  if root then
    for _, path in ipairs(M.venv_candidates(root)) do
      if vim.fn.executable(path) == 1 then
        return { path }, ".venv"
      end
      tried[#tried + 1] = path
    end
  end
  return nil, table.concat(tried, ", ")
end

--- The message when nothing was found.
---@param tried string
---@return string
function M.not_found(tried)
  return string.format(
    "nexus-lsp not found (tried %s). Install it with `pipx install` or `uv tool install` "
      .. "(see :checkhealth nexus), or set cmd in require('nexus').setup{}",
    tried
  )
end

return M

-- No `cmd` option: nexus-lsp not installed (the chat error and :checkhealth say how
-- to install it), then in the project's .venv (the server starts from there), then
-- on PATH (which wins). PATH starts without nexus-lsp (the Python side sets it).
local H = dofile(vim.fs.dirname(arg[0]) .. "/helpers.lua")

local function checkhealth()
  vim.cmd("checkhealth nexus")
  local lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  vim.cmd("bwipeout!")
  return lines
end

H.run(function(report)
  -- Not H.options(): it sets `cmd`.
  require("nexus").setup({ settings = H.env_json("NEXUS_TEST_SETTINGS") or {} })
  local locate = require("nexus.locate")
  local root = require("nexus").state().root
  report.root = root

  -- Nothing installed.
  local cmd, tried = locate.server_cmd(nil, root)
  report.missing = { found = cmd ~= nil, tried = tried }
  vim.cmd("NexusAsk hello")
  H.wait("the failed start to settle", function()
    return not H.state().running
  end, 5000)
  report.missing_chat = H.chat_lines()
  report.missing_health = checkhealth()

  -- In the project's .venv.
  local venv_bin = vim.fs.joinpath(root, ".venv", "bin")
  vim.fn.mkdir(venv_bin, "p")
  assert(vim.uv.fs_symlink(vim.env.NEXUS_TEST_VENV_BIN .. "/nexus-lsp", venv_bin .. "/nexus-lsp"))
  local started
  require("nexus.client").with_client(root, function(client, err)
    started = { cmd = client and client.config.cmd, err = err }
  end)
  H.wait("the server to start from .venv", function()
    return started
  end)
  report.venv_started = started
  report.venv_health = checkhealth()

  -- On PATH: preferred over the .venv.
  vim.env.PATH = vim.env.NEXUS_TEST_VENV_BIN .. ":" .. vim.env.PATH
  report.path_cmd = { locate.server_cmd(nil, root) }
  report.option_cmd = { locate.server_cmd({ "my-nexus", "--stdio" }, root) }
end)

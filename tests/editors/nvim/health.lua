-- :checkhealth nexus with a running server, with the key variable unset, and
-- with settings of the wrong shape (which must report errors).
local H = dofile(vim.fs.dirname(arg[0]) .. "/helpers.lua")

local function checkhealth()
  vim.cmd("checkhealth nexus")
  local lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  vim.cmd("bwipeout!")
  return lines
end

H.run(function(report)
  require("nexus").setup(H.options())
  local started = false
  require("nexus.client").with_client(require("nexus").state().root, function(client)
    started = client ~= nil
  end)
  H.wait("the server to start", function()
    return started
  end)
  report.with_key = checkhealth()

  vim.env.NEXUS_TEST_KEY = nil
  report.without_key = checkhealth()

  require("nexus").setup(H.options({
    settings = { provider = { kind = "claude", baseUrl = 3 }, session = { maxIterations = 0 } },
  }))
  report.bad_settings = checkhealth()
end)

-- MCP: a tool of a real MCP server called through a turn (asked like a command,
-- shown like a built-in tool), :NexusMcp and :checkhealth nexus list the server.
local H = dofile(vim.fs.dirname(arg[0]) .. "/helpers.lua")

H.run(function(report)
  require("nexus").setup(H.options())
  report.questions = {}
  vim.ui.select = function(items, opts, on_choice)
    table.insert(report.questions, opts.prompt)
    vim.defer_fn(function()
      on_choice(items[1]) -- Allow once
    end, 10)
  end

  report.first = H.ask("echo through MCP")
  report.chat = H.chat_lines()

  local lines
  require("nexus.mcp").show(require("nexus.session").current(), function(l)
    lines = l or vim.NIL
  end)
  H.wait("the MCP list", function()
    return lines ~= nil
  end)
  report.list = lines
  report.list_buffer = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  vim.cmd("close")

  vim.cmd("checkhealth nexus")
  report.health = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  vim.cmd("bwipeout!")
end)

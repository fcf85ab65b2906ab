-- Context (protocol v2 §4): the usage meter, a range attached, :NexusAdd and
-- :NexusAddDiagnostics (answered from vim.diagnostic.get), :NexusAsk queued and
-- :NexusAsk! steering a running turn, :NexusCompact shown in the chat.
local H = dofile(vim.fs.dirname(arg[0]) .. "/helpers.lua")

local function winbar()
  local win = vim.fn.bufwinid(H.state().chat_buf)
  return vim.api.nvim_eval_statusline(vim.wo[win].winbar, { winid = win, use_winbar = true, maxwidth = 200 }).str
end

H.run(function(report)
  require("nexus").setup(H.options())
  vim.cmd("edit hello.py")
  report.status_before = require("nexus").status()

  report.first = H.ask("first question")
  report.winbar = winbar()
  report.status = require("nexus").status()

  -- A range: attached as a file range.
  vim.cmd("2,3NexusAsk Explain this")
  H.wait("the range turn", function()
    return not H.state().running and H.chat_has("Second answer.")
  end)

  -- :NexusAdd a file, and this buffer's diagnostics (from another "server").
  local ns = vim.api.nvim_create_namespace("test_linter")
  vim.diagnostic.set(ns, 0, {
    { lnum = 1, col = 4, end_lnum = 1, end_col = 10, severity = vim.diagnostic.severity.ERROR,
      message = "undefined name 'hi'", source = "testlint", code = "F821" },
  })
  vim.cmd("NexusAdd a.py")
  vim.cmd("NexusAddDiagnostics")
  report.chat_pending = H.chat_lines()
  report.third = H.ask("with attachments")

  -- Queue and steer while a slow turn runs.
  vim.cmd("NexusAsk slow one")
  H.wait("the slow answer to start", function()
    return H.chat_has("Slowly")
  end)
  vim.cmd("NexusAsk queued question")
  vim.cmd("NexusAsk! steer now")
  H.wait("the queued turn to end", function()
    return not H.state().running and H.chat_has("Answer to the queue.")
  end, 20000)
  report.after_queue = H.state().last_result

  local compacted
  require("nexus.context").compact(require("nexus.session").current(), function(result)
    compacted = result or vim.NIL
  end)
  H.wait("the compaction", function()
    return compacted ~= nil
  end)
  report.compacted = compacted
  report.chat = H.chat_lines()
end)

-- :NexusCancel on a stalled turn: the chat settles on the server's turnEnd
-- (cancelled), and the next ask continues the same session.
local H = dofile(vim.fs.dirname(arg[0]) .. "/helpers.lua")

H.run(function(report)
  require("nexus").setup(H.options())
  vim.cmd("NexusAsk Start something slow")
  H.wait("streamed text before the stall", function()
    return H.chat_has("Working on")
  end)
  report.running_before_cancel = H.state().running
  report.session_before = H.state().session_id

  vim.cmd("NexusCancel")
  H.wait("the cancelled turn to settle", function()
    return not H.state().running
  end)
  report.chat_after_cancel = H.chat_lines()

  vim.cmd("NexusCancel")
  report.idle_cancel_message = H.messages[#H.messages] and H.messages[#H.messages].msg or vim.NIL

  report.second = H.ask("Try again")
  report.session_after = H.state().session_id
  report.chat = H.chat_lines()
end)

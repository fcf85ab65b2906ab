-- :NexusNew, :NexusSessions (vim.ui.select over nexus/session/list, then
-- nexus/session/load into the chat; the next ask continues it) and :NexusLog.
local H = dofile(vim.fs.dirname(arg[0]) .. "/helpers.lua")

H.run(function(report)
  require("nexus").setup(H.options())
  report.first = H.ask("first question")
  local first_id = H.state().session_id

  vim.cmd("NexusNew")
  report.chat_after_new = H.chat_lines()
  report.session_after_new = H.state().session_id or vim.NIL

  report.second = H.ask("second question")

  local offered
  vim.ui.select = function(items, opts, on_choice)
    offered = {}
    local choice
    for _, item in ipairs(items) do
      table.insert(offered, { id = item.sessionId, label = opts.format_item(item) })
      if item.sessionId == first_id then
        choice = item
      end
    end
    on_choice(choice)
  end
  vim.cmd("NexusSessions")
  H.wait("the first session to load", function()
    return H.state().session_id == first_id and H.chat_has("First answer.")
  end)
  report.offered = offered
  report.chat_after_load = H.chat_lines()

  report.third = H.ask("third question")
  report.chat = H.chat_lines()

  vim.cmd("NexusLog")
  report.log_name = vim.api.nvim_buf_get_name(0)
  report.log_text = H.buf_text(0)
end)
